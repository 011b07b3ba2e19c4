#include "qx_quantize.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "gguf.h"
#include "qx_half.h"

namespace qx {

namespace {

// The group's value of largest magnitude, keeping its sign (first one on ties).
float group_signed_max(const float* x, int64_t len) {
    float m = 0.0f, best = 0.0f;
    for (int64_t i = 0; i < len; ++i) {
        if (std::fabs(x[i]) > m) {
            m = std::fabs(x[i]);
            best = x[i];
        }
    }
    return best;
}

// The group's largest-magnitude weight (sign kept) maps exactly onto the
// table's largest-magnitude entry (first on ties): d = xm / T[k*]. For the U
// grids T[k*] = -2^(bits-1); a signed scale lets an asymmetric table put its
// long side wherever the group's extreme is.
uint16_t rtn_scale(const int8_t* table, int table_size, const float* xg, int64_t len) {
    int kmax = 0;
    for (int k = 1; k < table_size; ++k)
        if (std::abs((int)table[k]) > std::abs((int)table[kmax])) kmax = k;
    const float d = table[kmax] == 0 ? 0.0f : group_signed_max(xg, len) / (float)table[kmax];
    return qx_float_to_half(std::clamp(d, -65504.0f, 65504.0f));
}

uint8_t nearest_code(const QxFormat& f, const int8_t* table, float dq, float v) {
    int best = 0;
    float best_err = std::fabs(v - dq * (float)table[0]);
    for (int k = 1; k < f.table_size; ++k) {
        const float err = std::fabs(v - dq * (float)table[k]);
        if (err < best_err) {
            best_err = err;
            best = k;
        }
    }
    return (uint8_t)best;
}

}  // namespace

void qx_quantize_rows(const QxFormat& f, const float* x, int64_t rows, int64_t n, const int8_t* codebooks,
                      const float* scales, uint8_t* out) {
    if (n <= 0 || n % kQxSub != 0)
        throw Error(std::string(f.name) + ": row length " + std::to_string(n) + " is not a positive multiple of 32");
    if (rows < 0) throw Error(std::string(f.name) + ": negative row count");
    for (int64_t i = 0; i < rows * n; ++i)
        if (!std::isfinite(x[i])) throw Error(std::string(f.name) + ": non-finite weight at index " + std::to_string(i));
    const size_t row_bytes = qx_row_size(f, n);
    const int64_t ng = qx_groups(n);
    std::vector<uint8_t> codes((size_t)n);
    for (int64_t r = 0; r < rows; ++r) {
        const float* xr = x + r * n;
        uint8_t* o = out + (size_t)r * row_bytes;
        int8_t table[16];
        if (f.row_codebook) {
            if (codebooks) {
                for (int k = 0; k < f.table_size; ++k) {
                    const int8_t v = codebooks[r * f.table_size + k];
                    if (v == -128) throw Error(std::string(f.name) + ": codebook value -128 (allowed range is -127..127)");
                    table[k] = v;
                }
            } else {
                std::memcpy(table, f.default_codebook, (size_t)f.table_size);
            }
            std::memcpy(o, table, (size_t)f.table_size);
        } else {
            std::memcpy(table, f.uniform_table, (size_t)f.table_size);
        }
        for (int64_t g = 0; g < ng; ++g) {
            const int64_t g0 = g * kQxGroup, len = std::min<int64_t>(kQxGroup, n - g0);
            uint16_t h;
            if (scales) {
                const float s = scales[r * ng + g];
                if (!std::isfinite(s)) throw Error(std::string(f.name) + ": non-finite given scale");
                h = qx_float_to_half(std::clamp(s, -65504.0f, 65504.0f));
            } else {
                h = rtn_scale(table, f.table_size, xr + g0, len);
            }
            uint8_t* sp = o + qx_scales_offset(f) + 2 * (size_t)g;
            sp[0] = (uint8_t)(h & 0xFF);
            sp[1] = (uint8_t)(h >> 8);
            const float dq = qx_half_to_float(h);
            for (int64_t i = 0; i < len; ++i) codes[(size_t)(g0 + i)] = nearest_code(f, table, dq, xr[g0 + i]);
        }
        uint8_t* cp = o + qx_codes_offset(f, n);
        for (int64_t b = 0; b < n / kQxSub; ++b) qx_pack_sub(f, &codes[(size_t)(b * kQxSub)], cp + b * f.sub_bytes);
    }
}

void qx_dequantize_row(const QxFormat& f, const void* row, float* y, int64_t n) {
    const int8_t* table = qx_row_table(f, row);
    const uint8_t* cp = (const uint8_t*)row + qx_codes_offset(f, n);
    uint8_t codes[32];
    for (int64_t b = 0; b < n / kQxSub; ++b) {
        const float d = qx_half_to_float(qx_scale_bits(f, row, b * kQxSub / kQxGroup));
        qx_unpack_sub(f, cp + b * f.sub_bytes, codes);
        for (int i = 0; i < kQxSub; ++i) y[b * kQxSub + i] = d * (float)table[codes[i]];
    }
}

}  // namespace qx
