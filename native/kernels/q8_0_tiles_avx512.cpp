// The AVX-512 VNNI kernels on Q8_0 row tiles (q8_0_tiles.h): per 32-block of a
// tile, 8 loads give the chunk registers (dword lane r = row r's 4 weight
// bytes + 128), 8 vpdpbusd against the token's chunks broadcast give every
// row's exact block sum in its own lane (the +128 removed by starting at
// -128 * sum(q)), then one multiply and one fma per block for 8 rows.
#include "q8_0_tiles.h"
#include "qx_tiles_x86.h"

namespace qx {

namespace {

constexpr int32_t kBias = 128;

inline void load_chunks(const uint8_t* blk, __m256i* R) {
    for (int k = 0; k < 8; ++k) R[k] = _mm256_loadu_si256((const __m256i*)(blk + 16 + 32 * k));
}

inline __m256 block_scales(const uint8_t* blk) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i*)blk)); }

}  // namespace

void q8_0_tiled_gemv_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, float* y) {
    const int64_t nb = n / kQ8Block, ntiles = qx_tile_count(rows);
    const size_t tb = q8_0_tile_bytes(n);
    for (int64_t t = 0; t < ntiles; ++t) {
        const uint8_t* tile = tiles + (size_t)t * tb;
        __m256 acc = _mm256_setzero_ps();
        for (int64_t b = 0; b < nb; ++b) {
            // No software prefetch, unlike the QuantX tiles: in whole-model generation
            // (SmolLM2 default file, 1 thread, 11 interleaved runs each) the head ran at
            // a median 152.8 tokens/s without it, and 145.3 both with five lines prefetched
            // 4 KB ahead and on the file's rows.
            const uint8_t* blk = tile + (size_t)b * kQ8TileBlockBytes;
            __m256i R[8];
            load_chunks(blk, R);
            const __m256 dd = _mm256_mul_ps(block_scales(blk), _mm256_set1_ps(x[b].d));
            acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tiles_x86::block_sums(R, x[b], kBias)), dd, acc);
        }
        x86::store_rows8(acc, rows - t * kQxTileRows, y + t * kQxTileRows);
    }
}

// Each tile (B x 272 bytes, in L1 after the first token quad) serves every token quad.
void q8_0_tiled_gemm_a8_avx512vnni(int64_t n, const uint8_t* tiles, int64_t rows, const BlockQ8* x, int64_t ldx,
                                   int64_t nt, float* y, int64_t ldy) {
    const int64_t nb = n / kQ8Block, ntiles = qx_tile_count(rows);
    const size_t tb = q8_0_tile_bytes(n);
    constexpr int T = 4;
    for (int64_t t = 0; t < ntiles; ++t) {
        const uint8_t* tile = tiles + (size_t)t * tb;
        for (int64_t t0 = 0; t0 + T <= nt; t0 += T) {
            __m256 acc[T];
            for (auto& v : acc) v = _mm256_setzero_ps();
            for (int64_t b = 0; b < nb; ++b) {
                const uint8_t* blk = tile + (size_t)b * kQ8TileBlockBytes;
                __m256i R[8];
                load_chunks(blk, R);
                const __m256 dw = block_scales(blk);
                for (int i = 0; i < T; ++i) {
                    const BlockQ8& xb = x[(t0 + i) * ldx + b];
                    const __m256 dd = _mm256_mul_ps(dw, _mm256_set1_ps(xb.d));
                    acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(tiles_x86::block_sums(R, xb, kBias)), dd, acc[i]);
                }
            }
            for (int i = 0; i < T; ++i)
                x86::store_rows8(acc[i], rows - t * kQxTileRows, y + (t0 + i) * ldy + t * kQxTileRows);
        }
    }
}

}  // namespace qx
