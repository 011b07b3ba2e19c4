#include "qx_gguf.h"

#include "kernels/qx_format.h"
#include "kernels/qx_types.h"

namespace qx {

namespace {

bool is_int_type(GgufType t) {
    switch (t) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
        case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
            return true;
        default:
            return false;
    }
}

const GgufValue* find(const std::map<std::string, GgufValue>& kv, const std::string& key) {
    auto it = kv.find(key);
    return it == kv.end() ? nullptr : &it->second;
}

int64_t require_int(const std::map<std::string, GgufValue>& kv, const std::string& key, const std::string& where) {
    const GgufValue* v = find(kv, key);
    if (!v) throw Error(where + "missing required key '" + key + "'");
    if (!is_int_type(v->type)) throw Error(where + "key '" + key + "' is not an integer");
    if (v->type == GgufType::UINT64 && v->u > (uint64_t)INT64_MAX) throw Error(where + "key '" + key + "' is out of range");
    return v->i;
}

}  // namespace

std::string qx_tensor_key(const std::string& tensor, const char* field) {
    return "quantx.tensor." + tensor + "." + field;
}

bool qx_resolve_tensor(const GgufFile& file, const GgufTensor& t, QxResolvedTensor* out) {
    const uint64_t start = (uint64_t)file.data_offset() + t.offset;
    const size_t avail = start <= file.file_size() ? (size_t)(file.file_size() - start) : 0;
    return qx_resolve_tensor(file.metadata(), t, avail, out);
}

bool qx_resolve_tensor(const std::map<std::string, GgufValue>& kv, const GgufTensor& t, size_t bytes_available,
                       QxResolvedTensor* out) {
    const std::string& name = t.name;
    if (t.type_id >= QX_ID_BASE && t.type_id < QX_ID_END)
        throw Error("tensor '" + name + "' has internal QuantX type id " + std::to_string(t.type_id) +
                    ", which is never valid in a file (QuantX tensors are stored as I8 + quantx.* metadata)");
    const GgufValue* type_v = find(kv, qx_tensor_key(name, "type"));
    if (!type_v) return false;
    const std::string where = "QuantX tensor '" + name + "': ";
    const int64_t version = require_int(kv, "quantx.format_version", where);
    if (version != kQxFormatVersion)
        throw Error(where + "quantx.format_version is " + std::to_string(version) + ", this build reads version " +
                    std::to_string(kQxFormatVersion));
    if (type_v->type != GgufType::STRING) throw Error(where + "type key is not a string");
    // QX3_T / QX4_T: the C formats with one codebook per tensor (in metadata) instead of per row.
    const bool tensor_cb = type_v->s == "QX3_T" || type_v->s == "QX4_T";
    const std::string compute_name = tensor_cb ? type_v->s.substr(0, 4) + "C" : type_v->s;
    const QxFormat* f = qx_format_by_name(compute_name.c_str());
    if (!f) throw Error(where + "unknown QuantX type '" + type_v->s + "'");
    const int64_t gs = require_int(kv, qx_tensor_key(name, "group_size"), where);
    if (gs != kQxGroup) throw Error(where + "group size " + std::to_string(gs) + " is not supported (only 128)");
    if (t.type_id != GGML_I8)
        throw Error(where + "stored as ggml type " + std::to_string(t.type_id) + ", expected I8 (24)");

    const GgufValue* shape = find(kv, qx_tensor_key(name, "shape"));
    if (!shape) throw Error(where + "missing key '" + qx_tensor_key(name, "shape") + "'");
    if (shape->type != GgufType::ARRAY || !is_int_type(shape->elem_type))
        throw Error(where + "shape is not an integer array");
    if (shape->arr.empty() || shape->arr.size() > 4)
        throw Error(where + "shape has " + std::to_string(shape->arr.size()) + " dimensions, expected 1..4");
    QxResolvedTensor v;
    v.n_dims = (int)shape->arr.size();
    int64_t rows = 1;
    for (int d = 0; d < v.n_dims; ++d) {
        const GgufValue& e = shape->arr[(size_t)d];
        if (e.type == GgufType::UINT64 && e.u > (uint64_t)INT64_MAX) throw Error(where + "shape value out of range");
        if (e.i <= 0 || e.i > ((int64_t)1 << 32)) throw Error(where + "shape dimension " + std::to_string(e.i) + " out of range");
        v.ne[d] = e.i;
        if (d > 0) {
            if (rows > ((int64_t)1 << 40) / e.i) throw Error(where + "too many rows");
            rows *= e.i;
        }
    }
    if (v.ne[0] % kQxSub != 0)
        throw Error(where + "row length " + std::to_string(v.ne[0]) + " is not a multiple of 32");
    v.type = qx_type_traits(f->id);
    v.rows = rows;
    v.file_type = type_v->s;
    v.row_bytes = v.type->row_size(v.ne[0]);
    if (tensor_cb) {
        const std::string key = qx_tensor_key(name, "codebook");
        const GgufValue* cb = find(kv, key);
        if (!cb) throw Error(where + "missing key '" + key + "'");
        if (cb->type != GgufType::ARRAY || !is_int_type(cb->elem_type))
            throw Error(where + "codebook is not an integer array");
        if (cb->arr.size() != (size_t)f->table_size)
            throw Error(where + "codebook has " + std::to_string(cb->arr.size()) + " entries, expected " +
                        std::to_string(f->table_size));
        const GgufType et = cb->elem_type;
        const bool neg = et == GgufType::INT8 || et == GgufType::INT16 || et == GgufType::INT32 || et == GgufType::INT64;
        for (const GgufValue& e : cb->arr) {
            if ((neg && (e.i < -127 || e.i > 127)) || (!neg && e.u > 127))
                throw Error(where + "codebook entry out of range -127..127");
            v.tensor_codebook.push_back((int8_t)(neg ? e.i : (int64_t)e.u));
        }
        v.row_bytes -= (size_t)f->table_size;  // stored rows omit the codebook
    }
    if (t.n_dims != 2 || t.ne[0] != (int64_t)v.row_bytes || t.ne[1] != rows)
        throw Error(where + "stored shape [" + std::to_string(t.ne[0]) + ", " + std::to_string(t.nrows()) +
                    "] does not match " + type_v->s + " rows: expected [" + std::to_string(v.row_bytes) + ", " +
                    std::to_string(rows) + "]");
    const size_t expected = v.row_bytes * (size_t)rows;  // < 2^40 rows x row_size(< 2^32): no overflow
    // The reader sizes tensors only of types in the runtime's table; when it did, it must agree.
    if (t.nbytes != 0 && t.nbytes != expected)
        throw Error(where + "has " + std::to_string(t.nbytes) + " bytes, expected " + std::to_string(expected));
    if (expected > bytes_available)
        throw Error(where + "needs " + std::to_string(expected) + " bytes but the file holds only " +
                    std::to_string(bytes_available) + " from its start");
    if (!t.data) throw Error(where + "has no data");
    v.data = t.data;
    *out = v;
    return true;
}

}  // namespace qx
