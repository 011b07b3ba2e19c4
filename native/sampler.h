// Token sampling: greedy, temperature, top-k, top-p, min-p, repetition
// penalty, seeded. The order of the filters follows llama.cpp's common
// sampler chain (penalties, top-k, top-p, min-p, temperature) so the same
// settings mean the same thing to users coming from it.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace qx {

struct SamplerParams {
    float temperature = 0.8f;     // <= 0: greedy
    int32_t top_k = 40;           // <= 0: off
    float top_p = 0.95f;          // >= 1: off
    float min_p = 0.05f;          // <= 0: off
    float repeat_penalty = 1.0f;  // 1: off
    int32_t repeat_last_n = 64;   // how many recent tokens the penalty looks at
    uint64_t seed = 0;
};

class Sampler {
public:
    explicit Sampler(const SamplerParams& p);
    // history: tokens so far (prompt + generated), for the repetition penalty.
    int32_t sample(const float* logits, int32_t n_vocab, const std::vector<int32_t>& history);

private:
    SamplerParams p_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace qx
