// Run-time CPU feature detection. An instruction set counts as present only
// if the CPU reports it AND the OS has enabled its register state (XCR0):
// a CPU can advertise AVX-512 or AMX that the kernel never turned on, and
// using it then faults. We never build with -march=native.
#pragma once

#include <cstdint>

namespace qx {

enum Isa : int {
    kIsaScalar = 0,
    kIsaAvx2 = 1,       // AVX2 + FMA + F16C
    kIsaAvx512 = 2,     // AVX-512 F/BW/VL/DQ
    kIsaAvx512Vnni = 3, // + AVX512_VNNI
    kIsaNeon = 4,       // aarch64 baseline
    kIsaNeonDot = 5,    // + dot-product extension (sdot)
    kIsaCount = 6,
};

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
    bool avx512vbmi = false;  // vpermb: the tiled kernels' per-row tables (C types)
    bool neon = false, neon_dot = false;
};

const CpuFeatures& cpu_features();

// Best ISA this machine and OS support. QUANTX_ISA=scalar|avx2|avx512|avx512vnni|neon|neondot
// lowers it (for tests and benchmarks); asking for more than is supported is ignored.
Isa best_isa();
bool isa_supported(Isa isa);
const char* isa_name(Isa isa);
// Fallback chain: the next lesser ISA of the same family, ending at Scalar.
Isa isa_fallback(Isa isa);

}  // namespace qx
