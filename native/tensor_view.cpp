#include "tensor_view.h"

namespace qx {

QxTensorView resolve_tensor(const GgufFile& f, const GgufTensor& t) {
    (void)f;
    QxTensorView v;
    v.type = t.type;
    v.data = t.data;
    for (int i = 0; i < 4; ++i) v.ne[i] = t.ne[i];
    if (t.type) v.default_act = t.type->default_act;
    return v;
}

}  // namespace qx
