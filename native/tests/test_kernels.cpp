// Kernel tests: every SIMD kernel of every ggml type against its scalar
// reference, on random and edge data, for each ISA this CPU supports; the
// scalar references against the dequantizer (the format's definition).
// Self-contained: returns nonzero on failure and ends with "N passed, M failed".
//
// Tolerances (|got - want| <= tol * M, M = sum_i 2*amax_block(w)_i * |x_i|, a
// bound on the magnitude of every partial sum):
//   SIMD vs scalar reference, same activation representation: 2e-5 (float
//     summation order only; the integer parts are exact).
//   scalar A8/A16 dot vs double-precision dot of the dequantized operands: 2e-5.
//   quantize_q8: bit-exact against quantize_q8_ref.
//
// --bench: GEMV GB/s and GEMM tokens/s for Q4_1 (and Q8_0) per ISA, in
// thread CPU time.
#include <ctime>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "kernels/axpy.h"
#include "kernels/dot_rows.h"
#include "kernels/matmul.h"
#include "kernels/q8_0_tiles.h"
#include "kernels/types.h"

using namespace qx;

namespace {

int g_pass = 0, g_fail = 0;

void check(bool ok, const std::string& what) {
    if (ok) {
        ++g_pass;
    } else {
        ++g_fail;
        if (g_fail <= 40) std::printf("FAIL: %s\n", what.c_str());
    }
}

struct Layout {
    int block_bytes, block_elems;
    std::vector<int> fp16_fields;   // offsets of fp16 scale fields in a block
    int code_begin, code_end;       // the bytes holding codes
};

Layout layout_of(uint32_t id) {
    switch (id) {
        case GGML_Q8_0: return {34, 32, {0}, 2, 34};
        case GGML_Q4_0: return {18, 32, {0}, 2, 18};
        case GGML_Q4_1: return {20, 32, {0, 2}, 4, 20};
        case GGML_Q4_K: return {144, 256, {0, 2}, 16, 144};
        case GGML_Q6_K: return {210, 256, {208}, 0, 192};
        default: return {0, 1, {}, 0, 0};
    }
}

enum class WMode { Random, Zero, MaxCodes, MinCodes, Outlier };
const char* wmode_name(WMode m) {
    switch (m) {
        case WMode::Random: return "random";
        case WMode::Zero: return "zero";
        case WMode::MaxCodes: return "maxcodes";
        case WMode::MinCodes: return "mincodes";
        default: return "outlier";
    }
}
enum class XMode { Random, Zero, Outlier, Constant };
const char* xmode_name(XMode m) {
    switch (m) {
        case XMode::Random: return "random";
        case XMode::Zero: return "zero";
        case XMode::Outlier: return "outlier";
        default: return "constant";
    }
}

std::vector<uint8_t> make_weights(const TypeTraits& t, int64_t n, int64_t rows, WMode mode, std::mt19937& rng) {
    const size_t rb = t.row_size(n);
    std::vector<uint8_t> buf(rb * rows + 64);  // slack: kernels must not read past rows
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_int_distribution<int> byte(0, 255);
    if (mode == WMode::Zero) {
        std::fill(buf.begin(), buf.end(), 0);
        return buf;
    }
    if (t.id == GGML_F32 || t.id == GGML_F16 || t.id == GGML_BF16) {
        for (int64_t i = 0; i < n * rows; ++i) {
            float v = normal(rng);
            if (mode == WMode::Outlier && i % 32 == 5) v = 3000.0f;
            if (mode == WMode::MaxCodes) v = 60000.0f;
            if (mode == WMode::MinCodes) v = -60000.0f;
            if (t.id == GGML_F32) {
                std::memcpy(&buf[i * 4], &v, 4);
            } else {
                uint16_t h;
                if (t.id == GGML_F16) {
                    h = fp32_to_fp16(v);
                } else {
                    uint32_t bits;
                    std::memcpy(&bits, &v, 4);
                    h = (uint16_t)(bits >> 16);
                }
                std::memcpy(&buf[i * 2], &h, 2);
            }
        }
        return buf;
    }
    const Layout L = layout_of(t.id);
    std::uniform_real_distribution<float> scale(1e-3f, 2e-2f), offset(-0.2f, 0.2f);
    const int64_t nblocks = rows * (n / L.block_elems);
    for (int64_t b = 0; b < nblocks; ++b) {
        uint8_t* p = &buf[b * L.block_bytes];
        for (int i = 0; i < L.block_bytes; ++i) p[i] = (uint8_t)byte(rng);
        for (int i = L.code_begin; i < L.code_end; ++i) {
            if (mode == WMode::MaxCodes) p[i] = t.id == GGML_Q8_0 ? 0x7F : 0xFF;
            if (mode == WMode::MinCodes) p[i] = t.id == GGML_Q8_0 ? 0x80 : 0x00;
        }
        for (size_t f = 0; f < L.fp16_fields.size(); ++f) {
            float v = f == 0 ? scale(rng) : offset(rng);
            if (t.id == GGML_Q4_K && f == 1) v = scale(rng);  // dmin
            if (mode == WMode::Outlier && b % 7 == 3) v *= 1000.0f;
            const uint16_t h = fp32_to_fp16(v);
            std::memcpy(p + L.fp16_fields[f], &h, 2);
        }
    }
    return buf;
}

std::vector<float> make_acts(int64_t n, int64_t nt, XMode mode, std::mt19937& rng) {
    std::vector<float> x((size_t)(n * nt) + 16);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (int64_t i = 0; i < n * nt; ++i) {
        switch (mode) {
            case XMode::Random: x[i] = normal(rng); break;
            case XMode::Zero: x[i] = 0.0f; break;
            case XMode::Outlier: x[i] = (i % 32 == 17) ? 1e4f : normal(rng); break;
            case XMode::Constant: x[i] = 0.37f * (float)((i / 32) % 5 - 2); break;
        }
    }
    return x;
}

// M: bound on partial-sum magnitudes (see header comment).
double magnitude(const std::vector<float>& w, const float* x, int64_t n) {
    double m = 0.0;
    for (int64_t b = 0; b < n; b += 32) {
        const int64_t e = std::min<int64_t>(n, b + 32);
        double amax = 0.0;
        for (int64_t i = b; i < e; ++i) amax = std::max(amax, (double)std::fabs(w[i]));
        for (int64_t i = b; i < e; ++i) m += 2.0 * amax * std::fabs((double)x[i]);
    }
    return m;
}

std::vector<float> dequant_q8(const std::vector<BlockQ8>& q, int64_t n) {
    std::vector<float> y(n);
    for (int64_t i = 0; i < n; ++i) y[i] = q[i / 32].d * (float)q[i / 32].qs[i % 32];
    return y;
}

bool close(double got, double want, double m, double tol) {
    if (!std::isfinite(got) || !std::isfinite(want)) return false;
    return std::fabs(got - want) <= tol * m + 1e-30;
}

std::vector<Isa> g_isas;

const uint32_t kTypes[] = {GGML_F32, GGML_F16, GGML_BF16, GGML_Q8_0, GGML_Q4_0, GGML_Q4_1, GGML_Q4_K, GGML_Q6_K};

std::vector<int64_t> lengths_for(const TypeTraits& t) {
    std::vector<int64_t> all = {32, 64, 96, 256, 576, 1536, 4096, 11008, 49152};
    if (t.block_size == 1) all.insert(all.begin(), {1, 7, 33, 577});
    std::vector<int64_t> out;
    for (int64_t n : all)
        if (n % t.block_size == 0) out.push_back(n);
    return out;
}

void test_fp16() {
    int bad = 0;
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_fp32((uint16_t)h);
        if (std::isnan(f)) continue;
        if (fp32_to_fp16(f) != h) ++bad;
    }
    check(bad == 0, "fp16 round trip of every non-nan half (" + std::to_string(bad) + " mismatches)");
    check(fp16_to_fp32(0x3C00) == 1.0f && fp16_to_fp32(0x7BFF) == 65504.0f &&
              fp16_to_fp32(0x0001) == std::ldexp(1.0f, -24) && fp16_to_fp32(0xC000) == -2.0f,
          "fp16 known values");
    // Ties round to even: 1 + 2^-11 lies halfway between 1 and 1 + 2^-10.
    check(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)) == 0x3C00 &&
              fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02 && fp32_to_fp16(65520.0f) == 0x7C00 &&
              fp32_to_fp16(65519.0f) == 0x7BFF,
          "fp16 rounding");
    check(bf16_to_fp32(0x3F80) == 1.0f && bf16_to_fp32(0xC040) == -3.0f, "bf16 known values");
}

