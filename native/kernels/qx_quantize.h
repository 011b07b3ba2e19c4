// Native QuantX quantizer and packer. Produces exactly the bytes of the numpy
// reference (convert/qxformats.py: quantize + pack) for the same inputs; the
// Python tests compare the two byte for byte.
#pragma once

#include <cstdint>
#include <vector>

#include "qx_format.h"

namespace qx {

// Quantize rows x[rows][n] (n % 32 == 0) by round-to-nearest into out
// (rows * qx_row_size(f, n) bytes).
//  codebooks: rows x table_size int8, or nullptr for f.default_codebook (C types only; ignored for U)
//  scales:    rows x qx_groups(n) floats, or nullptr for the RTN rule of the spec
// Throws qx::Error on bad arguments or non-finite input.
void qx_quantize_rows(const QxFormat& f, const float* x, int64_t rows, int64_t n, const int8_t* codebooks,
                      const float* scales, uint8_t* out);

// Reference dequantization of one row (the definition of the format).
void qx_dequantize_row(const QxFormat& f, const void* row, float* y, int64_t n);

}  // namespace qx
