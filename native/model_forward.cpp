// The forward pass. Per layer: RMSNorm -> Q/K/V (one parallel region) ->
// RoPE -> KV cache -> attention (parallel over token x head) -> output
// projection -> RMSNorm -> gate/up (one region) -> SwiGLU -> down.
// Activations are float32 throughout; a weight whose kernel wants the integer
// path (A8) gets the input quantized to int8 blocks once per shared input.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/axpy.h"
#include "kernels/dot_rows.h"
#include "model.h"

namespace qx {

namespace {

void rms_norm(const float* x, const float* w, float* y, int64_t n, double eps) {
    double ss = 0.0;
    for (int64_t i = 0; i < n; ++i) ss += (double)x[i] * x[i];
    const float scale = (float)(1.0 / std::sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale * w[i];
}

void rope(float* v, int64_t n_heads, int64_t head_dim, int64_t rope_dim, RopeStyle style, const float* inv_freq,
          double pos) {
    const int64_t half = rope_dim / 2;
    for (int64_t i = 0; i < half; ++i) {
        const double theta = pos * (double)inv_freq[i];
        const float c = (float)std::cos(theta), s = (float)std::sin(theta);
        for (int64_t h = 0; h < n_heads; ++h) {
            float* hv = v + h * head_dim;
            const int64_t a = style == RopeStyle::Normal ? 2 * i : i;
            const int64_t b = style == RopeStyle::Normal ? 2 * i + 1 : i + half;
            const float x0 = hv[a], x1 = hv[b];
            hv[a] = x0 * c - x1 * s;
            hv[b] = x0 * s + x1 * c;
        }
    }
}

}  // namespace

void Model::matmuls(const float* x, int64_t nt, std::initializer_list<std::pair<const Weight*, float*>> jobs) {
    const int64_t n = jobs.begin()->first->view.n;
    bool need_q8 = false;
    for (const auto& j : jobs) need_q8 |= j.first->act == ActMode::A8;
    const int64_t nb = n / kQ8Block;
    if (need_q8) {
        QuantizeQ8Fn quant = select_quantize_q8(isa_);
        for (int64_t t = 0; t < nt; ++t) quant(x + t * n, xq_.data() + t * nb, n);
    }

    // Split every product's rows into chunks so both threads stay busy
    // even when one product is small (K and V have a third of Q's rows).
    struct Task {
        const Weight* w;
        float* y;
        int64_t r0, r1;
    };
    int64_t total_rows = 0;
    for (const auto& j : jobs) total_rows += j.first->view.rows;
    int64_t chunk = total_rows / ((int64_t)pool_->size() * 8);
    chunk = std::max<int64_t>(16, (chunk + 15) / 16 * 16);
    // Reused across calls: no allocation per product once warm.
    static thread_local std::vector<Task> tls_tasks;
    std::vector<Task>& tasks = tls_tasks;  // the workers must see the caller's list, not their own
    tasks.clear();
    for (const auto& j : jobs)
        for (int64_t r = 0; r < j.first->view.rows; r += chunk)
            tasks.push_back({j.first, j.second, r, std::min(r + chunk, j.first->view.rows)});
    const ActView a8{ActMode::A8, nullptr, 0, xq_.data(), nb, nt};
    const ActView a16{ActMode::A16, x, n, nullptr, 0, nt};
    pool_->parallel_for((int64_t)tasks.size(), [&](int64_t ti, int) {
        const Task& t = tasks[ti];
        matmul_rows(t.w->view, t.w->act == ActMode::A8 ? a8 : a16, isa_, t.r0, t.r1, t.y, t.w->view.rows);
    });
}

void Model::store_kv(int64_t layer, int64_t nt) {
    const int64_t kv_dim = hp_.n_head_kv * hp_.head_dim;
    const size_t at = ((size_t)layer * n_ctx_ + n_past_) * kv_dim, count = (size_t)(nt * kv_dim);
    if (kv_type_ == KvType::F32) {
        std::memcpy(static_cast<float*>(k_cache_) + at, k_.data(), count * sizeof(float));
        std::memcpy(static_cast<float*>(v_cache_) + at, v_.data(), count * sizeof(float));
        return;
    }
    uint16_t* kc = static_cast<uint16_t*>(k_cache_) + at;
    uint16_t* vc = static_cast<uint16_t*>(v_cache_) + at;
    for (size_t i = 0; i < count; ++i) {
        kc[i] = fp32_to_fp16(k_[i]);
        vc[i] = fp32_to_fp16(v_[i]);
    }
}

namespace {

// One head's attention over positions 0..pos of the cache (keys and values of type T, row
// stride kv_dim): softmax(q . k_j * scale) weighted sum of v_j into out (hd floats).
template <typename T, typename Scores, typename WeightedSum>
void attend_head(const float* q, const T* kc, const T* vc, int64_t kv_dim, int64_t hd, int64_t pos, float scale,
                 float* sc, float* out, Scores scores, WeightedSum weighted_sum) {
    float mx = -INFINITY;
    scores(hd, pos + 1, kc, kv_dim, q, sc);
    for (int64_t j = 0; j <= pos; ++j) {
        sc[j] *= scale;
        mx = std::max(mx, sc[j]);
    }
    double sum = 0.0;
    for (int64_t j = 0; j <= pos; ++j) {
        sc[j] = std::exp(sc[j] - mx);
        sum += sc[j];
    }
    const float inv = (float)(1.0 / sum);
    std::fill(out, out + hd, 0.0f);
    for (int64_t j = 0; j <= pos; ++j) sc[j] *= inv;
    weighted_sum(hd, pos + 1, sc, vc, kv_dim, out);
}

}  // namespace

void Model::attention(int layer, int64_t nt) {
    const int64_t hd = hp_.head_dim, kv_dim = hp_.n_head_kv * hd, q_dim = hp_.n_head * hd;
    const int64_t group = hp_.n_head / hp_.n_head_kv;
    const float scale = 1.0f / std::sqrt((float)hd);
    const size_t layer_at = (size_t)layer * n_ctx_ * kv_dim;
    const bool f16 = kv_type_ == KvType::F16;
    const AttentionKernels& k = attn_kernels_;

    pool_->parallel_for(nt * hp_.n_head, [&](int64_t task, int thread) {
        const int64_t t = task / hp_.n_head, h = task % hp_.n_head, kvh = h / group;
        const int64_t pos = n_past_ + t;  // attends to positions 0..pos
        const float* q = q_.data() + t * q_dim + h * hd;
        float* sc = scores_.data() + (size_t)thread * n_ctx_;
        float* out = attn_.data() + t * q_dim + h * hd;
        const size_t at = layer_at + (size_t)(kvh * hd);
        if (f16)
            attend_head(q, static_cast<const uint16_t*>(k_cache_) + at, static_cast<const uint16_t*>(v_cache_) + at,
                        kv_dim, hd, pos, scale, sc, out, k.scores_f16, k.sum_f16);
        else
            attend_head(q, static_cast<const float*>(k_cache_) + at, static_cast<const float*>(v_cache_) + at,
                        kv_dim, hd, pos, scale, sc, out, k.scores_f32, k.sum_f32);
    });
}

void Model::forward_chunk(const int32_t* ids, int64_t nt, int64_t logits_from, float* out) {
    const int64_t d = hp_.n_embd, hd = hp_.head_dim;
    const int64_t q_dim = hp_.n_head * hd, kv_dim = hp_.n_head_kv * hd, ff = hp_.n_ff;

    for (int64_t t = 0; t < nt; ++t) dequantize_row(tok_embd_.view, ids[t], x_.data() + t * d);

    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const LayerWeights& L = layers_[l];
        for (int64_t t = 0; t < nt; ++t) rms_norm(x_.data() + t * d, L.attn_norm, xn_.data() + t * d, d, hp_.rms_eps);
        matmuls(xn_.data(), nt, {{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}});

        for (int64_t t = 0; t < nt; ++t) {
            float* q = q_.data() + t * q_dim;
            float* k = k_.data() + t * kv_dim;
            float* v = v_.data() + t * kv_dim;
            if (L.bq) {
                for (int64_t i = 0; i < q_dim; ++i) q[i] += L.bq[i];
                for (int64_t i = 0; i < kv_dim; ++i) k[i] += L.bk[i];
                for (int64_t i = 0; i < kv_dim; ++i) v[i] += L.bv[i];
            }
            const double pos = (double)(n_past_ + t) / hp_.rope_linear_factor;
            rope(q, hp_.n_head, hd, hp_.rope_dim, hp_.rope_style, rope_inv_freq_.data(), pos);
            rope(k, hp_.n_head_kv, hd, hp_.rope_dim, hp_.rope_style, rope_inv_freq_.data(), pos);
        }
        store_kv(l, nt);
        attention((int)l, nt);

        matmuls(attn_.data(), nt, {{&L.wo, xn_.data()}});
        for (int64_t i = 0; i < nt * d; ++i) x_[i] += xn_[i];

        for (int64_t t = 0; t < nt; ++t) rms_norm(x_.data() + t * d, L.ffn_norm, xn_.data() + t * d, d, hp_.rms_eps);
        matmuls(xn_.data(), nt, {{&L.w_gate, gate_.data()}, {&L.w_up, up_.data()}});
        for (int64_t i = 0; i < nt * ff; ++i) {
            const float g = gate_[i];
            gate_[i] = g / (1.0f + std::exp(-g)) * up_[i];
        }
        matmuls(gate_.data(), nt, {{&L.w_down, xn_.data()}});
        for (int64_t i = 0; i < nt * d; ++i) x_[i] += xn_[i];
    }

