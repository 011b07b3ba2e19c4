// QuantX block formats (QX3_U, QX3_C, QX4_U, QX4_C): their rows of the type
// traits table. Kept apart from ggml's types so each family is declared in
// one place; type_traits() consults this table for ids it does not own.
#pragma once

#include <cstdint>

#include "types.h"

namespace qx {

// nullptr when the id is not a QuantX type.
const TypeTraits* qx_type_traits(uint32_t type_id);

}  // namespace qx
