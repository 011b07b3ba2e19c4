// The computational view of a GGUF tensor: its format, logical shape and
// data. For llama.cpp's own types this is the tensor as stored; QuantX
// tensors are stored as opaque byte tensors whose real format and shape live
// in quantx.* metadata, and are resolved here so the model never needs to
// know the difference.
#pragma once

#include <cstdint>

#include "gguf.h"

namespace qx {

struct QxTensorView {
    const TypeTraits* type = nullptr;  // nullptr: not a type the runtime computes with
    const uint8_t* data = nullptr;
    int64_t ne[4] = {1, 1, 1, 1};
    ActMode default_act = ActMode::A16;
};

// Throws qx::Error when the tensor claims a QuantX format but its metadata or
// size is inconsistent.
QxTensorView resolve_tensor(const GgufFile& f, const GgufTensor& t);

}  // namespace qx
