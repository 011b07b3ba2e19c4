// QuantX formats, native side: bit layout round trip, fp16 rounding, row
// sizes, every SIMD kernel against its scalar reference (A16 and A8, stated
// tolerance), the scalar references against a double-precision evaluation of
// the spec's formulas, and the GGUF container mapping's validation.
// Prints "N passed, M failed"; exit status 1 on any failure.
#include <chrono>
#include <cmath>
#include <thread>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gguf.h"
#include "kernels/qx_format.h"
#include "kernels/qx_half.h"
#include "kernels/qx_kernels.h"
#include "kernels/qx_quantize.h"
#include "kernels/qx_tiles.h"
#include "kernels/qx_types.h"
#include "qx_gguf.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

using namespace qx;

namespace {

int g_pass = 0, g_fail = 0;

void check(bool ok, const std::string& what) {
    if (ok) {
        ++g_pass;
    } else {
        ++g_fail;
        std::printf("FAIL: %s\n", what.c_str());
    }
}

// Which ISAs this CPU runs (local check so the test does not depend on the
// runtime's feature detection being what is under test).
bool isa_runs(int isa) {
#if defined(__x86_64__)
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    const bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    switch (isa) {
        case kIsaScalar: return true;
        case kIsaAvx2: return avx2;
        case kIsaAvx512: return avx512;
        case kIsaAvx512Vnni: return avx512 && __builtin_cpu_supports("avx512vnni");
        default: return false;
    }
#elif defined(__aarch64__)
    switch (isa) {
        case kIsaScalar: case kIsaNeon: return true;
#if defined(__linux__)
        case kIsaNeonDot: return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
        default: return false;
    }
#else
    return isa == kIsaScalar;
#endif
}

const char* isa_label(int isa) {
    static const char* names[] = {"scalar", "avx2", "avx512", "avx512vnni", "neon", "neondot"};
    return names[isa];
}

// Activation quantization as the runtime's reference: d = amax/127, round to nearest.
std::vector<BlockQ8> quantize_q8(const std::vector<float>& x) {
    std::vector<BlockQ8> out(x.size() / 32);
    for (size_t b = 0; b < out.size(); ++b) {
        float amax = 0;
        for (int i = 0; i < 32; ++i) amax = std::max(amax, std::fabs(x[b * 32 + i]));
        const float d = amax / 127.0f, id = d ? 1.0f / d : 0.0f;
        out[b].d = d;
        int s0 = 0, s1 = 0;
        for (int i = 0; i < 32; ++i) {
            out[b].qs[i] = (int8_t)std::lrintf(x[b * 32 + i] * id);
            (i < 16 ? s0 : s1) += out[b].qs[i];
        }
        out[b].sum[0] = (int16_t)s0;
        out[b].sum[1] = (int16_t)s1;
    }
    return out;
}

// Weights with the edge cases of the spec: an all-zero group, a constant
// group, one huge outlier per group, and plain Gaussian groups.
std::vector<float> make_weights(std::mt19937& rng, int64_t rows, int64_t n) {
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> w((size_t)(rows * n));
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t g0 = 0; g0 < n; g0 += kQxGroup) {
            const int64_t len = std::min<int64_t>(kQxGroup, n - g0);
            const int kind = (int)((r + g0 / kQxGroup) % 5);
            for (int64_t i = 0; i < len; ++i) {
                float v = nd(rng) * 0.02f;
                if (kind == 1) v = 0.0f;
                if (kind == 2) v = -0.0375f;
                if (kind == 3 && i == len / 3) v = 40.0f;
                w[(size_t)(r * n + g0 + i)] = v;
            }
        }
    }
    return w;
}

void test_layout_round_trip() {
    std::mt19937 rng(1);
    for (const auto& f : kQxFormats) {
        bool ok = true;
        for (int rep = 0; rep < 200; ++rep) {
            uint8_t codes[32], back[32], sb[16];
            for (auto& c : codes) c = (uint8_t)(rng() % (unsigned)f.table_size);
            qx_pack_sub(f, codes, sb);
            qx_unpack_sub(f, sb, back);
            ok = ok && std::memcmp(codes, back, 32) == 0;
        }
        check(ok, std::string(f.name) + " pack/unpack sub-block round trip");
    }
    // One fixed QX3 vector pins the bit positions of the spec.
    uint8_t codes[32] = {0}, sb[12];
    codes[9] = 7;   // low bits -> byte 1 bits 2..3 (9 = 1 + 8*1); high bit -> byte 8+1 bit 2 (9 = 1 + 4*2)
    qx_pack_sub(kQxFormats[0], codes, sb);
    check(sb[1] == 0x0C && sb[9] == 0x04 && sb[0] == 0 && sb[8] == 0, "QX3 bit positions of the spec");
}

