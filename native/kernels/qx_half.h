// IEEE fp16 <-> fp32 for QuantX group scales. Rounding is round-to-nearest-
// even with subnormals, exactly as numpy's float32 -> float16 cast, because
// the numpy reference (convert/qxformats.py) and the native quantizer must
// produce identical bytes.
#pragma once

#include <cstdint>
#include <cstring>

namespace qx {

inline float qx_half_to_float(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    const uint32_t exp = (h >> 10) & 0x1F;
    const uint32_t man = h & 0x3FF;
    uint32_t bits;
    if (exp == 0x1F) {
        bits = sign | 0x7F800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {
        // Subnormal half: man * 2^-24, exactly representable as a normal float.
        float v = (float)man * (1.0f / 16777216.0f);
        std::memcpy(&bits, &v, 4);
        bits |= sign;
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t qx_round_shift_rne(uint32_t m, int s) {
    uint32_t q = m >> s;
    const uint32_t rem = m & ((1u << s) - 1);
    const uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return (uint16_t)q;
}

inline uint16_t qx_float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    x &= 0x7FFFFFFFu;
    if (x >= 0x7F800000u) return (uint16_t)(sign | (x > 0x7F800000u ? 0x7E00 : 0x7C00));
    if (x >= 0x477FF000u) return (uint16_t)(sign | 0x7C00);  // >= 65520 rounds to inf
    if (x < 0x33000000u) return sign;                         // <= 2^-25 rounds to 0
    const uint32_t e = x >> 23;
    const uint32_t man = x & 0x7FFFFFu;
    if (e < 113) {  // half subnormal: units of 2^-24
        return (uint16_t)(sign | qx_round_shift_rne(man | 0x800000u, (int)(126 - e)));
    }
    const uint32_t m = ((e - 112) << 10 << 13) | man;  // exponent and mantissa, rounded together
    return (uint16_t)(sign | qx_round_shift_rne(m, 13));
}

}  // namespace qx
