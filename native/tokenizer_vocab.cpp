#include "tokenizer_vocab.h"

#include <algorithm>
#include <cstring>

#include "gguf.h"

namespace qx {

VocabTokenizer::VocabTokenizer(const TokenizerSpec& spec) : spec_(spec), tokens_(spec_.tokens) {
    const size_t n = tokens_.size();
    if (n == 0) throw Error("tokenizer has an empty vocabulary (tokenizer.ggml.tokens)");
    if (n > static_cast<size_t>(INT32_MAX)) throw Error("tokenizer vocabulary too large");
    if (!spec_.token_types.empty() && spec_.token_types.size() != n)
        throw Error("tokenizer.ggml.token_type has " + std::to_string(spec_.token_types.size()) +
                    " entries for " + std::to_string(n) + " tokens");
    if (!spec_.scores.empty() && spec_.scores.size() != n)
        throw Error("tokenizer.ggml.scores has " + std::to_string(spec_.scores.size()) +
                    " entries for " + std::to_string(n) + " tokens");
    types_.assign(n, TokenType::Normal);
    for (size_t i = 0; i < spec_.token_types.size(); ++i) {
        const int32_t t = spec_.token_types[i];
        if (t < 0 || t > 6)
            throw Error("tokenizer.ggml.token_type[" + std::to_string(i) + "] = " + std::to_string(t) +
                        " is not a known token type");
        types_[i] = static_cast<TokenType>(t);
    }
    auto check_opt = [&](int32_t id, const char* key) {
        if (id < -1 || id >= static_cast<int32_t>(n))
            throw Error(std::string("tokenizer.ggml.") + key + " = " + std::to_string(id) +
                        " is outside the vocabulary of " + std::to_string(n));
    };
    check_opt(spec_.bos_id, "bos_token_id");
    check_opt(spec_.eos_id, "eos_token_id");
    check_opt(spec_.unk_id, "unknown_token_id");
    check_opt(spec_.pad_id, "padding_token_id");
    check_opt(spec_.eot_id, "eot_token_id");
    check_opt(spec_.eom_id, "eom_token_id");

    eog_.assign(n, false);
    for (int32_t id : {spec_.eos_id, spec_.eot_id, spec_.eom_id})
        if (id >= 0) eog_[id] = true;
    // Chat models end turns with these even when the GGUF names another EOS.
    static const char* const kEndOfTurn[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
                                             "<|endoftext|>", "<|eom_id|>", "<EOT>", "<|end_of_text|>"};
    for (size_t i = 0; i < n; ++i) {
        if (types_[i] != TokenType::Control && types_[i] != TokenType::UserDefined) continue;
        for (const char* s : kEndOfTurn)
            if (tokens_[i] == s) eog_[i] = true;
    }

    specials_by_byte_.resize(256);
    for (size_t i = 0; i < n; ++i) {
        const TokenType t = types_[i];
        if (t != TokenType::Control && t != TokenType::UserDefined && t != TokenType::Unknown) continue;
        if (tokens_[i].empty()) continue;
        const auto b = static_cast<unsigned char>(tokens_[i][0]);
        specials_by_byte_[b].push_back({tokens_[i], static_cast<int32_t>(i), t == TokenType::UserDefined});
    }
    for (auto& v : specials_by_byte_)
        std::stable_sort(v.begin(), v.end(),
                         [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
}

void VocabTokenizer::check_id(int32_t id) const {
    if (id < 0 || id >= n_vocab())
        throw Error("token id " + std::to_string(id) + " is outside the vocabulary of " +
                    std::to_string(n_vocab()));
}

const std::string& VocabTokenizer::token_text(int32_t id) const {
    check_id(id);
    return tokens_[id];
}

TokenType VocabTokenizer::token_type(int32_t id) const {
    check_id(id);
    return types_[id];
}

bool VocabTokenizer::is_eog(int32_t id) const {
    return id >= 0 && id < n_vocab() && eog_[id];
}

int VocabTokenizer::parse_byte_token(const std::string& t) {
    if (t.size() != 6 || t[0] != '<' || t[1] != '0' || t[2] != 'x' || t[5] != '>') return -1;
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    const int hi = hex(t[3]), lo = hex(t[4]);
    return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

std::vector<int32_t> VocabTokenizer::encode(const std::string& text, bool add_special,
                                            bool parse_special) const {
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special && spec_.add_bos && spec_.bos_id >= 0) out.push_back(spec_.bos_id);

    bool after_special = true;
    size_t run_start = 0;
    size_t i = 0;
    while (i < text.size()) {
        const auto& cands = specials_by_byte_[static_cast<unsigned char>(text[i])];
        const Special* hit = nullptr;
        for (const Special& s : cands) {
            if (!parse_special && !s.always) continue;
            if (s.text.size() <= text.size() - i && std::memcmp(text.data() + i, s.text.data(), s.text.size()) == 0) {
                hit = &s;  // candidates are longest first
                break;
            }
        }
        if (!hit) {
            ++i;
            continue;
        }
        if (i > run_start) {
            encode_text(std::string_view(text).substr(run_start, i - run_start), after_special, out);
        }
        out.push_back(hit->id);
        after_special = true;
        i += hit->text.size();
        run_start = i;
    }
    if (text.size() > run_start)
        encode_text(std::string_view(text).substr(run_start), after_special, out);

    if (add_special && spec_.add_eos && spec_.eos_id >= 0) out.push_back(spec_.eos_id);
    return out;
}

std::string VocabTokenizer::token_bytes(int32_t id, bool render_special) const {
    check_id(id);
    switch (types_[id]) {
    case TokenType::Control:
    case TokenType::Unknown:
        return render_special ? tokens_[id] : std::string();
    case TokenType::UserDefined:
        return tokens_[id];
    case TokenType::Byte: {
        const int b = parse_byte_token(tokens_[id]);
        return b >= 0 ? std::string(1, static_cast<char>(b)) : tokens_[id];
    }
    default:
        return normal_token_bytes(id);
    }
}

std::string VocabTokenizer::decode(const std::vector<int32_t>& ids, bool render_special) const {
    std::string out;
    bool strip_space = strips_leading_space();
    for (int32_t id : ids) {
        check_id(id);
        const TokenType t = types_[id];
        if (t == TokenType::Control || t == TokenType::UserDefined || t == TokenType::Unknown) {
            out += token_bytes(id, render_special);
            strip_space = strips_leading_space();
            continue;
        }
        std::string piece = token_bytes(id, render_special);
        if (strip_space && !piece.empty() && piece[0] == ' ') piece.erase(0, 1);
        strip_space = false;
        out += piece;
    }
    return out;
}

}  // namespace qx