void test_half() {
    check(qx_float_to_half(1.0f) == 0x3C00, "half(1)");
    check(qx_float_to_half(65504.0f) == 0x7BFF, "half(65504)");
    check(qx_float_to_half(65520.0f) == 0x7C00, "half(65520) rounds to inf");
    check(qx_float_to_half(std::ldexp(1.0f, -24)) == 0x0001, "half(2^-24)");
    check(qx_float_to_half(std::ldexp(1.0f, -25)) == 0x0000, "half(2^-25) ties to even zero");
    check(qx_float_to_half(std::ldexp(3.0f, -26)) == 0x0001, "half(1.5*2^-25) rounds up");
    check(qx_float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3C00, "half tie to even (down)");
    check(qx_float_to_half(1.0f + std::ldexp(3.0f, -11)) == 0x3C02, "half tie to even (up)");
    bool ok = true;
    for (uint32_t h = 0; h < 0x7C00; ++h) ok = ok && qx_float_to_half(qx_half_to_float((uint16_t)h)) == h;
    check(ok, "half -> float -> half is the identity on finite halves");
}

void test_row_sizes() {
    check(qx_row_size(kQxFormats[0], 576) == 216 + 10, "QX3_U row 576");
    check(qx_row_size(kQxFormats[1], 4096) == 8 + 64 + 1536, "QX3_C row 4096");
    check(qx_row_size(kQxFormats[2], 96) == 2 + 48, "QX4_U row 96");
    check(qx_row_size(kQxFormats[3], 11008) == 16 + 2 * 86 + 5504, "QX4_C row 11008");
    for (const auto& f : kQxFormats) {
        const TypeTraits* t = qx_type_traits(f.id);
        check(t && t->id == f.id && std::strcmp(t->name, f.name) == 0 && t->row_size(640) == qx_row_size(f, 640) &&
                  t->block_size == 32 && t->dot_a16[kIsaScalar] && t->dot_a8[kIsaScalar] && t->to_float,
              std::string(f.name) + " traits row");
    }
    check(qx_type_traits(QX_ID_END) == nullptr && qx_type_traits(GGML_Q4_0) == nullptr, "non-QuantX ids have no QX row");
}

// Double-precision evaluation of the spec's formulas from the dequantized row.
void reference_formulas(const QxFormat& f, const uint8_t* row, int64_t n, const float* x, const BlockQ8* q,
                        double* a16, double* a8, double* mag16, double* mag8) {
    std::vector<float> w((size_t)n);
    qx_dequantize_row(f, row, w.data(), n);
    *a16 = *a8 = *mag16 = *mag8 = 0;
    for (int64_t i = 0; i < n; ++i) {
        *a16 += (double)w[(size_t)i] * x[i];
        *mag16 += std::fabs((double)w[(size_t)i] * x[i]);
        const double xq = (double)q[i / 32].d * q[i / 32].qs[i % 32];
        *a8 += (double)w[(size_t)i] * xq;
        *mag8 += std::fabs((double)w[(size_t)i] * xq);
    }
}

void test_kernels() {
    std::mt19937 rng(7);
    const int64_t lengths[] = {32, 96, 576, 640, 896, 1536, 4096, 11008};
    // Tolerances, relative to sum |w_i x_i| of the row: the integer part of
    // A8 is exact, so both paths differ only by float reassociation.
    const double kSimdTol = 2e-5, kRefTol = 1e-5;
    for (const auto& f : kQxFormats) {
        const TypeTraits* t = qx_type_traits(f.id);
        for (int64_t n : lengths) {
            const int64_t rows = n > 4096 ? 3 : 10;
            const std::vector<float> w = make_weights(rng, rows, n);
            std::vector<uint8_t> packed(qx_row_size(f, n) * (size_t)rows);
            qx_quantize_rows(f, w.data(), rows, n, nullptr, nullptr, packed.data());
            std::normal_distribution<float> nd;
            std::vector<float> x((size_t)n);
            for (auto& v : x) v = nd(rng);
            x[(size_t)(n / 2)] = 25.0f;  // an activation outlier
            const std::vector<BlockQ8> q = quantize_q8(x);
            const std::string tag = std::string(f.name) + " n=" + std::to_string(n);
            bool ref_ok = true;
            double worst[kIsaCount][2] = {};
            bool ran[kIsaCount][2] = {};
            for (int64_t r = 0; r < rows; ++r) {
                const uint8_t* row = packed.data() + (size_t)r * qx_row_size(f, n);
                double a16, a8, m16, m8;
                reference_formulas(f, row, n, x.data(), q.data(), &a16, &a8, &m16, &m8);
                const float r16 = t->dot_a16[kIsaScalar](n, row, x.data());
                const float r8 = t->dot_a8[kIsaScalar](n, row, q.data());
                ref_ok = ref_ok && std::fabs(r16 - a16) <= kRefTol * m16 + 1e-30 && std::fabs(r8 - a8) <= kRefTol * m8 + 1e-30;
                for (int isa = 1; isa < kIsaCount; ++isa) {
                    if (!isa_runs(isa)) continue;
                    if (t->dot_a16[isa]) {
                        ran[isa][0] = true;
                        worst[isa][0] = std::max(worst[isa][0], std::fabs(t->dot_a16[isa](n, row, x.data()) - r16) / (m16 + 1e-30));
                    }
                    if (t->dot_a8[isa]) {
                        ran[isa][1] = true;
                        worst[isa][1] = std::max(worst[isa][1], std::fabs(t->dot_a8[isa](n, row, q.data()) - r8) / (m8 + 1e-30));
                    }
                }
            }
            check(ref_ok, tag + " scalar reference dots == spec formulas (double)");
            for (int isa = 1; isa < kIsaCount; ++isa) {
                if (ran[isa][0])
                    check(worst[isa][0] <= kSimdTol, tag + " " + isa_label(isa) + " A16 vs scalar, rel err " + std::to_string(worst[isa][0]));
                if (ran[isa][1])
                    check(worst[isa][1] <= kSimdTol, tag + " " + isa_label(isa) + " A8 vs scalar, rel err " + std::to_string(worst[isa][1]));
            }
        }
    }
    for (int isa = 1; isa < kIsaCount; ++isa)
        if (isa_runs(isa) && (qx_type_traits(QX3_U)->dot_a8[isa] || qx_type_traits(QX3_U)->dot_a16[isa]))
            std::printf("kernels checked on %s\n", isa_label(isa));
}

