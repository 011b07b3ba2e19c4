// Internal to the GGUF reader: the parser that fills a GgufFile from its
// mapped bytes (gguf_parse.cpp), and helpers shared with gguf.cpp.
#pragma once

#include <string>

#include "gguf.h"

namespace qx {

struct GgufParser {
    // Parses f.map_[0, f.size_) into f's metadata and tensor tables.
    static void parse(GgufFile& f);
};

// "uint32", "string", ...; "type N" for ids outside the spec.
std::string gguf_type_name(uint32_t type);

}  // namespace qx