void test_quantize_q8() {
    std::mt19937 rng(7);
    for (XMode xm : {XMode::Random, XMode::Zero, XMode::Outlier, XMode::Constant}) {
        for (int64_t n : {32, 576, 4096}) {
            auto x = make_acts(n, 1, xm, rng);
            std::vector<BlockQ8> ref(n / 32);
            quantize_q8_ref(x.data(), ref.data(), n);
            // The reference itself: |x - d q| <= d/2, sums consistent.
            bool ok = true;
            for (int64_t b = 0; b < n / 32; ++b) {
                int s0 = 0, s1 = 0;
                for (int i = 0; i < 32; ++i) {
                    const float e = std::fabs(x[b * 32 + i] - ref[b].d * ref[b].qs[i]);
                    if (e > ref[b].d * 0.5001f + 1e-30f) ok = false;
                    (i < 16 ? s0 : s1) += ref[b].qs[i];
                }
                if (s0 != ref[b].sum[0] || s1 != ref[b].sum[1]) ok = false;
            }
            check(ok, std::string("quantize_q8_ref error bound, ") + xmode_name(xm) + " n=" + std::to_string(n));
            for (Isa isa : g_isas) {
                std::vector<BlockQ8> got(n / 32);
                select_quantize_q8(isa)(x.data(), got.data(), n);
                check(std::memcmp(got.data(), ref.data(), sizeof(BlockQ8) * got.size()) == 0,
                      std::string("quantize_q8 bit-exact ") + isa_name(isa) + " " + xmode_name(xm) +
                          " n=" + std::to_string(n));
            }
        }
    }
}

