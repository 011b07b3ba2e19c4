// qx::Error (bad input: malformed file, unsupported model, bad arguments)
// surfaces in Python as quantx.QuantxError, a ValueError subclass.
#include <pybind11/pybind11.h>

#include <cstring>

#include "gguf.h"

namespace py = pybind11;

void bind_errors(py::module_& m) {
    static py::exception<qx::Error> exc(m, "QuantxError", PyExc_ValueError);
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const qx::Error& e) {
            // Messages quote names from files, which need not be UTF-8.
            const char* w = e.what();
            PyObject* msg = PyUnicode_DecodeUTF8(w, (Py_ssize_t)std::strlen(w), "backslashreplace");
            if (!msg) {
                PyErr_Clear();
                msg = PyUnicode_FromString("(undecodable error message)");
            }
            PyErr_SetObject(exc.ptr(), msg);
            Py_XDECREF(msg);
        }
    });
}
