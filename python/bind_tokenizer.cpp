// quantx._native.Tokenizer. Text goes in as str (UTF-8) or bytes (any bytes);
// decoded text comes back as bytes, since a token run may end mid-character.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "gguf.h"
#include "tokenizer.h"

namespace py = pybind11;

void bind_tokenizer(py::module_& m) {
    py::enum_<qx::TokenType>(m, "TokenType")
        .value("UNDEFINED", qx::TokenType::Undefined)
        .value("NORMAL", qx::TokenType::Normal)
        .value("UNKNOWN", qx::TokenType::Unknown)
        .value("CONTROL", qx::TokenType::Control)
        .value("USER_DEFINED", qx::TokenType::UserDefined)
        .value("UNUSED", qx::TokenType::Unused)
        .value("BYTE", qx::TokenType::Byte);

    py::class_<qx::Tokenizer>(m, "Tokenizer")
        .def_static(
            "from_spec",
            [](const std::string& model, std::vector<std::string> tokens, std::vector<float> scores,
               std::vector<int32_t> token_types, std::vector<std::string> merges, const std::string& pre,
               int32_t bos_id, int32_t eos_id, int32_t unk_id, int32_t pad_id, int32_t eot_id,
               int32_t eom_id, bool add_bos, bool add_eos, bool add_space_prefix) {
                qx::TokenizerSpec s;
                s.model = model;
                s.pre = pre;
                s.tokens = std::move(tokens);
                s.scores = std::move(scores);
                s.token_types = std::move(token_types);
                s.merges = std::move(merges);
                s.bos_id = bos_id;
                s.eos_id = eos_id;
                s.unk_id = unk_id;
                s.pad_id = pad_id;
                s.eot_id = eot_id;
                s.eom_id = eom_id;
                s.add_bos = add_bos;
                s.add_eos = add_eos;
                s.add_space_prefix = add_space_prefix;
                return qx::Tokenizer::create(s);
            },
            py::arg("model"), py::arg("tokens"), py::arg("scores") = std::vector<float>{},
            py::arg("token_types") = std::vector<int32_t>{}, py::arg("merges") = std::vector<std::string>{},
            py::arg("pre") = "default", py::arg("bos_id") = -1, py::arg("eos_id") = -1,
            py::arg("unk_id") = -1, py::arg("pad_id") = -1, py::arg("eot_id") = -1, py::arg("eom_id") = -1,
            py::arg("add_bos") = false, py::arg("add_eos") = false, py::arg("add_space_prefix") = true,
            "Build from the tokenizer.ggml.* values given directly (tests, tools).")
        .def_static(
            "from_gguf_path",
            [](const std::string& path) {
                const std::unique_ptr<qx::GgufFile> f = qx::GgufFile::open(path);
                return qx::Tokenizer::from_gguf(*f);
            },
            py::arg("path"), "Build from the tokenizer.ggml.* keys of a GGUF file.")
        .def(
            "encode",
            [](const qx::Tokenizer& t, const std::string& text, bool add_special, bool parse_special) {
                py::gil_scoped_release nogil;
                return t.encode(text, add_special, parse_special);
            },
            py::arg("text"), py::arg("add_special") = true, py::arg("parse_special") = true)
        .def(
            "decode",
            [](const qx::Tokenizer& t, const std::vector<int32_t>& ids, bool render_special) {
                std::string s;
                {
                    py::gil_scoped_release nogil;
                    s = t.decode(ids, render_special);
                }
                return py::bytes(s);
            },
            py::arg("ids"), py::arg("render_special") = false)
        .def(
            "token_bytes",
            [](const qx::Tokenizer& t, int32_t id, bool render_special) {
                return py::bytes(t.token_bytes(id, render_special));
            },
            py::arg("id"), py::arg("render_special") = false)
        .def("token_text", [](const qx::Tokenizer& t, int32_t id) { return py::bytes(t.token_text(id)); })
        .def("token_type", &qx::Tokenizer::token_type)
        .def("is_eog", &qx::Tokenizer::is_eog)
        .def_property_readonly("n_vocab", &qx::Tokenizer::n_vocab)
        .def_property_readonly("bos_id", &qx::Tokenizer::bos_id)
        .def_property_readonly("eos_id", &qx::Tokenizer::eos_id);
}