// axpy_rows_f32 (attention's weighted sum of the values): the reference is
// row after row of the unfused w*x then +y (volatile keeps this file's
// compiler from fusing the expected values), and every ISA matches it bit for
// bit at every length around the vector widths and strip sizes, for 0 to 9
// rows with padded strides, zero, negative, tiny and huge weights, and inf/NaN
// passing through. A fused kernel differs in the last bit on many of the
// random elements, so it fails here.
// axpy_rows_f32 / _f16: every ISA bit-exact to the unfused row-by-row sum (the F16 kernels on
// the float16 values widened, which is exact), including inf/NaN and padded strides.
void test_axpy_rows() {
    std::mt19937 rng(11);
    std::normal_distribution<float> nd;
    const float weights[] = {0.37f, -1.5f, 0.0f, -0.0f, 1e-30f, 3.0e38f, 0.81f, -0.02f, 2.5f};
    int fused_differs = 0;
    for (int64_t n = 0; n <= 70; ++n) {
        for (int64_t count : {0, 1, 2, 3, 9}) {
            const int64_t ldx = n + (int64_t)(rng() % 4);
            std::vector<float> x((size_t)(count * ldx) + 1), y0((size_t)n), w((size_t)count + 1);
            for (float& v : x) v = nd(rng);
            for (float& v : y0) v = nd(rng);
            for (int64_t j = 0; j < count; ++j) w[(size_t)j] = weights[(size_t)((n + j) % 9)];
            if (n > 5 && count > 1) {
                x[(size_t)ldx + 3] = INFINITY;
                y0[4] = NAN;
                x[5] = 0.0f;
                x[6] = 70000.0f;  // beyond float16: inf there
            }
            std::vector<uint16_t> x16(x.size());
            std::vector<float> xw(x.size());  // the float16 values, widened
            for (size_t k = 0; k < x.size(); ++k) xw[k] = fp16_to_fp32(x16[k] = fp32_to_fp16(x[k]));
            auto unfused = [&](const std::vector<float>& xv) {
                std::vector<float> want = y0;
                for (int64_t j = 0; j < count; ++j)
                    for (int64_t i = 0; i < n; ++i) {
                        const float v = xv[(size_t)(j * ldx + i)], before = want[(size_t)i];
                        volatile float prod = w[(size_t)j] * v;
                        volatile float sum = before + prod;
                        want[(size_t)i] = sum;
                        if (std::isfinite(sum) && std::fma(w[(size_t)j], v, before) != sum) ++fused_differs;
                    }
                return want;
            };
            const std::vector<float> want = unfused(x), want16 = unfused(xw);
            auto same = [n](const std::vector<float>& a, const std::vector<float>& b) {
                return n == 0 || std::memcmp(a.data(), b.data(), sizeof(float) * (size_t)n) == 0;  // data() may be null at 0
            };
            const std::string what = " n=" + std::to_string(n) + " rows=" + std::to_string(count);
            std::vector<float> ref = y0, ref16 = y0;
            axpy_rows_ref(n, count, w.data(), x.data(), ldx, ref.data());
            axpy_rows_ref(n, count, w.data(), x16.data(), ldx, ref16.data());
            check(same(ref, want), "axpy_rows_ref (f32) is the unfused row-by-row sum" + what);
            check(same(ref16, want16), "axpy_rows_ref (f16) is the unfused row-by-row sum" + what);
            for (Isa isa : g_isas) {
                std::vector<float> got = y0, got16 = y0;
                select_axpy_rows_f32(isa)(n, count, w.data(), x.data(), ldx, got.data());
                select_axpy_rows_f16(isa)(n, count, w.data(), x16.data(), ldx, got16.data());
                check(same(got, want), std::string("axpy_rows_f32 bit-exact ") + isa_name(isa) + what);
                check(same(got16, want16), std::string("axpy_rows_f16 bit-exact ") + isa_name(isa) + what);
            }
        }
    }
    check(fused_differs > 100, "the axpy test data tells fused from unfused (" + std::to_string(fused_differs) + ")");
}

