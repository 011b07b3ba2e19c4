// The AVX-512 VNNI kernels on row tiles (qx_tiles.h), as templates shared by
// qx_tiles_avx512.cpp (U types) and qx_tiles_avx512vbmi.cpp (C types, whose
// per-row tables need vpermb). Header-only and static inline so each file
// compiles them with its own ISA flags (q8_0_tiles_avx512.cpp borrows block_sums);
// include it only from files built with the AVX-512 VNNI flags.
//
// Per 32-block of a tile, the 8 chunk registers R_k (dword lane r = row r's
// codes 4k..4k+3, as unsigned weight bytes u = T[c] + bias) go through 8
// vpdpbusd against the activation chunk k broadcast, two chains of 4 then one
// add (exact integers), the first chain started at -bias * sum(q): every
// row's block sum is in its own lane. Then, per (row, token), the same float
// operations in the same order as the row kernels (qx_dot_avx512.cpp):
//   acc = fma(float(isum_b), d_b, acc) over the group's blocks,
//   total = fma(acc, scale_g, total) over the groups,
// so tiled and row kernels, one token and many, give bit-identical results.
#pragma once

// GCC 12 warns inside its own avx512fintrin.h (the _mm512_undefined_*()
// pass-through of masked intrinsics); the warning is about the header, not us.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "qx_kernels.h"
#include "qx_tiles.h"
#include "qx_unpack_x86.h"

namespace qx {
namespace tiles_x86 {

constexpr int kSubsPerGroup = kQxGroup / kQxSub;
constexpr size_t kPrefetchAhead = 4096;
static_assert(kQxTileRows == 8, "x86::store_rows8 stores 8 rows");

template <int BITS>
constexpr size_t block_bytes() {
    return (size_t)kQxTileRows * (BITS == 3 ? 12 : 16);
}

// How a chunk register's codes become weight bytes: U types need no table (the code is the
// unsigned weight byte); C types look up each row's own table (vpermi2b, AVX-512 VBMI); C
// tensors whose rows all carry one table (QX3_T / QX4_T files: the tensor's codebook) look it
// up with one in-lane vpshufb, shorter than vpermi2b and without VBMI.
enum Lut { kLutNone, kLutRowTables, kLutShared };

// The tile's tables: row tables 8 rows x 8 entries in one register (QX3), x 16 in two (QX4);
// a shared table in every 128-bit lane of s.
struct Tables {
    __m512i a, b;
    __m256i s;
};

// Byte i of a chunk register belongs to row i / 4: its table starts at entry (i / 4) * K.
template <int BITS>
static inline __m256i row_offsets() {
    return _mm256_setr_epi32(0, 0x01010101 << BITS, 0x02020202 << BITS, 0x03030303 << BITS, 0x04040404 << BITS,
                             0x05050505 << BITS, 0x06060606 << BITS, 0x07070707 << BITS);
}

// A chunk register from `raw`, whose low BITS bits of every byte are the code (the
// bits above are whatever the 16-bit shifts brought in): U types mask it (the code
// is the unsigned weight byte, bias 4 / 8); C types mask it and add the row's
// table offset in one vpternlogd ((raw & mask) | offset), then look the value up;
// a shared table needs no offset.
template <int BITS, int LUT>
static inline __m256i lookup(__m256i raw, const Tables& t) {
    const __m256i mask = _mm256_set1_epi8((char)((1 << BITS) - 1));
    if constexpr (LUT == kLutNone) {
        return _mm256_and_si256(raw, mask);
    } else if constexpr (LUT == kLutShared) {
        return _mm256_shuffle_epi8(t.s, _mm256_and_si256(raw, mask));  // index < 16, bit 7 clear
    } else {
        const __m256i idx = _mm256_ternarylogic_epi32(raw, mask, row_offsets<BITS>(), 0xEA);
        if constexpr (BITS == 3)
            return _mm256_permutex2var_epi8(_mm512_castsi512_si256(t.a), idx, _mm512_extracti64x4_epi64(t.a, 1));
        else
            return _mm512_castsi512_si256(_mm512_permutex2var_epi8(t.a, _mm512_zextsi256_si512(idx), t.b));
    }
}

// Chunks 6 and 7 of a QX3 block: bits 0-1 from `low` (P0 or P1 shifted right by 6),
// bit 2 from `high` (P2 shifted so its bit 6 / 7 lands on bit 2): one bitwise select.
static inline __m256i qx3_join(__m256i low, __m256i high) {
    return _mm256_ternarylogic_epi32(_mm256_set1_epi8(0x03), low, high, 0xCA);  // mask ? low : high
}

// The 8 chunk registers of one 32-block of a tile.
template <int BITS, int LUT>
static inline void decode_block(const uint8_t* blk, const Tables& t, __m256i* R) {
    if constexpr (BITS == 3) {
        const __m256i p0 = _mm256_loadu_si256((const __m256i*)blk);
        const __m256i p1 = _mm256_loadu_si256((const __m256i*)(blk + 32));
        const __m256i p2 = _mm256_loadu_si256((const __m256i*)(blk + 64));
        R[0] = lookup<3, LUT>(p0, t);
        R[1] = lookup<3, LUT>(_mm256_srli_epi16(p0, 3), t);
        R[2] = lookup<3, LUT>(p1, t);
        R[3] = lookup<3, LUT>(_mm256_srli_epi16(p1, 3), t);
        R[4] = lookup<3, LUT>(p2, t);
        R[5] = lookup<3, LUT>(_mm256_srli_epi16(p2, 3), t);
        R[6] = lookup<3, LUT>(qx3_join(_mm256_srli_epi16(p0, 6), _mm256_srli_epi16(p2, 4)), t);
        R[7] = lookup<3, LUT>(qx3_join(_mm256_srli_epi16(p1, 6), _mm256_srli_epi16(p2, 5)), t);
    } else {
        for (int p = 0; p < 4; ++p) {
            const __m256i v = _mm256_loadu_si256((const __m256i*)(blk + 32 * p));
            R[2 * p] = lookup<4, LUT>(v, t);
            R[2 * p + 1] = lookup<4, LUT>(_mm256_srli_epi16(v, 4), t);
        }
    }
}

template <int BITS, int LUT>
static inline Tables load_tables(const uint8_t* tile) {
    Tables t{_mm512_setzero_si512(), _mm512_setzero_si512(), _mm256_setzero_si256()};
    if constexpr (LUT == kLutRowTables) {
        t.a = _mm512_loadu_si512(tile);
        if constexpr (BITS == 4) t.b = _mm512_loadu_si512(tile + 64);
    } else if constexpr (LUT == kLutShared) {
        uint8_t row0[16] = {};  // row 0's table is every row's
        std::memcpy(row0, tile, (size_t)1 << BITS);
        t.s = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i*)row0));
    }
    return t;
}

