// Byte-level BPE (tokenizer.ggml.model = "gpt2").
#pragma once

#include <memory>

#include "tokenizer.h"

namespace qx {

std::unique_ptr<Tokenizer> make_bpe_tokenizer(const TokenizerSpec& spec);

// GPT-2's reversible byte <-> printable-codepoint map used in BPE vocabularies.
uint32_t gpt2_byte_to_codepoint(uint8_t b);
// -1 if the codepoint is not the image of a byte.
int gpt2_codepoint_to_byte(uint32_t cp);

}  // namespace qx
