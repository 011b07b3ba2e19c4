// Parsing a mapped GGUF file: header, metadata key/values, tensor infos.
//
// The file is untrusted. Every read goes through Reader, which checks it
// against the bytes that remain; every count read from the file is checked
// against what those bytes could possibly hold before anything is allocated
// for it, so memory use is bounded by the file's real content.
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

#include "gguf_parser.h"

namespace qx {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the GGUF reader reads little-endian fields in place; big-endian hosts need byte swapping");

namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // the bytes "GGUF" read as a little-endian uint32
constexpr uint32_t kMaxValueType = 12;       // FLOAT64
constexpr int kMaxDims = 4;                  // ggml tensors have at most 4 dimensions
// Real files nest at most one level (arrays of arrays are rare already);
// a limit keeps recursion depth, and so stack use, bounded.
constexpr int kMaxArrayDepth = 16;
// Each array element costs sizeof(GgufValue) (~88 bytes) in memory however
// few bytes it takes in the file, so without a cap a hostile file of a few MB
// could demand many GB. The largest real tokenizers hold under 1M elements
// (tokens + scores + types + merges).
constexpr uint64_t kMaxArrayElements = uint64_t(1) << 22;
constexpr uint64_t kMaxAlignment = uint64_t(1) << 24;
constexpr uint64_t kDefaultAlignment = 32;
// Smallest encodings: a kv is key length (8) + type (4) + a 1-byte value;
// a tensor info is name length (8) + n_dims (4) + type (4) + offset (8).
constexpr uint64_t kMinKvBytes = 13;
constexpr uint64_t kMinTensorInfoBytes = 24;

std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
std::string strf(const char* fmt, ...) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return buf;
}

// Names from the file go into error messages: keep them short and printable.
std::string quoted(const std::string& s) { return "'" + escape_for_message(s, 80) + "'"; }

size_t min_encoded_size(uint32_t type) {
    switch ((GgufType)type) {
        case GgufType::UINT8: case GgufType::INT8: case GgufType::BOOL: return 1;
        case GgufType::UINT16: case GgufType::INT16: return 2;
        case GgufType::UINT32: case GgufType::INT32: case GgufType::FLOAT32: return 4;
        case GgufType::UINT64: case GgufType::INT64: case GgufType::FLOAT64: return 8;
        case GgufType::STRING: return 8;   // the length
        case GgufType::ARRAY: return 12;   // element type + count
    }
    return 1;
}

class Reader {
public:
    Reader(const uint8_t* data, size_t size) : data_(data), size_(size) {}
    size_t pos() const { return pos_; }
    size_t remaining() const { return size_ - pos_; }

    void need(size_t n, const std::string& what) const {
        if (n > remaining()) {
            throw Error(strf("truncated GGUF: %s at offset %zu needs %zu bytes, %zu remain", what.c_str(),
                             pos_, n, remaining()));
        }
    }

    template <class T>
    T get(const std::string& what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof v);
        pos_ += sizeof v;
        return v;
    }

    std::string get_string(const std::string& what) {
        const uint64_t len = get<uint64_t>(what + " (string length)");
        if (len > remaining()) {
            throw Error(strf("truncated GGUF: %s at offset %zu is a string of %" PRIu64
                             " bytes but only %zu remain",
                             what.c_str(), pos_ - 8, len, remaining()));
        }
        std::string s(reinterpret_cast<const char*>(data_ + pos_), (size_t)len);
        pos_ += (size_t)len;
        return s;
    }

private:
    const uint8_t* data_;
    size_t size_;
    size_t pos_ = 0;
};

struct Parsed {
    uint32_t version = 0;
    std::map<std::string, GgufValue> kv;
    std::vector<std::string> key_order;
    std::vector<GgufTensor> tensors;
    std::map<std::string, size_t> tensor_index;
    size_t alignment = kDefaultAlignment;
    size_t data_offset = 0;
};

class Parser {
public:
    Parser(const uint8_t* data, size_t size) : r_(data, size), data_(data), size_(size) {}