// Activations with the A8 edge cases: int8 saturation both ways, all-zero
// blocks, one outlier (others quantize to ~0), plain Gaussian.
std::vector<float> make_activations(std::mt19937& rng, int64_t n, int kind) {
    std::normal_distribution<float> nd;
    std::vector<float> x((size_t)n);
    for (int64_t i = 0; i < n; ++i) {
        float v = nd(rng);
        if (kind == 1) v = (i % 3 == 0) ? -1.0f : 1.0f;            // q = +-127 everywhere
        if (kind == 2) v = (i / 32) % 2 ? 0.0f : v;                 // every other block zero
        if (kind == 3) v = (i % 32 == 5) ? 300.0f : 1e-3f * v;      // one outlier per block
        x[(size_t)i] = v;
    }
    return x;
}

// The row kernels of matmul_rows (qx_select_gemv_a8 / qx_select_gemm_a8) on
// every ISA against the scalar reference dot, per token, on the SmolLM2 row
// lengths and odd ones (short last groups); and gemm == gemv bit for bit.
void test_row_kernels() {
    std::mt19937 rng(9);
    const int64_t lengths[] = {32, 96, 160, 576, 1536, 1568, 4096};
    for (const auto& f : kQxFormats) {
        const DotA8Fn ref = qx_type_traits(f.id)->dot_a8[kIsaScalar];
        for (int isa = 0; isa < kIsaCount; ++isa) {
            const QxGemvA8Fn gemv = qx_select_gemv_a8(f.id, (Isa)isa);
            const QxGemmA8Fn gemm = qx_select_gemm_a8(f.id, (Isa)isa);
            if (!isa_runs(isa)) continue;
            if (!gemv || !gemm) {
                check(!gemv && !gemm, std::string(f.name) + " " + isa_label(isa) + " has both row kernels or neither");
                continue;
            }
            double worst = 0;
            bool same = true;
            int cases = 0;
            for (int64_t n : lengths) {
                const int64_t rows = 19, nb = n / 32;  // two 8-row groups and a partial one
                const std::vector<float> w = make_weights(rng, rows, n);
                std::vector<uint8_t> packed(qx_row_size(f, n) * (size_t)rows);
                qx_quantize_rows(f, w.data(), rows, n, nullptr, nullptr, packed.data());
                // 4 tokens, contiguous.
                std::vector<BlockQ8> xs;
                for (int t = 0; t < 4; ++t) {
                    const auto q = quantize_q8(make_activations(rng, n, t));
                    xs.insert(xs.end(), q.begin(), q.end());
                }
                const BlockQ8* xp[4];
                for (int t = 0; t < 4; ++t) xp[t] = xs.data() + t * nb;
                std::vector<float> ones((size_t)(4 * rows)), batch((size_t)(4 * rows));
                for (int t = 0; t < 4; ++t)
                    gemv(n, packed.data(), qx_row_size(f, n), rows, xp[t], ones.data() + t * rows);
                gemm(n, packed.data(), qx_row_size(f, n), rows, xs.data(), nb, 4, batch.data(), rows);
                for (int64_t r = 0; r < rows; ++r) {
                    const uint8_t* row = packed.data() + (size_t)r * qx_row_size(f, n);
                    for (int t = 0; t < 4; ++t) {
                        double a16, a8, m16, m8;
                        std::vector<float> zero((size_t)n, 0.0f);
                        reference_formulas(f, row, n, zero.data(), xp[t], &a16, &a8, &m16, &m8);
                        const float r8 = ref(n, row, xp[t]);
                        const float one = ones[(size_t)(t * rows + r)], many = batch[(size_t)(t * rows + r)];
                        worst = std::max(worst, std::fabs(many - r8) / (m8 + 1e-30));
                        worst = std::max(worst, std::fabs(one - r8) / (m8 + 1e-30));
                        same = same && std::memcmp(&one, &many, sizeof(float)) == 0;
                        ++cases;
                    }
                }
            }
            check(worst <= 2e-5, std::string(f.name) + " " + isa_label(isa) + " A8 gemv/gemm vs scalar dot over " +
                                     std::to_string(cases) + " (row, token) pairs, rel err " + std::to_string(worst));
            check(same, std::string(f.name) + " " + isa_label(isa) + " 4-token gemm bit-identical to gemv");
        }
    }
}