// One token's exact int32 block sums of the 8 rows (bias removed), from the chunk registers.
static inline __m256i block_sums(const __m256i* R, const BlockQ8& xb, int32_t bias) {
    int32_t q4[8];
    std::memcpy(q4, xb.qs, 32);
    __m256i s0 = _mm256_set1_epi32(-bias * ((int32_t)xb.sum[0] + xb.sum[1])), s1 = _mm256_setzero_si256();
    for (int k = 0; k < 4; ++k) {
        s0 = _mm256_dpbusd_epi32(s0, R[k], _mm256_set1_epi32(q4[k]));
        s1 = _mm256_dpbusd_epi32(s1, R[4 + k], _mm256_set1_epi32(q4[4 + k]));
    }
    return _mm256_add_epi32(s0, s1);
}

static inline __m256 tile_scales(const uint8_t* scales, int64_t g) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)(scales + 16 * g)));
}

template <int BITS, int LUT>
static inline void gemv(const QxFormat& f, int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, float* y) {
    const int64_t nsub = n / kQxSub, ntiles = qx_tile_count(rows);
    const size_t tb = qx_tile_bytes(f, n), codes_at = qx_tile_codes_offset(f, n), scales_at = qx_tile_tables_bytes(f);
    const int32_t bias = qx_a8_bias(f);
    for (int64_t t = 0; t < ntiles; ++t) {
        const uint8_t* tile = tiles + (size_t)t * tb;
        const Tables tbl = load_tables<BITS, LUT>(tile);
        const uint8_t* cp = tile + codes_at;
        __m256 total = _mm256_setzero_ps();
        for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
            const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
            __m256 acc = _mm256_setzero_ps();
            for (int64_t b = b0; b < b1; ++b) {
                // Software prefetch a fixed distance ahead in the one stream the tiles make (the
                // ~1.5 lines of a block: two prefetches). The hardware prefetcher alone left one
                // thread at half the DRAM bandwidth; measured (GEMV 104 MB, 1 / 2 threads): next
                // tile only 50 / 61 %, 1 KB ahead 56 / 70 %, 2-4 KB 63 / 85 %, 8-16 KB lower again.
                // Prefetching past the last tile is harmless (prefetches never fault).
                const char* ahead = (const char*)(cp + (size_t)b * block_bytes<BITS>()) + kPrefetchAhead;
                _mm_prefetch(ahead, _MM_HINT_T0);
                _mm_prefetch(ahead + 64, _MM_HINT_T0);
                __m256i R[8];
                decode_block<BITS, LUT>(cp + (size_t)b * block_bytes<BITS>(), tbl, R);
                acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums(R, x[b], bias)), _mm256_set1_ps(x[b].d), acc);
            }
            total = _mm256_fmadd_ps(acc, tile_scales(tile + scales_at, g), total);
        }
        x86::store_rows8(total, rows - t * kQxTileRows, y + t * kQxTileRows);
    }
}

