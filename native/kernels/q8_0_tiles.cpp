// Q8_0 row tiles (q8_0_tiles.h): building them from file rows, reading a row
// back, the scalar reference kernels, and which ISA has tiled kernels.
#include "q8_0_tiles.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "cpu_features.h"
#include "ggml_blocks.h"

namespace qx {

namespace {
constexpr int kRows = kQxTileRows;
static_assert(sizeof(BlockQ8_0) == 34, "Q8_0 layout");

const BlockQ8_0* row_blocks(const uint8_t* w, size_t row_bytes, int64_t r) {
    return reinterpret_cast<const BlockQ8_0*>(w + (size_t)r * row_bytes);
}
}  // namespace

void q8_0_tile_rows(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t n, uint8_t* out) {
    const int64_t nb = n / kQ8Block;
    for (int64_t t = 0; t < qx_tile_count(rows); ++t) {
        uint8_t* tile = out + (size_t)t * q8_0_tile_bytes(n);
        const BlockQ8_0* row[kRows];
        for (int r = 0; r < kRows; ++r) row[r] = row_blocks(w, row_bytes, std::min<int64_t>(t * kRows + r, rows - 1));
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* blk = tile + (size_t)b * kQ8TileBlockBytes;
            for (int r = 0; r < kRows; ++r) {
                std::memcpy(blk + 2 * r, &row[r][b].d, 2);
                for (int k = 0; k < 8; ++k)
                    for (int j = 0; j < 4; ++j)
                        blk[16 + 32 * k + 4 * r + j] = (uint8_t)(row[r][b].qs[4 * k + j] + 128);
            }
        }
    }
}

void q8_0_untile_row(const uint8_t* tile, int64_t n, int r, uint8_t* row) {
    for (int64_t b = 0; b < n / kQ8Block; ++b) {
        const uint8_t* blk = tile + (size_t)b * kQ8TileBlockBytes;
        BlockQ8_0 out;
        std::memcpy(&out.d, blk + 2 * r, 2);
        for (int k = 0; k < 8; ++k)
            for (int j = 0; j < 4; ++j) out.qs[4 * k + j] = (int8_t)(blk[16 + 32 * k + 4 * r + j] - 128);
        std::memcpy(row + (size_t)b * sizeof(BlockQ8_0), &out, sizeof(BlockQ8_0));
    }
}

void q8_0_tiled_gemv_a8_ref(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, float* y) {
    const int64_t nb = n / kQ8Block;
    for (int64_t r = 0; r < rows; ++r) {
        const uint8_t* tile = tiles + (size_t)(r / kRows) * q8_0_tile_bytes(n);
        const int rr = (int)(r % kRows);
        float acc = 0.0f;
        for (int64_t b = 0; b < nb; ++b) {
            const uint8_t* blk = tile + (size_t)b * kQ8TileBlockBytes;
            uint16_t h;
            std::memcpy(&h, blk + 2 * rr, 2);
            int32_t isum = 0;
            for (int i = 0; i < kQ8Block; ++i)
                isum += ((int32_t)blk[16 + 32 * (i / 4) + 4 * rr + i % 4] - 128) * (int32_t)x[b].qs[i];
            const float dd = fp16_to_fp32(h) * x[b].d;
            acc = std::fma((float)isum, dd, acc);
        }
        y[r] = acc;
    }
}

void q8_0_tiled_gemm_a8_ref(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, int64_t ldx,
                            int64_t nt, float* y, int64_t ldy) {
    for (int64_t t = 0; t < nt; ++t) q8_0_tiled_gemv_a8_ref(n, tiles, rows, x + t * ldx, y + t * ldy);
}

namespace {

struct Q8TiledKernels {
    QxTiledGemvFn gemv = nullptr;
    QxTiledGemmFn gemm = nullptr;
};

// The row tiles only pay where vpdpbusd puts every row's block sum in its own lane.
Q8TiledKernels q8_0_tiled_kernels(Isa isa) {
#if defined(QX_ARCH_X86)
    if (isa == kIsaAvx512Vnni && isa_supported(isa))
        return {q8_0_tiled_gemv_a8_avx512vnni, q8_0_tiled_gemm_a8_avx512vnni};
#endif
    (void)isa;
    return {};
}

}  // namespace

QxTiledGemvFn q8_0_select_tiled_gemv(Isa isa) { return q8_0_tiled_kernels(isa).gemv; }
QxTiledGemmFn q8_0_select_tiled_gemm(Isa isa) { return q8_0_tiled_kernels(isa).gemm; }

}  // namespace qx
