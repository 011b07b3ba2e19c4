#include "tokenizer_bpe.h"

#include <array>
#include <mutex>
#include <queue>

#include "gguf.h"
#include "tokenizer_pretok.h"
#include "tokenizer_vocab.h"
#include "unicode.h"

namespace qx {

namespace {

struct ByteMap {
    std::array<uint32_t, 256> to_cp{};
    std::array<int16_t, 324> to_byte{};  // images are U+0021..U+00FF and U+0100..U+0143
    ByteMap() {
        to_byte.fill(-1);
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
            to_cp[b] = printable ? static_cast<uint32_t>(b) : next++;
            to_byte[to_cp[b]] = static_cast<int16_t>(b);
        }
    }
};
const ByteMap& byte_map() {
    static const ByteMap m;
    return m;
}

}  // namespace

uint32_t gpt2_byte_to_codepoint(uint8_t b) { return byte_map().to_cp[b]; }

int gpt2_codepoint_to_byte(uint32_t cp) {
    const auto& m = byte_map().to_byte;
    return cp < m.size() ? m[cp] : -1;
}

namespace {

class BpeTokenizer final : public VocabTokenizer {
public:
    explicit BpeTokenizer(const TokenizerSpec& spec);

protected:
    void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
    std::string normal_token_bytes(int32_t id) const override { return bytes_[id]; }

private:
    struct Merge {
        int32_t rank;
        int32_t result;
    };
    static uint64_t pair_key(int32_t a, int32_t b) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
    }
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    void merge_word(std::string_view word, std::vector<int32_t>& out) const;

    PreTokenizer pre_;
    bool ignore_merges_;
    std::vector<std::string> bytes_;                        // decoded bytes of each token
    std::unordered_map<std::string, int32_t> by_bytes_;     // normal tokens by their bytes
    std::array<int32_t, 256> byte_token_{};                 // token of each single byte, or -1
    std::unordered_map<uint64_t, Merge> merges_;

    // Words repeat a lot in real text; their merge results are memoised.
    static constexpr size_t kCacheMax = 1 << 16;
    static constexpr size_t kCacheMaxWord = 128;
    mutable std::mutex cache_mu_;
    mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;
};

// Bytes of a byte-level vocabulary entry: every codepoint maps back to one
// byte. Entries that are not byte-level text keep their UTF-8 bytes.
std::string byte_level_to_bytes(const std::string& text) {
    const std::vector<Utf8Char> chars = utf8_decode(text.data(), text.size());
    std::string out;
    out.reserve(chars.size());
    for (const Utf8Char& c : chars) {
        const int b = gpt2_codepoint_to_byte(c.cp);
        if (b < 0) return text;
        out += static_cast<char>(b);
    }
    return out;
}

BpeTokenizer::BpeTokenizer(const TokenizerSpec& spec)
    : VocabTokenizer(spec), pre_(pretokenizer_from_name(spec.pre)) {
    // Llama-3's tokenizer.json sets ignore_merges: a word that is itself a
    // token is emitted as is.
    ignore_merges_ = pre_ == PreTokenizer::Llama3;
    const size_t n = tokens_.size();
    bytes_.resize(n);
    byte_token_.fill(-1);
    for (size_t i = 0; i < n; ++i) {
        const TokenType t = types_[i];
        if (t == TokenType::Normal || t == TokenType::Unused || t == TokenType::Undefined) {
            bytes_[i] = byte_level_to_bytes(tokens_[i]);
            by_bytes_.emplace(bytes_[i], static_cast<int32_t>(i));  // first wins on duplicates
        } else if (t == TokenType::Byte) {
            const int b = parse_byte_token(tokens_[i]);
            bytes_[i] = b >= 0 ? std::string(1, static_cast<char>(b)) : tokens_[i];
        } else {
            bytes_[i] = tokens_[i];
        }
    }
    for (int b = 0; b < 256; ++b) {
        const auto it = by_bytes_.find(std::string(1, static_cast<char>(b)));
        if (it != by_bytes_.end()) byte_token_[b] = it->second;
    }
    // Map merge text halves back through the vocabulary.
    std::unordered_map<std::string_view, int32_t> by_text;
    by_text.reserve(n);
    for (size_t i = 0; i < n; ++i) by_text.emplace(tokens_[i], static_cast<int32_t>(i));
    merges_.reserve(spec_.merges.size());
    for (size_t r = 0; r < spec_.merges.size(); ++r) {
        const std::string& m = spec_.merges[r];
        bool ok = false;
        // Halves never contain a space in byte-level vocabularies, but try
        // every split so an odd vocabulary still loads when unambiguous.
        for (size_t sp = m.find(' '); sp != std::string::npos && !ok; sp = m.find(' ', sp + 1)) {
            const std::string_view l(m.data(), sp), rt(m.data() + sp + 1, m.size() - sp - 1);
            const auto li = by_text.find(l), ri = by_text.find(rt);
            if (li == by_text.end() || ri == by_text.end()) continue;
            const auto res = by_text.find(std::string(l) + std::string(rt));
            if (res == by_text.end())
                throw Error("tokenizer.ggml.merges[" + std::to_string(r) + "] '" + m +
                            "' produces a token that is not in the vocabulary");
            merges_.emplace(pair_key(li->second, ri->second),
                            Merge{static_cast<int32_t>(r), res->second});  // first (best) rank wins
            ok = true;
        }
        if (!ok)
            throw Error("tokenizer.ggml.merges[" + std::to_string(r) + "] '" + m +
                        "' is not two vocabulary tokens separated by a space");
    }
}

