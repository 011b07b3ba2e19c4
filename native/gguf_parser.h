// Internal to the GGUF reader: the parser that fills a GgufFile from its
// mapped bytes (gguf_parse.cpp), and message escaping shared with gguf.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "gguf.h"

namespace qx {

struct GgufParser {
    // Parses f.map_[0, f.size_) into f's metadata and tensor tables.
    static void parse(GgufFile& f);
};

// Storage size of a published ggml type (gguf_storage.cpp); nullptr for
// ids ggml does not define.
struct GgmlStorage {
    uint32_t id;
    const char* name;
    int32_t block_size;  // elements per block
    int32_t type_size;   // bytes per block
};
const GgmlStorage* ggml_storage(uint32_t type_id);

// Text from a file or a path, made safe for an error message: valid UTF-8
// is kept, control characters and invalid bytes become \xNN (messages go to
// terminals and must decode as UTF-8 in Python), and after max_bytes input
// bytes the rest is cut to "...".
std::string escape_for_message(const std::string& s, size_t max_bytes = SIZE_MAX);

}  // namespace qx
