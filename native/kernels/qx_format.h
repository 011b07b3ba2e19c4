// QuantX block formats: the constants and byte layout of a row (see
// FORMATS.md, the spec). Everything else (traits table, quantizer, kernels,
// GGUF mapping, the Python mirror in convert/qxformats.py) derives from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace qx {

// Internal type ids of the traits table. Far from ggml's ids (< 100) and
// NEVER written to a GGUF file as a tensor type: on disk a QuantX tensor is
// an I8 byte tensor described by quantx.* metadata (qx_gguf.h).
enum QxTypeId : uint32_t {
    QX_ID_BASE = 0x51580000u,  // "QX"
    QX3_U = QX_ID_BASE + 0,
    QX3_C = QX_ID_BASE + 1,
    QX4_U = QX_ID_BASE + 2,
    QX4_C = QX_ID_BASE + 3,
    QX_ID_END = QX_ID_BASE + 4,
};

constexpr int kQxFormatVersion = 1;
constexpr int kQxGroup = 128;     // elements per scale group (last group of a row may be short)
constexpr int kQxSub = 32;        // elements per sub-block: row granularity and A8 block

struct QxFormat {
    uint32_t id;
    const char* name;
    int bits;              // bits per code
    int table_size;        // 1 << bits entries in the code -> int8 value table
    bool row_codebook;     // table stored at the start of every row (C) or fixed (U)
    int sub_bytes;         // bytes of codes per 32-element sub-block
    int8_t uniform_table[16];  // the fixed table of U types
    // C types: the codebook used when none is given: the U grid scaled to
    // -127 (rint(127 (k - K/2) / (K/2))), so it has an exact zero (weights
    // near 0 at high-magnitude activation channels must stay near 0) and its
    // -127 end takes each group's largest weight; fit_codebook starts here.
    int8_t default_codebook[16];
};

// The uniform grids: code c -> c - 2^(bits-1). Asymmetric by one step; the
// quantizer gives each group a signed scale so its largest-magnitude weight
// lands on the long side.
constexpr QxFormat kQxFormats[4] = {
    {QX3_U, "QX3_U", 3, 8, false, 12, {-4, -3, -2, -1, 0, 1, 2, 3}, {0}},
    {QX3_C, "QX3_C", 3, 8, true, 12, {0}, {-127, -95, -64, -32, 0, 32, 64, 95}},
    {QX4_U, "QX4_U", 4, 16, false, 16, {-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7}, {0}},
    {QX4_C, "QX4_C", 4, 16, true, 16, {0}, {-127, -111, -95, -79, -64, -48, -32, -16, 0, 16, 32, 48, 64, 79, 95, 111}},
};

inline const QxFormat* qx_format(uint32_t id) {
    if (id < QX_ID_BASE || id >= QX_ID_END) return nullptr;
    return &kQxFormats[id - QX_ID_BASE];
}
inline const QxFormat* qx_format_by_name(const char* name) {
    for (const auto& f : kQxFormats)
        if (std::strcmp(f.name, name) == 0) return &f;
    return nullptr;
}

// Row layout: [codebook: table_size int8 (C only)] [fp16 scale per group]
// [n/32 sub-blocks of sub_bytes code bytes].
inline int64_t qx_groups(int64_t n) { return (n + kQxGroup - 1) / kQxGroup; }
inline size_t qx_codebook_bytes(const QxFormat& f) { return f.row_codebook ? (size_t)f.table_size : 0; }
inline size_t qx_scales_offset(const QxFormat& f) { return qx_codebook_bytes(f); }
inline size_t qx_codes_offset(const QxFormat& f, int64_t n) {
    return qx_codebook_bytes(f) + 2 * (size_t)qx_groups(n);
}
inline size_t qx_row_size(const QxFormat& f, int64_t n) {
    return qx_codes_offset(f, n) + (size_t)(n / kQxSub) * (size_t)f.sub_bytes;
}

// The int8 value table a row uses.
inline const int8_t* qx_row_table(const QxFormat& f, const void* row) {
    return f.row_codebook ? (const int8_t*)row : f.uniform_table;
}

// Group scale g of a row, fp16 little-endian.
inline uint16_t qx_scale_bits(const QxFormat& f, const void* row, int64_t g) {
    const uint8_t* p = (const uint8_t*)row + qx_scales_offset(f) + 2 * (size_t)g;
    return (uint16_t)(p[0] | (p[1] << 8));
}

// Unpack the 32 codes of one sub-block (the scalar definition of the bit layout).
//  QX3: bytes 0..7 low 2 bits: byte j bits 2i..2i+1 = code[j + 8i];
//       bytes 8..11 high bit:  byte 8+k bit i      = bit 2 of code[k + 4i].
//  QX4: byte j low nibble = code[j], high nibble = code[j + 16].
inline void qx_unpack_sub(const QxFormat& f, const uint8_t* sb, uint8_t codes[32]) {
    if (f.bits == 3) {
        for (int i = 0; i < 32; ++i) {
            const int lo = (sb[i & 7] >> (2 * (i >> 3))) & 3;
            const int hi = (sb[8 + (i & 3)] >> (i >> 2)) & 1;
            codes[i] = (uint8_t)(lo | (hi << 2));
        }
    } else {
        for (int j = 0; j < 16; ++j) {
            codes[j] = sb[j] & 0x0F;
            codes[j + 16] = sb[j] >> 4;
        }
    }
}

inline void qx_pack_sub(const QxFormat& f, const uint8_t codes[32], uint8_t* sb) {
    std::memset(sb, 0, (size_t)f.sub_bytes);
    if (f.bits == 3) {
        for (int i = 0; i < 32; ++i) {
            sb[i & 7] |= (uint8_t)((codes[i] & 3) << (2 * (i >> 3)));
            sb[8 + (i & 3)] |= (uint8_t)(((codes[i] >> 2) & 1) << (i >> 2));
        }
    } else {
        for (int j = 0; j < 16; ++j) sb[j] = (uint8_t)((codes[j] & 0x0F) | ((codes[j + 16] & 0x0F) << 4));
    }
}

}  // namespace qx
