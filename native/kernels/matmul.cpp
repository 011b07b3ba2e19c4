// matmul_rows: the hot loop of generation (nt == 1) and prompt processing.
//
// GEMV streams each weight row once. GEMM walks the weight rows in small
// tiles and runs every activation row against a tile while it is in L1, so
// the weights are read from memory once per call however many tokens there
// are (activations for a few hundred tokens stay in L2).
//
// With 8-bit activations a token's results are bit-identical whatever the
// batch it comes in (one token, a prompt in one piece or in several): every
// path computes each (row, token) with the same operations in the same
// order. This matters beyond the last bit: a rounding flip in one layer
// moves a quantized activation by a whole step in the next. With float
// activations batches may differ from single tokens in float rounding only.
#include "matmul.h"

#include <algorithm>
#include <string>
#include <vector>

#include "ggml_kernels.h"
#include "gguf.h"
#include "qx_kernels.h"
#include "qx_tiles.h"

namespace qx {
namespace {

constexpr int64_t kRowTile = 16;  // weight rows kept hot while all tokens pass
constexpr int64_t kQxGemmRowTile = 64;

void check_args(const WeightView& w, const ActView& x, int64_t r0, int64_t r1) {
    if (!w.type) throw Error("matmul_rows: weight has no type");
    if (r0 < 0 || r1 > w.rows || r0 > r1)
        throw Error("matmul_rows: row range [" + std::to_string(r0) + ", " + std::to_string(r1) +
                    ") outside 0.." + std::to_string(w.rows));
    if (w.n % w.type->block_size != 0)
        throw Error(std::string("matmul_rows: row length ") + std::to_string(w.n) + " is not a multiple of " +
                    w.type->name + "'s block size");
    if (x.mode == ActMode::A8 && w.n % kQ8Block != 0)
        throw Error("matmul_rows: 8-bit activations need a row length that is a multiple of 32, got " +
                    std::to_string(w.n));
    if (x.mode == ActMode::A8 ? !x.q8 : !x.f32) throw Error("matmul_rows: activations missing");
}

template <typename Dot>
void tiled(int64_t r0, int64_t r1, int64_t nt, Dot dot, float* y, int64_t ldy) {
    if (nt == 1) {
        for (int64_t r = r0; r < r1; ++r) y[r] = dot(r, 0);
        return;
    }
    for (int64_t rt = r0; rt < r1; rt += kRowTile) {
        const int64_t re = std::min(r1, rt + kRowTile);
        for (int64_t t = 0; t < nt; ++t)
            for (int64_t r = rt; r < re; ++r) y[t * ldy + r] = dot(r, t);
    }
}

// Formats with several-token (gemm) and scale-vectorised one-token (gemv)
// kernels: the activation scales are turned into float arrays once per call,
// then each weight block is decoded once per kGemmTokens tokens.
void matmul_a8_blocked(const WeightView& w, const ActView& x, GemmA8Fn gemm, GemvA8Fn gemv, int64_t r0, int64_t r1,
                       float* y, int64_t ldy) {
    const int64_t n = w.n, nt = x.nt, nb = n / kQ8Block;
    thread_local std::vector<float> xd, xsum;
    if ((int64_t)xsum.size() < nt * nb) {
        xsum.resize((size_t)(nt * nb));
        xd.resize((size_t)(nt * nb));
    }
    for (int64_t t = 0; t < nt; ++t)
        for (int64_t k = 0; k < nb; ++k) {
            const BlockQ8& b = x.q8[t * x.ld_q8 + k];
            xd[t * nb + k] = b.d;
            xsum[t * nb + k] = b.d * (float)(b.sum[0] + b.sum[1]);
        }
    const int64_t nt_full = gemm ? nt - nt % kGemmTokens : 0;
    for (int64_t rt = r0; rt < r1; rt += kRowTile) {
        const int64_t re = std::min(r1, rt + kRowTile);
        for (int64_t t0 = 0; t0 < nt_full; t0 += kGemmTokens) {
            const BlockQ8* xp[kGemmTokens];
            const float* dp[kGemmTokens];
            const float* sp[kGemmTokens];
            for (int i = 0; i < kGemmTokens; ++i) {
                xp[i] = x.q8 + (t0 + i) * x.ld_q8;
                dp[i] = xd.data() + (t0 + i) * nb;
                sp[i] = xsum.data() + (t0 + i) * nb;
            }
            for (int64_t r = rt; r < re; ++r) {
                float out[kGemmTokens];
                gemm(n, w.data + r * w.row_bytes, xp, dp, sp, out);
                for (int i = 0; i < kGemmTokens; ++i) y[(t0 + i) * ldy + r] = out[i];
            }
        }
        for (int64_t t = nt_full; t < nt; ++t)
            for (int64_t r = rt; r < re; ++r)
                y[t * ldy + r] = gemv(n, w.data + r * w.row_bytes, x.q8 + t * x.ld_q8, xd.data() + t * nb,
                                      xsum.data() + t * nb);
    }
}

// QuantX formats: the same tiling; the gemm gets a whole row tile and all
// token quads, so it decodes each weight row once per call.
void matmul_qx_a8(const WeightView& w, const ActView& x, QxGemmA8Fn gemm, QxGemvA8Fn gemv, int64_t r0, int64_t r1,
                  float* y, int64_t ldy) {
    const int64_t n = w.n, nt = x.nt;
    const int64_t nt_full = nt - nt % kGemmTokens;
    // Larger tiles than kRowTile: the tile's rows are decoded once, and every
    // token's activations are read once per tile (from L2).
    const int64_t tile = nt_full ? kQxGemmRowTile : kRowTile;
    for (int64_t rt = r0; rt < r1; rt += tile) {
        const int64_t re = std::min(r1, rt + tile);
        if (nt_full)
            gemm(n, w.data + rt * w.row_bytes, w.row_bytes, re - rt, x.q8, x.ld_q8, nt_full, y + rt, ldy);
        for (int64_t t = nt_full; t < nt; ++t)
            gemv(n, w.data + rt * w.row_bytes, w.row_bytes, re - rt, x.q8 + t * x.ld_q8, y + t * ldy + rt);
    }
}

// Tiled QuantX weights: rows [r0, r1) start at tile r0 / 8; the gemm decodes
// each tile once for all token quads.
void matmul_qx_tiled(const WeightView& w, const ActView& x, QxTiledGemmFn gemm, QxTiledGemvFn gemv, int64_t r0,
                     int64_t r1, float* y, int64_t ldy) {
    const int64_t nt = x.nt, nt_full = nt - nt % kGemmTokens;
    const uint8_t* tiles = w.data + (size_t)(r0 / kQxTileRows) * w.tile_bytes;
    if (nt_full) gemm(w.n, tiles, r1 - r0, x.q8, x.ld_q8, nt_full, y + r0, ldy);
    for (int64_t t = nt_full; t < nt; ++t) gemv(w.n, tiles, r1 - r0, x.q8 + t * x.ld_q8, y + t * ldy + r0);
}

}  // namespace

void matmul_rows(const WeightView& w, const ActView& x, Isa isa, int64_t r0, int64_t r1, float* y,
                 int64_t ldy) {
    check_args(w, x, r0, r1);
    const int64_t n = w.n, nt = x.nt;
    if (r0 == r1 || nt <= 0) return;
    const uint8_t* base = w.data;
    const size_t rb = w.row_bytes;

    if (w.tile_bytes) {
        if (x.mode != ActMode::A8 || !w.tiled_gemv || !w.tiled_gemm || r0 % kQxTileRows != 0)
            throw Error(std::string("matmul_rows: a tiled ") + w.type->name +
                        " weight needs 8-bit activations, its tiled kernels and a range starting on a tile");
        matmul_qx_tiled(w, x, w.tiled_gemm, w.tiled_gemv, r0, r1, y, ldy);
        return;
    }

    if (x.mode == ActMode::A8) {
        const DotA8Fn fn = select_dot_a8(*w.type, isa);
        const BlockQ8* q8 = x.q8;
        const int64_t ld = x.ld_q8;
        const QxGemvA8Fn qx_gemv = qx_select_gemv_a8(w.type->id, isa);
        if (qx_gemv) {
            matmul_qx_a8(w, x, qx_select_gemm_a8(w.type->id, isa), qx_gemv, r0, r1, y, ldy);
            return;
        }
        const GemvA8Fn gemv = select_gemv_a8(w.type->id, isa);
        if (gemv) {
            matmul_a8_blocked(w, x, select_gemm_a8(w.type->id, isa), gemv, r0, r1, y, ldy);
            return;
        }
        tiled(r0, r1, nt, [&](int64_t r, int64_t t) { return fn(n, base + r * rb, q8 + t * ld); }, y, ldy);
        return;
    }

    const float* xf = x.f32;
    const int64_t ld = x.ld_f32;
    const bool float_weights = w.type->id == GGML_F32 || w.type->id == GGML_F16 || w.type->id == GGML_BF16;
    if (float_weights || nt == 1) {
        const DotA16Fn fn = select_dot_a16(*w.type, isa);
        tiled(r0, r1, nt, [&](int64_t r, int64_t t) { return fn(n, base + r * rb, xf + t * ld); }, y, ldy);
        return;
    }
    // Quantized weights against several float rows: decode each weight row
    // once into a per-thread buffer, then run plain float dots over the tokens.
    // (Differs from the one-token dot_a16 path only in float rounding, which
    // float activations do not amplify.)
    const DotA16Fn fdot = select_dot_a16(*type_traits(GGML_F32), isa);
    thread_local std::vector<float> row;
    if ((int64_t)row.size() < n) row.resize((size_t)n);
    for (int64_t r = r0; r < r1; ++r) {
        w.type->to_float(base + r * rb, row.data(), n);
        for (int64_t t = 0; t < nt; ++t) y[t * ldy + r] = fdot(n, row.data(), xf + t * ld);
    }
}

void dequantize_row(const WeightView& w, int64_t r, float* y) {
    if (!w.type) throw Error("dequantize_row: weight has no type");
    if (w.tile_bytes) throw Error("dequantize_row: the weight is stored as row tiles");
    if (r < 0 || r >= w.rows) throw Error("dequantize_row: row " + std::to_string(r) + " out of range");
    w.type->to_float(w.data + r * w.row_bytes, y, w.n);
}

}  // namespace qx