// Row tiles (qx_tiles.h): every tile row reads back byte for byte as the file
// row (a short last tile repeats its last row); the scalar tiled reference
// equals the row reference exactly; the tiled VNNI gemv equals the row VNNI
// gemv bit for bit (same integer sums, same float operations), and the tiled
// gemm the tiled gemv; C types with a different random codebook per row, so a
// lookup through another row's table would show.
void test_tiles() {
    std::mt19937 rng(21);
    const int64_t lengths[] = {32, 96, 160, 576, 640, 896, 1536, 1568, 4096, 11008};
    const int64_t row_counts[] = {1, 7, 8, 19};
    const int vnni = kIsaAvx512Vnni;
    for (const auto& f : kQxFormats) {
        const QxTiledGemvFn tgemv = qx_select_tiled_gemv(f.id, (Isa)vnni);
        const QxTiledGemmFn tgemm = qx_select_tiled_gemm(f.id, (Isa)vnni);
        const QxGemvA8Fn rgemv = qx_select_gemv_a8(f.id, (Isa)vnni);
        const DotA8Fn ref = qx_type_traits(f.id)->dot_a8[kIsaScalar];
        const bool simd = isa_runs(vnni) && tgemv;
        if (!simd)
            std::printf("%s: tiled VNNI kernels skipped (%s)\n", f.name,
                        isa_runs(vnni) ? "no AVX-512 VBMI for the per-row tables" : "no AVX-512 VNNI on this CPU");
        check(!tgemv == !tgemm, std::string(f.name) + " has both tiled kernels or neither");
        bool round_trip = true, ref_same = true, gemv_same = true, gemm_same = true;
        for (int64_t n : lengths) {
            for (int64_t rows : row_counts) {
                const size_t rb = qx_row_size(f, n), tb = qx_tile_bytes(f, n);
                const std::vector<float> w = make_weights(rng, rows, n);
                std::vector<int8_t> books;
                if (f.row_codebook) {
                    books.resize((size_t)(rows * f.table_size));
                    for (auto& v : books) v = (int8_t)((int)(rng() % 255) - 127);
                }
                std::vector<uint8_t> packed(rb * (size_t)rows);
                qx_quantize_rows(f, w.data(), rows, n, f.row_codebook ? books.data() : nullptr, nullptr, packed.data());
                std::vector<uint8_t> tiles(tb * (size_t)qx_tile_count(rows));
                qx_tile_rows(f, packed.data(), rb, rows, n, tiles.data());
                std::vector<uint8_t> back(rb);
                for (int64_t r = 0; r < qx_tile_count(rows) * kQxTileRows; ++r) {
                    qx_untile_row(f, tiles.data() + (size_t)(r / kQxTileRows) * tb, n, (int)(r % kQxTileRows), back.data());
                    const int64_t src = std::min<int64_t>(r, rows - 1);
                    round_trip = round_trip && std::memcmp(back.data(), packed.data() + (size_t)src * rb, rb) == 0;
                }
                const int64_t nb = n / 32;
                std::vector<BlockQ8> xs;
                for (int t = 0; t < 4; ++t) {
                    const auto q = quantize_q8(make_activations(rng, n, t));
                    xs.insert(xs.end(), q.begin(), q.end());
                }
                std::vector<float> yref((size_t)rows), yrow((size_t)rows), ytile((size_t)(4 * rows)), ybatch((size_t)(4 * rows));
                for (int t = 0; t < 4; ++t) {
                    const BlockQ8* x = xs.data() + t * nb;
                    qx_tiled_gemv_a8_ref(f, n, tiles.data(), rows, x, yref.data());
                    for (int64_t r = 0; r < rows; ++r) {
                        const float direct = ref(n, packed.data() + (size_t)r * rb, x);
                        ref_same = ref_same && std::memcmp(&direct, &yref[(size_t)r], sizeof(float)) == 0;
                    }
                    if (!simd) continue;
                    rgemv(n, packed.data(), rb, rows, x, yrow.data());
                    tgemv(n, tiles.data(), rows, x, ytile.data() + t * rows);
                    gemv_same = gemv_same && std::memcmp(yrow.data(), ytile.data() + t * rows, rows * sizeof(float)) == 0;
                }
                if (!simd) continue;
                tgemm(n, tiles.data(), rows, xs.data(), nb, 4, ybatch.data(), rows);
                gemm_same = gemm_same && std::memcmp(ybatch.data(), ytile.data(), ybatch.size() * sizeof(float)) == 0;
            }
        }
        check(round_trip, std::string(f.name) + " tile rows read back as the file rows");
        check(ref_same, std::string(f.name) + " tiled scalar reference == row reference");
        if (simd) {
            check(gemv_same, std::string(f.name) + " tiled VNNI gemv bit-identical to the row VNNI gemv");
            check(gemm_same, std::string(f.name) + " tiled VNNI 4-token gemm bit-identical to the tiled gemv");
        }
    }
}

