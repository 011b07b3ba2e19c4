// QuantX formats for Python: the native constants (so tests can check the
// numpy mirror in convert/qxformats.py agrees) and the native quantizer /
// dequantizer (so tests can check byte-exact parity with numpy).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "gguf.h"
#include "kernels/qx_format.h"
#include "kernels/qx_half.h"
#include "kernels/qx_kernels.h"
#include "kernels/qx_quantize.h"
#include "kernels/qx_types.h"

namespace py = pybind11;

namespace {

const qx::QxFormat& format_by_name(const std::string& name) {
    const qx::QxFormat* f = qx::qx_format_by_name(name.c_str());
    if (!f) throw qx::Error("unknown QuantX type '" + name + "'");
    return *f;
}

using F32Array = py::array_t<float, py::array::c_style | py::array::forcecast>;

py::dict constants() {
    py::dict out;
    out["format_version"] = qx::kQxFormatVersion;
    out["group_size"] = qx::kQxGroup;
    out["sub_block"] = qx::kQxSub;
    out["id_base"] = (uint32_t)qx::QX_ID_BASE;
    py::dict types;
    for (const auto& f : qx::kQxFormats) {
        const qx::TypeTraits* tr = qx::qx_type_traits(f.id);
        py::dict d;
        d["id"] = f.id;
        d["bits"] = f.bits;
        d["table_size"] = f.table_size;
        d["row_codebook"] = f.row_codebook;
        d["sub_bytes"] = f.sub_bytes;
        std::vector<int> tab;
        if (!f.row_codebook) tab.assign(f.uniform_table, f.uniform_table + f.table_size);
        d["uniform_table"] = tab;
        std::vector<int> cb;
        if (f.row_codebook) cb.assign(f.default_codebook, f.default_codebook + f.table_size);
        d["default_codebook"] = cb;
        d["traits_name"] = std::string(tr ? tr->name : "");
        d["traits_block_size"] = tr ? tr->block_size : 0;
        types[f.name] = d;
    }
    out["types"] = types;
    return out;
}

}  // namespace

void bind_qx(py::module_& m) {
    m.def("qx_constants", &constants, "Native QuantX format constants");
    m.def("qx_row_size", [](const std::string& type, int64_t n) {
        const qx::QxFormat& f = format_by_name(type);
        if (n <= 0 || n % qx::kQxSub) throw qx::Error("row length must be a positive multiple of 32");
        return qx::qx_type_traits(f.id)->row_size(n);
    });
    m.def(
        "qx_quantize",
        [](const std::string& type, F32Array x, std::optional<py::array_t<int8_t, py::array::c_style | py::array::forcecast>> codebook,
           std::optional<F32Array> scales) {
            const qx::QxFormat& f = format_by_name(type);
            if (x.ndim() != 2) throw qx::Error("qx_quantize: expected a 2-D [rows, n] array");
            const int64_t rows = x.shape(0), n = x.shape(1);
            if (n <= 0 || n % qx::kQxSub) throw qx::Error("qx_quantize: row length must be a positive multiple of 32");
            const int8_t* cb = nullptr;
            const float* sc = nullptr;
            if (codebook && f.row_codebook) {
                if (codebook->ndim() != 2 || codebook->shape(0) != rows || codebook->shape(1) != f.table_size)
                    throw qx::Error("qx_quantize: codebook must be [rows, table_size] int8");
                cb = codebook->data();
            }
            if (scales) {
                if (scales->ndim() != 2 || scales->shape(0) != rows || scales->shape(1) != qx::qx_groups(n))
                    throw qx::Error("qx_quantize: scales must be [rows, groups]");
                sc = scales->data();
            }
            std::string out((size_t)rows * qx::qx_row_size(f, n), '\0');
            {
                py::gil_scoped_release release;
                qx::qx_quantize_rows(f, x.data(), rows, n, cb, sc, (uint8_t*)out.data());
            }
            return py::bytes(out);
        },
        py::arg("type"), py::arg("x"), py::arg("codebook") = py::none(), py::arg("scales") = py::none(),
        "Quantize float rows [rows, n] to packed QuantX bytes (RTN; optional int8 codebook and scales)");
    m.def(
        "qx_dequantize",
        [](const std::string& type, py::bytes data, int64_t n, int64_t rows) {
            const qx::QxFormat& f = format_by_name(type);
            if (n <= 0 || n % qx::kQxSub || rows < 0) throw qx::Error("qx_dequantize: bad shape");
            const std::string buf = data;
            const size_t rb = qx::qx_row_size(f, n);
            if (buf.size() != rb * (size_t)rows)
                throw qx::Error("qx_dequantize: " + std::to_string(buf.size()) + " bytes, expected " +
                                std::to_string(rb * (size_t)rows));
            py::array_t<float> out({rows, n});
            const qx::TypeTraits* tr = qx::qx_type_traits(f.id);
            for (int64_t r = 0; r < rows; ++r)
                tr->to_float(buf.data() + (size_t)r * rb, out.mutable_data(r, 0), n);
            return out;
        },
        "Dequantize packed QuantX rows with the traits table's reference to_float");
    m.def(
        "qx_dot_a16_ref",
        [](const std::string& type, py::bytes data, int64_t n, int64_t rows, F32Array x) {
            const qx::QxFormat& f = format_by_name(type);
            const std::string buf = data;
            const size_t rb = qx::qx_row_size(f, n);
            if (buf.size() != rb * (size_t)rows || x.size() != n) throw qx::Error("qx_dot_a16_ref: bad sizes");
            py::array_t<float> out(rows);
            const qx::TypeTraits* tr = qx::qx_type_traits(f.id);
            for (int64_t r = 0; r < rows; ++r)
                out.mutable_data()[r] = tr->dot_a16[qx::kIsaScalar](n, buf.data() + (size_t)r * rb, x.data());
            return out;
        },
        "Scalar reference A16 GEMV over packed rows");
    m.def("qx_float_to_half_bits", [](F32Array x) {
        py::array_t<uint16_t> out(x.size());
        for (py::ssize_t i = 0; i < x.size(); ++i) out.mutable_data()[i] = qx::qx_float_to_half(x.data()[i]);
        return out;
    });
    m.def("qx_half_bits_to_float", [](py::array_t<uint16_t, py::array::c_style | py::array::forcecast> h) {
        py::array_t<float> out(h.size());
        for (py::ssize_t i = 0; i < h.size(); ++i) out.mutable_data()[i] = qx::qx_half_to_float(h.data()[i]);
        return out;
    });
}
