// Internal to the GGUF reader: the parser that fills a GgufFile from its
// mapped bytes (gguf_parse.cpp).
#pragma once

#include <string>

#include "gguf.h"

namespace qx {

struct GgufParser {
    // Parses f.map_[0, f.size_) into f's metadata and tensor tables.
    static void parse(GgufFile& f);
};

}  // namespace qx
