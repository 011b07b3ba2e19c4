/* QuantX runtime: plain C API, for embedding in C and C++ applications.
 *
 * Every function that can fail returns a negative value (or NULL) and leaves
 * a message readable with qx_last_error(); nothing aborts on bad input.
 * A qx_model is not thread-safe; use one per thread (they share nothing).
 */
#ifndef QUANTX_H
#define QUANTX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define QX_API __attribute__((visibility("default")))
#else
#define QX_API
#endif

typedef struct qx_model qx_model;

typedef struct qx_sampling {
    float temperature;    /* <= 0: greedy */
    int32_t top_k;        /* <= 0: off */
    float top_p;          /* >= 1: off */
    float min_p;          /* <= 0: off */
    float repeat_penalty; /* 1: off */
    uint64_t seed;
} qx_sampling;

/* Message of the last failure on this thread ("" if none). */
QX_API const char* qx_last_error(void);

/* threads <= 0: all hardware threads; act: 0 (file default), 8 or 16;
 * n_ctx <= 0: the model's trained context length. The KV cache is float16, as the
 * runtime's default. NULL on failure. */
QX_API qx_model* qx_model_load(const char* path, int32_t threads, int32_t act, int64_t n_ctx);
QX_API void qx_model_free(qx_model* m);

QX_API int32_t qx_n_vocab(const qx_model* m);
QX_API int64_t qx_n_ctx(const qx_model* m);
QX_API int64_t qx_n_past(const qx_model* m);

/* Writes up to max_ids ids; returns the number of ids the text needs (call
 * again with a larger buffer if that exceeds max_ids), or -1 on error. */
QX_API int64_t qx_tokenize(const qx_model* m, const char* text, size_t len, int32_t add_special, int32_t* ids,
                           int64_t max_ids);
/* Writes up to cap bytes (no terminator); returns the bytes needed, -1 on error. */
QX_API int64_t qx_detokenize(const qx_model* m, const int32_t* ids, int64_t n, char* out, int64_t cap);

/* Feeds n ids after the cached context; logits of the last one go to
 * logits_out (n_vocab floats) unless it is NULL. 0 on success, -1 on error. */
QX_API int32_t qx_eval(qx_model* m, const int32_t* ids, int64_t n, float* logits_out);
QX_API void qx_reset(qx_model* m);

/* Greedy / sampled continuation of the prompt: writes up to max_new ids,
 * stopping at an end-of-generation token. Returns the count, -1 on error. */
QX_API int64_t qx_generate(qx_model* m, const char* prompt, size_t len, const qx_sampling* s, int32_t* out_ids,
                           int64_t max_new);

#ifdef __cplusplus
}
#endif

#endif /* QUANTX_H */
