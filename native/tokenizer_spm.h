// SentencePiece-style tokenizer (tokenizer.ggml.model = "llama"): spaces as
// U+2581, a dummy leading space, highest-score merges, <0xNN> byte fallback.
#pragma once

#include <memory>

#include "tokenizer.h"

namespace qx {

std::unique_ptr<Tokenizer> make_spm_tokenizer(const TokenizerSpec& spec);

}  // namespace qx