    if (out && logits_from < nt) {
        const int64_t nl = nt - logits_from;
        for (int64_t t = 0; t < nl; ++t)
            rms_norm(x_.data() + (logits_from + t) * d, output_norm_, xn_.data() + t * d, d, hp_.rms_eps);
        matmuls(xn_.data(), nl, {{&output_, out}});
    }
}

void Model::eval(const int32_t* ids, int64_t n, int64_t logits_from, float* out) {
    if (n <= 0) return;
    if (logits_from < 0) logits_from = 0;
    if (n_past_ + n > n_ctx_)
        throw Error("context overflow: " + std::to_string(n_past_) + " tokens in the cache + " + std::to_string(n) +
                    " new exceed the context size n_ctx = " + std::to_string(n_ctx_));
    for (int64_t i = 0; i < n; ++i)
        if (ids[i] < 0 || ids[i] >= hp_.n_vocab)
            throw Error("token id " + std::to_string(ids[i]) + " is out of range [0, " + std::to_string(hp_.n_vocab) +
                        ")");
    for (int64_t start = 0; start < n; start += n_batch_) {
        const int64_t nt = std::min(n_batch_, n - start);
        const int64_t lf = std::max<int64_t>(0, logits_from - start);
        float* o = out && start + nt > logits_from ? out + (start + lf - logits_from) * hp_.n_vocab : nullptr;
        forward_chunk(ids + start, nt, lf, o);
        n_past_ += nt;
    }
}

}  // namespace qx
