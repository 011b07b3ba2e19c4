// Native QuantX quantizer and packer. Produces exactly the bytes of the numpy
// reference (convert/qxformats.py: quantize + pack) for the same inputs; the
// Python tests compare the two byte for byte.
#pragma once

#include <cstdint>
#include <vector>

#include "qx_format.h"

namespace qx {

// Default codebook of one row for C types (deterministic, no iteration):
// the row's values normalised by their group's absmax, sorted, sampled at
// the quantiles (2k+1)/(2K), times 127 (codebook units: 1/127 of the group absmax).
void qx_init_codebook(const QxFormat& f, const float* x, int64_t n, int8_t* table);

// Quantize rows x[rows][n] (n % 32 == 0) by round-to-nearest into out
// (rows * qx_row_size(f, n) bytes).
//  codebooks: rows x table_size int8, or nullptr for qx_init_codebook (C types only; ignored for U)
//  scales:    rows x qx_groups(n) floats, or nullptr for the RTN rule of the spec
// Throws qx::Error on bad arguments or non-finite input.
void qx_quantize_rows(const QxFormat& f, const float* x, int64_t rows, int64_t n, const int8_t* codebooks,
                      const float* scales, uint8_t* out);

// Reference dequantization of one row (the definition of the format).
void qx_dequantize_row(const QxFormat& f, const void* row, float* y, int64_t n);

}  // namespace qx