    Parsed run() {
        read_header();
        read_metadata();
        read_tensor_infos();
        read_alignment();
        place_tensors();
        return std::move(out_);
    }

private:
    void read_header() {
        const uint32_t magic = r_.get<uint32_t>("magic");
        if (magic != kGgufMagic) {
            throw Error(strf("not a GGUF file: bad magic %02x %02x %02x %02x (expected 'GGUF')", magic & 0xff,
                             (magic >> 8) & 0xff, (magic >> 16) & 0xff, magic >> 24));
        }
        const uint32_t version = r_.get<uint32_t>("version");
        if (version != 2 && version != 3) {
            const uint32_t swapped = __builtin_bswap32(version);
            if ((version & 0xffff) == 0 && (swapped == 2 || swapped == 3)) {
                throw Error(strf("unsupported GGUF version: big-endian GGUF v%u files are not supported", swapped));
            }
            throw Error(strf("unsupported GGUF version %u (this reader supports versions 2 and 3)", version));
        }
        out_.version = version;
        n_tensors_ = r_.get<uint64_t>("tensor count");
        n_kv_ = r_.get<uint64_t>("metadata key/value count");
        // Checked one at a time first so the combined product cannot overflow.
        const uint64_t left = r_.remaining();
        if (n_kv_ > left / kMinKvBytes) {
            throw Error(strf("metadata key/value count %" PRIu64 " cannot fit in the %" PRIu64
                             " bytes after the header (truncated or corrupt file)",
                             n_kv_, left));
        }
        if (n_tensors_ > left / kMinTensorInfoBytes) {
            throw Error(strf("tensor count %" PRIu64 " cannot fit in the %" PRIu64 " bytes after the header (truncated or corrupt file)",
                             n_tensors_, left));
        }
        if (n_kv_ * kMinKvBytes + n_tensors_ * kMinTensorInfoBytes > left) {
            throw Error(strf("metadata key/value count %" PRIu64 " and tensor count %" PRIu64
                             " cannot both fit in the %" PRIu64 " bytes after the header (truncated or corrupt file)",
                             n_kv_, n_tensors_, left));
        }
    }

    void read_metadata() {
        for (uint64_t i = 0; i < n_kv_; ++i) {
            std::string key = r_.get_string(strf("key of metadata entry %" PRIu64, i));
            const std::string ctx = "key " + quoted(key);
            const uint32_t type = r_.get<uint32_t>("value type of " + ctx);
            if (type > kMaxValueType) throw Error(strf("%s has unknown value type %u", ctx.c_str(), type));
            if (out_.kv.count(key)) throw Error("duplicate metadata " + ctx);
            GgufValue v;
            read_value(type, v, ctx, 0);
            out_.key_order.push_back(key);
            out_.kv.emplace(std::move(key), std::move(v));
        }
    }

    void read_value(uint32_t type, GgufValue& v, const std::string& ctx, int depth) {
        v.type = (GgufType)type;
        switch ((GgufType)type) {
            case GgufType::UINT8: set_unsigned(v, r_.get<uint8_t>(ctx)); break;
            case GgufType::UINT16: set_unsigned(v, r_.get<uint16_t>(ctx)); break;
            case GgufType::UINT32: set_unsigned(v, r_.get<uint32_t>(ctx)); break;
            case GgufType::UINT64: set_unsigned(v, r_.get<uint64_t>(ctx)); break;
            case GgufType::INT8: set_signed(v, r_.get<int8_t>(ctx)); break;
            case GgufType::INT16: set_signed(v, r_.get<int16_t>(ctx)); break;
            case GgufType::INT32: set_signed(v, r_.get<int32_t>(ctx)); break;
            case GgufType::INT64: set_signed(v, r_.get<int64_t>(ctx)); break;
            case GgufType::FLOAT32: v.f = r_.get<float>(ctx); break;
            case GgufType::FLOAT64: v.f = r_.get<double>(ctx); break;
            case GgufType::BOOL: {
                const uint8_t b = r_.get<uint8_t>(ctx);
                if (b > 1) throw Error(strf("%s: bool value %u is neither 0 nor 1", ctx.c_str(), b));
                set_unsigned(v, b);
                break;
            }
            case GgufType::STRING: v.s = r_.get_string(ctx); break;
            case GgufType::ARRAY: read_array(v, ctx, depth); break;
        }
    }