// C-type tensors whose rows all carry one table (the loader's rows of QX3_T /
// QX4_T files): qx_rows_share_table tells them from per-row tables (one entry
// changed in the last row is enough), and the shared-table tiled kernels
// (vpshufb, no VBMI) equal the row VNNI gemv bit for bit, the gemm the gemv.
void test_tiles_shared_table() {
    std::mt19937 rng(22);
    const int64_t lengths[] = {32, 160, 576, 1536, 1568};
    const int64_t row_counts[] = {1, 7, 8, 19};
    const Isa vnni = kIsaAvx512Vnni;
    for (const auto& f : kQxFormats) {
        const QxTiledGemvFn sgemv = qx_select_tiled_gemv(f.id, vnni, true);
        const QxTiledGemmFn sgemm = qx_select_tiled_gemm(f.id, vnni, true);
        if (!f.row_codebook) {
            check(sgemv == qx_select_tiled_gemv(f.id, vnni), std::string(f.name) + ": no table, the flag selects the same kernel");
            continue;
        }
        const QxGemvA8Fn rgemv = qx_select_gemv_a8(f.id, vnni);
        const bool simd = isa_runs(vnni) && sgemv;
        if (!simd) std::printf("%s: shared-table tiled kernels skipped (no AVX-512 VNNI on this CPU)\n", f.name);
        check(!sgemv == !sgemm, std::string(f.name) + " has both shared-table kernels or neither");
        bool detect = true, gemv_same = true, gemm_same = true;
        for (int64_t n : lengths) {
            for (int64_t rows : row_counts) {
                const size_t rb = qx_row_size(f, n), tb = qx_tile_bytes(f, n);
                const std::vector<float> w = make_weights(rng, rows, n);
                std::vector<int8_t> one((size_t)f.table_size);
                for (auto& v : one) v = (int8_t)((int)(rng() % 255) - 127);
                for (int differs = 0; differs < 2; ++differs) {
                    std::vector<int8_t> books;
                    for (int64_t r = 0; r < rows; ++r) books.insert(books.end(), one.begin(), one.end());
                    if (differs) books.back() = (int8_t)(books.back() == 127 ? 126 : books.back() + 1);
                    std::vector<uint8_t> packed(rb * (size_t)rows);
                    qx_quantize_rows(f, w.data(), rows, n, books.data(), nullptr, packed.data());
                    detect = detect && qx_rows_share_table(f, packed.data(), rb, rows) == (!differs || rows == 1);
                    if (differs || !simd) continue;
                    std::vector<uint8_t> tiles(tb * (size_t)qx_tile_count(rows));
                    qx_tile_rows(f, packed.data(), rb, rows, n, tiles.data());
                    const int64_t nb = n / 32;
                    std::vector<BlockQ8> xs;
                    for (int t = 0; t < 4; ++t) {
                        const auto q = quantize_q8(make_activations(rng, n, t));
                        xs.insert(xs.end(), q.begin(), q.end());
                    }
                    std::vector<float> yrow((size_t)rows), ytile((size_t)(4 * rows)), ybatch((size_t)(4 * rows));
                    for (int t = 0; t < 4; ++t) {
                        rgemv(n, packed.data(), rb, rows, xs.data() + t * nb, yrow.data());
                        sgemv(n, tiles.data(), rows, xs.data() + t * nb, ytile.data() + t * rows);
                        gemv_same = gemv_same && std::memcmp(yrow.data(), ytile.data() + t * rows, rows * sizeof(float)) == 0;
                    }
                    sgemm(n, tiles.data(), rows, xs.data(), nb, 4, ybatch.data(), rows);
                    gemm_same = gemm_same && std::memcmp(ybatch.data(), ytile.data(), ybatch.size() * sizeof(float)) == 0;
                }
            }
        }
        check(detect, std::string(f.name) + " rows sharing one table told from rows with their own");
        if (simd) {
            check(gemv_same, std::string(f.name) + " shared-table tiled gemv bit-identical to the row VNNI gemv");
            check(gemm_same, std::string(f.name) + " shared-table tiled 4-token gemm bit-identical to its gemv");
        }
    }
    check(!qx_rows_share_table(kQxFormats[0], nullptr, 0, 0), "U rows have no table to share");
}

