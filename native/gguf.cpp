// GgufFile: mapping the file, and typed access to its metadata. Parsing is
// in gguf_parse.cpp.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>

#include "gguf_parser.h"

namespace qx {

bool GgufValue::is_int() const {
    switch (type) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::UINT16: case GgufType::INT16:
        case GgufType::UINT32: case GgufType::INT32: case GgufType::UINT64: case GgufType::INT64:
            return true;
        default:
            return false;
    }
}

bool GgufValue::is_float() const { return type == GgufType::FLOAT32 || type == GgufType::FLOAT64; }

namespace {

bool is_unsigned(GgufType t) {
    return t == GgufType::UINT8 || t == GgufType::UINT16 || t == GgufType::UINT32 || t == GgufType::UINT64;
}

std::string describe_type(const GgufValue& v) {
    if (v.type == GgufType::ARRAY) return "array of " + gguf_type_name((uint32_t)v.elem_type);
    return gguf_type_name((uint32_t)v.type);
}

[[noreturn]] void wrong_type(const std::string& key, const GgufValue& v, const char* expected) {
    throw Error("key '" + key + "' has type " + describe_type(v) + ", expected " + expected);
}

// Length of the valid UTF-8 sequence at p (at most n bytes), 0 if invalid.
// Rejects what Python's strict decoder rejects: overlong forms, surrogates,
// code points past U+10FFFF.
size_t utf8_sequence(const unsigned char* p, size_t n) {
    auto cont = [&](size_t i, unsigned lo = 0x80, unsigned hi = 0xbf) { return i < n && p[i] >= lo && p[i] <= hi; };
    const unsigned c = p[0];
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        const unsigned lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return cont(1, lo, hi) && cont(2) ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        const unsigned lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
}

struct Fd {
    int fd;
    ~Fd() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace

std::string escape_for_message(const std::string& s, size_t max_bytes) {
    static const char hex[] = "0123456789abcdef";
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size() < max_bytes ? s.size() : max_bytes;
    std::string out;
    for (size_t i = 0; i < n;) {
        const size_t len = utf8_sequence(p + i, n - i);
        if (len == 0 || p[i] < 0x20 || p[i] == 0x7f || p[i] == '\\') {
            out += {'\\', 'x', hex[p[i] >> 4], hex[p[i] & 15]};
            i += 1;
        } else {
            out.append(s, i, len);
            i += len;
        }
    }
    if (n < s.size()) out += "...";
    return out;
}

std::unique_ptr<GgufFile> GgufFile::open(const std::string& path) {
    const std::string shown = escape_for_message(path);
    Fd fd{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (fd.fd < 0) throw Error("cannot open '" + shown + "': " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd.fd, &st) != 0) throw Error("cannot stat '" + shown + "': " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw Error("cannot open '" + shown + "': " + std::strerror(EISDIR));
    if (!S_ISREG(st.st_mode)) throw Error("cannot open '" + shown + "': not a regular file");
    if ((uint64_t)st.st_size > std::numeric_limits<size_t>::max()) {
        throw Error("cannot open '" + shown + "': file too large to map");
    }

    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = path;
    f->size_ = (size_t)st.st_size;
    if (f->size_ > 0) {  // mmap refuses length 0; an empty file fails parsing as truncated
        void* m = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd.fd, 0);
        if (m == MAP_FAILED) throw Error("cannot map '" + shown + "': " + std::strerror(errno));
        f->map_ = m;
        f->owns_map_ = true;
    }
    // The mapping stays valid after the descriptor is closed (by Fd).
    try {
        GgufParser::parse(*f);
    } catch (const Error& e) {
        throw Error(shown + ": " + e.what());
    }
    return f;
}

std::unique_ptr<GgufFile> GgufFile::from_buffer(const void* data, size_t size, const std::string& name) {
    std::unique_ptr<GgufFile> f(new GgufFile());
    f->path_ = name;
    f->size_ = size;
    f->map_ = const_cast<void*>(data);
    f->owns_map_ = false;
    try {
        GgufParser::parse(*f);
    } catch (const Error& e) {
        throw Error(escape_for_message(name) + ": " + e.what());
    }
    return f;
}

GgufFile::~GgufFile() {
    if (owns_map_ && map_) ::munmap(map_, size_);
    if (fd_ >= 0) ::close(fd_);
}

const GgufValue* GgufFile::find(const std::string& key) const {
    auto it = kv_.find(key);
    return it == kv_.end() ? nullptr : &it->second;
}

const GgufTensor* GgufFile::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

const GgufValue& require(const GgufFile& f, const std::string& key) {
    const GgufValue* v = f.find(key);
    if (!v) throw Error("missing required key '" + key + "'");
    return *v;
}

int64_t as_int(const std::string& key, const GgufValue& v) {
    if (!v.is_int()) wrong_type(key, v, "integer");
    if (is_unsigned(v.type) && v.u > (uint64_t)std::numeric_limits<int64_t>::max()) {
        throw Error("key '" + key + "' value " + std::to_string(v.u) + " does not fit in int64");
    }
    return v.i;
}

double as_float(const std::string& key, const GgufValue& v) {
    if (v.is_float()) return v.f;
    if (v.is_int()) return is_unsigned(v.type) ? (double)v.u : (double)v.i;
    wrong_type(key, v, "number");
}

std::string as_string(const std::string& key, const GgufValue& v) {
    if (v.type != GgufType::STRING) wrong_type(key, v, "string");
    return v.s;
}

}  // namespace

std::string GgufFile::get_string(const std::string& key) const { return as_string(key, require(*this, key)); }

int64_t GgufFile::get_int(const std::string& key) const { return as_int(key, require(*this, key)); }

double GgufFile::get_float(const std::string& key) const { return as_float(key, require(*this, key)); }

// The *_or getters default only when the key is absent; a present key of the
// wrong type is a malformed file and still an error.
int64_t GgufFile::get_int_or(const std::string& key, int64_t def) const {
    const GgufValue* v = find(key);
    return v ? as_int(key, *v) : def;
}

double GgufFile::get_float_or(const std::string& key, double def) const {
    const GgufValue* v = find(key);
    return v ? as_float(key, *v) : def;
}

bool GgufFile::get_bool_or(const std::string& key, bool def) const {
    const GgufValue* v = find(key);
    if (!v) return def;
    if (v->type != GgufType::BOOL) wrong_type(key, *v, "bool");
    return v->i != 0;
}

std::string GgufFile::get_string_or(const std::string& key, const std::string& def) const {
    const GgufValue* v = find(key);
    return v ? as_string(key, *v) : def;
}

const std::vector<GgufValue>& GgufFile::get_array(const std::string& key) const {
    const GgufValue& v = require(*this, key);
    if (v.type != GgufType::ARRAY) wrong_type(key, v, "array");
    return v.arr;
}

}  // namespace qx
