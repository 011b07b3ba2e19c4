// qx::Error (bad input: malformed file, unsupported model, bad arguments)
// surfaces in Python as quantx.QuantxError, a ValueError subclass.
#include <pybind11/pybind11.h>

#include "gguf.h"

namespace py = pybind11;

void bind_errors(py::module_& m) {
    static py::exception<qx::Error> exc(m, "QuantxError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const qx::Error& e) {
            py::set_error(exc, e.what());
        }
    });
}