void test_quantizer_edges() {
    const QxFormat& u = kQxFormats[0];
    // All-zero row: every weight dequantizes to exactly 0.
    std::vector<float> z(576, 0.0f), y(576);
    std::vector<uint8_t> p(qx_row_size(u, 576));
    qx_quantize_rows(u, z.data(), 1, 576, nullptr, nullptr, p.data());
    qx_dequantize_row(u, p.data(), y.data(), 576);
    bool ok = true;
    for (float v : y) ok = ok && v == 0.0f;
    check(ok, "QX3_U all-zero row dequantizes to zeros");
    // The largest-magnitude weight of a group is reproduced exactly up to fp16 scale rounding.
    std::vector<float> w(128, 0.01f);
    w[5] = -3.0f;
    std::vector<uint8_t> p2(qx_row_size(u, 128));
    std::vector<float> y2(128);
    qx_quantize_rows(u, w.data(), 1, 128, nullptr, nullptr, p2.data());
    qx_dequantize_row(u, p2.data(), y2.data(), 128);
    check(y2[5] == -3.0f, "QX3_U group extreme maps to the grid end exactly");
    bool threw = false;
    w[3] = NAN;
    try {
        qx_quantize_rows(u, w.data(), 1, 128, nullptr, nullptr, p2.data());
    } catch (const Error&) {
        threw = true;
    }
    check(threw, "non-finite weight is rejected");
    threw = false;
    try {
        qx_quantize_rows(u, z.data(), 1, 100, nullptr, nullptr, p.data());
    } catch (const Error&) {
        threw = true;
    }
    check(threw, "row length not a multiple of 32 is rejected");
}

GgufValue int_value(int64_t v) {
    GgufValue g;
    g.type = GgufType::UINT32;
    g.i = v;
    g.u = (uint64_t)v;
    return g;
}

GgufValue str_value(const std::string& s) {
    GgufValue g;
    g.type = GgufType::STRING;
    g.s = s;
    return g;
}

void test_gguf_mapping() {
    const int64_t n = 576, rows = 3;
    const size_t rb = qx_row_size(kQxFormats[1], n);
    std::vector<uint8_t> bytes(rb * rows);
    std::map<std::string, GgufValue> kv;
    kv["quantx.format_version"] = int_value(1);
    kv["quantx.tensor.w.type"] = str_value("QX3_C");
    kv["quantx.tensor.w.group_size"] = int_value(128);
    GgufValue shape;
    shape.type = GgufType::ARRAY;
    shape.elem_type = GgufType::INT32;
    shape.arr = {int_value(n), int_value(rows)};
    for (auto& e : shape.arr) e.type = GgufType::INT32;
    kv["quantx.tensor.w.shape"] = shape;
    GgufTensor t;
    t.name = "w";
    t.type_id = GGML_I8;
    t.n_dims = 2;
    t.ne[0] = (int64_t)rb;
    t.ne[1] = rows;
    t.data = bytes.data();
    t.nbytes = bytes.size();

    QxResolvedTensor v;
    bool ok = qx_resolve_tensor(kv, t, bytes.size(), &v);
    check(ok && v.type == qx_type_traits(QX3_C) && v.ne[0] == n && v.ne[1] == rows && v.n_dims == 2 &&
              v.row_bytes == rb && v.rows == rows && v.data == bytes.data(),
          "GGUF: valid QuantX tensor resolves");
    GgufTensor plain = t;
    plain.name = "other";
    check(!qx_resolve_tensor(kv, plain, bytes.size(), &v), "GGUF: tensor without quantx metadata is not QuantX");

    auto expect_error = [&](const std::string& what, const std::function<void(std::map<std::string, GgufValue>&, GgufTensor&)>& spoil,
                            size_t avail) {
        auto kv2 = kv;
        GgufTensor t2 = t;
        spoil(kv2, t2);
        bool threw = false;
        try {
            QxResolvedTensor v2;
            qx_resolve_tensor(kv2, t2, avail, &v2);
        } catch (const Error& e) {
            threw = std::string(e.what()).find("'w'") != std::string::npos || what == "internal id";
        }
        check(threw, "GGUF: rejects " + what);
    };
    expect_error("missing version", [](auto& k, auto&) { k.erase("quantx.format_version"); }, bytes.size());
    expect_error("future version", [](auto& k, auto&) { k["quantx.format_version"] = int_value(2); }, bytes.size());
    expect_error("unknown type", [](auto& k, auto&) { k["quantx.tensor.w.type"] = str_value("QX2_Z"); }, bytes.size());
    expect_error("other group size", [](auto& k, auto&) { k["quantx.tensor.w.group_size"] = int_value(64); }, bytes.size());
    expect_error("missing shape", [](auto& k, auto&) { k.erase("quantx.tensor.w.shape"); }, bytes.size());
    expect_error("row length not /32", [&](auto& k, auto&) { k["quantx.tensor.w.shape"].arr[0] = int_value(100); }, bytes.size());
    expect_error("wrong logical rows", [&](auto& k, auto&) { k["quantx.tensor.w.shape"].arr[1] = int_value(4); }, bytes.size());
    expect_error("wrong row bytes", [](auto&, auto& tt) { tt.ne[0] -= 1; }, bytes.size());
    expect_error("wrong byte count", [](auto&, auto& tt) { tt.nbytes -= 1; }, bytes.size());
    expect_error("storage type not I8", [](auto&, auto& tt) { tt.type_id = GGML_F32; }, bytes.size());
    expect_error("internal id", [](auto&, auto& tt) { tt.type_id = QX3_U; }, bytes.size());
    expect_error("bytes past the end of the file", [](auto&, auto& tt) { tt.nbytes = 0; }, bytes.size() - 1);
    QxResolvedTensor v3;
    GgufTensor unsized = t;
    unsized.nbytes = 0;  // what the reader reports for I8, a type outside the runtime's table
    check(qx_resolve_tensor(kv, unsized, bytes.size(), &v3) && v3.rows == rows, "GGUF: unsized I8 tensor within the file resolves");
}

