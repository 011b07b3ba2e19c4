// GGUF container mapping of QuantX tensors (spec: kernels/FORMATS.md, "GGUF").
// On disk a QuantX tensor is a plain I8 tensor of shape [row_bytes, rows], so
// generic GGUF readers parse the file; its real format, logical shape and
// group size live in metadata:
//   quantx.format_version             uint32, must be 1
//   quantx.tensor.<name>.type         string, "QX3_U" | "QX3_C" | "QX4_U" | "QX4_C"
//   quantx.tensor.<name>.shape        int array, logical ne (ggml order, ne[0] = row length)
//   quantx.tensor.<name>.group_size   uint32, must be 128
//   quantx.tensor.<name>.codebook     int array (QX3_T / QX4_T only): the tensor's one codebook
// QX3_T / QX4_T ("tensor codebook") rows are stored without a codebook (the
// U row layout); they compute as QX3_C / QX4_C rows whose codebook is the
// tensor's, which the loader puts in front of every row (resolve returns it).
// The internal QuantX type ids (0x5158xxxx) are never valid in a file.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gguf.h"
#include "kernels/types.h"

namespace qx {

struct QxResolvedTensor {
    const TypeTraits* type = nullptr;  // the QuantX traits row
    int n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};      // logical shape, ne[0] = row length
    const uint8_t* data = nullptr;
    size_t row_bytes = 0;               // bytes per stored row
    int64_t rows = 0;
    std::string file_type;              // the type name in the file (e.g. "QX3_T")
    std::vector<int8_t> tensor_codebook;  // QX3_T / QX4_T: to prepend to every row; else empty
};

std::string qx_tensor_key(const std::string& tensor, const char* field);

// If t is a QuantX tensor (its quantx.tensor.<name>.type key exists), fill
// *out and return true after validating everything (version, type name,
// storage type I8, shape, group size, row bytes == row_size(ne[0]), byte
// count, and that the bytes lie within the file: bytes_available is what
// the file holds from t.data on, because the GGUF reader does not size I8
// tensors itself); return false for an ordinary tensor. Throws qx::Error
// naming the tensor and the problem, including for a tensor whose stored
// type id is an internal QuantX id.
bool qx_resolve_tensor(const std::map<std::string, GgufValue>& kv, const GgufTensor& t, size_t bytes_available,
                       QxResolvedTensor* out);

// The loader's entry point: bytes_available from the file's size and layout.
bool qx_resolve_tensor(const GgufFile& file, const GgufTensor& t, QxResolvedTensor* out);

}  // namespace qx
