#include "sampler.h"

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace qx {

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

int32_t Sampler::sample(const float* logits, int32_t n_vocab, const std::vector<int32_t>& history) {
    cand_.resize(n_vocab);
    for (int32_t i = 0; i < n_vocab; ++i) cand_[i] = {logits[i], i};

    if (p_.repeat_penalty != 1.0f && p_.repeat_last_n != 0) {
        size_t n = p_.repeat_last_n < 0 ? history.size()
                                        : std::min(history.size(), (size_t)p_.repeat_last_n);
        std::unordered_set<int32_t> seen(history.end() - n, history.end());
        for (int32_t id : seen) {
            if (id < 0 || id >= n_vocab) continue;
            float& l = cand_[id].first;
            // As in CTRL / llama.cpp: shrink positive logits, push negative ones further down.
            l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
        }
    }

    auto by_logit = [](const std::pair<float, int32_t>& a, const std::pair<float, int32_t>& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
    };
    if (p_.temperature <= 0.0f) {
        return std::min_element(cand_.begin(), cand_.end(), by_logit)->second;
    }

    size_t keep = cand_.size();
    if (p_.top_k > 0 && (size_t)p_.top_k < keep) {
        keep = (size_t)p_.top_k;
        std::partial_sort(cand_.begin(), cand_.begin() + keep, cand_.end(), by_logit);
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    cand_.resize(keep);

    // Probabilities at temperature 1 for the top-p / min-p filters.
    std::vector<double> prob(keep);
    double mx = cand_[0].first, sum = 0.0;
    for (size_t i = 0; i < keep; ++i) sum += prob[i] = std::exp((double)cand_[i].first - mx);
    for (auto& v : prob) v /= sum;

    if (p_.top_p < 1.0f) {
        double cum = 0.0;
        size_t n = keep;
        for (size_t i = 0; i < keep; ++i) {
            cum += prob[i];
            if (cum >= p_.top_p) { n = i + 1; break; }
        }
        keep = n;
    }
    if (p_.min_p > 0.0f) {
        double thr = prob[0] * p_.min_p;
        size_t n = 1;
        while (n < keep && prob[n] >= thr) ++n;
        keep = n;
    }

    std::vector<double> w(keep);
    double tmx = cand_[0].first / p_.temperature;
    for (size_t i = 0; i < keep; ++i) w[i] = std::exp(cand_[i].first / p_.temperature - tmx);
    std::discrete_distribution<size_t> dist(w.begin(), w.end());
    return cand_[dist(rng_)].second;
}

}  // namespace qx