// Micro-benchmark (not a test): GEMV GB/s of the weight stream for each
// type and ISA vs. the machine's measured memory read bandwidth, on a matrix
// larger than the last-level cache, with 1 and 2 threads.
double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double thread_cpu_seconds() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// Best of reps. One thread: its CPU time, so a busy shared machine (other
// processes preempting us) does not distort it; two threads: wall time.
template <class F>
double best_time(int threads, int reps, const F& work) {
    double best = 1e30;
    for (int rep = 0; rep < reps; ++rep) {
        if (threads == 1) {
            const double c0 = thread_cpu_seconds();
            work(0, 1);
            best = std::min(best, thread_cpu_seconds() - c0);
            continue;
        }
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int t = 1; t < threads; ++t) pool.emplace_back(work, t, threads);
        work(0, threads);
        for (auto& th : pool) th.join();
        best = std::min(best, seconds_since(t0));
    }
    return best;
}

// Prompt-processing kernel: a SmolLM2-sized matrix against 128 tokens, one
// thread, in row tiles of 16 as matmul_rows calls it.
void bench_gemm() {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    for (int64_t n : {576, 1536}) {
        const int64_t rows = n == 576 ? 1536 : 576, nt = 128, nb = n / 32;
        std::vector<BlockQ8> x;
        for (int64_t t = 0; t < nt; ++t) {
            std::vector<float> v((size_t)n);
            for (auto& e : v) e = nd(rng);
            const auto q = quantize_q8(v);
            x.insert(x.end(), q.begin(), q.end());
        }
        for (const auto& f : kQxFormats) {
            if (f.bits != 3) continue;
            std::vector<float> w((size_t)(rows * n));
            for (auto& e : w) e = nd(rng);
            const size_t rb = qx_row_size(f, n);
            std::vector<uint8_t> packed(rb * (size_t)rows);
            qx_quantize_rows(f, w.data(), rows, n, nullptr, nullptr, packed.data());
            std::vector<float> y((size_t)(rows * nt));
            for (int isa = 1; isa < kIsaCount; ++isa) {
                const QxGemmA8Fn gemm = qx_select_gemm_a8(f.id, (Isa)isa);
                if (!isa_runs(isa) || !gemm) continue;
                for (int threads : {1, 2}) {
                    const double sec = best_time(threads, 5, [&](int id, int nth) {
                        const int64_t a = rows * id / nth / 64 * 64, e = id + 1 == nth ? rows : rows * (id + 1) / nth / 64 * 64;
                        for (int64_t r = a; r < e; r += 64)
                            gemm(n, packed.data() + (size_t)r * rb, rb, std::min<int64_t>(64, e - r), x.data(), nb, nt,
                                 y.data() + r, rows);
                    });
                    std::printf("%s %-10s gemm %lld x %lld x %lld tokens, %d thread(s): %.2f ms, %.2f ns per (row, token, 32 weights)\n",
                                f.name, isa_label(isa), (long long)rows, (long long)n, (long long)nt, threads, sec * 1e3,
                                sec * 1e9 / (double)(rows * nt * nb));
                }
            }
        }
    }
}