    void read_array(GgufValue& v, const std::string& ctx, int depth) {
        if (depth >= kMaxArrayDepth) {
            throw Error(strf("%s: arrays nested more than %d levels deep", ctx.c_str(), kMaxArrayDepth));
        }
        const uint32_t elem = r_.get<uint32_t>(ctx + " (array element type)");
        if (elem > kMaxValueType) {
            throw Error(strf("%s: array has unknown element type %u", ctx.c_str(), elem));
        }
        const uint64_t count = r_.get<uint64_t>(ctx + " (array count)");
        if (count > r_.remaining() / min_encoded_size(elem)) {
            throw Error(strf("%s: array count %" PRIu64 " at offset %zu cannot fit in the %zu bytes remaining (truncated or corrupt file)",
                             ctx.c_str(), count, r_.pos() - 8, r_.remaining()));
        }
        if (count > array_budget_) {
            throw Error(strf("%s: metadata arrays hold more than %" PRIu64 " elements in total", ctx.c_str(),
                             kMaxArrayElements));
        }
        array_budget_ -= count;
        v.elem_type = (GgufType)elem;
        v.arr.resize((size_t)count);
        for (GgufValue& e : v.arr) read_value(elem, e, ctx, depth + 1);
    }

    static void set_unsigned(GgufValue& v, uint64_t x) {
        v.u = x;
        v.i = (int64_t)x;  // wraps above INT64_MAX; get_int() refuses those
    }
    static void set_signed(GgufValue& v, int64_t x) {
        v.i = x;
        v.u = (uint64_t)x;  // wraps below 0
    }

    void read_tensor_infos() {
        out_.tensors.reserve(n_tensors_ < 4096 ? (size_t)n_tensors_ : 4096);
        for (uint64_t i = 0; i < n_tensors_; ++i) {
            GgufTensor t;
            t.name = r_.get_string(strf("name of tensor info %" PRIu64, i));
            const std::string ctx = "tensor " + quoted(t.name);
            if (out_.tensor_index.count(t.name)) throw Error("duplicate tensor name " + quoted(t.name));
            const uint32_t n_dims = r_.get<uint32_t>("dimension count of " + ctx);
            if (n_dims > (uint32_t)kMaxDims) {
                throw Error(strf("%s has %u dimensions (at most %d are supported)", ctx.c_str(), n_dims, kMaxDims));
            }
            t.n_dims = (int)n_dims;
            int64_t nelements = 1;
            for (uint32_t d = 0; d < n_dims; ++d) {
                const uint64_t ne = r_.get<uint64_t>(strf("dimension %u of ", d) + ctx);
                if (ne == 0) throw Error(strf("%s has dimension %u of size 0", ctx.c_str(), d));
                if (ne > (uint64_t)std::numeric_limits<int64_t>::max() ||
                    __builtin_mul_overflow(nelements, (int64_t)ne, &nelements)) {
                    throw Error(strf("%s has too many elements: its shape overflows 64 bits", ctx.c_str()));
                }
                t.ne[d] = (int64_t)ne;
            }
            t.type_id = r_.get<uint32_t>("type of " + ctx);
            t.offset = r_.get<uint64_t>("data offset of " + ctx);
            out_.tensor_index.emplace(t.name, out_.tensors.size());
            out_.tensors.push_back(std::move(t));
        }
    }

    void read_alignment() {
        auto it = out_.kv.find("general.alignment");
        if (it == out_.kv.end()) return;
        const GgufValue& v = it->second;
        if (!v.is_int()) {
            throw Error("key 'general.alignment' has type " + gguf_type_name((uint32_t)v.type) +
                        ", expected an unsigned integer");
        }
        const bool negative = v.i < 0 && (v.type == GgufType::INT8 || v.type == GgufType::INT16 ||
                                          v.type == GgufType::INT32 || v.type == GgufType::INT64);
        if (negative || v.u == 0 || v.u > kMaxAlignment || (v.u & (v.u - 1)) != 0) {
            throw Error(strf("bad general.alignment %s%" PRIu64 ": must be a power of two from 1 to %" PRIu64,
                             negative ? "-" : "", negative ? (uint64_t)0 - v.u : v.u, kMaxAlignment));
        }
        out_.alignment = (size_t)v.u;
    }

