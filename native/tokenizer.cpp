#include "tokenizer.h"

#include "gguf.h"
#include "tokenizer_bpe.h"
#include "tokenizer_spm.h"

namespace qx {

std::unique_ptr<Tokenizer> Tokenizer::create(const TokenizerSpec& spec) {
    if (spec.model == "gpt2") return make_bpe_tokenizer(spec);
    if (spec.model == "llama") return make_spm_tokenizer(spec);
    throw Error("unsupported tokenizer.ggml.model '" + spec.model + "' (supported: gpt2, llama)");
}

}  // namespace qx
