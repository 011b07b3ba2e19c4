// A llama-family decoder (llama, qwen2) over a memory-mapped GGUF file:
// RMSNorm, RoPE, grouped-query attention with a KV cache, SwiGLU MLP.
// Prompts are processed as a batch (matrix-matrix products), generation one
// token at a time; a thread pool splits the rows of every product.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "gguf.h"
#include "kernels/axpy.h"
#include "kernels/dot_rows.h"
#include "kernels/matmul.h"
#include "threadpool.h"
#include "tokenizer.h"

namespace qx {

enum class RopeStyle { Normal, Neox };  // adjacent pairs (llama) / halves (qwen2)

struct HParams {
    std::string arch;
    int64_t n_vocab = 0, n_embd = 0, n_ff = 0, n_layer = 0;
    int64_t n_head = 0, n_head_kv = 0, head_dim = 0;
    int64_t n_ctx_train = 0;
    double rms_eps = 1e-5;
    double rope_base = 10000.0;
    int64_t rope_dim = 0;
    double rope_linear_factor = 1.0;   // positions are divided by this (rope scaling "linear")
    RopeStyle rope_style = RopeStyle::Normal;
};

// The KV cache's element type. F16 (llama.cpp's default too) halves the
// cache's memory and the bytes attention reads per token; F32 keeps the keys
// and values exactly as computed.
enum class KvType { F32, F16 };

struct ModelOptions {
    int threads = 0;        // 0: all hardware threads
    int act = 0;            // 0: each tensor's default; 16 or 8 to force A16 / A8
    int64_t n_ctx = 0;      // 0: the model's trained context length
    int64_t n_batch = 256;  // tokens per forward chunk when evaluating a long input
    KvType kv_type = KvType::F16;
};

struct Weight {
    WeightView view;        // type, data, row_bytes, n (in), rows (out)
    ActMode act = ActMode::A16;
    std::string name;
};

struct LayerWeights {
    const float* attn_norm = nullptr;
    const float* ffn_norm = nullptr;
    Weight wq, wk, wv, wo, w_gate, w_up, w_down;
    const float* bq = nullptr;
    const float* bk = nullptr;
    const float* bv = nullptr;
};

class Model {
public:
    // Throws qx::Error naming the problem (missing key or tensor, unsupported
    // architecture or type, shape mismatch, out of memory for the KV cache).
    static std::unique_ptr<Model> load(const std::string& path, const ModelOptions& opt);
    ~Model();

    const HParams& hparams() const { return hp_; }
    const GgufFile& gguf() const { return *file_; }
    const Tokenizer& tokenizer() const { return *tok_; }
    int64_t n_ctx() const { return n_ctx_; }
    int64_t n_past() const { return n_past_; }
    int threads() const { return pool_->size(); }
    KvType kv_type() const { return kv_type_; }

    // Feeds ids at positions n_past.. and advances n_past. Writes the logits
    // of tokens [logits_from, n) to out ((n - logits_from) x n_vocab floats);
    // out may be null when no logits are wanted. Throws qx::Error if the
    // context would overflow or an id is out of range.
    void eval(const int32_t* ids, int64_t n, int64_t logits_from, float* out);
    void reset() { n_past_ = 0; }

    // (tensor name, type name) for every tensor in the file.
    std::vector<std::pair<std::string, std::string>> tensor_types() const;

private:
    Weight make_weight(const GgufFile& f, const std::string& name, int64_t n_in, int64_t n_out, int act_override);
    // Re-lays an A8 weight (QuantX, or the Q8_0 output head) out as row tiles where this CPU
    // has tiled kernels for its type.
    void tile_weight(Weight& w);
    // Weights the loader rebuilt in memory (tensor-codebook rows, row tiles); the rest point into the mapping.
    std::deque<std::vector<uint8_t>> expanded_;
    Model() = default;
    void load_hparams();
    void load_weights(int act_override);
    void allocate_state();
    void forward_chunk(const int32_t* ids, int64_t n, int64_t logits_from, float* out);
    // Runs several products sharing the same input in one parallel region.
    void matmuls(const float* x, int64_t nt, std::initializer_list<std::pair<const Weight*, float*>> jobs);
    void attention(int layer, int64_t nt);

    std::unique_ptr<GgufFile> file_;
    std::unique_ptr<Tokenizer> tok_;
    std::unique_ptr<ThreadPool> pool_;
    HParams hp_;
    Isa isa_ = kIsaScalar;
    // Attention's kernels for isa_ (a pair per cache element type), chosen once at load.
    struct AttentionKernels {
        DotRowsF32Fn scores_f32 = nullptr;
        DotRowsF16Fn scores_f16 = nullptr;
        AxpyRowsF32Fn sum_f32 = nullptr;
        AxpyRowsF16Fn sum_f16 = nullptr;
    } attn_kernels_;
    int64_t n_ctx_ = 0, n_batch_ = 0, n_past_ = 0;

    Weight tok_embd_, output_;
    const float* output_norm_ = nullptr;
    const float* rope_freq_factors_ = nullptr;
    std::vector<LayerWeights> layers_;

    // KV cache: [layer][pos][n_head_kv * head_dim] of kv_type_ (float or
    // uint16_t float16). Allocated with calloc so untouched context costs no
    // physical memory.
    KvType kv_type_ = KvType::F16;
    void* k_cache_ = nullptr;
    void* v_cache_ = nullptr;
    // Stores nt tokens' keys and values (float) at positions n_past.. of a layer's cache.
    void store_kv(int64_t layer, int64_t nt);

    // Scratch, sized for n_batch tokens.
    std::vector<float> x_, xn_, q_, k_, v_, attn_, gate_, up_, logits_tmp_;
    std::vector<BlockQ8> xq_;
    std::vector<float> scores_;    // per thread: n_ctx
    std::vector<float> rope_inv_freq_;
};

}  // namespace qx