// dot_rows_f32 (attention's scores): every ISA's multi-row kernel gives each
// row the bits of that ISA's single F32 dot (a NaN may differ only in its
// payload), for row counts around the 16-row groups, row lengths with and
// without a scalar tail, padded strides, and rows with zeros, huge values,
// infinities and NaN.
// dot_rows_f32 / _f16: each row bit-exact to that ISA's single F32 / F16 dot.
void test_dot_rows() {
    std::mt19937 rng(21);
    std::normal_distribution<float> nd;
    for (int64_t n : {1, 8, 16, 17, 32, 48, 63, 64, 80, 96, 128}) {
        for (int64_t count : {0, 1, 15, 16, 17, 33, 48, 70}) {
            const int64_t ldw = n + (int64_t)(rng() % 3) * 16;
            std::vector<float> w((size_t)(count * ldw) + 1), x((size_t)n), got((size_t)count + 1);
            for (float& v : w) v = nd(rng);
            for (float& v : x) v = nd(rng);
            if (count > 5) {
                std::fill(w.begin() + 2 * ldw, w.begin() + 2 * ldw + n, 0.0f);  // row 2 all zero
                w[(size_t)(3 * ldw)] = INFINITY;
                w[(size_t)(4 * ldw + n / 2)] = NAN;
                w[(size_t)(5 * ldw)] = 3.0e38f;  // overflows to inf in the sum (and in float16)
            }
            std::vector<uint16_t> w16(w.size());
            for (size_t k = 0; k < w.size(); ++k) w16[k] = fp32_to_fp16(w[k]);
            auto bit_same = [](float a, float b) { return std::memcmp(&a, &b, sizeof(float)) == 0 || (std::isnan(a) && std::isnan(b)); };
            for (Isa isa : g_isas) {
                const DotA16Fn single = select_dot_a16(*type_traits(GGML_F32), isa);
                const DotA16Fn single16 = select_dot_a16(*type_traits(GGML_F16), isa);
                std::vector<float> got16((size_t)count + 1);
                select_dot_rows_f32(isa)(n, count, w.data(), ldw, x.data(), got.data());
                select_dot_rows_f16(isa)(n, count, w16.data(), ldw, x.data(), got16.data());
                int bad = 0, bad16 = 0;
                for (int64_t j = 0; j < count; ++j) {
                    bad += !bit_same(single(n, w.data() + j * ldw, x.data()), got[(size_t)j]);
                    bad16 += !bit_same(single16(n, w16.data() + j * ldw, x.data()), got16[(size_t)j]);
                }
                const std::string what = std::string(isa_name(isa)) + " n=" + std::to_string(n) + " rows=" + std::to_string(count);
                check(bad == 0, "dot_rows_f32 bit-exact to the single dot " + what);
                check(bad16 == 0, "dot_rows_f16 bit-exact to the single F16 dot " + what);
            }
        }
    }
}

// Q8_0 row tiles (q8_0_tiles.h): tiling is lossless (every row reads back byte
// for byte), the scalar reference of the tiled formula agrees with the row
// dot, and each ISA's tiled gemv / gemm and matmul_rows on a tiled weight are
// bit-exact to that reference, on short last tiles and extreme codes.
bool same_bits(const float* a, const float* b, size_t count) { return std::memcmp(a, b, count * sizeof(float)) == 0; }

void test_q8_0_tiles() {
    std::mt19937 rng(77);
    const TypeTraits& t = *type_traits(GGML_Q8_0);
    for (int64_t n : {32, 64, 96, 576, 1536})
        for (int64_t rows : {1, 7, 8, 9, 17, 24})
            for (WMode wm : {WMode::Random, WMode::MaxCodes, WMode::MinCodes, WMode::Outlier})
                for (XMode xm : {XMode::Random, XMode::Outlier, XMode::Zero}) {
                    if (wm != WMode::Random && xm == XMode::Zero) continue;
                    const std::string tag = "n=" + std::to_string(n) + " rows=" + std::to_string(rows) + " w=" +
                                            wmode_name(wm) + " x=" + xmode_name(xm);
                    const size_t rb = t.row_size(n), tb = q8_0_tile_bytes(n);
                    auto wbuf = make_weights(t, n, rows, wm, rng);
                    std::vector<uint8_t> tiles(tb * (size_t)qx_tile_count(rows));
                    q8_0_tile_rows(wbuf.data(), rb, rows, n, tiles.data());
                    int lossy = 0;
                    std::vector<uint8_t> back(rb);
                    for (int64_t r = 0; r < rows; ++r) {
                        q8_0_untile_row(tiles.data() + (size_t)(r / 8) * tb, n, (int)(r % 8), back.data());
                        lossy += std::memcmp(back.data(), wbuf.data() + r * rb, rb) != 0;
                    }
                    check(lossy == 0, "q8_0 tiles read back byte-exact " + tag);
                    const int64_t nt = 9, nb = n / 32;  // two token quads and one single token
                    auto x = make_acts(n, nt, xm, rng);
                    std::vector<BlockQ8> q((size_t)(nt * nb));
                    quantize_q8_ref(x.data(), q.data(), nt * n);
                    std::vector<float> ref((size_t)(nt * rows));
                    q8_0_tiled_gemm_a8_ref(n, tiles.data(), rows, q.data(), nb, nt, ref.data(), rows);
                    int far = 0;
                    std::vector<float> wf(n);
                    for (int64_t r = 0; r < rows; ++r) {
                        t.to_float(wbuf.data() + r * rb, wf.data(), n);
                        for (int64_t k = 0; k < nt; ++k) {
                            std::vector<BlockQ8> qk(q.begin() + k * nb, q.begin() + (k + 1) * nb);
                            auto xq = dequant_q8(qk, n);
                            const float row_dot = t.dot_a8[kIsaScalar](n, wbuf.data() + r * rb, qk.data());
                            far += !close(ref[(size_t)(k * rows + r)], row_dot, magnitude(wf, xq.data(), n), 2e-5);
                        }
                    }
                    check(far == 0, "q8_0 tiled reference vs the row dot " + tag);
                    for (Isa isa : g_isas) {
                        const QxTiledGemvFn gemv = q8_0_select_tiled_gemv(isa);
                        const QxTiledGemmFn gemm = q8_0_select_tiled_gemm(isa);
                        if (!gemv || !gemm) continue;
                        const std::string itag = std::string(isa_name(isa)) + " " + tag;
                        std::vector<float> got((size_t)(nt * rows), -1.0f);
                        gemm(n, tiles.data(), rows, q.data(), nb, 8, got.data(), rows);
                        gemv(n, tiles.data(), rows, q.data() + 8 * nb, got.data() + 8 * rows);
                        check(same_bits(got.data(), ref.data(), got.size()), "q8_0 tiled gemm/gemv bit-exact " + itag);
                        // Through matmul_rows on a tiled view, a range starting on the second tile.
                        const int64_t r0 = rows > 8 ? 8 : 0;
                        WeightView w{&t, tiles.data(), rb, n, rows, tb, gemv, gemm};
                        ActView a{ActMode::A8, nullptr, 0, q.data(), nb, nt};
                        std::vector<float> y((size_t)(nt * rows), -1.0f);
                        matmul_rows(w, a, isa, r0, rows, y.data(), rows);
                        int bad = 0;
                        for (int64_t k = 0; k < nt; ++k)
                            bad += !same_bits(y.data() + k * rows + r0, ref.data() + k * rows + r0, (size_t)(rows - r0));
                        check(bad == 0, "q8_0 tiled matmul_rows bit-exact " + itag);
                    }
                }
}

