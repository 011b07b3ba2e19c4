// libFuzzer harness for the GGUF reader (built by tools/fuzz.sh, not by the
// test_*.cpp glob). Any input must parse or throw qx::Error: a crash, a
// sanitizer report, a hang or an allocation past -rss_limit_mb is a bug.
// The input buffer is exactly `size` bytes, so ASan flags any read past it.
#include <cstddef>
#include <cstdint>

#include "gguf.h"

namespace {

// Reads what a model loader would: every value through the typed getters
// and the first and last byte of every tensor the runtime can size.
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
        if (t.type && t.nbytes > 0) sink = sink ^ t.data[0] ^ t.data[t.nbytes - 1];
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
