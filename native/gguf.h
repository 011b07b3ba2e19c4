// GGUF v2/v3 reader. The file is memory-mapped; tensor data is never copied.
// Every offset, size, count and string read from the file is bounds-checked
// and any violation throws qx::Error naming the problem, so a truncated or
// hostile file is an error message, never a crash or a huge allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/types.h"

namespace qx {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// GGUF value types (gguf spec).
enum class GgufType : uint32_t {
    UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
    BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
};

// "uint32", "string", "array", ...; "type N" for ids outside the spec.
std::string gguf_type_name(uint32_t type);

// ggml's name of a tensor type id ("Q4_K", "I8"); nullptr for ids ggml does
// not define. (Whether the runtime computes with it: type_traits().)
const char* ggml_type_name(uint32_t type_id);

// One metadata value. Scalars are widened (integers to int64/uint64, floats
// to double); arrays keep their element type and hold values in `arr`.
struct GgufValue {
    GgufType type = GgufType::UINT8;
    GgufType elem_type = GgufType::UINT8;  // for ARRAY
    int64_t i = 0;        // signed and unsigned integers, bool
    uint64_t u = 0;       // unsigned integers (same value as i when it fits)
    double f = 0.0;       // floats
    std::string s;        // STRING
    std::vector<GgufValue> arr;  // ARRAY

    bool is_int() const;
    bool is_float() const;
};

struct GgufTensor {
    std::string name;
    uint32_t type_id = 0;
    const TypeTraits* type = nullptr;   // nullptr: type unknown to the runtime
    int n_dims = 0;
    int64_t ne[4] = {1, 1, 1, 1};       // ne[0] = row length (ggml order)
    uint64_t offset = 0;                // relative to the data section
    const uint8_t* data = nullptr;      // into the mapping
    // Bytes of data, known for the runtime's types and every published ggml
    // type (I8, I32, IQ*, ...); 0 only for type ids neither knows.
    size_t nbytes = 0;
    int64_t nelements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
    int64_t nrows() const { return ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
public:
    // Throws qx::Error for any malformed input. Tensors of types the runtime
    // cannot compute with are still listed (type == nullptr); the model
    // refuses them when it needs them.
    static std::unique_ptr<GgufFile> open(const std::string& path);
    // Parses a caller-owned buffer that must outlive the result (fuzzing,
    // tests); `name` stands in for the path in error messages.
    static std::unique_ptr<GgufFile> from_buffer(const void* data, size_t size,
                                                 const std::string& name);
    ~GgufFile();
    GgufFile(const GgufFile&) = delete;
    GgufFile& operator=(const GgufFile&) = delete;

    uint32_t version() const { return version_; }
    const std::string& path() const { return path_; }
    size_t file_size() const { return size_; }
    const std::map<std::string, GgufValue>& metadata() const { return kv_; }
    const std::vector<GgufTensor>& tensors() const { return tensors_; }
    // Metadata keys in file order (metadata() is sorted by key).
    const std::vector<std::string>& key_order() const { return key_order_; }
    size_t alignment() const { return alignment_; }
    size_t data_offset() const { return data_offset_; }   // start of the tensor data section

    const GgufValue* find(const std::string& key) const;
    const GgufTensor* find_tensor(const std::string& name) const;

    // Typed getters: throw qx::Error("missing required key 'x'") or
    // ("key 'x' has type T, expected ...") as appropriate.
    std::string get_string(const std::string& key) const;
    int64_t get_int(const std::string& key) const;
    double get_float(const std::string& key) const;   // accepts ints too
    int64_t get_int_or(const std::string& key, int64_t def) const;
    double get_float_or(const std::string& key, double def) const;
    bool get_bool_or(const std::string& key, bool def) const;
    std::string get_string_or(const std::string& key, const std::string& def) const;
    const std::vector<GgufValue>& get_array(const std::string& key) const;

private:
    GgufFile() = default;
    std::string path_;
    uint32_t version_ = 0;
    int fd_ = -1;
    void* map_ = nullptr;
    bool owns_map_ = false;
    size_t size_ = 0;
    size_t alignment_ = 32;
    size_t data_offset_ = 0;
    std::vector<std::string> key_order_;
    std::map<std::string, GgufValue> kv_;
    std::vector<GgufTensor> tensors_;
    std::map<std::string, size_t> tensor_index_;
    friend struct GgufParser;
};

}  // namespace qx