void test_dots() {
    std::mt19937 rng(1234);
    const double tol = 2e-5;
    for (uint32_t id : kTypes) {
        const TypeTraits& t = *type_traits(id);
        for (int64_t n : lengths_for(t)) {
            for (WMode wm : {WMode::Random, WMode::Zero, WMode::MaxCodes, WMode::MinCodes, WMode::Outlier}) {
                if (n > 4096 && wm != WMode::Random) continue;  // edge data on the shorter rows
                auto wbuf = make_weights(t, n, 1, wm, rng);
                std::vector<float> wf(n);
                t.to_float(wbuf.data(), wf.data(), n);
                for (XMode xm : {XMode::Random, XMode::Zero, XMode::Outlier, XMode::Constant}) {
                    if (n > 4096 && xm != XMode::Random) continue;
                    auto x = make_acts(n, 1, xm, rng);
                    const std::string tag = std::string(t.name) + " n=" + std::to_string(n) + " w=" +
                                            wmode_name(wm) + " x=" + xmode_name(xm);
                    // A16: scalar reference vs the dequantized definition.
                    double exact = 0.0;
                    for (int64_t i = 0; i < n; ++i) exact += (double)wf[i] * x[i];
                    const double m16 = magnitude(wf, x.data(), n);
                    const float ref16 = t.dot_a16[kIsaScalar](n, wbuf.data(), x.data());
                    check(close(ref16, exact, m16, tol), "scalar dot_a16 vs dequantized " + tag);
                    for (Isa isa : g_isas) {
                        if (isa == kIsaScalar) continue;
                        const float got = select_dot_a16(t, isa)(n, wbuf.data(), x.data());
                        check(close(got, ref16, m16, tol), std::string("dot_a16 ") + isa_name(isa) + " " + tag +
                                                               " got " + std::to_string(got) + " want " +
                                                               std::to_string(ref16));
                    }
                    if (n % 32 != 0) continue;
                    // A8: quantized activations.
                    std::vector<BlockQ8> q(n / 32);
                    quantize_q8_ref(x.data(), q.data(), n);
                    auto xq = dequant_q8(q, n);
                    double exact8 = 0.0;
                    for (int64_t i = 0; i < n; ++i) exact8 += (double)wf[i] * xq[i];
                    const double m8 = magnitude(wf, xq.data(), n);
                    const float ref8 = t.dot_a8[kIsaScalar](n, wbuf.data(), q.data());
                    check(close(ref8, exact8, m8, tol), "scalar dot_a8 vs dequantized " + tag + " got " +
                                                            std::to_string(ref8) + " want " + std::to_string(exact8));
                    for (Isa isa : g_isas) {
                        if (isa == kIsaScalar) continue;
                        const float got = select_dot_a8(t, isa)(n, wbuf.data(), q.data());
                        check(close(got, ref8, m8, tol), std::string("dot_a8 ") + isa_name(isa) + " " + tag +
                                                             " got " + std::to_string(got) + " want " +
                                                             std::to_string(ref8));
                    }
                }
            }
        }
    }
}

