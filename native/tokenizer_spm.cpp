#include "tokenizer_spm.h"

#include <array>
#include <queue>

#include "gguf.h"
#include "tokenizer_vocab.h"
#include "unicode.h"

namespace qx {

namespace {

const char kSpace[] = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

class SpmTokenizer final : public VocabTokenizer {
public:
    explicit SpmTokenizer(const TokenizerSpec& spec);

protected:
    void encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const override;
    std::string normal_token_bytes(int32_t id) const override;
    bool strips_leading_space() const override { return spec_.add_space_prefix; }

private:
    float score(int32_t id) const { return spec_.scores.empty() ? 0.0f : spec_.scores[id]; }

    // Pieces that merges may produce: SentencePiece's normal, user-defined
    // and unused pieces (control, unknown and byte pieces never result).
    std::unordered_map<std::string_view, int32_t> pieces_;
    std::array<int32_t, 256> byte_token_{};
};

SpmTokenizer::SpmTokenizer(const TokenizerSpec& spec) : VocabTokenizer(spec) {
    byte_token_.fill(-1);
    pieces_.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) {
        const TokenType t = types_[i];
        if (t == TokenType::Byte) {
            const int b = parse_byte_token(tokens_[i]);
            if (b >= 0 && byte_token_[b] < 0) byte_token_[b] = static_cast<int32_t>(i);
        } else if (t == TokenType::Normal || t == TokenType::UserDefined || t == TokenType::Unused ||
                   t == TokenType::Undefined) {
            pieces_.emplace(tokens_[i], static_cast<int32_t>(i));
        }
    }
}

std::string SpmTokenizer::normal_token_bytes(int32_t id) const {
    const std::string& t = tokens_[id];
    std::string out;
    out.reserve(t.size());
    for (size_t i = 0; i < t.size();) {
        if (t.compare(i, 3, kSpace) == 0) {
            out += ' ';
            i += 3;
        } else {
            out += t[i++];
        }
    }
    return out;
}

void SpmTokenizer::encode_text(std::string_view text, bool after_special, std::vector<int32_t>& out) const {
    std::string s;
    s.reserve(text.size() + 3 + text.size() / 4);
    if (after_special && spec_.add_space_prefix) s += kSpace;
    for (char c : text) {
        if (c == ' ') s += kSpace;
        else s += c;
    }
    if (s.size() > UINT32_MAX) throw Error("text too long to tokenize (over 4 GiB)");

    // Symbols start as single codepoints (an invalid byte is its own symbol).
    struct Sym {
        uint32_t begin, len;
        int32_t prev, next;
    };
    std::vector<Sym> syms;
    {
        const std::vector<Utf8Char> chars = utf8_decode(s.data(), s.size());
        syms.reserve(chars.size());
        const int32_t n = static_cast<int32_t>(chars.size());
        for (int32_t i = 0; i < n; ++i)
            syms.push_back({chars[i].offset, chars[i].len, i - 1, i + 1 < n ? i + 1 : -1});
    }
    const std::string_view sv(s);

    // Highest score first; among equal scores the leftmost pair.
    struct Cand {
        float score;
        int32_t left, right;
        uint32_t len;  // bytes of the merged piece, to detect stale entries
        bool operator<(const Cand& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    std::priority_queue<Cand> queue;
    auto push = [&](int32_t left) {
        if (left < 0) return;
        const int32_t right = syms[left].next;
        if (right < 0) return;
        const uint32_t len = syms[left].len + syms[right].len;
        const auto it = pieces_.find(sv.substr(syms[left].begin, len));
        if (it == pieces_.end()) return;
        queue.push({score(it->second), left, right, len});
    };
    for (int32_t i = 0; i + 1 < static_cast<int32_t>(syms.size()); ++i) push(i);
    while (!queue.empty()) {
        const Cand c = queue.top();
        queue.pop();
        Sym& l = syms[c.left];
        Sym& r = syms[c.right];
        if (l.len == 0 || r.len == 0 || l.next != c.right || l.len + r.len != c.len) continue;
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (l.next >= 0) syms[l.next].prev = c.left;
        push(l.prev);
        push(c.left);
    }

    for (int32_t i = syms.empty() ? -1 : 0; i >= 0; i = syms[i].next) {
        const std::string_view piece = sv.substr(syms[i].begin, syms[i].len);
        const auto it = pieces_.find(piece);
        if (it != pieces_.end()) {
            out.push_back(it->second);
            continue;
        }
        for (char ch : piece) {
            const int32_t b = byte_token_[static_cast<unsigned char>(ch)];
            if (b >= 0) {
                out.push_back(b);
            } else if (spec_.unk_id >= 0) {
                // Without byte tokens the whole piece is one <unk>.
                out.push_back(spec_.unk_id);
                break;
            }
        }
    }
}

}  // namespace

std::unique_ptr<Tokenizer> make_spm_tokenizer(const TokenizerSpec& spec) {
    return std::make_unique<SpmTokenizer>(spec);
}

}  // namespace qx
