// _native.GgufFile: the GGUF reader seen from Python (inspection tools and
// tests comparing it with gguf-py). Tensor bytes are exposed as read-only
// memoryviews into the mapping, which keep the file mapped while they live.
#include <pybind11/pybind11.h>

#include <memory>

#include "gguf.h"

namespace py = pybind11;

namespace {

// Strings in GGUF should be UTF-8 but a file may hold anything: fall back
// to bytes rather than fail or mangle.
py::object text_or_bytes(const std::string& s) {
    PyObject* u = PyUnicode_DecodeUTF8(s.data(), (Py_ssize_t)s.size(), "strict");
    if (u) return py::reinterpret_steal<py::object>(u);
    PyErr_Clear();
    return py::bytes(s);
}

bool is_unsigned(qx::GgufType t) {
    using T = qx::GgufType;
    return t == T::UINT8 || t == T::UINT16 || t == T::UINT32 || t == T::UINT64;
}

py::object to_python(const qx::GgufValue& v) {
    using T = qx::GgufType;
    switch (v.type) {
        case T::BOOL: return py::bool_(v.i != 0);
        case T::FLOAT32: case T::FLOAT64: return py::float_(v.f);
        case T::STRING: return text_or_bytes(v.s);
        case T::ARRAY: {
            py::list out(v.arr.size());
            for (size_t i = 0; i < v.arr.size(); ++i) out[i] = to_python(v.arr[i]);
            return std::move(out);
        }
        default:
            if (is_unsigned(v.type)) return py::int_(v.u);
            return py::int_(v.i);
    }
}

// "uint32", "array[string]", "array[array[int32]]" (nested element types
// as declared by the first element; "array[array]" when it has none).
std::string type_spelling(const qx::GgufValue& v) {
    if (v.type != qx::GgufType::ARRAY) return qx::gguf_type_name((uint32_t)v.type);
    if (v.elem_type == qx::GgufType::ARRAY && !v.arr.empty()) return "array[" + type_spelling(v.arr[0]) + "]";
    return "array[" + qx::gguf_type_name((uint32_t)v.elem_type) + "]";
}

// What a memoryview of one tensor's bytes points into; holding the file
// keeps the mapping alive for as long as the view exists.
struct TensorBuffer {
    std::shared_ptr<const qx::GgufFile> file;
    const uint8_t* data;
    size_t size;
};

// The file plus its metadata converted once (a tokenizer's arrays take a
// while to turn into Python objects).
struct PyGgufFile {
    std::shared_ptr<const qx::GgufFile> file;
    py::object metadata;
};

PyGgufFile open_file(const py::object& path) {
    // fsencode: str, bytes or PathLike, including names that are not UTF-8.
    const std::string p = py::bytes(py::module_::import("os").attr("fsencode")(path));
    std::shared_ptr<const qx::GgufFile> f;
    {
        py::gil_scoped_release unlocked;
        f = qx::GgufFile::open(p);
    }
    py::dict md;
    for (const std::string& key : f->key_order()) md[text_or_bytes(key)] = to_python(*f->find(key));
    return PyGgufFile{std::move(f), std::move(md)};
}

py::list tensor_list(const qx::GgufFile& f) {
    py::list out;
    for (const qx::GgufTensor& t : f.tensors()) {
        py::dict d;
        d["name"] = text_or_bytes(t.name);
        d["type_id"] = t.type_id;
        d["type_name"] = t.type ? py::object(py::str(t.type->name)) : py::object(py::none());
        const char* ggml_name = qx::ggml_type_name(t.type_id);
        d["ggml_type_name"] = ggml_name ? py::object(py::str(ggml_name)) : py::object(py::none());
        py::list shape;
        for (int i = 0; i < t.n_dims; ++i) shape.append(t.ne[i]);
        d["shape"] = shape;
        d["offset"] = t.offset;
        // Type ids neither ggml nor the runtime defines have no computable size.
        d["nbytes"] = t.nbytes ? py::object(py::int_(t.nbytes)) : py::object(py::none());
        out.append(d);
    }
    return out;
}

}  // namespace