void test_matmul() {
    std::mt19937 rng(99);
    const double tol = 2e-5;
    for (uint32_t id : kTypes) {
        const TypeTraits& t = *type_traits(id);
        for (int64_t n : t.block_size == 256 ? std::vector<int64_t>{1536} : std::vector<int64_t>{32, 288, 576})
        for (WMode wm : {WMode::Random, WMode::MinCodes, WMode::MaxCodes, WMode::Outlier})
        for (int64_t nt : {1, 2, 5, 20}) {
            const int64_t rows = 37;  // not a multiple of any tile
            if (wm != WMode::Random && nt != 5) continue;
            auto wbuf = make_weights(t, n, rows, wm, rng);
            WeightView w{&t, wbuf.data(), t.row_size(n), n, rows};
            const int64_t ldx = n + 32;  // strided activations
            auto x = make_acts(ldx, nt, XMode::Random, rng);
            std::vector<BlockQ8> q((size_t)(nt * (ldx / 32)));
            for (int64_t tk = 0; tk < nt; ++tk) quantize_q8_ref(&x[tk * ldx], &q[tk * (ldx / 32)], n);
            for (ActMode mode : {ActMode::A16, ActMode::A8}) {
                ActView a{mode, x.data(), ldx, q.data(), ldx / 32, nt};
                for (Isa isa : g_isas) {
                    const int64_t r0 = 3, r1 = 34, ldy = rows + 5;
                    std::vector<float> y((size_t)(nt * ldy), NAN);
                    matmul_rows(w, a, isa, r0, r1, y.data(), ldy);
                    bool ok = true, untouched = true;
                    for (int64_t tk = 0; tk < nt; ++tk) {
                        for (int64_t r = 0; r < ldy; ++r) {
                            const float got = y[tk * ldy + r];
                            if (r < r0 || r >= r1) {
                                if (!std::isnan(got)) untouched = false;
                                continue;
                            }
                            std::vector<float> wf(n);
                            t.to_float(wbuf.data() + r * w.row_bytes, wf.data(), n);
                            float want;
                            double m;
                            if (mode == ActMode::A16) {
                                want = t.dot_a16[kIsaScalar](n, wbuf.data() + r * w.row_bytes, &x[tk * ldx]);
                                m = magnitude(wf, &x[tk * ldx], n);
                            } else {
                                want = t.dot_a8[kIsaScalar](n, wbuf.data() + r * w.row_bytes, &q[tk * (ldx / 32)]);
                                std::vector<BlockQ8> qq(&q[tk * (ldx / 32)], &q[tk * (ldx / 32)] + n / 32);
                                auto xq = dequant_q8(qq, n);
                                m = magnitude(wf, xq.data(), n);
                            }
                            if (!close(got, want, m, tol)) ok = false;
                        }
                    }
                    const std::string tag = std::string(t.name) + " n=" + std::to_string(n) + " w=" + wmode_name(wm) + " nt=" + std::to_string(nt) + " " +
                                            (mode == ActMode::A8 ? "A8 " : "A16 ") + isa_name(isa);
                    check(ok, "matmul_rows vs scalar dots " + tag);
                    check(untouched, "matmul_rows writes only rows [r0, r1) " + tag);
                }
            }
        }
    }
}

// A token's outputs must not depend on the batch it is computed in (A8:
// bit for bit).
void test_batch_invariance() {
    std::mt19937 rng(4242);
    for (uint32_t id : kTypes) {
        const TypeTraits& t = *type_traits(id);
        const int64_t n = t.block_size == 256 ? 512 : 576, rows = 21, nt = 11;
        auto wbuf = make_weights(t, n, rows, WMode::Random, rng);
        WeightView w{&t, wbuf.data(), t.row_size(n), n, rows};
        auto x = make_acts(n, nt, XMode::Random, rng);
        std::vector<BlockQ8> q((size_t)(nt * n / 32));
        quantize_q8_ref(x.data(), q.data(), nt * n);
        for (ActMode mode : {ActMode::A16, ActMode::A8}) {
            for (Isa isa : g_isas) {
                std::vector<float> whole((size_t)(nt * rows)), pieces((size_t)(nt * rows));
                ActView a{mode, x.data(), n, q.data(), n / 32, nt};
                matmul_rows(w, a, isa, 0, rows, whole.data(), rows);
                // Pieces of 1, 5 and 5 tokens.
                for (int64_t t0 : {0, 1, 6}) {
                    const int64_t cnt = t0 == 0 ? 1 : 5;
                    ActView p{mode, x.data() + t0 * n, n, q.data() + t0 * (n / 32), n / 32, cnt};
                    matmul_rows(w, p, isa, 0, rows, pieces.data() + t0 * rows, rows);
                }
                // A8: bit-identical. A16: float rounding only (quantized
                // weights are decoded to a row buffer for batches).
                bool ok = true;
                if (mode == ActMode::A8) {
                    ok = std::memcmp(whole.data(), pieces.data(), whole.size() * sizeof(float)) == 0;
                } else {
                    std::vector<float> wf(n);
                    for (int64_t r = 0; r < rows; ++r) {
                        t.to_float(wbuf.data() + r * w.row_bytes, wf.data(), n);
                        for (int64_t tk = 0; tk < nt; ++tk)
                            ok &= close(pieces[tk * rows + r], whole[tk * rows + r], magnitude(wf, &x[tk * n], n), 2e-5);
                    }
                }
                check(ok, std::string("batch invariance ") + t.name + (mode == ActMode::A8 ? " A8 " : " A16 ") +
                              isa_name(isa));
            }
        }
    }
}

