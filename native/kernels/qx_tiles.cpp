// Row tiles (qx_tiles.h): building them from file rows, reading a row back,
// the scalar reference kernel, and which ISA has tiled kernels.
#include "qx_tiles.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "cpu_features.h"
#include "qx_kernels.h"
#include "qx_types.h"

namespace qx {

void qx_tile_rows(const QxFormat& f, const uint8_t* w, size_t row_bytes, int64_t rows, int64_t n, uint8_t* out) {
    const int64_t ngroups = qx_groups(n), nsub = n / kQxSub;
    const size_t tile_bytes = qx_tile_bytes(f, n), codes_at = qx_tile_codes_offset(f, n);
    const size_t block_bytes = (size_t)kQxTileRows * f.sub_bytes;
    for (int64_t t = 0; t < qx_tile_count(rows); ++t) {
        uint8_t* tile = out + (size_t)t * tile_bytes;
        const uint8_t* row[kQxTileRows];
        for (int r = 0; r < kQxTileRows; ++r) row[r] = w + (size_t)std::min<int64_t>(t * kQxTileRows + r, rows - 1) * row_bytes;
        if (f.row_codebook)
            for (int r = 0; r < kQxTileRows; ++r)
                for (int e = 0; e < f.table_size; ++e)
                    tile[r * f.table_size + e] = (uint8_t)(qx_row_table(f, row[r])[e] + 128);
        for (int64_t g = 0; g < ngroups; ++g)
            for (int r = 0; r < kQxTileRows; ++r) {
                const uint16_t h = qx_scale_bits(f, row[r], g);
                uint8_t* s = tile + qx_tile_tables_bytes(f) + 16 * (size_t)g + 2 * (size_t)r;
                s[0] = (uint8_t)(h & 0xFF);
                s[1] = (uint8_t)(h >> 8);
            }
        for (int64_t b = 0; b < nsub; ++b) {
            uint8_t c[kQxTileRows][kQxSub];
            for (int r = 0; r < kQxTileRows; ++r) qx_unpack_sub(f, row[r] + qx_codes_offset(f, n) + b * f.sub_bytes, c[r]);
            uint8_t* dst = tile + codes_at + (size_t)b * block_bytes;
            std::memset(dst, 0, block_bytes);
            for (int r = 0; r < kQxTileRows; ++r)
                for (int j = 0; j < 4; ++j) {
                    const int i = 4 * r + j;
                    if (f.bits == 3) {
                        uint8_t k3[8];
                        for (int k = 0; k < 8; ++k) k3[k] = (uint8_t)(c[r][4 * k + j] & 7);
                        dst[i] = (uint8_t)(k3[0] | k3[1] << 3 | (k3[6] & 3) << 6);
                        dst[32 + i] = (uint8_t)(k3[2] | k3[3] << 3 | (k3[7] & 3) << 6);
                        dst[64 + i] = (uint8_t)(k3[4] | k3[5] << 3 | (k3[6] >> 2) << 6 | (k3[7] >> 2) << 7);
                    } else {
                        for (int p = 0; p < 4; ++p)
                            dst[32 * p + i] = (uint8_t)((c[r][8 * p + j] & 0x0F) | ((c[r][8 * p + 4 + j] & 0x0F) << 4));
                    }
                }
        }
    }
}

void qx_untile_row(const QxFormat& f, const uint8_t* tile, int64_t n, int r, uint8_t* row) {
    const int64_t ngroups = qx_groups(n), nsub = n / kQxSub;
    const size_t block_bytes = (size_t)kQxTileRows * f.sub_bytes;
    if (f.row_codebook)
        for (int e = 0; e < f.table_size; ++e) row[e] = (uint8_t)(tile[r * f.table_size + e] - 128);
    for (int64_t g = 0; g < ngroups; ++g)
        std::memcpy(row + qx_scales_offset(f) + 2 * g, tile + qx_tile_tables_bytes(f) + 16 * (size_t)g + 2 * (size_t)r, 2);
    for (int64_t b = 0; b < nsub; ++b) {
        const uint8_t* src = tile + qx_tile_codes_offset(f, n) + (size_t)b * block_bytes;
        uint8_t c[kQxSub];
        for (int k = 0; k < 8; ++k)
            for (int j = 0; j < 4; ++j) {
                const int i = 4 * r + j;
                if (f.bits == 3) {
                    const uint8_t p[3] = {src[i], src[32 + i], src[64 + i]};
                    // chunks 6, 7: low 2 bits at the top of P0 / P1, bit 2 at bit 6 / 7 of P2
                    c[4 * k + j] = (uint8_t)(k < 6 ? (p[k / 2] >> (3 * (k % 2))) & 7
                                                   : (p[k - 6] >> 6) | ((p[2] >> k) & 1) << 2);
                } else {
                    const uint8_t v = src[32 * (k / 2) + i];
                    c[4 * k + j] = (uint8_t)(k % 2 ? v >> 4 : v & 0x0F);
                }
            }
        qx_pack_sub(f, c, row + qx_codes_offset(f, n) + b * f.sub_bytes);
    }
}

void qx_tiled_gemv_a8_ref(const QxFormat& f, int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x,
                          float* y) {
    const TypeTraits* t = qx_type_traits(f.id);
    std::vector<uint8_t> row(qx_row_size(f, n));
    for (int64_t r = 0; r < rows; ++r) {
        qx_untile_row(f, tiles + (size_t)(r / kQxTileRows) * qx_tile_bytes(f, n), n, (int)(r % kQxTileRows), row.data());
        y[r] = t->dot_a8[kIsaScalar](n, row.data(), x);
    }
}

namespace {

struct TiledKernels {
    QxTiledGemvFn gemv = nullptr;
    QxTiledGemmFn gemm = nullptr;
};

TiledKernels tiled_kernels(uint32_t type_id, Isa isa, bool shared_table) {
#if defined(QX_ARCH_X86)
    const QxFormat* f = qx_format(type_id);
    if (!f || isa != kIsaAvx512Vnni || !isa_supported(isa)) return {};
#define QX_TILED(lower) TiledKernels{lower##_tiled_gemv_a8_avx512vnni, lower##_tiled_gemm_a8_avx512vnni}
    if (f->row_codebook && shared_table) return f->bits == 3 ? QX_TILED(qx3_c_shared) : QX_TILED(qx4_c_shared);
    if (f->row_codebook && !cpu_features().avx512vbmi) return {};
    static const TiledKernels kFns[4] = {QX_TILED(qx3_u), QX_TILED(qx3_c), QX_TILED(qx4_u), QX_TILED(qx4_c)};
#undef QX_TILED
    return kFns[type_id - QX_ID_BASE];
#else
    (void)type_id;
    (void)isa;
    (void)shared_table;
    return {};
#endif
}

}  // namespace

QxTiledGemvFn qx_select_tiled_gemv(uint32_t type_id, Isa isa, bool shared_table) {
    return tiled_kernels(type_id, isa, shared_table).gemv;
}
QxTiledGemmFn qx_select_tiled_gemm(uint32_t type_id, Isa isa, bool shared_table) {
    return tiled_kernels(type_id, isa, shared_table).gemm;
}

bool qx_rows_share_table(const QxFormat& f, const uint8_t* w, size_t row_bytes, int64_t rows) {
    if (!f.row_codebook) return false;
    const size_t k = (size_t)f.table_size;
    for (int64_t r = 1; r < rows; ++r)
        if (std::memcmp(qx_row_table(f, w + (size_t)r * row_bytes), qx_row_table(f, w), k) != 0) return false;
    return true;
}

}  // namespace qx
