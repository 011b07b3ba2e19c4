// BPE pre-tokenizers: split text into the words BPE merges within, exactly
// as the Hugging Face `tokenizers` pre-tokenizer of each model family does.
// Hand-written matchers stand in for the regexes (no regex library).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qx {

enum class PreTokenizer {
    Gpt2,    // GPT-2 regex (ByteLevel use_regex=true)
    Llama3,  // Llama-3 regex: case-insensitive contractions, digits in runs of 1-3
    Qwen2,   // as Llama-3 but digits one at a time
    SmolLM,  // Digits(individual_digits) then the GPT-2 regex on each remaining run
};

// Maps a tokenizer.ggml.pre value to its pre-tokenizer; throws qx::Error for
// names this runtime does not implement.
PreTokenizer pretokenizer_from_name(const std::string& name);

// Byte range [begin, end) of one word in the input.
struct WordSpan {
    uint32_t begin;
    uint32_t end;
};

// Appends the words of text[0, len) to `out`; they tile the input exactly.
// Invalid UTF-8 bytes are classified as U+FFFD (neither letter, digit nor
// space) but stay in the spans as the original bytes.
void pretokenize(PreTokenizer kind, const char* text, size_t len, std::vector<WordSpan>& out);

}  // namespace qx