void test_table() {
    struct Want {
        uint32_t id;
        int bs, ts;
    };
    // ggml's published block sizes (elements, bytes).
    const Want want[] = {{GGML_F32, 1, 4},     {GGML_F16, 1, 2},     {GGML_BF16, 1, 2},    {GGML_Q8_0, 32, 34},
                         {GGML_Q4_0, 32, 18},  {GGML_Q4_1, 32, 20},  {GGML_Q4_K, 256, 144}, {GGML_Q6_K, 256, 210}};
    for (const Want& w : want) {
        const TypeTraits* t = type_traits(w.id);
        check(t && t->block_size == w.bs && t->type_size == w.ts && t->id == w.id,
              "traits row of type " + std::to_string(w.id));
        if (t) {
            check(t->default_act == (w.bs == 1 ? ActMode::A16 : ActMode::A8),
                  std::string("default activation of ") + t->name);
            check(t->dot_a16[kIsaScalar] && t->dot_a8[kIsaScalar] && t->to_float,
                  std::string("scalar kernels present for ") + t->name);
        }
    }
    check(type_traits(GGML_Q5_K) == nullptr && type_traits(12345) == nullptr, "unsupported ids give nullptr");
    check(isa_fallback(kIsaAvx512Vnni) == kIsaAvx512 && isa_fallback(kIsaAvx512) == kIsaAvx2 &&
              isa_fallback(kIsaAvx2) == kIsaScalar && isa_fallback(kIsaNeonDot) == kIsaNeon &&
              isa_fallback(kIsaNeon) == kIsaScalar,
          "isa fallback chains");
    check(isa_supported(kIsaScalar) && isa_supported(best_isa()), "best isa is supported");
}

// ---- benchmark ---------------------------------------------------------------

// Thread CPU time, not wall time: on a shared machine the wall clock mostly
// measures how long other processes held the core.
double now() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bench() {
    std::mt19937 rng(5);
    struct Case {
        uint32_t id;
        int64_t n, rows;
    };
    const Case cases[] = {{GGML_Q4_1, 576, 1536}, {GGML_Q4_1, 1536, 576}, {GGML_Q4_1, 576, 49152},
                          {GGML_Q8_0, 576, 49152}};
    for (const Case& c : cases) {
        const TypeTraits& t = *type_traits(c.id);
        auto wbuf = make_weights(t, c.n, c.rows, WMode::Random, rng);
        WeightView w{&t, wbuf.data(), t.row_size(c.n), c.n, c.rows};
        const double bytes = (double)w.row_bytes * c.rows;
        for (Isa isa : g_isas) {
            // GEMV (one token, A8 as the runtime uses for quantized weights).
            auto x = make_acts(c.n, 1, XMode::Random, rng);
            std::vector<BlockQ8> q(c.n / 32);
            select_quantize_q8(isa)(x.data(), q.data(), c.n);
            std::vector<float> y(c.rows);
            ActView a{ActMode::A8, x.data(), c.n, q.data(), c.n / 32, 1};
            int iters = 0;
            double t0 = now(), t1;
            do {
                matmul_rows(w, a, isa, 0, c.rows, y.data(), c.rows);
                ++iters;
                t1 = now();
            } while (t1 - t0 < 0.3);
            const double gemv = bytes * iters / (t1 - t0) / 1e9;
            // The same product through the plain dot kernel, row by row.
            const DotA8Fn dot = select_dot_a8(t, isa);
            iters = 0;
            t0 = now();
            do {
                for (int64_t r = 0; r < c.rows; ++r) y[r] = dot(c.n, wbuf.data() + r * w.row_bytes, q.data());
                ++iters;
                t1 = now();
            } while (t1 - t0 < 0.3);
            const double gemv_dot = bytes * iters / (t1 - t0) / 1e9;
            if (c.id == GGML_Q8_0 && q8_0_select_tiled_gemv(isa)) {  // the runtime's head layout
                std::vector<uint8_t> tiles(q8_0_tile_bytes(c.n) * (size_t)qx_tile_count(c.rows));
                q8_0_tile_rows(wbuf.data(), w.row_bytes, c.rows, c.n, tiles.data());
                const QxTiledGemvFn tgemv = q8_0_select_tiled_gemv(isa);
                iters = 0;
                t0 = now();
                do {
                    tgemv(c.n, tiles.data(), c.rows, q.data(), y.data());
                    ++iters;
                    t1 = now();
                } while (t1 - t0 < 0.3);
                std::printf("bench %-5s %5lldx%-6lld %-10s tiled GEMV %6.2f GB/s (%.3f ms)\n", t.name, (long long)c.n,
                            (long long)c.rows, isa_name(isa), bytes * iters / (t1 - t0) / 1e9,
                            (t1 - t0) / iters * 1e3);
            }
            // GEMM: 128 tokens.
            const int64_t nt = 128;
            auto xs = make_acts(c.n, nt, XMode::Random, rng);
            std::vector<BlockQ8> qs(nt * c.n / 32);
            select_quantize_q8(isa)(xs.data(), qs.data(), nt * c.n);
            std::vector<float> ys(nt * c.rows);
            ActView as{ActMode::A8, xs.data(), c.n, qs.data(), c.n / 32, nt};
            iters = 0;
            t0 = now();
            do {
                matmul_rows(w, as, isa, 0, c.rows, ys.data(), c.rows);
                ++iters;
                t1 = now();
            } while (t1 - t0 < 0.3);
            const double gemm_tps = (double)nt * iters / (t1 - t0);
            const double gflops = 2.0 * c.n * c.rows * nt * iters / (t1 - t0) / 1e9;
            std::printf("bench %-5s %5lldx%-6lld %-10s GEMV %6.2f GB/s (%.3f ms; dot-per-row %6.2f GB/s)  "
                        "GEMM(128 tok) %8.0f tok/s %6.1f GFLOP/s\n",
                        t.name, (long long)c.n, (long long)c.rows, isa_name(isa), gemv, bytes / gemv / 1e6, gemv_dot,
                        gemm_tps, gflops);
        }
    }
}

