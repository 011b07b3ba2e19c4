// The C API: a thin exception-to-error-code shell over qx::Model.
#include <cstring>
#include <exception>
#include <string>

#include "model.h"
#include "quantx.h"
#include "sampler.h"

struct qx_model {
    std::unique_ptr<qx::Model> m;
    std::vector<float> logits;
};

namespace {

thread_local std::string g_last_error;

template <class F>
auto guarded(F&& f, decltype(f()) on_error) -> decltype(f()) {
    try {
        g_last_error.clear();
        return f();
    } catch (const std::exception& e) {
        g_last_error = e.what();
    } catch (...) {
        g_last_error = "unknown error";
    }
    return on_error;
}

}  // namespace

extern "C" {

const char* qx_last_error(void) { return g_last_error.c_str(); }

qx_model* qx_model_load(const char* path, int32_t threads, int32_t act, int64_t n_ctx) {
    return guarded(
        [&]() -> qx_model* {
            if (!path) throw qx::Error("path is NULL");
            qx::ModelOptions o;
            o.threads = threads;
            o.act = act;
            o.n_ctx = n_ctx > 0 ? n_ctx : 0;
            auto h = new qx_model();
            try {
                h->m = qx::Model::load(path, o);
            } catch (...) {
                delete h;
                throw;
            }
            return h;
        },
        nullptr);
}

void qx_model_free(qx_model* m) { delete m; }

int32_t qx_n_vocab(const qx_model* m) { return m ? (int32_t)m->m->hparams().n_vocab : -1; }
int64_t qx_n_ctx(const qx_model* m) { return m ? m->m->n_ctx() : -1; }
int64_t qx_n_past(const qx_model* m) { return m ? m->m->n_past() : -1; }

int64_t qx_tokenize(const qx_model* m, const char* text, size_t len, int32_t add_special, int32_t* ids,
                    int64_t max_ids) {
    return guarded(
        [&]() -> int64_t {
            if (!m || (!text && len)) throw qx::Error("null argument");
            auto v = m->m->tokenizer().encode(std::string(text ? text : "", len), add_special != 0, true);
            const int64_t n = (int64_t)v.size();
            if (ids) std::memcpy(ids, v.data(), sizeof(int32_t) * (size_t)std::min(n, std::max<int64_t>(max_ids, 0)));
            return n;
        },
        -1);
}

int64_t qx_detokenize(const qx_model* m, const int32_t* ids, int64_t n, char* out, int64_t cap) {
    return guarded(
        [&]() -> int64_t {
            if (!m || (!ids && n > 0) || n < 0) throw qx::Error("bad argument");
            std::string s = m->m->tokenizer().decode(std::vector<int32_t>(ids, ids + n));
            if (out && cap > 0) std::memcpy(out, s.data(), (size_t)std::min<int64_t>(cap, (int64_t)s.size()));
            return (int64_t)s.size();
        },
        -1);
}

int32_t qx_eval(qx_model* m, const int32_t* ids, int64_t n, float* logits_out) {
    return guarded(
        [&]() -> int32_t {
            if (!m || !ids || n <= 0) throw qx::Error("bad argument");
            m->m->eval(ids, n, n - 1, logits_out ? logits_out : nullptr);
            return 0;
        },
        -1);
}

void qx_reset(qx_model* m) {
    if (m) m->m->reset();
}

int64_t qx_generate(qx_model* m, const char* prompt, size_t len, const qx_sampling* s, int32_t* out_ids,
                    int64_t max_new) {
    return guarded(
        [&]() -> int64_t {
            if (!m || (!prompt && len) || max_new < 0) throw qx::Error("bad argument");
            qx::SamplerParams p;
            if (s) {
                p.temperature = s->temperature;
                p.top_k = s->top_k;
                p.top_p = s->top_p;
                p.min_p = s->min_p;
                p.repeat_penalty = s->repeat_penalty;
                p.seed = s->seed;
            }
            qx::Sampler sampler(p);
            qx::Model& model = *m->m;
            std::vector<int32_t> hist = model.tokenizer().encode(std::string(prompt ? prompt : "", len), true, true);
            if (hist.empty()) throw qx::Error("empty prompt");
            const int64_t nv = model.hparams().n_vocab;
            m->logits.resize(nv);
            model.eval(hist.data(), (int64_t)hist.size(), (int64_t)hist.size() - 1, m->logits.data());
            int64_t produced = 0;
            while (produced < max_new) {
                int32_t id = sampler.sample(m->logits.data(), (int32_t)nv, hist);
                if (model.tokenizer().is_eog(id)) break;
                if (out_ids) out_ids[produced] = id;
                ++produced;
                hist.push_back(id);
                if (produced == max_new || model.n_past() >= model.n_ctx()) break;
                model.eval(&id, 1, 0, m->logits.data());
            }
            return produced;
        },
        -1);
}

}  // extern "C"