void bench(bool only_qx3) {
    double bandwidth[2] = {};
    const size_t bytes = (size_t)256 << 20;
    std::vector<uint64_t> buf(bytes / 8, 1);
    for (int threads : {1, 2}) {
        std::vector<uint64_t> sums((size_t)threads);
        const double t = best_time(threads, 10, [&](int id, int nth) {
            const size_t len = buf.size() / (size_t)nth, a = (size_t)id * len;
            uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            for (size_t i = a; i < a + len; i += 4) {
                s0 += buf[i]; s1 += buf[i + 1]; s2 += buf[i + 2]; s3 += buf[i + 3];
            }
            sums[(size_t)id] = s0 + s1 + s2 + s3;
        });
        bandwidth[threads - 1] = bytes / t / 1e9;
        std::printf("memory read bandwidth, %d thread(s): %.1f GB/s (checksum %llu)\n", threads, bytes / t / 1e9,
                    (unsigned long long)sums[0]);
    }
    // 8192 x 32768: 104 MB of QX3 rows, 3x the 32 MB L3 of the dev machine
    // (QX_BENCH_ROWS=256: the same in cache, to see the compute limit).
    const int64_t n = 8192, rows = std::getenv("QX_BENCH_ROWS") ? std::atoll(std::getenv("QX_BENCH_ROWS")) : 32768;
    std::mt19937 rng(3);
    std::normal_distribution<float> nd;
    std::vector<float> x((size_t)n);
    for (auto& v : x) v = nd(rng);
    const std::vector<BlockQ8> q = quantize_q8(x);
    std::vector<float> y((size_t)rows);
    for (const auto& f : kQxFormats) {
        if (only_qx3 && f.bits != 3) continue;
        const TypeTraits* t = qx_type_traits(f.id);
        const size_t rb = qx_row_size(f, n);
        std::vector<float> w((size_t)(256 * n));
        for (auto& v : w) v = nd(rng);
        std::vector<uint8_t> packed(rb * (size_t)rows);
        for (int64_t r0 = 0; r0 < rows; r0 += 256)  // tile one quantized block over the matrix
            qx_quantize_rows(f, w.data(), 256, n, nullptr, nullptr, packed.data() + (size_t)r0 * rb);
        for (int isa = 1; isa < kIsaCount; ++isa) {
            if (!isa_runs(isa)) continue;
            const QxGemvA8Fn gemv = qx_select_gemv_a8(f.id, (Isa)isa);
            for (int mode = 0; mode < 2; ++mode) {
                if (mode == 0 && !t->dot_a16[isa]) continue;
                if (mode == 1 && !gemv && !t->dot_a8[isa]) continue;
                for (int threads : {1, 2}) {
                    const double sec = best_time(threads, 10, [&](int id, int nth) {
                        const int64_t a = rows * id / nth, b = rows * (id + 1) / nth;
                        if (mode == 1 && gemv) {
                            for (int64_t r = a; r < b; r += 16)  // row tiles as matmul_rows
                                gemv(n, packed.data() + (size_t)r * rb, rb, std::min<int64_t>(16, b - r), q.data(),
                                     y.data() + r);
                            return;
                        }
                        for (int64_t r = a; r < b; ++r) {
                            const uint8_t* row = packed.data() + (size_t)r * rb;
                            y[(size_t)r] = mode == 0 ? t->dot_a16[isa](n, row, x.data()) : t->dot_a8[isa](n, row, q.data());
                        }
                    });
                    const double gbs = packed.size() / sec / 1e9;
                    std::printf("%s %-10s %s %d thread(s): %6.1f GB/s = %3.0f%% of read bandwidth (%.2f ms for %lld x %lld)\n",
                                f.name, isa_label(isa), mode ? "A8 " : "A16", threads, gbs, 100 * gbs / bandwidth[threads - 1],
                                sec * 1e3, (long long)rows, (long long)n);
                }
            }
        }
        // The row tiles the runtime builds for the VNNI kernels (same weights, re-laid out);
        // C types also through the shared-table kernels (timed on these tiles: the speed
        // does not depend on whether the rows' tables are equal).
        if (!isa_runs(kIsaAvx512Vnni)) continue;
        const size_t tb = qx_tile_bytes(f, n);
        std::vector<uint8_t> tiles(tb * (size_t)qx_tile_count(rows));
        qx_tile_rows(f, packed.data(), rb, rows, n, tiles.data());
        for (int shared = 0; shared < (f.row_codebook ? 2 : 1); ++shared)
        for (int threads : {1, 2}) {
            const QxTiledGemvFn tgemv = qx_select_tiled_gemv(f.id, kIsaAvx512Vnni, shared != 0);
            if (!tgemv) continue;
            const double sec = best_time(threads, 10, [&](int id, int nth) {
                const int64_t a = rows * id / nth / 16 * 16, b = id + 1 == nth ? rows : rows * (id + 1) / nth / 16 * 16;
                for (int64_t r = a; r < b; r += 16)  // row ranges as matmul_rows
                    tgemv(n, tiles.data() + (size_t)(r / kQxTileRows) * tb, std::min<int64_t>(16, b - r), q.data(),
                          y.data() + r);
            });
            const double gbs = tiles.size() / sec / 1e9;
            std::printf("%s %-10s A8  %d thread(s): %6.1f GB/s = %3.0f%% of read bandwidth (%.2f ms, row tiles%s)\n",
                        f.name, "avx512vnni", threads, gbs, 100 * gbs / bandwidth[threads - 1], sec * 1e3,
                        shared ? ", shared table" : "");
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc > 1 && std::string(argv[1]) == "--bench-gemm") {
        bench_gemm();
        return 0;
    }
    if (argc > 1 && std::string(argv[1]) == "--bench") {
        bench(argc > 2 && std::string(argv[2]) == "qx3");
        return 0;
    }
    test_layout_round_trip();
    test_half();
    test_row_sizes();
    test_quantizer_edges();
    test_kernels();
    test_row_kernels();
    test_tiles();
    test_tiles_shared_table();
    test_gguf_mapping();
    std::printf("%d passed, %d failed\n", g_pass, g_fail);
    return g_fail ? 1 : 0;
}
