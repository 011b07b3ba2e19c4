// The quantx._native extension module. Each component binds itself in its
// own bind_*.cpp; this file only assembles them.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_kernels(py::module_& m);
void bind_gguf(py::module_& m);
void bind_tokenizer(py::module_& m);
void bind_model(py::module_& m);
void bind_qx(py::module_& m);

PYBIND11_MODULE(_native, m) {
    m.doc() = "QuantX native runtime (GGUF loader, kernels, tokenizer, model)";
    bind_errors(m);
    bind_kernels(m);
    bind_gguf(m);
    bind_tokenizer(m);
    bind_model(m);
    bind_qx(m);
}