void BpeTokenizer::encode_text(std::string_view text, bool, std::vector<int32_t>& out) const {
    std::vector<WordSpan> words;
    pretokenize(pre_, text.data(), text.size(), words);
    for (const WordSpan& w : words) encode_word(text.substr(w.begin, w.end - w.begin), out);
}

void BpeTokenizer::encode_word(std::string_view word, std::vector<int32_t>& out) const {
    if (ignore_merges_) {
        const auto it = by_bytes_.find(std::string(word));
        if (it != by_bytes_.end()) {
            out.push_back(it->second);
            return;
        }
    }
    if (word.size() > kCacheMaxWord) {  // rare and unlikely to repeat
        merge_word(word, out);
        return;
    }
    std::string key(word);
    {
        std::lock_guard<std::mutex> lock(cache_mu_);
        const auto it = cache_.find(key);
        if (it != cache_.end()) {
            out.insert(out.end(), it->second.begin(), it->second.end());
            return;
        }
    }
    std::vector<int32_t> ids;
    merge_word(word, ids);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard<std::mutex> lock(cache_mu_);
    if (cache_.size() >= kCacheMax) cache_.clear();
    cache_.emplace(std::move(key), std::move(ids));
}

// Applies merges lowest rank first, leftmost first among equal ranks, over a
// linked list of symbols; stale queue entries are skipped when popped.
void BpeTokenizer::merge_word(std::string_view word, std::vector<int32_t>& out) const {
    struct Sym {
        int32_t id;
        int32_t prev, next;
    };
    std::vector<Sym> syms;
    syms.reserve(word.size());
    for (char ch : word) {
        // A byte the vocabulary lacks is dropped, as both Hugging Face BPE
        // (byte-level vocabularies carry no unk_token) and llama.cpp do.
        const int32_t id = byte_token_[static_cast<unsigned char>(ch)];
        if (id >= 0) syms.push_back({id, 0, 0});
    }
    const int32_t n = static_cast<int32_t>(syms.size());
    for (int32_t i = 0; i < n; ++i) {
        syms[i].prev = i - 1;
        syms[i].next = i + 1 < n ? i + 1 : -1;
    }
    struct Cand {
        int32_t rank, left, left_id, right_id, result;
        bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> queue;
    auto push = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = syms[left].next;
        if (right < 0) return;
        const auto it = merges_.find(pair_key(syms[left].id, syms[right].id));
        if (it == merges_.end()) return;
        queue.push({it->second.rank, left, syms[left].id, syms[right].id, it->second.result});
    };
    for (int32_t i = 0; i + 1 < n; ++i) push(i);
    while (!queue.empty()) {
        const Cand c = queue.top();
        queue.pop();
        Sym& l = syms[c.left];
        if (l.id != c.left_id || l.next < 0) continue;
        Sym& r = syms[l.next];
        if (r.id != c.right_id) continue;
        l.id = c.result;
        r.id = -1;  // dead
        l.next = r.next;
        if (l.next >= 0) syms[l.next].prev = c.left;
        push(l.prev);
        push(c.left);
    }
    for (int32_t i = 0; n > 0 && i >= 0; i = syms[i].next) out.push_back(syms[i].id);
}

}  // namespace

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const TokenizerSpec& spec) {
    return std::make_unique<BpeTokenizer>(spec);
}

}  // namespace qx