// Each tile is decoded once into chunk registers (nsub x 8 x 32 bytes, in L1),
// then every token quad runs past it.
template <int BITS, int LUT>
static inline void gemm(const QxFormat& f, int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,
                        int64_t ldx, int64_t nt, float* y, int64_t ldy) {
    const int64_t nsub = n / kQxSub, ntiles = qx_tile_count(rows);
    const size_t tb = qx_tile_bytes(f, n), codes_at = qx_tile_codes_offset(f, n), scales_at = qx_tile_tables_bytes(f);
    const int32_t bias = qx_a8_bias(f);
    struct alignas(32) Reg {
        uint8_t b[32];
    };
    thread_local std::vector<Reg> decoded;
    if (decoded.size() < (size_t)(nsub * 8)) decoded.resize((size_t)(nsub * 8));
    constexpr int T = 4;
    for (int64_t t = 0; t < ntiles; ++t) {
        const uint8_t* tile = tiles + (size_t)t * tb;
        const Tables tbl = load_tables<BITS, LUT>(tile);
        for (int64_t b = 0; b < nsub; ++b) {
            __m256i R[8];
            decode_block<BITS, LUT>(tile + codes_at + (size_t)b * block_bytes<BITS>(), tbl, R);
            for (int k = 0; k < 8; ++k) _mm256_store_si256((__m256i*)decoded[(size_t)(b * 8 + k)].b, R[k]);
        }
        for (int64_t t0 = 0; t0 + T <= nt; t0 += T) {
            __m256 total[T];
            for (auto& v : total) v = _mm256_setzero_ps();
            for (int64_t b0 = 0, g = 0; b0 < nsub; b0 += kSubsPerGroup, ++g) {
                const int64_t b1 = b0 + kSubsPerGroup < nsub ? b0 + kSubsPerGroup : nsub;
                __m256 acc[T];
                for (auto& v : acc) v = _mm256_setzero_ps();
                for (int64_t b = b0; b < b1; ++b) {
                    __m256i R[8];
                    for (int k = 0; k < 8; ++k) R[k] = _mm256_load_si256((const __m256i*)decoded[(size_t)(b * 8 + k)].b);
                    for (int i = 0; i < T; ++i) {
                        const BlockQ8& xb = x[(t0 + i) * ldx + b];
                        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(block_sums(R, xb, bias)), _mm256_set1_ps(xb.d), acc[i]);
                    }
                }
                const __m256 ds = tile_scales(tile + scales_at, g);
                for (int i = 0; i < T; ++i) total[i] = _mm256_fmadd_ps(acc[i], ds, total[i]);
            }
            for (int i = 0; i < T; ++i)
                x86::store_rows8(total[i], rows - t * kQxTileRows, y + (t0 + i) * ldy + t * kQxTileRows);
        }
    }
}

}  // namespace tiles_x86
}  // namespace qx

#define QX_DEFINE_TILED_VNNI(lower, ID, BITS, LUT)                                                                \
    void lower##_tiled_gemv_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,      \
                                          float* y) {                                                            \
        tiles_x86::gemv<BITS, LUT>(*qx_format(ID), n, tiles, rows, x, y);                                         \
    }                                                                                                            \
    void lower##_tiled_gemm_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,      \
                                          int64_t ldx, int64_t nt, float* y, int64_t ldy) {                      \
        tiles_x86::gemm<BITS, LUT>(*qx_format(ID), n, tiles, rows, x, ldx, nt, y, ldy);                           \
    }
