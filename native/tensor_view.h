// The computational view of a GGUF tensor: its format, logical shape and
// data. For llama.cpp's own types this is the tensor as stored; QuantX
// tensors are stored as opaque byte tensors whose real format and shape live
// in quantx.* metadata, and are resolved here so the model never needs to
// know the difference.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "gguf.h"

namespace qx {

struct QxTensorView {
    const TypeTraits* type = nullptr;  // nullptr: not a type the runtime computes with
    const uint8_t* data = nullptr;
    int64_t ne[4] = {1, 1, 1, 1};
    ActMode default_act = ActMode::A16;
    const char* file_type = nullptr;   // QuantX: the type name in the file; else nullptr
    // QX3_T / QX4_T: rows are stored without their codebook; the tensor's one
    // codebook must be put in front of each (stored_row_bytes) row to get the
    // rows `type` computes with (Model does, at load).
    std::vector<int8_t> tensor_codebook;
    size_t stored_row_bytes = 0;
};

// Throws qx::Error when the tensor claims a QuantX format but its metadata or
// size is inconsistent.
QxTensorView resolve_tensor(const GgufFile& f, const GgufTensor& t);

// The type name to report for a tensor: the QuantX file type (e.g. QX3_T) or the ggml type.
std::string tensor_type_name(const GgufFile& f, const GgufTensor& t);

}  // namespace qx
