#include "tensor_view.h"

#include "qx_gguf.h"

namespace qx {

QxTensorView resolve_tensor(const GgufFile& f, const GgufTensor& t) {
    QxTensorView v;
    QxResolvedTensor q;
    if (qx_resolve_tensor(f, t, &q)) {
        v.type = q.type;
        v.data = q.data;
        v.tensor_codebook = q.tensor_codebook;
        v.stored_row_bytes = q.row_bytes;
        for (int i = 0; i < 4; ++i) v.ne[i] = q.ne[i];
        // The file names its activation path (W3A16 or W3A8); the format's
        // default applies when it does not.
        const int64_t act = f.get_int_or("quantx.activation", 0);
        if (act != 0 && act != 8 && act != 16)
            throw Error("key 'quantx.activation' must be 8 or 16, not " + std::to_string(act));
        v.default_act = act == 8 ? ActMode::A8 : act == 16 ? ActMode::A16 : q.type->default_act;
        return v;
    }
    v.type = t.type;
    v.data = t.data;
    for (int i = 0; i < 4; ++i) v.ne[i] = t.ne[i];
    if (t.type) v.default_act = t.type->default_act;
    return v;
}

std::string tensor_type_name(const GgufFile& f, const GgufTensor& t) {
    QxResolvedTensor q;
    if (qx_resolve_tensor(f, t, &q)) return q.file_type;
    return t.type ? std::string(t.type->name) : "unknown(" + std::to_string(t.type_id) + ")";
}

}  // namespace qx
