// Bindings for qx::Model and qx::Sampler. Compute releases the GIL; a mutex
// per model serialises calls on the same model from several Python threads.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <mutex>

#include "model.h"
#include "sampler.h"

namespace py = pybind11;

namespace {

struct PyModel {
    std::unique_ptr<qx::Model> m;
    std::vector<float> last_logits;  // of the last evaluated token, for sampling
    std::mutex mu;
};

std::vector<int32_t> to_ids(const py::object& ids) {
    auto arr = py::array_t<int32_t, py::array::c_style | py::array::forcecast>::ensure(ids);
    if (!arr) throw qx::Error("ids must be a sequence of integers");
    if (arr.ndim() != 1) throw qx::Error("ids must be one-dimensional");
    return std::vector<int32_t>(arr.data(), arr.data() + arr.size());
}

}  // namespace

void bind_model(py::module_& m) {
    py::class_<qx::Sampler>(m, "Sampler")
        .def(py::init([](float temperature, int32_t top_k, float top_p, float min_p, float repeat_penalty,
                         int32_t repeat_last_n, uint64_t seed) {
                 qx::SamplerParams p;
                 p.temperature = temperature;
                 p.top_k = top_k;
                 p.top_p = top_p;
                 p.min_p = min_p;
                 p.repeat_penalty = repeat_penalty;
                 p.repeat_last_n = repeat_last_n;
                 p.seed = seed;
                 return new qx::Sampler(p);
             }),
             py::arg("temperature") = 0.8f, py::arg("top_k") = 40, py::arg("top_p") = 0.95f, py::arg("min_p") = 0.05f,
             py::arg("repeat_penalty") = 1.0f, py::arg("repeat_last_n") = 64, py::arg("seed") = 0)
        .def("sample",
             [](qx::Sampler& s, py::array_t<float, py::array::c_style | py::array::forcecast> logits,
                const std::vector<int32_t>& history) {
                 if (logits.ndim() != 1 || logits.size() == 0) throw qx::Error("logits must be a non-empty vector");
                 return s.sample(logits.data(), (int32_t)logits.size(), history);
             });

    py::class_<PyModel>(m, "Model")
        .def(py::init([](const std::string& path, int threads, int act, int64_t n_ctx, int64_t n_batch,
                         const std::string& kv_type) {
                 qx::ModelOptions o;
                 o.threads = threads;
                 o.act = act;
                 o.n_ctx = n_ctx;
                 o.n_batch = n_batch;
                 if (kv_type != "f16" && kv_type != "f32")
                     throw qx::Error("kv_type must be 'f16' or 'f32', not '" + kv_type + "'");
                 o.kv_type = kv_type == "f16" ? qx::KvType::F16 : qx::KvType::F32;
                 auto pm = new PyModel();
                 try {
                     py::gil_scoped_release nogil;
                     pm->m = qx::Model::load(path, o);
                 } catch (...) {
                     delete pm;
                     throw;
                 }
                 return pm;
             }),
             py::arg("path"), py::arg("threads") = 0, py::arg("act") = 0, py::arg("n_ctx") = 0,
             py::arg("n_batch") = 256, py::arg("kv_type") = "f16")
        .def_property_readonly("kv_type",
                               [](PyModel& s) { return s.m->kv_type() == qx::KvType::F16 ? "f16" : "f32"; })
        .def_property_readonly("n_vocab", [](PyModel& s) { return s.m->hparams().n_vocab; })
        .def_property_readonly("n_ctx", [](PyModel& s) { return s.m->n_ctx(); })
        .def_property_readonly("n_ctx_train", [](PyModel& s) { return s.m->hparams().n_ctx_train; })
        .def_property_readonly("n_past", [](PyModel& s) { return s.m->n_past(); })
        .def_property_readonly("threads", [](PyModel& s) { return s.m->threads(); })
        .def_property_readonly("arch", [](PyModel& s) { return s.m->hparams().arch; })
        .def_property_readonly("bos_id", [](PyModel& s) { return s.m->tokenizer().bos_id(); })
        .def_property_readonly("eos_id", [](PyModel& s) { return s.m->tokenizer().eos_id(); })
        .def_property_readonly("isa", [](PyModel&) { return std::string(qx::isa_name(qx::best_isa())); })
        .def("is_eog", [](PyModel& s, int32_t id) { return s.m->tokenizer().is_eog(id); })
        .def(
            "tokenize",
            [](PyModel& s, const std::string& text, bool add_special, bool parse_special) {
                py::gil_scoped_release nogil;
                return s.m->tokenizer().encode(text, add_special, parse_special);
            },
            py::arg("text"), py::arg("add_special") = true, py::arg("parse_special") = true)
        .def(
            "detokenize",
            [](PyModel& s, const std::vector<int32_t>& ids, bool render_special) {
                std::string out;
                {
                    py::gil_scoped_release nogil;
                    out = s.m->tokenizer().decode(ids, render_special);
                }
                return py::bytes(out);
            },
            py::arg("ids"), py::arg("render_special") = false)
        .def("token_bytes", [](PyModel& s, int32_t id) { return py::bytes(s.m->tokenizer().token_bytes(id)); })
        .def(
            "eval",
            [](PyModel& s, const py::object& ids_obj, int64_t logits_from) {
                std::vector<int32_t> ids = to_ids(ids_obj);
                const int64_t n = (int64_t)ids.size();
                const int64_t nv = s.m->hparams().n_vocab;
                if (logits_from < 0) logits_from = std::max<int64_t>(0, n + logits_from);
                if (logits_from > n) logits_from = n;
                py::array_t<float> out({n - logits_from, nv});
                float* o = out.mutable_data();
                {
                    py::gil_scoped_release nogil;
                    std::lock_guard<std::mutex> lk(s.mu);
                    s.m->eval(ids.data(), n, logits_from, n > logits_from ? o : nullptr);
                    if (n > logits_from) s.last_logits.assign(o + (n - logits_from - 1) * nv, o + (n - logits_from) * nv);
                }
                return out;
            },
            py::arg("ids"), py::arg("logits_from") = 0,
            "Feed ids after the cached context; returns float32 logits for ids[logits_from:] "
            "(a negative logits_from counts from the end).")
        .def(
            "eval_and_sample",
            [](PyModel& s, const std::vector<int32_t>& ids, qx::Sampler& sampler, const std::vector<int32_t>& history) {
                py::gil_scoped_release nogil;
                std::lock_guard<std::mutex> lk(s.mu);
                const int64_t n = (int64_t)ids.size(), nv = s.m->hparams().n_vocab;
                s.last_logits.resize(nv);
                if (n > 0) s.m->eval(ids.data(), n, n - 1, s.last_logits.data());
                return sampler.sample(s.last_logits.data(), (int32_t)nv, history);
            },
            py::arg("ids"), py::arg("sampler"), py::arg("history"),
            "Feed ids (may be empty to reuse the last logits) and sample the next token.")
        .def("reset",
             [](PyModel& s) {
                 std::lock_guard<std::mutex> lk(s.mu);
                 s.m->reset();
                 s.last_logits.clear();
             })
        .def("tensor_types", [](PyModel& s) { return s.m->tensor_types(); });
}
