#include "tokenizer_pretok.h"

#include "gguf.h"
#include "unicode.h"

namespace qx {

PreTokenizer pretokenizer_from_name(const std::string& name) {
    if (name == "default" || name == "gpt2" || name == "gpt-2") return PreTokenizer::Gpt2;
    if (name == "llama-bpe" || name == "llama3" || name == "llama-v3") return PreTokenizer::Llama3;
    if (name == "qwen2") return PreTokenizer::Qwen2;
    if (name == "smollm") return PreTokenizer::SmolLM;
    throw Error("unsupported tokenizer.ggml.pre '" + name +
                "' (supported: default, gpt2, llama-bpe, qwen2, smollm)");
}

namespace {

// The decoded text with each char's class, matched over [begin, end) ranges
// whose end acts as end-of-text (so lookaheads stop at segment boundaries).
struct CharView {
    std::vector<Utf8Char> chars;
    std::vector<uint8_t> flags;

    uint32_t cp(size_t i) const { return chars[i].cp; }
    bool letter(size_t i) const { return flags[i] & kCpLetter; }
    bool number(size_t i) const { return flags[i] & kCpNumber; }
    bool space(size_t i) const { return flags[i] & kCpWhitespace; }
    // [^\s\p{L}\p{N}]
    bool other(size_t i) const { return (flags[i] & (kCpLetter | kCpNumber | kCpWhitespace)) == 0; }
    bool crlf(size_t i) const { return chars[i].cp == '\r' || chars[i].cp == '\n'; }
};

uint32_t ascii_lower(uint32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// 's|'t|'re|'ve|'m|'ll|'d at i; returns the end or 0 if none matches.
size_t match_contraction(const CharView& v, size_t i, size_t e, bool ignore_case) {
    if (v.cp(i) != '\'' || i + 1 >= e) return 0;
    auto at = [&](size_t k) { return ignore_case ? ascii_lower(v.cp(k)) : v.cp(k); };
    const uint32_t a = at(i + 1);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < e) {
        const uint32_t b = at(i + 2);
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
    return 0;
}

// \s+(?!\S)|\s+ starting at whitespace char i.
size_t match_space_run(const CharView& v, size_t i, size_t e) {
    size_t r = i;
    while (r < e && v.space(r)) ++r;
    if (r == e || r - i == 1) return r;
    return r - 1;  // leave the last space to prefix the following word
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
size_t match_gpt2(const CharView& v, size_t i, size_t e) {
    if (size_t c = match_contraction(v, i, e, false)) return c;
    const size_t s = (v.cp(i) == ' ' && i + 1 < e) ? i + 1 : i;
    size_t j = s;
    if (v.letter(s)) {
        while (j < e && v.letter(j)) ++j;
        return j;
    }
    if (v.number(s)) {
        while (j < e && v.number(j)) ++j;
        return j;
    }
    if (v.other(s)) {
        while (j < e && v.other(j)) ++j;
        return j;
    }
    return match_space_run(v, i, e);
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}|
//  ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
size_t match_llama3(const CharView& v, size_t i, size_t e, size_t max_digits) {
    if (size_t c = match_contraction(v, i, e, true)) return c;
    size_t j;
    if (!v.letter(i) && !v.number(i) && !v.crlf(i) && i + 1 < e && v.letter(i + 1)) {
        j = i + 1;
        while (j < e && v.letter(j)) ++j;
        return j;
    }
    if (v.letter(i)) {
        j = i;
        while (j < e && v.letter(j)) ++j;
        return j;
    }
    if (v.number(i)) {
        j = i;
        while (j < e && j - i < max_digits && v.number(j)) ++j;
        return j;
    }
    const size_t s = (v.cp(i) == ' ' && i + 1 < e) ? i + 1 : i;
    if (v.other(s)) {
        j = s;
        while (j < e && v.other(j)) ++j;
        while (j < e && v.crlf(j)) ++j;
        return j;
    }
    // i is whitespace here.
    size_t r = i;
    size_t last_crlf = e;
    while (r < e && v.space(r)) {
        if (v.crlf(r)) last_crlf = r;
        ++r;
    }
    if (last_crlf != e) return last_crlf + 1;
    return match_space_run(v, i, e);
}

template <typename Match>
void split_range(const CharView& v, size_t b, size_t e, Match match, std::vector<size_t>& cuts) {
    size_t i = b;
    while (i < e) {
        size_t j = match(i, e);
        if (j <= i) j = i + 1;  // cannot happen; guarantees progress
        cuts.push_back(j);
        i = j;
    }
}

}  // namespace

void pretokenize(PreTokenizer kind, const char* text, size_t len, std::vector<WordSpan>& out) {
    if (len == 0) return;
    if (len > UINT32_MAX) throw Error("text too long to tokenize (over 4 GiB)");
    CharView v;
    v.chars = utf8_decode(text, len);
    v.flags.resize(v.chars.size());
    for (size_t k = 0; k < v.chars.size(); ++k) v.flags[k] = codepoint_flags(v.chars[k].cp);
    const size_t n = v.chars.size();

    std::vector<size_t> cuts;  // char index where each word ends
    cuts.reserve(n / 3 + 4);
    switch (kind) {
    case PreTokenizer::Gpt2:
        split_range(v, 0, n, [&](size_t i, size_t e) { return match_gpt2(v, i, e); }, cuts);
        break;
    case PreTokenizer::Llama3:
        split_range(v, 0, n, [&](size_t i, size_t e) { return match_llama3(v, i, e, 3); }, cuts);
        break;
    case PreTokenizer::Qwen2:
        split_range(v, 0, n, [&](size_t i, size_t e) { return match_llama3(v, i, e, 1); }, cuts);
        break;
    case PreTokenizer::SmolLM: {
        // Each digit is its own word; the runs between digits are split by the
        // GPT-2 regex independently, as a pre-tokenizer Sequence does.
        size_t b = 0;
        while (b < n) {
            if (v.number(b)) {
                cuts.push_back(b + 1);
                ++b;
                continue;
            }
            size_t e = b;
            while (e < n && !v.number(e)) ++e;
            split_range(v, b, e, [&](size_t i, size_t end) { return match_gpt2(v, i, end); }, cuts);
            b = e;
        }
        break;
    }
    }

    size_t prev = 0;
    for (size_t c : cuts) {
        const uint32_t begin = v.chars[prev].offset;
        const uint32_t end = c < n ? v.chars[c].offset : static_cast<uint32_t>(len);
        out.push_back({begin, end});
        prev = c;
    }
}

}  // namespace qx
