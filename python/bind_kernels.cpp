// Python access to the kernel layer, for tests and tools: dequantization
// with the reference dequantizer, matmul through matmul_rows with a chosen
// ISA, activation quantization, CPU feature queries and the type table.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "gguf.h"
#include "kernels/matmul.h"
#include "kernels/qx_tiles.h"
#include "kernels/types.h"

namespace py = pybind11;

namespace {

const qx::TypeTraits& traits_or_throw(uint32_t type_id) {
    const qx::TypeTraits* t = qx::type_traits(type_id);
    if (!t) throw qx::Error("unsupported tensor type id " + std::to_string(type_id));
    return *t;
}

qx::Isa isa_from_name(const std::string& name) {
    for (int i = 0; i < qx::kIsaCount; ++i)
        if (name == qx::isa_name((qx::Isa)i)) return (qx::Isa)i;
    throw qx::Error("unknown ISA name '" + name + "'");
}

qx::Isa usable_isa(const std::string& name) {
    if (name.empty()) return qx::best_isa();
    const qx::Isa isa = isa_from_name(name);
    if (!qx::isa_supported(isa)) throw qx::Error("ISA '" + name + "' is not supported on this machine");
    return isa;
}

void check_rows(const qx::TypeTraits& t, int64_t n, int64_t rows, size_t nbytes) {
    if (n <= 0 || rows <= 0) throw qx::Error("row length and row count must be positive");
    if (n % t.block_size != 0)
        throw qx::Error("row length " + std::to_string(n) + " is not a multiple of " + t.name + "'s block size " +
                        std::to_string(t.block_size));
    const size_t want = t.row_size(n) * (size_t)rows;
    if (nbytes != want)
        throw qx::Error(std::string(t.name) + " data has " + std::to_string(nbytes) + " bytes, expected " +
                        std::to_string(want) + " for " + std::to_string(rows) + " rows of " + std::to_string(n));
}

// Weight bytes copied into aligned storage: Python bytes carry no alignment
// promise beyond what the allocator gives, and the formats hold fp16 fields.
std::vector<uint64_t> aligned_copy(const py::bytes& b, size_t* nbytes) {
    char* p = nullptr;
    Py_ssize_t len = 0;
    PYBIND11_BYTES_AS_STRING_AND_SIZE(b.ptr(), &p, &len);
    *nbytes = (size_t)len;
    std::vector<uint64_t> v(((size_t)len + 7) / 8 + 8);
    std::memcpy(v.data(), p, (size_t)len);
    return v;
}

}  // namespace

void bind_kernels(py::module_& m) {
    m.def(
        "dequantize",
        [](uint32_t type_id, const py::bytes& data, int64_t n, int64_t rows) {
            const qx::TypeTraits& t = traits_or_throw(type_id);
            size_t nbytes = 0;
            auto buf = aligned_copy(data, &nbytes);
            check_rows(t, n, rows, nbytes);
            py::array_t<float> out({(py::ssize_t)(rows * n)});
            const uint8_t* base = reinterpret_cast<const uint8_t*>(buf.data());
            for (int64_t r = 0; r < rows; ++r) t.to_float(base + r * t.row_size(n), out.mutable_data() + r * n, n);
            return out;
        },
        py::arg("type_id"), py::arg("data"), py::arg("n"), py::arg("rows") = 1,
        "Reference dequantization of `rows` rows of `n` elements (flat float32 array).");

    m.def(
        "matmul",
        [](uint32_t type_id, const py::bytes& w_bytes, int64_t n, int64_t rows,
           py::array_t<float, py::array::c_style | py::array::forcecast> x, int act, const std::string& isa_name) {
            const qx::TypeTraits& t = traits_or_throw(type_id);
            size_t nbytes = 0;
            auto wbuf = aligned_copy(w_bytes, &nbytes);
            check_rows(t, n, rows, nbytes);
            if (x.ndim() != 2 || x.shape(1) != n)
                throw qx::Error("x must have shape [nt, " + std::to_string(n) + "]");
            if (act != 8 && act != 16) throw qx::Error("act must be 8 or 16");
            const qx::Isa isa = usable_isa(isa_name);
            const int64_t nt = x.shape(0);
            py::array_t<float> y({(py::ssize_t)nt, (py::ssize_t)rows});
            qx::WeightView w{&t, reinterpret_cast<const uint8_t*>(wbuf.data()), t.row_size(n), n, rows};
            std::vector<qx::BlockQ8> q;
            const float* xf = x.data();
            float* yp = y.mutable_data();
            {
                py::gil_scoped_release nogil;
                qx::ActView a{act == 8 ? qx::ActMode::A8 : qx::ActMode::A16, xf, n, nullptr, n / qx::kQ8Block, nt};
                if (act == 8) {
                    if (n % qx::kQ8Block != 0) throw qx::Error("8-bit activations need n % 32 == 0");
                    q.resize((size_t)(nt * (n / qx::kQ8Block)));
                    qx::select_quantize_q8(isa)(xf, q.data(), nt * n);
                    a.q8 = q.data();
                }
                qx::matmul_rows(w, a, isa, 0, rows, yp, rows);
            }
            return y;
        },
        py::arg("type_id"), py::arg("w_bytes"), py::arg("n"), py::arg("rows"), py::arg("x"), py::arg("act"),
        py::arg("isa") = "", "y[t, r] = dot(W[r], x[t]) via matmul_rows; act 8 quantizes x to BlockQ8 first.");

    m.def(
        "quantize_q8",
        [](py::array_t<float, py::array::c_style | py::array::forcecast> x, const std::string& isa_name) {
            if (x.ndim() != 1 || x.shape(0) % qx::kQ8Block != 0)
                throw qx::Error("quantize_q8 needs a 1-D array whose length is a multiple of 32");
            const int64_t n = x.shape(0);
            std::vector<qx::BlockQ8> q((size_t)(n / qx::kQ8Block));
            qx::select_quantize_q8(usable_isa(isa_name))(x.data(), q.data(), n);
            return py::bytes(reinterpret_cast<const char*>(q.data()), q.size() * sizeof(qx::BlockQ8));
        },
        py::arg("x"), py::arg("isa") = "",
        "BlockQ8 bytes (per 32 values: float32 d, int16 half-sums[2], int8 qs[32]).");

    m.def("isa_supported", [](const std::string& name) { return qx::isa_supported(isa_from_name(name)); },
          py::arg("name"));
    m.def("best_isa", []() { return std::string(qx::isa_name(qx::best_isa())); });
    m.def(
        "qx_tiled_kernels",
        [](uint32_t type_id, const std::string& isa, bool shared_table) {
            return qx::qx_select_tiled_gemv(type_id, usable_isa(isa), shared_table) != nullptr;
        },
        py::arg("type_id"), py::arg("isa") = "", py::arg("shared_table") = false,
        "Whether the runtime lays this QuantX type out as row tiles on the ISA (default: the best): "
        "A8 weights then run through the tiled kernels. shared_table: for C-type tensors whose rows "
        "all carry one table (QX3_T / QX4_T files).");
    m.def("isa_names", []() {
        std::vector<std::string> v;
        for (int i = 0; i < qx::kIsaCount; ++i) v.push_back(qx::isa_name((qx::Isa)i));
        return v;
    });
    m.def(
        "type_info",
        [](uint32_t type_id) {
            const qx::TypeTraits& t = traits_or_throw(type_id);
            py::dict d;
            d["name"] = t.name;
            d["block_size"] = t.block_size;
            d["type_size"] = t.type_size;
            d["default_act"] = (int)t.default_act;
            return d;
        },
        py::arg("type_id"));
}
