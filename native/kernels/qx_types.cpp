#include "qx_types.h"

namespace qx {

const TypeTraits* qx_type_traits(uint32_t) { return nullptr; }

}  // namespace qx
