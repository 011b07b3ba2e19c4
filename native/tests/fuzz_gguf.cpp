// libFuzzer harness for the GGUF reader (built by tools/fuzz.sh, not by the
// test_*.cpp glob). Any input must parse or throw qx::Error: a crash, a
// sanitizer report, a hang or an allocation past -rss_limit_mb is a bug.
// The input buffer is exactly `size` bytes, so ASan flags any read past it.
#include <cstddef>
#include <cstdint>

#include "gguf.h"
#include "tensor_view.h"

namespace {

// Reads what a model loader would: every value through the typed getters,
// the first and last byte of every tensor, and every tensor's resolved view.
void touch(const qx::GgufFile& f) {
    for (const std::string& key : f.key_order()) {
        try { (void)f.get_int(key); } catch (const qx::Error&) {}
        try { (void)f.get_float(key); } catch (const qx::Error&) {}
        try { (void)f.get_string(key); } catch (const qx::Error&) {}
        try { (void)f.get_bool_or(key, false); } catch (const qx::Error&) {}
        try { (void)f.get_array(key).size(); } catch (const qx::Error&) {}
    }
    volatile uint8_t sink = 0;
    for (const qx::GgufTensor& t : f.tensors()) {
        if (f.find_tensor(t.name) != &t) __builtin_trap();
        if (t.nbytes > 0) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
        // The model's view of the tensor: for QuantX tensors this checks
        // their quantx.* metadata against the stored bytes.
        try {
            const qx::QxTensorView v = qx::resolve_tensor(f, t);
            if (v.type) {
                const size_t bytes = v.type->row_size(v.ne[0]) * (size_t)(v.ne[1] * v.ne[2] * v.ne[3]);
                if (bytes > 0) sink = sink ^ v.data[0] ^ v.data[bytes - 1];
            }
        } catch (const qx::Error&) {
        }
    }
    (void)sink;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try {
        touch(*qx::GgufFile::from_buffer(data, size, "fuzz-input"));
    } catch (const qx::Error&) {
    }
    return 0;
}
