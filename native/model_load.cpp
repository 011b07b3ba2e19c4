// Model loading: hyper-parameters from the GGUF metadata, weights as views
// into the mapping, KV cache and scratch. Every shape is checked against the
// hyper-parameters so a malformed file is an error here, not a crash later.
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <new>
#include <thread>

#include "model.h"
#include "kernels/q8_0_tiles.h"
#include "kernels/qx_tiles.h"
#include "tensor_view.h"

namespace qx {

namespace {

// Generous bounds: anything larger is a corrupt or hostile file, and
// rejecting it early avoids absurd allocations.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxLayers = 4096;
constexpr int64_t kMaxCtx = 1 << 22;

int64_t checked_dim(const GgufFile& f, const std::string& key, int64_t lo = 1) {
    int64_t v = f.get_int(key);
    if (v < lo || v > kMaxDim) throw Error("key '" + key + "' has an implausible value " + std::to_string(v));
    return v;
}

std::string shape_str(const GgufTensor& t) {
    std::string s = "[";
    for (int i = 0; i < t.n_dims; ++i) s += (i ? ", " : "") + std::to_string(t.ne[i]);
    return s + "]";
}

}  // namespace

Model::~Model() {
    std::free(k_cache_);
    std::free(v_cache_);
}

std::unique_ptr<Model> Model::load(const std::string& path, const ModelOptions& opt) {
    std::unique_ptr<Model> m(new Model());
    m->file_ = GgufFile::open(path);
    m->load_hparams();
    if (opt.act != 0 && opt.act != 8 && opt.act != 16)
        throw Error("act must be 8 or 16, got " + std::to_string(opt.act));
    m->isa_ = best_isa();  // before the weights: tiling depends on it
    m->attn_kernels_ = {select_dot_rows_f32(m->isa_), select_dot_rows_f16(m->isa_), select_axpy_rows_f32(m->isa_),
                        select_axpy_rows_f16(m->isa_)};
    m->load_weights(opt.act);
    m->tok_ = Tokenizer::from_gguf(*m->file_);
    if (m->tok_->n_vocab() > m->hp_.n_vocab)
        throw Error("tokenizer has " + std::to_string(m->tok_->n_vocab()) + " tokens but token_embd has only " +
                    std::to_string(m->hp_.n_vocab) + " rows");
    int threads = opt.threads > 0 ? opt.threads : (int)std::thread::hardware_concurrency();
    if (threads < 1) threads = 1;
    if (threads > 256) threads = 256;
    m->pool_ = std::make_unique<ThreadPool>(threads);
    if (opt.n_ctx < 0 || opt.n_ctx > kMaxCtx) throw Error("n_ctx out of range: " + std::to_string(opt.n_ctx));
    m->n_ctx_ = opt.n_ctx > 0 ? opt.n_ctx : m->hp_.n_ctx_train;
    if (m->n_ctx_ > kMaxCtx) m->n_ctx_ = kMaxCtx;
    m->n_batch_ = opt.n_batch > 0 ? std::min<int64_t>(opt.n_batch, 4096) : 256;
    if (opt.kv_type != KvType::F32 && opt.kv_type != KvType::F16) throw Error("kv_type must be F32 or F16");
    m->kv_type_ = opt.kv_type;
    m->allocate_state();
    return m;
}

void Model::load_hparams() {
    const GgufFile& f = *file_;
    hp_.arch = f.get_string("general.architecture");
    if (hp_.arch == "llama") {
        hp_.rope_style = RopeStyle::Normal;
    } else if (hp_.arch == "qwen2") {
        hp_.rope_style = RopeStyle::Neox;
    } else {
        throw Error("unsupported architecture '" + hp_.arch + "' (supported: llama, qwen2)");
    }
    const std::string a = hp_.arch + ".";
    hp_.n_layer = f.get_int(a + "block_count");
    if (hp_.n_layer < 1 || hp_.n_layer > kMaxLayers)
        throw Error("key '" + a + "block_count' has an implausible value " + std::to_string(hp_.n_layer));
    hp_.n_embd = checked_dim(f, a + "embedding_length");
    hp_.n_ff = checked_dim(f, a + "feed_forward_length");
    hp_.n_head = checked_dim(f, a + "attention.head_count");
    hp_.n_head_kv = f.find(a + "attention.head_count_kv") ? checked_dim(f, a + "attention.head_count_kv") : hp_.n_head;
    if (hp_.n_head % hp_.n_head_kv != 0)
        throw Error("attention.head_count (" + std::to_string(hp_.n_head) +
                    ") is not a multiple of attention.head_count_kv (" + std::to_string(hp_.n_head_kv) + ")");
    hp_.head_dim = f.find(a + "attention.key_length") ? checked_dim(f, a + "attention.key_length")
                                                      : hp_.n_embd / hp_.n_head;
    if (hp_.head_dim < 2 || hp_.head_dim % 2 != 0)
        throw Error("head dimension " + std::to_string(hp_.head_dim) + " must be even");
    if (hp_.head_dim * hp_.n_head > kMaxDim) throw Error("head_count x head dimension is implausibly large");
    hp_.n_ctx_train = f.get_int_or(a + "context_length", 2048);
    if (hp_.n_ctx_train < 1) throw Error("key '" + a + "context_length' must be positive");
    hp_.rms_eps = f.get_float(a + "attention.layer_norm_rms_epsilon");
    if (!(hp_.rms_eps > 0.0 && hp_.rms_eps < 1.0)) throw Error("layer_norm_rms_epsilon out of range");
    hp_.rope_base = f.get_float_or(a + "rope.freq_base", 10000.0);
    if (!(hp_.rope_base > 1.0 && std::isfinite(hp_.rope_base))) throw Error("rope.freq_base out of range");
    hp_.rope_dim = f.get_int_or(a + "rope.dimension_count", hp_.head_dim);
    if (hp_.rope_dim < 2 || hp_.rope_dim > hp_.head_dim || hp_.rope_dim % 2 != 0)
        throw Error("rope.dimension_count " + std::to_string(hp_.rope_dim) + " does not fit head dimension " +
                    std::to_string(hp_.head_dim));
    std::string scaling = f.get_string_or(a + "rope.scaling.type", "none");
    if (scaling == "linear") {
        hp_.rope_linear_factor = f.get_float_or(a + "rope.scaling.factor", 1.0);
        if (!(hp_.rope_linear_factor > 0.0 && std::isfinite(hp_.rope_linear_factor)))
            throw Error("rope.scaling.factor out of range");
    } else if (scaling != "none") {
        throw Error("unsupported rope scaling type '" + scaling + "' (supported: none, linear)");
    }
}

namespace {

const GgufTensor& require_tensor(const GgufFile& f, const std::string& name) {
    const GgufTensor* t = f.find_tensor(name);
    if (!t) throw Error("missing tensor '" + name + "'");
    return *t;
}

}  // namespace

// QX3_T / QX4_T rows with the tensor's codebook put in front of each: the C rows the kernels take.
static std::vector<uint8_t> expand_tensor_codebook(const QxTensorView& qv, int64_t n_in, int64_t n_out) {
    const size_t k = qv.tensor_codebook.size(), stored = qv.stored_row_bytes, full = qv.type->row_size(n_in);
    if (k + stored != full) throw Error("tensor codebook layout mismatch");
    std::vector<uint8_t> out;
    try {
        out.resize(full * (size_t)n_out);
    } catch (const std::bad_alloc&) {
        throw Error("out of memory expanding a tensor-codebook weight (" + std::to_string(full * (size_t)n_out) +
                    " bytes)");
    }
    for (int64_t r = 0; r < n_out; ++r) {
        uint8_t* dst = out.data() + (size_t)r * full;
        std::memcpy(dst, qv.tensor_codebook.data(), k);
        std::memcpy(dst + k, qv.data + (size_t)r * stored, stored);
    }
    return out;
}

Weight Model::make_weight(const GgufFile& f, const std::string& name, int64_t n_in, int64_t n_out, int act_override) {
    const GgufTensor& t = require_tensor(f, name);
    QxTensorView qv = resolve_tensor(f, t);
    if (!qv.type)
        throw Error("tensor '" + name + "' has type id " + std::to_string(t.type_id) +
                    ", which this runtime does not support");
    if (qv.ne[0] != n_in || qv.ne[1] != n_out || qv.ne[2] != 1 || qv.ne[3] != 1)
        throw Error("tensor '" + name + "' has shape " + shape_str(t) + ", expected [" + std::to_string(n_in) +
                    ", " + std::to_string(n_out) + "]");
    Weight w;
    w.name = name;
    const uint8_t* data = qv.data;
    if (!qv.tensor_codebook.empty()) {
        expanded_.push_back(expand_tensor_codebook(qv, n_in, n_out));
        data = expanded_.back().data();
    }
    w.view = WeightView{qv.type, data, qv.type->row_size(n_in), n_in, n_out};
    if (act_override == 8 || act_override == 16)
        w.act = act_override == 8 ? ActMode::A8 : ActMode::A16;
    else
        w.act = qv.default_act;
    // The integer path quantizes activations in blocks of 32.
    if (n_in % kQ8Block != 0) w.act = ActMode::A16;
    return w;
}

// The VNNI kernels read QuantX and Q8_0 weights as row tiles (qx_tiles.h,
// q8_0_tiles.h: no cross-lane work per 32-block), built here once from the
// file's rows. For tests, QUANTX_TILES=0 keeps every weight's rows and
// QUANTX_TILES=qx tiles only the QuantX weights: their tiles give bit-identical
// results, while Q8_0 tiles sum each row in another order than the row kernel.
void Model::tile_weight(Weight& w) {
    if (w.act != ActMode::A8) return;
    const char* env = std::getenv("QUANTX_TILES");
    const std::string only = env ? env : "";
    if (only == "0") return;
    const QxFormat* f = qx_format(w.view.type->id);
    const bool q8_0 = w.view.type->id == GGML_Q8_0 && only != "qx";
    if (!f && !q8_0) return;
    // Tensor codebooks (QX3_T / QX4_T) arrive as C rows with one table repeated in every row.
    const bool shared = f && qx_rows_share_table(*f, w.view.data, w.view.row_bytes, w.view.rows);
    const QxTiledGemvFn gemv = f ? qx_select_tiled_gemv(f->id, isa_, shared) : q8_0_select_tiled_gemv(isa_);
    const QxTiledGemmFn gemm = f ? qx_select_tiled_gemm(f->id, isa_, shared) : q8_0_select_tiled_gemm(isa_);
    if (!gemv || !gemm) return;
    const size_t tb = f ? qx_tile_bytes(*f, w.view.n) : q8_0_tile_bytes(w.view.n);
    std::vector<uint8_t> tiles;
    try {
        tiles.resize(tb * (size_t)qx_tile_count(w.view.rows));
    } catch (const std::bad_alloc&) {
        throw Error("out of memory laying out '" + w.name + "' as row tiles");
    }
    if (f)
        qx_tile_rows(*f, w.view.data, w.view.row_bytes, w.view.rows, w.view.n, tiles.data());
    else
        q8_0_tile_rows(w.view.data, w.view.row_bytes, w.view.rows, w.view.n, tiles.data());
    // Rows the loader built (tensor codebooks) are not needed once tiled.
    if (!expanded_.empty() && expanded_.back().data() == w.view.data)
        expanded_.back() = std::move(tiles);
    else
        expanded_.push_back(std::move(tiles));
    w.view.data = expanded_.back().data();
    w.view.tile_bytes = tb;
    w.view.tiled_gemv = gemv;
    w.view.tiled_gemm = gemm;
}

void Model::load_weights(int act_override) {
    const GgufFile& f = *file_;
    const int64_t d = hp_.n_embd, q_dim = hp_.n_head * hp_.head_dim, kv_dim = hp_.n_head_kv * hp_.head_dim;

    // The vocabulary size comes from the embedding's logical shape (a QuantX
    // tensor's stored shape is its byte layout).
    const QxTensorView te = resolve_tensor(f, require_tensor(f, "token_embd.weight"));
    if (te.ne[0] != d || te.ne[1] < 1 || te.ne[1] > (1 << 24) || te.ne[2] != 1 || te.ne[3] != 1)
        throw Error("tensor 'token_embd.weight' has shape [" + std::to_string(te.ne[0]) + ", " +
                    std::to_string(te.ne[1]) + "], expected [" + std::to_string(d) + ", n_vocab]");
    hp_.n_vocab = te.ne[1];
    tok_embd_ = make_weight(f, "token_embd.weight", d, hp_.n_vocab, act_override);
    output_ = f.find_tensor("output.weight") ? make_weight(f, "output.weight", d, hp_.n_vocab, act_override)
                                             : tok_embd_;  // tied embeddings
    // The head is the largest single product of a token (49152 x 576 on SmolLM2). Tied, it gets
    // tiles of its own: the embedding lookups keep reading the file's rows.
    tile_weight(output_);

    auto vec = [&](const std::string& name, int64_t n, bool required) -> const float* {
        const GgufTensor* t = f.find_tensor(name);
        if (!t) {
            if (required) throw Error("missing tensor '" + name + "'");
            return nullptr;
        }
        if (t->type_id != GGML_F32)
            throw Error("tensor '" + name + "' must be F32 (type id " + std::to_string(t->type_id) + " given)");
        if (t->nelements() != n)
            throw Error("tensor '" + name + "' has shape " + shape_str(*t) + ", expected [" + std::to_string(n) + "]");
        return reinterpret_cast<const float*>(t->data);
    };
    output_norm_ = vec("output_norm.weight", d, true);
    rope_freq_factors_ = vec("rope_freqs.weight", hp_.rope_dim / 2, false);

    const bool biases = hp_.arch == "qwen2";
    layers_.resize(hp_.n_layer);
    for (int64_t l = 0; l < hp_.n_layer; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        LayerWeights& L = layers_[l];
        L.attn_norm = vec(p + "attn_norm.weight", d, true);
        L.ffn_norm = vec(p + "ffn_norm.weight", d, true);
        L.wq = make_weight(f, p + "attn_q.weight", d, q_dim, act_override);
        L.wk = make_weight(f, p + "attn_k.weight", d, kv_dim, act_override);
        L.wv = make_weight(f, p + "attn_v.weight", d, kv_dim, act_override);
        L.wo = make_weight(f, p + "attn_output.weight", q_dim, d, act_override);
        L.w_gate = make_weight(f, p + "ffn_gate.weight", d, hp_.n_ff, act_override);
        L.w_up = make_weight(f, p + "ffn_up.weight", d, hp_.n_ff, act_override);
        L.w_down = make_weight(f, p + "ffn_down.weight", hp_.n_ff, d, act_override);
        for (Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) tile_weight(*w);
        L.bq = vec(p + "attn_q.bias", q_dim, biases);
        L.bk = vec(p + "attn_k.bias", kv_dim, biases);
        L.bv = vec(p + "attn_v.bias", kv_dim, biases);
    }
}

void Model::allocate_state() {
    const int64_t kv_dim = hp_.n_head_kv * hp_.head_dim;
    const int64_t q_dim = hp_.n_head * hp_.head_dim;
    // Overflow-safe size of one cache: n_layer * n_ctx * kv_dim elements.
    const size_t elem = kv_type_ == KvType::F16 ? sizeof(uint16_t) : sizeof(float);
    const double bytes = (double)hp_.n_layer * (double)n_ctx_ * (double)kv_dim * (double)elem;
    if (bytes > 1e15) throw Error("KV cache for n_ctx " + std::to_string(n_ctx_) + " is impossibly large");
    const size_t count = (size_t)hp_.n_layer * (size_t)n_ctx_ * (size_t)kv_dim;
    k_cache_ = std::calloc(count, elem);
    v_cache_ = std::calloc(count, elem);
    if (!k_cache_ || !v_cache_)
        throw Error("out of memory allocating the KV cache (" + std::to_string((long long)(2 * bytes / 1048576)) +
                    " MiB for n_ctx " + std::to_string(n_ctx_) + "); use a smaller context");
    try {
        const int64_t B = n_batch_, d = hp_.n_embd;
        const int64_t widest = std::max({d, hp_.n_ff, q_dim});
        x_.assign(B * d, 0.f);
        xn_.assign(B * std::max(d, q_dim), 0.f);
        q_.assign(B * q_dim, 0.f);
        k_.assign(B * kv_dim, 0.f);
        v_.assign(B * kv_dim, 0.f);
        attn_.assign(B * q_dim, 0.f);
        gate_.assign(B * hp_.n_ff, 0.f);
        up_.assign(B * hp_.n_ff, 0.f);
        xq_.resize(B * ((widest + kQ8Block - 1) / kQ8Block));
        scores_.assign((size_t)pool_->size() * n_ctx_, 0.f);
        logits_tmp_.clear();
    } catch (const std::bad_alloc&) {
        throw Error("out of memory allocating scratch buffers");
    }
    rope_inv_freq_.resize(hp_.rope_dim / 2);
    for (int64_t i = 0; i < hp_.rope_dim / 2; ++i) {
        double inv = std::pow(hp_.rope_base, -2.0 * (double)i / (double)hp_.rope_dim);
        if (rope_freq_factors_) inv /= rope_freq_factors_[i];
        rope_inv_freq_[i] = (float)inv;
    }
}

std::vector<std::pair<std::string, std::string>> Model::tensor_types() const {
    std::vector<std::pair<std::string, std::string>> out;
    for (const GgufTensor& t : file_->tensors()) {
        out.emplace_back(t.name, tensor_type_name(*file_, t));
    }
    return out;
}

}  // namespace qx
