// Tensor block formats, declared once as data (like ggml's type traits).
//
// Every weight format the runtime can multiply with is one row of the traits
// table in types.cpp: its GGUF type id, how many bytes a row of n elements
// takes, the scalar reference dequantizer, and the dot-product kernels per ISA.
// The model code never switches on a type; it looks the row up here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "cpu_features.h"

namespace qx {

// ggml's published type ids (gguf-py's GGMLQuantizationType).
enum GgmlType : uint32_t {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q4_1 = 3,
    GGML_Q5_0 = 6,
    GGML_Q5_1 = 7,
    GGML_Q8_0 = 8,
    GGML_Q8_1 = 9,
    GGML_Q2_K = 10,
    GGML_Q3_K = 11,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_Q8_K = 15,
    GGML_I8 = 24,
    GGML_BF16 = 30,
};

// Activations for the integer (A8) path: int8 in blocks of 32 with a float
// scale. The two int16 half-sums let formats with a per-block minimum
// (Q4_1, Q4_K) or an offset per 16 values (Q6_K) fold the offset in with one
// multiply instead of re-summing the activations inside every dot product.
struct BlockQ8 {
    float d;           // x[i] ~= d * qs[i]
    int16_t sum[2];    // sum(qs[0..15]), sum(qs[16..31])
    int8_t qs[32];
};
static_assert(sizeof(BlockQ8) == 40, "BlockQ8 layout");
constexpr int kQ8Block = 32;

// Which activation representation a matmul consumes.
enum class ActMode : int { A16 = 16, A8 = 8 };

// Dot product of one weight row (n elements, in the type's layout) with
// activations. n is a multiple of the type's block_size.
using DotA16Fn = float (*)(int64_t n, const void* w_row, const float* x);
using DotA8Fn = float (*)(int64_t n, const void* w_row, const BlockQ8* x);
// Reference dequantization of one row of n elements.
using ToFloatFn = void (*)(const void* w_row, float* y, int64_t n);
// Bytes of one row of n elements, for formats whose row is not a whole
// number of fixed-size blocks (QuantX rows carry per-row data).
using RowSizeFn = size_t (*)(int64_t n);
// Quantize n activations (n % 32 == 0) to BlockQ8.
using QuantizeQ8Fn = void (*)(const float* x, BlockQ8* y, int64_t n);

struct TypeTraits {
    const char* name;
    uint32_t id;           // GGUF / ggml type id (QuantX ids live in quantx_types.h)
    int32_t block_size;    // elements per block; row length must be a multiple
    int32_t type_size;     // bytes per block
    ToFloatFn to_float;    // scalar reference, the definition of the format
    ActMode default_act;   // what the runtime uses unless told otherwise
    RowSizeFn row_size_fn; // nullptr: row = (n / block_size) blocks of type_size bytes
    // Kernels per ISA; nullptr where that ISA has no specialised version
    // (kernel selection then falls back towards Scalar, which is always set).
    DotA16Fn dot_a16[kIsaCount];
    DotA8Fn dot_a8[kIsaCount];

    size_t row_size(int64_t n) const {
        return row_size_fn ? row_size_fn(n) : (size_t)(n / block_size) * (size_t)type_size;
    }
};

// nullptr when the runtime does not support that type.
const TypeTraits* type_traits(uint32_t type_id);

// The best kernel of each kind for the given ISA (falls back to lesser ISAs).
DotA16Fn select_dot_a16(const TypeTraits& t, Isa isa);
DotA8Fn select_dot_a8(const TypeTraits& t, Isa isa);
QuantizeQ8Fn select_quantize_q8(Isa isa);

// Scalar reference for activation quantization (round to nearest, d = amax/127).
void quantize_q8_ref(const float* x, BlockQ8* y, int64_t n);

// fp16 / bf16 conversions used by formats and tests.
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);

// Kernels over the KV cache come in pairs, one per element type (float, or fp16 bits as
// uint16_t); this picks the one for T at compile time, so a mismatched pair cannot compile.
template <typename T, typename F32Fn, typename F16Fn>
constexpr auto kernel_for(F32Fn for_f32, F16Fn for_f16) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, uint16_t>, "float or fp16 bits");
    if constexpr (std::is_same_v<T, float>) return for_f32;
    else return for_f16;
}

}  // namespace qx