void bind_gguf(py::module_& m) {
    py::class_<TensorBuffer>(m, "_GgufTensorBuffer", py::buffer_protocol())
        .def_buffer([](TensorBuffer& b) {
            return py::buffer_info(const_cast<uint8_t*>(b.data), 1, py::format_descriptor<uint8_t>::format(), 1,
                                   {(py::ssize_t)b.size}, {(py::ssize_t)1}, /*readonly=*/true);
        });

    py::class_<PyGgufFile>(m, "GgufFile", "A memory-mapped GGUF v2/v3 file (read-only).")
        .def(py::init(&open_file), py::arg("path"))
        .def_property_readonly("path", [](const PyGgufFile& g) { return g.file->path(); })
        .def_property_readonly("version", [](const PyGgufFile& g) { return g.file->version(); })
        .def_property_readonly("file_size", [](const PyGgufFile& g) { return g.file->file_size(); })
        .def_property_readonly("alignment", [](const PyGgufFile& g) { return g.file->alignment(); })
        .def_property_readonly("data_offset", [](const PyGgufFile& g) { return g.file->data_offset(); },
                               "File offset of the tensor data section.")
        .def_property_readonly("metadata", [](const PyGgufFile& g) { return g.metadata; },
                               "Key/value metadata in file order (the same dict on every access).")
        .def_property_readonly(
            "metadata_types",
            [](const PyGgufFile& g) {
                py::dict d;
                for (const std::string& key : g.file->key_order()) d[text_or_bytes(key)] = type_spelling(*g.file->find(key));
                return d;
            },
            "Each key's GGUF value type: 'uint32', 'string', 'array[string]', 'array[array[int32]]', ...")
        // The typed getters the model loader uses, with the same errors.
        .def("get_string", [](const PyGgufFile& g, const std::string& k) { return text_or_bytes(g.file->get_string(k)); })
        .def("get_int", [](const PyGgufFile& g, const std::string& k) { return g.file->get_int(k); })
        .def("get_float", [](const PyGgufFile& g, const std::string& k) { return g.file->get_float(k); })
        .def("get_int_or", [](const PyGgufFile& g, const std::string& k, int64_t d) { return g.file->get_int_or(k, d); })
        .def("get_float_or",
             [](const PyGgufFile& g, const std::string& k, double d) { return g.file->get_float_or(k, d); })
        .def("get_bool_or", [](const PyGgufFile& g, const std::string& k, bool d) { return g.file->get_bool_or(k, d); })
        .def("get_string_or",
             [](const PyGgufFile& g, const std::string& k, const std::string& d) {
                 return text_or_bytes(g.file->get_string_or(k, d));
             })
        .def("get_array",
             [](const PyGgufFile& g, const std::string& k) {
                 py::list out;
                 for (const qx::GgufValue& v : g.file->get_array(k)) out.append(to_python(v));
                 return out;
             })
        .def_property_readonly("tensors", [](const PyGgufFile& g) { return tensor_list(*g.file); },
                               "Tensor infos in file order: name, type_id, type_name (None if the runtime does not "
                               "compute with the type), ggml_type_name (None if ggml does not define the id), "
                               "shape (ggml order, ne[0] first), offset, nbytes (None if the size is unknown).")
        .def(
            "tensor_bytes",
            [](const PyGgufFile& g, const std::string& name) {
                const qx::GgufTensor* t = g.file->find_tensor(name);
                if (!t) throw py::key_error("no tensor named '" + name + "'");
                if (t->nbytes == 0) {
                    throw qx::Error("tensor '" + name + "' has type id " + std::to_string(t->type_id) +
                                    ", unknown to ggml and the runtime: its size cannot be computed");
                }
                return py::memoryview(py::cast(TensorBuffer{g.file, t->data, t->nbytes}));
            },
            py::arg("name"), "Read-only memoryview of the tensor's bytes in the mapped file.");
}