// All matrix-vector products of one SmolLM2-135M Q4_1 token (30 layers of
// q,k,v,o,gate,up,down + the Q8_0 output head), each with its own weights so
// memory traffic is as in the model: an upper bound on generation speed from
// the matmuls alone (attention, norms and the rest excluded).
void bench_smollm2_token() {
    std::mt19937 rng(11);
    struct Mat {
        uint32_t id;
        int64_t n, rows;
    };
    std::vector<Mat> mats;
    for (int l = 0; l < 30; ++l)
        for (Mat m : {Mat{GGML_Q4_1, 576, 576}, Mat{GGML_Q4_1, 576, 192}, Mat{GGML_Q4_1, 576, 192},
                      Mat{GGML_Q4_1, 576, 576}, Mat{GGML_Q4_1, 576, 1536}, Mat{GGML_Q4_1, 576, 1536},
                      Mat{GGML_Q4_1, 1536, 576}})
            mats.push_back(m);
    mats.push_back({GGML_Q8_0, 576, 49152});
    std::vector<std::vector<uint8_t>> bufs;
    double bytes = 0.0;
    for (const Mat& m : mats) {
        bufs.push_back(make_weights(*type_traits(m.id), m.n, m.rows, WMode::Random, rng));
        bytes += (double)type_traits(m.id)->row_size(m.n) * m.rows;
    }
    auto x = make_acts(1536, 1, XMode::Random, rng);
    std::vector<float> y(49152);
    for (Isa isa : g_isas) {
        std::vector<BlockQ8> q(1536 / 32);
        int iters = 0;
        double t0 = now(), t1;
        do {
            for (size_t i = 0; i < mats.size(); ++i) {
                const TypeTraits& t = *type_traits(mats[i].id);
                select_quantize_q8(isa)(x.data(), q.data(), mats[i].n);
                WeightView w{&t, bufs[i].data(), t.row_size(mats[i].n), mats[i].n, mats[i].rows};
                ActView a{ActMode::A8, x.data(), mats[i].n, q.data(), mats[i].n / 32, 1};
                matmul_rows(w, a, isa, 0, mats[i].rows, y.data(), mats[i].rows);
            }
            ++iters;
            t1 = now();
        } while (t1 - t0 < 1.0);
        const double per = (t1 - t0) / iters;
        std::printf("bench smollm2-135m token matmuls %-10s %.2f ms/token (%.0f tok/s bound), %.1f MB at %.2f GB/s\n",
                    isa_name(isa), per * 1e3, 1.0 / per, bytes / 1e6, bytes / per / 1e9);
    }
}

}  // namespace

int main(int argc, char** argv) {
    bool do_bench = false;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--bench") == 0) do_bench = true;
    std::printf("best isa: %s\n", isa_name(best_isa()));
    for (int i = 0; i < kIsaCount; ++i) {
        if (isa_supported((Isa)i)) g_isas.push_back((Isa)i);
        else std::printf("skipped isa %s: not supported by this CPU/OS (or above QUANTX_ISA)\n", isa_name((Isa)i));
    }
    if (do_bench) {
        bench();
        bench_smollm2_token();
        return 0;
    }
    test_table();
    test_fp16();
    test_quantize_q8();
    test_axpy_rows();
    test_dot_rows();
    test_dots();
    test_q8_0_tiles();
    test_matmul();
    test_batch_invariance();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail == 0 ? 0 : 1;
}
