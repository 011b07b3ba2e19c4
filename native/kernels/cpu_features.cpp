#include "cpu_features.h"

#include <cstdlib>
#include <initializer_list>
#include <cstring>

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>
#define QX_CPU_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#define QX_CPU_ARM 1
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#endif

namespace qx {
namespace {

#if QX_CPU_X86
// XCR0 says which register files the OS saves on context switch; an ISA
// whose registers it does not save must not be used even if CPUID lists it.
uint64_t read_xcr0() {
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

CpuFeatures detect() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return f;
    const bool osxsave = (c >> 27) & 1;
    const bool avx = (c >> 28) & 1;
    const bool fma = (c >> 12) & 1;
    const bool f16c = (c >> 29) & 1;
    if (!osxsave || !avx) return f;
    const uint64_t xcr0 = read_xcr0();
    const bool ymm_state = (xcr0 & 0x6) == 0x6;             // SSE + AVX state
    const bool zmm_state = ymm_state && (xcr0 & 0xE0) == 0xE0;  // opmask + ZMM_Hi256 + Hi16_ZMM
    if (!ymm_state) return f;
    unsigned max_leaf = __get_cpuid_max(0, nullptr);
    if (max_leaf < 7) return f;
    __cpuid_count(7, 0, a, b, c, d);
    f.avx2 = (b >> 5) & 1;
    f.fma = fma;
    f.f16c = f16c;
    if (zmm_state) {
        f.avx512f = (b >> 16) & 1;
        f.avx512dq = (b >> 17) & 1;
        f.avx512bw = (b >> 30) & 1;
        f.avx512vl = (b >> 31) & 1;
        f.avx512vnni = (c >> 11) & 1;
        f.avx512vbmi = (c >> 1) & 1;
    }
    return f;
}
#elif QX_CPU_ARM
CpuFeatures detect() {
    CpuFeatures f;
    f.neon = true;  // Advanced SIMD is mandatory on aarch64
    const unsigned long hw = getauxval(AT_HWCAP);
    f.neon_dot = (hw & HWCAP_ASIMDDP) != 0;
    return f;
}
#else
CpuFeatures detect() { return CpuFeatures{}; }
#endif

bool hardware_supports(const CpuFeatures& f, Isa isa) {
    switch (isa) {
        case kIsaScalar: return true;
        case kIsaAvx2: return f.avx2 && f.fma && f.f16c;
        case kIsaAvx512:
            return hardware_supports(f, kIsaAvx2) && f.avx512f && f.avx512bw && f.avx512vl && f.avx512dq;
        case kIsaAvx512Vnni: return hardware_supports(f, kIsaAvx512) && f.avx512vnni;
        case kIsaNeon: return f.neon;
        case kIsaNeonDot: return f.neon && f.neon_dot;
        default: return false;
    }
}

Isa hardware_best(const CpuFeatures& f) {
    for (Isa isa : {kIsaAvx512Vnni, kIsaAvx512, kIsaAvx2, kIsaNeonDot, kIsaNeon})
        if (hardware_supports(f, isa)) return isa;
    return kIsaScalar;
}

// The QUANTX_ISA override may only lower the choice: a request the machine
// cannot honour falls back to the best supported ISA.
Isa compute_best() {
    const CpuFeatures& f = cpu_features();
    const Isa hw = hardware_best(f);
    const char* env = std::getenv("QUANTX_ISA");
    if (!env || !*env) return hw;
    for (int i = 0; i < kIsaCount; ++i) {
        if (std::strcmp(env, isa_name((Isa)i)) == 0) {
            // Walk the fallback chain of the hardware's best ISA: the request
            // counts only if it is on it (a lesser ISA of the same family).
            for (Isa cur = hw;; cur = isa_fallback(cur)) {
                if (cur == (Isa)i) return cur;
                if (cur == kIsaScalar) break;
            }
            return hw;
        }
    }
    return hw;
}

}  // namespace

const CpuFeatures& cpu_features() {
    static const CpuFeatures f = detect();
    return f;
}

Isa best_isa() {
    static const Isa isa = compute_best();
    return isa;
}

bool isa_supported(Isa isa) {
    if (isa < 0 || isa >= kIsaCount) return false;
    if (!hardware_supports(cpu_features(), isa)) return false;
    // Respect the QUANTX_ISA ceiling: an ISA above best_isa() in its chain is off.
    for (Isa cur = best_isa();; cur = isa_fallback(cur)) {
        if (cur == isa) return true;
        if (cur == kIsaScalar) return false;
    }
}

const char* isa_name(Isa isa) {
    switch (isa) {
        case kIsaScalar: return "scalar";
        case kIsaAvx2: return "avx2";
        case kIsaAvx512: return "avx512";
        case kIsaAvx512Vnni: return "avx512vnni";
        case kIsaNeon: return "neon";
        case kIsaNeonDot: return "neondot";
        default: return "unknown";
    }
}

Isa isa_fallback(Isa isa) {
    switch (isa) {
        case kIsaAvx512Vnni: return kIsaAvx512;
        case kIsaAvx512: return kIsaAvx2;
        case kIsaNeonDot: return kIsaNeon;
        default: return kIsaScalar;
    }
}

}  // namespace qx
