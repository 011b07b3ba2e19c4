// Reading a TokenizerSpec from a GGUF file (kept apart from tokenizer.cpp so
// that code building tokenizers from a spec does not need the GGUF reader).
#include <algorithm>

#include "gguf.h"
#include "tokenizer.h"

namespace qx {

namespace {

const std::vector<GgufValue>& typed_array(const GgufFile& f, const std::string& key, GgufType want,
                                          const char* what) {
    const GgufValue* v = f.find(key);
    if (!v) throw Error("missing required key '" + key + "'");
    if (v->type != GgufType::ARRAY || v->elem_type != want)
        throw Error("key '" + key + "' is not an array of " + what);
    return v->arr;
}

int32_t id_or(const GgufFile& f, const std::string& key) {
    const int64_t v = f.get_int_or(key, -1);
    if (v < -1 || v > INT32_MAX) throw Error("key '" + key + "' = " + std::to_string(v) + " is not a token id");
    return static_cast<int32_t>(v);
}

}  // namespace

TokenizerSpec Tokenizer::spec_from_gguf(const GgufFile& f) {
    TokenizerSpec s;
    s.model = f.get_string("tokenizer.ggml.model");
    const bool spm = s.model == "llama";
    s.pre = f.get_string_or("tokenizer.ggml.pre", "default");

    for (const GgufValue& v : typed_array(f, "tokenizer.ggml.tokens", GgufType::STRING, "strings"))
        s.tokens.push_back(v.s);
    if (f.find("tokenizer.ggml.scores")) {
        for (const GgufValue& v : typed_array(f, "tokenizer.ggml.scores", GgufType::FLOAT32, "float32"))
            s.scores.push_back(static_cast<float>(v.f));
    }
    if (const GgufValue* tt = f.find("tokenizer.ggml.token_type")) {
        if (tt->type != GgufType::ARRAY)
            throw Error("key 'tokenizer.ggml.token_type' is not an array of integers");
        for (const GgufValue& v : tt->arr) {
            if (!v.is_int()) throw Error("key 'tokenizer.ggml.token_type' is not an array of integers");
            s.token_types.push_back(static_cast<int32_t>(std::max<int64_t>(-1, std::min<int64_t>(v.i, 1000))));
        }
    }
    if (f.find("tokenizer.ggml.merges")) {
        for (const GgufValue& v : typed_array(f, "tokenizer.ggml.merges", GgufType::STRING, "strings"))
            s.merges.push_back(v.s);
    }
    s.bos_id = id_or(f, "tokenizer.ggml.bos_token_id");
    s.eos_id = id_or(f, "tokenizer.ggml.eos_token_id");
    s.unk_id = id_or(f, "tokenizer.ggml.unknown_token_id");
    s.pad_id = id_or(f, "tokenizer.ggml.padding_token_id");
    s.eot_id = id_or(f, "tokenizer.ggml.eot_token_id");
    s.eom_id = id_or(f, "tokenizer.ggml.eom_token_id");
    // llama.cpp's defaults: SentencePiece vocabularies add BOS and a dummy space.
    s.add_bos = f.get_bool_or("tokenizer.ggml.add_bos_token", spm);
    s.add_eos = f.get_bool_or("tokenizer.ggml.add_eos_token", false);
    s.add_space_prefix = f.get_bool_or("tokenizer.ggml.add_space_prefix", spm);
    return s;
}

std::unique_ptr<Tokenizer> Tokenizer::from_gguf(const GgufFile& f) { return create(spec_from_gguf(f)); }

}  // namespace qx