    void place_tensors() {
        const size_t a = out_.alignment;
        out_.data_offset = (r_.pos() + a - 1) / a * a;  // pos <= file size and a <= 2^24: no overflow
        // Bytes from the data section start to the end of the file (none when
        // the header ends without its padding).
        const uint64_t avail = out_.data_offset <= size_ ? size_ - out_.data_offset : 0;
        for (GgufTensor& t : out_.tensors) {
            const std::string ctx = "tensor " + quoted(t.name);
            if (t.offset % a != 0) {
                throw Error(strf("%s data offset %" PRIu64 " is not a multiple of the alignment %zu", ctx.c_str(),
                                 t.offset, a));
            }
            t.type = type_traits(t.type_id);
            // A tensor of unknown size (an id neither the runtime nor ggml
            // defines) has only its start checked.
            const uint64_t nbytes = data_size(t, ctx);
            if (out_.data_offset > size_ || t.offset > avail || nbytes > avail - t.offset) {
                throw Error(strf("%s data extends past end of file (data section offset %zu + tensor offset %" PRIu64
                                 " + %" PRIu64 " bytes > file size %zu)",
                                 ctx.c_str(), out_.data_offset, t.offset, nbytes, size_));
            }
            t.nbytes = (size_t)nbytes;
            t.data = data_ + out_.data_offset + t.offset;
        }
    }

    // Bytes of t's data (0 if its type is unknown), or a value past the end
    // of the file when they cannot all be in it.
    uint64_t data_size(const GgufTensor& t, const std::string& ctx) const {
        const GgmlStorage* storage = t.type ? nullptr : ggml_storage(t.type_id);
        if (!t.type && !storage) return 0;
        const int64_t block = t.type ? t.type->block_size : storage->block_size;
        const char* name = t.type ? t.type->name : storage->name;
        if (block <= 0 || t.ne[0] % block != 0) {
            throw Error(strf("%s row length %" PRId64 " is not a multiple of the %s block size %" PRId64, ctx.c_str(),
                             t.ne[0], name, block));
        }
        const uint64_t past_eof = (uint64_t)size_ + 1;
        uint64_t row = 0;
        if (t.type) {
            // Every format stores at least one bit per element, so more than
            // 8 x file size elements cannot be there; this also keeps
            // row_size() (which may be a format's own function) far from
            // overflow for rows of absurd length.
            if ((uint64_t)t.nelements() / 8 > size_) return past_eof;
            row = t.type->row_size(t.ne[0]);
        } else if (__builtin_mul_overflow((uint64_t)(t.ne[0] / block), (uint64_t)storage->type_size, &row)) {
            return past_eof;
        }
        uint64_t nbytes = 0;
        if (__builtin_mul_overflow(row, (uint64_t)t.nrows(), &nbytes)) return past_eof;
        return nbytes;
    }

    Reader r_;
    const uint8_t* data_;
    size_t size_;
    uint64_t n_tensors_ = 0, n_kv_ = 0;
    uint64_t array_budget_ = kMaxArrayElements;
    Parsed out_;
};

}  // namespace

std::string gguf_type_name(uint32_t type) {
    static const char* const names[] = {"uint8",  "int8",   "uint16", "int16", "uint32", "int32",  "float32",
                                        "bool",   "string", "array",  "uint64", "int64", "float64"};
    if (type <= kMaxValueType) return names[type];
    return strf("type %u", type);
}

void GgufParser::parse(GgufFile& f) {
    Parsed p = Parser(static_cast<const uint8_t*>(f.map_), f.size_).run();
    f.version_ = p.version;
    f.kv_ = std::move(p.kv);
    f.key_order_ = std::move(p.key_order);
    f.tensors_ = std::move(p.tensors);
    f.tensor_index_ = std::move(p.tensor_index);
    f.alignment_ = p.alignment;
    f.data_offset_ = p.data_offset;
}

}  // namespace qx
