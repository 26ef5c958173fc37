/* test_reliability.c - hostile arguments, lifetimes and large-magnitude numerics.

   One regression test for each defect the reliability review found (each failed
   before its fix): sizes that overflowed, kernels that read past an empty row or
   looped over empty batches, persistent tensors left pointing into a freed arena,
   tensors of another context slipping through custom ops, checkpoints and
   optimizers, calls that failed without a message, a loader that wrote part of
   its result, a first replay that allocated, and log_softmax losing everything
   at large logits. Run under ASan+UBSan by make check, where an out-of-bounds
   read or a signed overflow is a failure too. */
#define _POSIX_C_SOURCE 199309L
#include "autograd.h"
#include "harness.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#ifdef _WIN32
#include <direct.h>
#define make_dir(path) _mkdir(path)          /* Windows: no mode argument */
#else
#define make_dir(path) mkdir((path), 0755)
#endif

/* element i (i, j) of a tensor (no compound literals: this file is C++ too) */
static double at1(const ag_tensor *t, int64_t i) { int64_t idx[1]; idx[0] = i; return ag_get(t, idx); }
static double at2(const ag_tensor *t, int64_t i, int64_t j) { int64_t idx[2]; idx[0] = i; idx[1] = j; return ag_get(t, idx); }

/* the call failed and left a message containing word */
#define FAILS_WITH(ctx, call, word) do { ag_clear_error(ctx); \
    CHECK(!(call) && ag_error(ctx) && strstr(ag_error(ctx), (word)), "%s: expected an error with '%s', got %s", \
          #call, (word), ag_error(ctx) ? ag_error(ctx) : "no error"); ag_clear_error(ctx); } while (0)

static ag_tensor *filled(ag_ctx *ctx, ag_dtype dt, int nd, const int64_t *sh, double v) { return ag_full(ctx, dt, nd, sh, v); }

/* ---- sizes computed from user integers ---- */
static void test_sizes(void) {
    ag_desc d;
    ag_ctx *ctx;
    int64_t xs[4] = {1, 1, 4, 4}, ws[4] = {1, 1, 3, 3};
    ag_tensor *x, *w;
    ag_conv2d_opts o;
    memset(&d, 0, sizeof d);
    d.arena_limit = (size_t)256 << 20;   /* a padding that asks for terabytes meets the limit, not malloc */
    ctx = ag_ctx_new(&d);
    x = filled(ctx, AG_F32, 4, xs, 1.0); w = filled(ctx, AG_F32, 4, ws, 1.0);
    memset(&o, 0, sizeof o);
    o.pad_h = INT_MAX; o.pad_w = INT_MAX;   /* 2^64 windows: refused before any allocation */
    FAILS_WITH(ctx, ag_conv2d(x, w, NULL, &o), "conv2d");
    o.pad_h = INT_MAX; o.pad_w = 0;         /* 7.7e10 window elements: more than the arena (or a 32-bit address space) holds */
    ag_clear_error(ctx);
    CHECK(!ag_conv2d(x, w, NULL, &o) && ag_error(ctx) && (strstr(ag_error(ctx), "arena") || strstr(ag_error(ctx), "address space")),
          "conv2d with 7.7e10 window elements: %s", ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    FAILS_WITH(ctx, ag_max_pool2d(x, 2, 2, 1, 1, INT_MAX, INT_MAX), "max_pool2d");
    FAILS_WITH(ctx, ag_avg_pool2d(x, 2, 2, 1, 1, INT_MAX, 0), "avg_pool2d");
    {   /* slice with a huge step and start: one element; its backward must not overflow */
        int64_t s1[1] = {5};
        ag_tensor *v = ag_set_requires_grad(filled(ctx, AG_F64, 1, s1, 2.0), true), *sl;
        sl = ag_slice(v, 0, 1, INT64_MAX, INT64_MAX);
        CHECK(sl && ag_numel(sl) == 1, "slice with step INT64_MAX has one element");
        CHECK(ag_backward(ag_sum(sl), NULL) == 0, "its backward: %s", ag_error(ctx) ? ag_error(ctx) : "");
        CHECK(ag_grad(v) && at1(ag_grad(v), 1) == 1.0 && at1(ag_grad(v), 2) == 0.0, "its gradient");
        sl = ag_slice(v, 0, INT64_MIN, INT64_MAX, 1);
        CHECK(sl && ag_numel(sl) == 5, "slice from INT64_MIN to INT64_MAX is the whole tensor");
    }
    {   /* an index of 2^62 entries: 8 bytes each wrapped to 0 and the copy wrote past it (found by fuzz_api) */
        int64_t s2[2] = {3, 2};
        int32_t idx[1] = {0};
        FAILS_WITH(ctx, ag_gather_rows(filled(ctx, AG_F32, 2, s2, 1.0), (int64_t)1 << 62, idx), "too large");
    }
    /* schedules with extreme ints compute in double (step - warmup overflowed int; found by fuzz_api) */
    CHECK(ag_lr_cosine(6, INT_MIN + 1, -8, 1.0, 0.0) == 0.0 && ag_lr_cosine(INT_MAX, 0, INT_MAX, 1.0, 0.5) == 0.5,
          "lr_cosine at INT_MIN and INT_MAX");
    ag_ctx_free(ctx);
}

/* ---- empty tensors: no read past a row of length 0, no loop over empty batches ---- */
static void test_empty(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s30[2] = {3, 0}, big[3] = {(int64_t)1 << 40, 0, 1}, b14[2] = {1, 4}, bigs[2] = {(int64_t)1 << 40, 0};
    ag_tensor *x = ag_zeros(ctx, AG_F32, 2, s30), *y;
    double t0;
    y = ag_softmax(x, 1);
    CHECK(y && ag_numel(y) == 0 && ag_dim(y, 0) == 3, "softmax over an empty dim");
    y = ag_log_softmax(x, -1);
    CHECK(y && ag_numel(y) == 0, "log_softmax over an empty dim");
    t0 = harness_cpu_seconds();
    y = ag_matmul(ag_zeros(ctx, AG_F32, 3, big), ag_ones(ctx, AG_F32, 2, b14));
    CHECK(y && ag_numel(y) == 0 && ag_dim(y, 0) == ((int64_t)1 << 40) && ag_dim(y, 2) == 4, "[2^40, 0, 1] @ [1, 4]: %s",
          ag_error(ctx) ? ag_error(ctx) : "");
    y = ag_softmax(ag_zeros(ctx, AG_F32, 2, bigs), 0);
    CHECK(y && ag_numel(y) == 0, "softmax of [2^40, 0] over dim 0");
    { int64_t s3[3]; s3[0] = (int64_t)1 << 40; s3[1] = 3; s3[2] = 0; y = ag_argmax(ag_zeros(ctx, AG_F32, 3, s3), 1, false); }
    CHECK(y && ag_numel(y) == 0, "argmax of [2^40, 3, 0] over dim 1");
    {   /* conv2d and the pools on empty inputs with a huge other dim (the window kernels looped over it for hours) */
        int64_t e1[4] = {(int64_t)1 << 40, 0, 3, 3}, e2[4] = {0, (int64_t)1 << 40, 3, 1}, e3[4] = {(int64_t)1 << 20, 0, (int64_t)1 << 20, 3};
        int64_t one[4] = {1, 1, 1, 1}, ws[4] = {4, (int64_t)1 << 40, 1, 1};
        const int64_t *es[3]; int i;
        ag_tensor *W = ag_expand(ag_set_requires_grad(ag_ones(ctx, AG_F32, 4, one), true), 4, ws);
        es[0] = e1; es[1] = e2; es[2] = e3;
#ifdef _WIN32
        double t_oom = harness_cpu_seconds();
#endif
        y = ag_conv2d(ag_set_requires_grad(ag_zeros(ctx, AG_F32, 4, e2), true), W, NULL, NULL);
        CHECK(y || (ag_error(ctx) && (strstr(ag_error(ctx), "out of memory") || strstr(ag_error(ctx), "address space"))),
              "conv2d of [0, 2^40, 3, 1] with a [4, 2^40, 1, 1] weight view: %s",
              ag_error(ctx) ? ag_error(ctx) : "");
#ifdef _WIN32
        t0 += harness_cpu_seconds() - t_oom;   /* the weight's 17 TB malloc fails, but under wine only after ~10 s in its heap */
#endif
        ag_clear_error(ctx);
        for (i = 0; i < 3; i++) {
            ag_tensor *e = ag_set_requires_grad(ag_zeros(ctx, AG_F64, 4, es[i]), true);
            y = ag_max_pool2d(e, 1, 2, 1, 1, 0, 1);
            CHECK(y && ag_numel(y) == 0 && ag_backward(ag_sum(y), NULL) == 0, "max_pool2d of an empty input %d and its backward", i);
            y = ag_avg_pool2d(e, 1, 2, 1, 1, 0, 1);
            CHECK(y && ag_numel(y) == 0 && ag_backward(ag_sum(y), NULL) == 0, "avg_pool2d of an empty input %d and its backward", i);
        }
    }
    {   /* a maximum over a non-empty dim of an empty tensor is empty (PyTorch's amax), over an empty dim an
           error; adaptive pools of an input without channels (found by the API fuzzer: a NULL deref) */
        int64_t s03[2] = {0, 3}, s1025[4] = {1, 0, 2, 5};
        y = ag_max_dim(ag_zeros(ctx, AG_F32, 2, s03), 1, false);
        CHECK(y && ag_numel(y) == 0 && ag_dim(y, 0) == 0, "max_dim over dim 1 of [0, 3]: %s", ag_error(ctx) ? ag_error(ctx) : "");
        FAILS_WITH(ctx, ag_max_dim(ag_zeros(ctx, AG_F32, 2, s03), 0, false), "empty");
        y = ag_adaptive_max_pool2d(ag_zeros(ctx, AG_F32, 4, s1025), 3, 3);
        CHECK(y && ag_numel(y) == 0 && ag_dim(y, 2) == 3, "adaptive_max_pool2d of [1, 0, 2, 5]: %s", ag_error(ctx) ? ag_error(ctx) : "");
        y = ag_adaptive_avg_pool2d(ag_zeros(ctx, AG_F32, 4, s1025), 3, 3);
        CHECK(y && ag_numel(y) == 0 && ag_dim(y, 3) == 3, "adaptive_avg_pool2d of [1, 0, 2, 5]");
    }
    CHECK(harness_cpu_seconds() - t0 < 1.0, "empty results take no time (%.2f s)", harness_cpu_seconds() - t0);
    ag_ctx_free(ctx);
}

/* ---- persistent tensors never point into the arena ---- */
static void test_persistent_history(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[1] = {3};
    ag_tensor *P = ag_persistent(ctx, AG_F64, 1, s, NULL), *a = ag_set_requires_grad(ag_ones(ctx, AG_F64, 1, s), true), *loss;
    FAILS_WITH(ctx, ag_add_(P, a), "persistent");
    FAILS_WITH(ctx, ag_mul_(P, a), "ag_detach");
    CHECK(ag_op(P) == NULL && !ag_requires_grad(P), "P is still a plain leaf");
    {   /* forward mode: a dual operand would leave P with an arena tangent */
        ag_tensor *d = ag_make_dual(ag_ones(ctx, AG_F64, 1, s), ag_ones(ctx, AG_F64, 1, s));
        FAILS_WITH(ctx, ag_copy_(P, d), "tangent");
        FAILS_WITH(ctx, ag_add_(P, d), "tangent");
        CHECK(ag_tangent(P) == NULL, "P has no tangent");
    }
    CHECK(ag_add_(P, ag_detach(a)) == P && at1(P, 0) == 1.0, "with a detached operand it works");
    ag_ctx_reset(ctx);
    a = ag_set_requires_grad(ag_ones(ctx, AG_F64, 1, s), true);
    loss = ag_sum(ag_mul(a, P));
    CHECK(ag_backward(loss, NULL) == 0 && at1(ag_grad(a), 2) == 1.0, "after a reset P is used safely");
    ag_ctx_free(ctx);
}

/* ---- one context per call ---- */
static ag_ctx *g_other;
static ag_tensor *f_other_ctx(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)in; (void)user; return ag_scalar(g_other, 1.0); }
static ag_tensor *cf_forward(ag_custom *c, ag_tensor **in, int n, void *user) { (void)c; (void)in; (void)n; (void)user; return ag_scalar(g_other, 1.0); }
static int cf_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) { (void)c; (void)g; (void)grads; (void)user; return 0; }
static void test_contexts(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[1] = {2};
    ag_tensor *x = ag_set_requires_grad(ag_ones(ctx, AG_F64, 1, s), true), *ins[2];
    ag_function fn;
    g_other = ag_ctx_new(NULL);
    ins[0] = x; ins[1] = ag_ones(g_other, AG_F64, 1, s);
    FAILS_WITH(ctx, ag_checkpoint(f_other_ctx, NULL, 2, ins), "another context");
    FAILS_WITH(ctx, ag_checkpoint(f_other_ctx, NULL, 1, ins), "another context");
    memset(&fn, 0, sizeof fn);
    fn.name = "mine"; fn.forward = cf_forward; fn.backward = cf_backward;
    FAILS_WITH(ctx, ag_apply(&fn, 1, ins, NULL), "another context");
    FAILS_WITH(ctx, ag_apply(NULL, 1, ins, NULL), "apply: the function is NULL");
    {   /* optimizers keep their parameters across resets: arena tensors are refused */
        ag_tensor *p[1];
        p[0] = x;
        FAILS_WITH(ctx, ag_sgd_new(ctx, p, 1, NULL), "ag_param");
        FAILS_WITH(ctx, ag_adam_new(ctx, p, 1, NULL), "arena");
    }
    ag_ctx_free(g_other);
    ag_ctx_free(ctx);
}

/* ---- a capture that failed says so even after the caller cleared the error ---- */
static void test_capture_message(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t a[2] = {2, 3}, b[2] = {4, 5};
    CHECK(ag_capture_begin(ctx) == 0, "capture_begin");
    CHECK(!ag_matmul(ag_ones(ctx, AG_F32, 2, a), ag_ones(ctx, AG_F32, 2, b)), "a failing op inside the capture");
    ag_clear_error(ctx);
    CHECK(!ag_capture_end(ctx) && ag_error(ctx) && strstr(ag_error(ctx), "capture_end"), "capture_end explains: %s",
          ag_error(ctx) ? ag_error(ctx) : "no message");
    ag_ctx_free(ctx);
}

/* ---- the first replay allocates nothing, even with small arena blocks ---- */
static void test_replay_scratch(void) {
    ag_desc d;
    ag_ctx *ctx;
    ag_capture *g;
    ag_tensor *W, *x, *loss;
    int64_t ws[2] = {96, 300}, xs[2] = {64, 300};
    uint64_t before;
    memset(&d, 0, sizeof d);
    d.arena_bytes = 4096;   /* every packed product and reduction needs a block of its own */
    ctx = ag_ctx_new(&d);
    W = ag_param(ctx, AG_F32, 2, ws, NULL);
    ag_init_normal(W, 0, 0.1);
    x = ag_randn(ctx, AG_F32, 2, xs);
    CHECK(ag_capture_begin(ctx) == 0, "capture_begin");
    loss = ag_mean(ag_tanh(ag_linear(x, W, NULL)));
    CHECK(loss && ag_backward(loss, NULL) == 0, "the step");
    g = ag_capture_end(ctx);
    CHECK(g != NULL, "capture_end: %s", ag_error(ctx) ? ag_error(ctx) : "");
    before = ag_get_stats(ctx).heap_allocs;
    ag_zero_grad(W);
    CHECK(ag_replay(g) == 0, "replay");
    CHECK(ag_get_stats(ctx).heap_allocs == before, "the first replay allocated %llu times",
          (unsigned long long)(ag_get_stats(ctx).heap_allocs - before));
    ag_ctx_free(ctx);
}

/* ---- threads: the pool's allocation failing fails ag_ctx_new; the count that runs is reported ---- */
static int g_fail_at, g_calls;
static void *failing_alloc(size_t n, void *user) { (void)user; return ++g_calls == g_fail_at ? NULL : malloc(n); }
static void plain_free(void *p, void *user) { (void)user; free(p); }
static void test_threads(void) {
    ag_desc d;
    ag_ctx *ctx;
    memset(&d, 0, sizeof d);
    d.threads = 2;
    ctx = ag_ctx_new(&d);
#if (defined(__unix__) || defined(__APPLE__)) && (!defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__))   /* the pool's platforms */
    CHECK(ctx && ag_get_stats(ctx).threads == 2, "threads = 2 runs on 2 threads (%d)", ctx ? ag_get_stats(ctx).threads : -1);
#endif
    ag_ctx_free(ctx);
    d.allocator.alloc = failing_alloc; d.allocator.free = plain_free;
    g_calls = 0; g_fail_at = 2;   /* the context, then the pool */
    ctx = ag_ctx_new(&d);
#if (defined(__unix__) || defined(__APPLE__)) && (!defined(__EMSCRIPTEN__) || defined(__EMSCRIPTEN_PTHREADS__))   /* the pool's platforms */
    CHECK(ctx == NULL, "no memory for the pool: ag_ctx_new returns NULL");
#endif
    ag_ctx_free(ctx);
}

/* ---- safetensors: all or nothing; no huge allocation for a directory; names the loader accepts ---- */
static size_t g_biggest;
static void *measuring_alloc(size_t n, void *user) {
    (void)user;
    if (n > g_biggest) g_biggest = n;
    if (g_fail_at && ++g_calls == g_fail_at) return NULL;
    return malloc(n);
}
static void test_safetensors(void) {
    ag_desc d;
    ag_ctx *ctx;
    int64_t s[1] = {3};
    ag_tensor *ts[2], *keep;
    const char *names[2] = {"a", "b"}, *bad[1] = {"caf\xe9"};
    unsigned char buf[512];
    size_t len;
    memset(&d, 0, sizeof d);
    d.allocator.alloc = measuring_alloc; d.allocator.free = plain_free;
    g_fail_at = 0; g_biggest = 0;
    ctx = ag_ctx_new(&d);
    ts[0] = ag_full(ctx, AG_F32, 1, s, 1.0); ts[1] = ag_full(ctx, AG_F32, 1, s, 2.0);
    len = ag_save_safetensors_mem(ctx, buf, sizeof buf, 2, names, ts);
    CHECK(len > 0 && len <= sizeof buf, "saved %zu bytes", len);
    FAILS_WITH(ctx, ag_save_safetensors_mem(ctx, buf, sizeof buf, 1, bad, ts), "UTF-8");
    {   /* a directory is not a file: an error, not a request for 2^63 bytes */
        g_biggest = 0;
        make_dir("build");
        make_dir("build/test_reliability.dir");
        FAILS_WITH(ctx, ag_load_safetensors(ctx, "build/test_reliability.dir", 0, NULL, NULL) == 0, "load_safetensors");
        CHECK(g_biggest < ((size_t)1 << 30), "loading a directory asked for %zu bytes", g_biggest);
    }
    {   /* slot 0 exists, slot 1 must be made and its allocation fails: slot 0 keeps its values */
        int k;
        keep = ag_persistent(ctx, AG_F32, 1, s, NULL);
        for (k = 1; k <= 3; k++) {
            ag_tensor *into[2];
            into[0] = keep; into[1] = NULL;
            g_calls = 0; g_fail_at = k;
            ag_clear_error(ctx);
            if (ag_load_safetensors_mem(ctx, buf, len, 2, names, into) == 0) continue;   /* the k-th allocation was not the slot's */
            CHECK(at1(keep, 0) == 0.0 && into[0] == keep && into[1] == NULL, "a failed load wrote nothing (k %d)", k);
        }
        g_fail_at = 0;
    }
    ag_ctx_free(ctx);
}

/* ---- large logits: log_softmax and cross_entropy stay exact ---- */
static void test_large_logits(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    static const double mags[] = {1e4, 1e6, 1e7, 1e8, 1e30};
    int dt, m;
    for (dt = 0; dt < 2; dt++)
        for (m = 0; m < 5; m++) {
            int64_t s[1] = {2};
            ag_dtype t = dt ? AG_F64 : AG_F32;
            ag_tensor *y = ag_log_softmax(ag_full(ctx, t, 1, s, mags[m]), 0);
            CHECK(y && fabs(at1(y, 0) + 0.6931471805599453) < 1e-6, "%s log_softmax of two logits of %g: %.9g",
                  ag_dtype_name(t), mags[m], y ? at1(y, 0) : NAN);
        }
    for (dt = 0; dt < 2; dt++) {   /* six equal logits of 1e30, target 0: d logits = (1/6 - [c == 0]) */
        int64_t s[2] = {1, 6};
        int32_t target[1] = {0};
        ag_tensor *z = ag_set_requires_grad(ag_full(ctx, dt ? AG_F64 : AG_F32, 2, s, 1e30), true);
        ag_tensor *loss = ag_cross_entropy(z, target);
        CHECK(loss && fabs(ag_item(loss) - log(6.0)) < 1e-5, "cross_entropy of equal huge logits: %g", loss ? ag_item(loss) : NAN);
        CHECK(loss && ag_backward(loss, NULL) == 0, "its backward");
        CHECK(ag_grad(z) && fabs(at2(ag_grad(z), 0, 0) - (1.0 / 6 - 1)) < 1e-6 &&
              fabs(at2(ag_grad(z), 0, 3) - 1.0 / 6) < 1e-6, "its gradient: %g, %g",
              ag_grad(z) ? at2(ag_grad(z), 0, 0) : NAN, ag_grad(z) ? at2(ag_grad(z), 0, 3) : NAN);
    }
    ag_ctx_free(ctx);
}

/* ---- a tensor kept across ag_ctx_reset is an error, not stale data ---- */
static void test_stale(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[1] = {4};
    ag_tensor *x = ag_full(ctx, AG_F32, 1, s, 2.0), *P = ag_persistent(ctx, AG_F32, 1, s, NULL), *keep = NULL, *list[1];
    int it, caught = 0;
    ag_ctx_reset(ctx);
    FAILS_WITH(ctx, ag_neg(x), "before the last ag_ctx_reset");
    FAILS_WITH(ctx, ag_add(P, x), "add: a tensor from before");
    FAILS_WITH(ctx, ag_add(x, P), "before the last ag_ctx_reset");
    CHECK(ag_numel(x) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "numel"), "accessors too: %s", ag_error(ctx) ? ag_error(ctx) : "");
    ag_clear_error(ctx);
    CHECK(isnan(ag_item(x)) && ag_error(ctx), "ag_item of a stale tensor is NaN with an error");
    ag_clear_error(ctx);
    list[0] = x;
    FAILS_WITH(ctx, ag_cat(list, 1, 0), "cat");
    CHECK(ag_numel(P) == 4 && !ag_error(ctx), "persistent tensors live on");
    /* a training-style loop that keeps last step's tensor: the same allocations each step, so
       without the check it would land exactly on this step's tensor of the same role */
    for (it = 0; it < 8; it++) {
        ag_tensor *y = ag_mul_scalar(ag_add_scalar(ag_full(ctx, AG_F32, 1, s, (double)it), 1.0), 2.0);
        if (keep) {
            ag_clear_error(ctx);
            if (!ag_add(keep, y) && ag_error(ctx) && strstr(ag_error(ctx), "before the last ag_ctx_reset")) caught++;
        }
        keep = y;
        ag_ctx_reset(ctx);
    }
    CHECK(caught == 7, "last step's tensor caught in %d of 7 steps", caught);
    ag_ctx_free(ctx);
}

/* ---- persistent memory can be given back before ag_ctx_free; its growth is visible ---- */
static ag_tensor *ones_fn(ag_ctx *ctx, ag_tensor **in, void *user) { (void)in; (void)user; return ag_ones(ctx, AG_F32, 0, NULL); }
static ag_tensor *mul_fn(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_mul(in[0], in[1]); }
static void test_free_persistent(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[2] = {16, 8};
    ag_tensor *W = ag_param(ctx, AG_F32, 2, s, NULL), *P[1];
    ag_optim *opt;
    ag_stats a, b;
    uint64_t n0 = ag_get_stats(ctx).persistent_tensors;
    int i;
    for (i = 0; i < 5; i++) ag_param(ctx, AG_F32, 2, s, NULL);   /* a parameter made in a loop: the count shows it */
    CHECK(ag_get_stats(ctx).persistent_tensors == n0 + 5, "persistent_tensors counts them (%llu)",
          (unsigned long long)ag_get_stats(ctx).persistent_tensors);
    P[0] = W;
    opt = ag_adam_new(ctx, P, 1, NULL);
    CHECK(opt && ag_get_stats(ctx).persistent_tensors == n0 + 7, "Adam's two state tensors are persistent");
    CHECK(ag_backward(ag_sum(ag_mul(W, W)), NULL) == 0 && ag_optim_step(opt) == 0, "a step");
    FAILS_WITH(ctx, ag_free_persistent(W) == 0, "ag_optim_free first");
    FAILS_WITH(ctx, ag_free_persistent(ag_ones(ctx, AG_F32, 2, s)) == 0, "arena tensor");
    a = ag_get_stats(ctx);
    ag_optim_free(opt);
    b = ag_get_stats(ctx);
    CHECK(b.persistent_tensors == a.persistent_tensors - 2 && b.persistent_bytes < a.persistent_bytes && b.heap_frees == a.heap_frees + 3,
          "ag_optim_free gives back its state (%llu frees)", (unsigned long long)(b.heap_frees - a.heap_frees));
    FAILS_WITH(ctx, ag_free_persistent(W) == 0, "reset first");   /* this step's graph uses W */
    ag_ctx_reset(ctx);
    a = ag_get_stats(ctx);
    CHECK(ag_free_persistent(W) == 0, "free after the reset: %s", ag_error(ctx) ? ag_error(ctx) : "");
    b = ag_get_stats(ctx);
    CHECK(b.persistent_tensors == a.persistent_tensors - 2 && b.heap_frees == a.heap_frees + 2, "W and its gradient are given back");
    ag_optim_free(NULL);
    CHECK(ag_free_persistent(NULL) == -1, "free_persistent(NULL)");
    {   /* references that are not op inputs also hold a persistent tensor until the reset (found by the
           fuzzer's review: each was a use after free) */
        ag_tensor *p = ag_param(ctx, AG_F32, 2, s, NULL), *in[1];
        ag_detach(p);
        FAILS_WITH(ctx, ag_free_persistent(p) == 0, "reset first");   /* a view shares its storage */
        ag_ctx_reset(ctx);
        ag_make_dual(ag_ones(ctx, AG_F32, 2, s), p);
        FAILS_WITH(ctx, ag_free_persistent(p) == 0, "reset first");   /* the tangent of a dual */
        ag_ctx_reset(ctx);
        in[0] = p;
        ag_checkpoint(ones_fn, NULL, 1, in);
        FAILS_WITH(ctx, ag_free_persistent(p) == 0, "reset first");   /* a checkpoint's input, run again by backward */
        ag_ctx_reset(ctx);
        CHECK(ag_free_persistent(p) == 0, "then freed");
    }
    ag_ctx_free(ctx);
}

/* ---- typed constructors and a zero-copy wrap of the caller's array ---- */
static void test_constructors(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[1] = {3};
    float f[3] = {1.5f, -2, 4};
    double d[3] = {0.25, 8, -1};
    float obs[4] = {1, 2, 3, 4}, *misaligned = (float *)(void *)((char *)obs + 1);
    int64_t s4[1] = {4};
    ag_tensor *a = ag_from_f32(ctx, 1, s, f), *b = ag_from_f64(ctx, 1, s, d), *w;
    CHECK(a && ag_type(a) == AG_F32 && at1(a, 1) == -2, "from_f32");
    CHECK(b && ag_type(b) == AG_F64 && at1(b, 1) == 8, "from_f64");
    FAILS_WITH(ctx, ag_from_f32(ctx, 1, s, NULL), "from_f32: data is NULL");
    w = ag_wrap(ctx, AG_F32, 1, s4, obs);
    CHECK(w && ag_data(w) == (void *)obs, "wrap shares the array");
    obs[2] = 30;
    CHECK(w && at1(w, 2) == 30, "a write to the array shows in the tensor");
    CHECK(ag_mul_scalar_(w, 2) == w && obs[0] == 2, "an in-place op writes the array");
    CHECK(ag_set_requires_grad(w, true) && ag_backward(ag_sum(ag_mul(w, w)), NULL) == 0 && at1(ag_grad(w), 0) == 4,
          "a wrapped leaf gets its gradient");
    FAILS_WITH(ctx, ag_wrap(ctx, AG_F32, 1, s4, misaligned), "aligned");
    FAILS_WITH(ctx, ag_wrap(ctx, AG_F32, 1, s4, NULL), "wrap: data is NULL");
    ag_ctx_free(ctx);
}

/* ---- names: in error messages and in the graph's picture ---- */
static void test_names_and_dot(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s23[2] = {2, 3}, s45[2] = {4, 5};
    ag_tensor *x = ag_set_name(ag_ones(ctx, AG_F32, 2, s23), "x"), *W = ag_set_name(ag_param(ctx, AG_F32, 2, s45, NULL), "W1");
    ag_tensor *a, *b, *o;
    ag_dot_opts opts;
    char buf[8192];
    FILE *f;
    size_t n;
    CHECK(ag_name(x) && !strcmp(ag_name(x), "x") && ag_name(W) && !strcmp(ag_name(W), "W1"), "ag_name");
    FAILS_WITH(ctx, ag_matmul(x, W), "matmul: 'x' [2, 3] @ 'W1' [4, 5]");
    a = ag_set_name(ag_set_requires_grad(ag_scalar_f64(ctx, 2.0), true), "a{|}\"<b>");   /* DOT's special characters */
    b = ag_set_name(ag_set_requires_grad(ag_scalar_f64(ctx, -3.0), true), "b");
    o = ag_retain_grad(ag_set_name(ag_tanh(ag_mul(a, b)), "o"));
    CHECK(ag_backward(o, NULL) == 0, "backward");
    memset(&opts, 0, sizeof opts);
    opts.values = opts.grads = opts.op_nodes = true;
    f = tmpfile();
    CHECK(f && ag_graph_dot_ex(o, f, &opts) == 0, "graph_dot_ex");
    if (f) {
        rewind(f);
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        CHECK(strstr(buf, "{ o | data -1.0000 | grad 1.0000 }") != NULL, "the output's box: %s", buf);
        CHECK(strstr(buf, "{ b | data -3.0000 | grad ") != NULL && strstr(buf, "label=\"*\"") != NULL, "a leaf's box and the op circle");
        CHECK(strstr(buf, "a\\{\\|\\}\\\"\\<b\\>") != NULL, "DOT's special characters escaped in names");
    }
    ag_ctx_free(ctx);
}

/* ---- dim 0 and -1 of a 0-d tensor, as PyTorch takes them ---- */
static ag_tensor *f_scalar_dims(ag_ctx *ctx, ag_tensor **in, void *user) {
    ag_tensor *x = in[0];
    (void)ctx; (void)user;
    return ag_add(ag_add(ag_sum_dim(x, 0, false), ag_mean_dim(x, -1, true)),
                  ag_add(ag_mul(ag_softmax(x, 0), x), ag_mul(ag_exp(ag_log_softmax(x, -1)), ag_max_dim(x, 0, false))));
}
static void test_scalar_dims(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *x = ag_set_requires_grad(ag_scalar_f64(ctx, 1.5), true), *in[1];
    ag_gradcheck_opts go;
    CHECK(ag_item(ag_sum_dim(x, 0, false)) == 1.5 && ag_item(ag_mean_dim(x, -1, true)) == 1.5 && ag_ndim(ag_sum_dim(x, 0, true)) == 0,
          "sum and mean over dim 0 / -1 of a 0-d tensor");
    CHECK(ag_item(ag_max_dim(x, 0, false)) == 1.5 && ag_item(ag_min_dim(x, -1, false)) == 1.5, "max and min");
    CHECK(ag_item(ag_softmax(x, 0)) == 1.0 && ag_item(ag_log_softmax(x, -1)) == 0.0, "softmax 1, log_softmax 0");
    CHECK(ag_item(ag_argmax(x, 0, false)) == 0.0 && ag_item(ag_argmin(x, -1, false)) == 0.0, "argmax and argmin 0");
    { double v[5] = {3, -1, NAN, -1, NAN}, w[4] = {3, -1, -1, 2}; int64_t n5 = 5, n4 = 4;
      CHECK(ag_item(ag_argmin(ag_from_f64(ctx, 1, &n5, v), 0, false)) == 2.0 && ag_item(ag_argmax(ag_from_f64(ctx, 1, &n5, v), 0, false)) == 2.0,
            "argmin and argmax: the first NaN, like PyTorch");
      CHECK(ag_item(ag_argmin(ag_from_f64(ctx, 1, &n4, w), 0, false)) == 1.0, "argmin: the first of tied smallest"); }
    CHECK(isnan(ag_item(ag_var_dim(x, 0, false, 1))) && ag_item(ag_var_dim(x, 0, false, 0)) == 0.0, "var: NaN unbiased, 0 biased");
    CHECK(ag_squeeze(x, 0) == x && ag_transpose(x, 0, -1) == x && ag_ndim(ag_unsqueeze(x, -1)) == 1, "squeeze, transpose, unsqueeze");
    FAILS_WITH(ctx, ag_sum_dim(x, 1, false), "dim 1 is out of range for a 0-d tensor");
    FAILS_WITH(ctx, ag_softmax(x, -2), "out of range");
    memset(&go, 0, sizeof go);
    go.second_order = true;
    in[0] = x;
    CHECK(ag_gradcheck(ctx, f_scalar_dims, NULL, 1, in, &go, NULL) == 1, "their gradients, first and second order: %s",
          ag_error(ctx) ? ag_error(ctx) : "");
    ag_ctx_free(ctx);
}

/* ---- pow(x, 0): gradient 0 everywhere, also at 0 and at +-inf (PyTorch) ---- */
static void test_pow0(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double v[4] = {0.0, INFINITY, -INFINITY, 2.0};
    int64_t s[1] = {4};
    ag_tensor *x = ag_set_requires_grad(ag_from(ctx, AG_F64, 1, s, v), true);
    int i;
    CHECK(ag_backward(ag_sum(ag_pow(x, 0.0)), NULL) == 0, "backward of pow(x, 0)");
    for (i = 0; i < 4; i++) CHECK(ag_grad(x) && at1(ag_grad(x), i) == 0.0, "d pow(x, 0) at %g is 0", v[i]);
    ag_ctx_free(ctx);
}

/* ---- found by the API fuzzer (tests/fuzz_api.c) and the review that followed ---- */
static ag_tensor *ckpt_f(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; return ag_sum(ag_mul(in[0], (ag_tensor *)user)); }
static ag_tensor *hook_twice(ag_tensor *g, void *u) { (void)u; return ag_mul_scalar(g, 2.0); }
static void test_fuzz_findings(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[1] = {3}, i0[1] = {0};
    ag_backward_opts o;
    float g3[3];
    {   /* checkpoint: a leaf that f uses but does not take as input gets its gradient during the
           recomputation; the scratch given back afterwards held it (use after free) */
        ag_tensor *x = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 1.0), true);
        ag_tensor *W = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 2.0), true), *y = ag_checkpoint(ckpt_f, W, 1, &x);
        int k, rc = ag_backward(y, NULL);
        for (k = 0; k < 8; k++) ag_full(ctx, AG_F32, 1, s, 7.0);   /* would reuse the scratch */
        CHECK(rc == 0 && ag_grad(W) && ag_get(ag_grad(W), i0) == 1.0 && ag_get(ag_grad(x), i0) == 2.0, "checkpoint: the gradient of a tensor f closes over");
    }
    {   /* the same with a parameter whose gradient create_graph left in the arena */
        ag_tensor *p = ag_param(ctx, AG_F32, 0, NULL, NULL), *y;
        ag_set_grad_enabled(ctx, false); ag_fill_(p, 3.0); ag_set_grad_enabled(ctx, true);
        y = ag_checkpoint(ckpt_f, p, 1, &p);
        memset(&o, 0, sizeof o); o.create_graph = true; o.retain_graph = true;
        CHECK(ag_backward(y, &o) == 0 && ag_backward(y, NULL) == 0 && ag_item(ag_grad(p)) == 12.0,
              "checkpoint twice, create_graph first: %s", ag_error(ctx) ? ag_error(ctx) : "");
        ag_free_persistent(p);
    }
    ag_ctx_reset(ctx);
    {   /* a hooked leaf's partial sum from a backward that failed is not added to the next one */
        ag_tensor *p = ag_param(ctx, AG_F32, 1, s, NULL), *y1, *y2;
        ag_register_hook(p, hook_twice, NULL);
        y1 = ag_mul_scalar(p, 3.0); y2 = ag_exp(p);
        ag_set_grad_enabled(ctx, false); ag_add_scalar_(y2, 1.0); ag_set_grad_enabled(ctx, true);   /* exp's backward now fails */
        CHECK(ag_backward(ag_add(ag_sum(y2), ag_sum(y1)), NULL) != 0, "backward through a modified output fails");
        ag_clear_error(ctx);
        CHECK(ag_backward(ag_sum(p), NULL) == 0 && ag_get(ag_grad(p), i0) == 2.0, "the next backward sees only its own gradient (2)");
    }
    {   /* clip_grad_norm of a create_graph gradient that is an expanded view scales each element once */
        ag_tensor *W = ag_param(ctx, AG_F32, 1, s, NULL);
        memset(&o, 0, sizeof o); o.create_graph = true;
        ag_backward(ag_sum(W), &o);
        CHECK(ag_strides(ag_grad(W))[0] == 0, "the gradient of sum under create_graph is an expanded view (stride 0)");
        ag_clip_grad_norm(&W, 1, 0.5, 2.0);
        ag_copy_out(ag_grad(W), AG_F32, g3);
        CHECK(fabs(g3[0] - 0.5 / sqrt(3.0)) < 1e-6 && g3[0] == g3[2], "clip_grad_norm of an expanded gradient: %g", g3[0]);
        {   /* parameters of two contexts: refused (only the first context's capture state was checked) */
            ag_ctx *other = ag_ctx_new(NULL);
            ag_tensor *two[2];
            two[0] = W; two[1] = ag_param(other, AG_F32, 1, s, NULL);
            FAILS_WITH(ctx, (ag_clip_grad_norm(two, 2, 1.0, 2.0), (ag_tensor *)NULL), "another context");
            FAILS_WITH(ctx, ag_clip_grad_value(two, 2, 1.0) != 0 ? NULL : W, "another context");
            ag_ctx_free(other);
        }
    }
    ag_ctx_reset(ctx);
    {   /* grad_of with an input that a checkpoint's f closes over: its gradient from inside f goes
           to grad_of's slot (it wrote to slot -1 of the checkpoint's own array), and f's other
           leaves are left alone as grad_of promises */
        ag_tensor *x = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 1.0), true);
        ag_tensor *W = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 2.0), true);
        ag_tensor *y = ag_add(ag_checkpoint(ckpt_f, W, 1, &x), ag_sum(ag_mul_scalar(W, 5.0))), *g[2], *in2[2];
        in2[0] = W; in2[1] = x;
        CHECK(ag_grad_of(y, NULL, 1, &W, g) == 0 && g[0] && ag_get(g[0], i0) == 6.0 && !ag_grad(x) && !ag_grad(W),
              "grad_of through a checkpoint that closes over the input: dW = x + 5 = 6, no .grad touched: %s", ag_error(ctx) ? ag_error(ctx) : "");
        y = ag_add(ag_checkpoint(ckpt_f, W, 1, &x), ag_sum(ag_mul_scalar(W, 5.0)));
        CHECK(ag_grad_of(y, NULL, 2, in2, g) == 0 && ag_get(g[0], i0) == 6.0 && ag_get(g[1], i0) == 2.0, "and with x too: dx = W = 2");
    }
    {   /* f closing over a result of the outer graph: its recomputed backward would walk (and
           clobber) the outer backward's sums; refused with a message */
        ag_tensor *x = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 1.0), true);
        ag_tensor *h = ag_mul_scalar(x, 3.0), *y = ag_add(ag_checkpoint(ckpt_f, h, 1, &x), ag_sum(h));
        FAILS_WITH(ctx, ag_backward(y, NULL) == 0 ? x : NULL, "a result computed outside it that is not one of its inputs");
    }
    {   /* a hooked leaf used inside f and outside: the recomputation's backward runs the hook on
           its own sum and leaves the outer backward's count of the leaf alone (PyTorch's reentrant
           checkpoint runs the hook once per backward too) */
        ag_tensor *x = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 1.0), true);
        ag_tensor *W = ag_set_requires_grad(ag_full(ctx, AG_F32, 1, s, 2.0), true), *y;
        ag_register_hook(W, hook_twice, NULL);
        y = ag_add(ag_add(ag_sum(ag_mul_scalar(W, 5.0)), ag_checkpoint(ckpt_f, W, 1, &x)), ag_sum(ag_mul_scalar(W, 7.0)));
        CHECK(ag_backward(y, NULL) == 0 && ag_get(ag_grad(W), i0) == 2.0 * (5.0 + 7.0) + 2.0 * 1.0,
              "hooked leaf inside and outside a checkpoint: dW = 2*(5+7) + 2*1 = 26, got %g: %s",
              ag_grad(W) ? ag_get(ag_grad(W), i0) : -1.0, ag_error(ctx) ? ag_error(ctx) : "");
    }
    {   /* clip_grad_norm with the same persistent parameter twice scales its gradient twice (as
           PyTorch does) in place; a copy it made for shared memory pointed the parameter's
           gradient into the arena with no mark, read after the reset (found by the API fuzzer) */
        ag_tensor *p = ag_param(ctx, AG_F32, 1, s, NULL), *two[2];
        double total, coef;
        ag_set_grad_enabled(ctx, false); ag_fill_(p, 1.0); ag_set_grad_enabled(ctx, true);
        two[0] = p; two[1] = p;
        ag_backward(ag_sum(ag_mul_scalar(p, 2.0)), NULL);   /* d p = [2, 2, 2] */
        total = ag_clip_grad_norm(two, 2, 1.0, 2.0);
        coef = 1.0 / (sqrt(24.0) + 1e-6);
        CHECK(fabs(total - sqrt(24.0)) < 1e-9 && fabs(ag_get(ag_grad(p), i0) - 2.0 * coef * coef) < 1e-6,
              "clip_grad_norm of [p, p]: norm sqrt(24), gradient scaled twice: %g", ag_get(ag_grad(p), i0));
        {   /* a parameter and its gradient's alias: the copy lives in the arena and is gone after a reset */
            ag_tensor *q = ag_param(ctx, AG_F32, 1, s, NULL), *pq[2];
            memset(&o, 0, sizeof o); o.create_graph = true;
            ag_backward(ag_sum(ag_add(ag_mul_scalar(q, 3.0), ag_mul_scalar(p, 3.0))), &o);
            pq[0] = q; pq[1] = p;
            CHECK(!isnan(ag_clip_grad_norm(pq, 2, 0.1, 2.0)), "clip_grad_norm after create_graph");
            ag_ctx_reset(ctx);
            total = ag_clip_grad_norm(pq, 2, 0.1, 2.0);
            CHECK(total == total && ag_error(ctx) == NULL, "clip_grad_norm after the reset reads no stale gradient: %g %s", total,
                  ag_error(ctx) ? ag_error(ctx) : "");
            ag_free_persistent(q);
        }
        ag_free_persistent(p);
    }
    ag_ctx_reset(ctx);
    {   /* an in-place op on a captured result after ag_capture_end: the capture's step follows
           the result's former self (its node moves there), as it does during the capture; it
           ran the op on the in-place node, whose inputs the op does not have (found by the API fuzzer) */
        int64_t s23[2] = {2, 3}, s43[2] = {4, 3};
        ag_tensor *W = ag_param(ctx, AG_F32, 2, s43, NULL), *x = ag_full(ctx, AG_F32, 2, s23, 0.5), *h, *l;
        ag_capture *g;
        float before, after;
        ag_set_grad_enabled(ctx, false); ag_fill_(W, 0.25); ag_set_grad_enabled(ctx, true);
        ag_capture_begin(ctx);
        h = ag_linear(x, W, NULL);
        l = ag_sum(h);
        ag_backward(l, NULL);
        g = ag_capture_end(ctx);
        before = (float)ag_item(l);
        CHECK(g && ag_replay(g) == 0, "replay: %s", ag_error(ctx) ? ag_error(ctx) : "");
        ag_add_(h, ag_full(ctx, AG_F32, 2, (const int64_t[]){2, 4}, 1.0));   /* h becomes an add_ node */
        CHECK(ag_replay(g) == 0, "replay after an in-place op on a captured result: %s", ag_error(ctx) ? ag_error(ctx) : "");
        after = (float)ag_item(l);
        CHECK(before == after && ag_get(h, (const int64_t[]){0, 0}) == 0.375, "the replay recomputes linear into h's storage: loss %g -> %g, h[0,0] %g",
              before, after, ag_get(h, (const int64_t[]){0, 0}));
        ag_capture_free(g);
        ag_free_persistent(W);
    }
    {   /* jacobian_fwd's too-many-dims message for input 1 read the output after input 0's columns gave it back */
        int64_t s0[1] = {2}, s5[5] = {1, 1, 1, 1, 2};
        ag_tensor *in[2], *jac[2];
        in[0] = ag_ones(ctx, AG_F32, 1, s0); in[1] = ag_ones(ctx, AG_F32, 5, s5);
        FAILS_WITH(ctx, ag_jacobian_fwd(ctx, mul_fn, NULL, 2, in, jac, false) == 0, "[1, 1, 1, 1, 2] + [1, 1, 1, 1, 2], more than 8 dims");
    }
    ag_ctx_free(ctx);
}

/* ---- order with NaN (PyTorch: NaN sorts as the largest; median propagates it) and printing it ---- */
static void test_order_nan(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double v[8] = {3, NAN, 1, 2, 4, 1, 2, 3}, got[8];
    int64_t s[2] = {2, 4};
    ag_tensor *x = ag_from_f64(ctx, 2, s, v), *idx;
    char buf[256];
    FILE *f;
    size_t n;
    ag_copy_out(ag_sort(x, 1, false, &idx), AG_F64, got);
    CHECK(got[0] == 1 && got[2] == 3 && isnan(got[3]) && ag_get(idx, (const int64_t[]){0, 3}) == 1, "sort: NaN last");
    ag_copy_out(ag_sort(x, 1, true, &idx), AG_F64, got);
    CHECK(isnan(got[0]) && got[1] == 3 && got[4] == 4, "sort descending: NaN first");
    ag_copy_out(ag_median_dim(x, 1, false, &idx), AG_F64, got);
    CHECK(isnan(got[0]) && got[1] == 2 && ag_get(idx, (const int64_t[]){0}) == 1 && ag_get(idx, (const int64_t[]){1}) == 2,
          "median_dim: NaN and its index where the row has one, the lower median (2 at 2) elsewhere");
    CHECK(isnan(ag_item(ag_median(x))), "median of all: NaN");
    {   /* grad_of with the same input twice: the gradient in both places (torch.autograd.grad) */
        int64_t s3[1] = {3};
        ag_tensor *z = ag_set_requires_grad(ag_full(ctx, AG_F64, 1, s3, 2.0), true), *h = ag_mul_scalar(z, 3.0), *g[3], *in3[3];
        in3[0] = z; in3[1] = h; in3[2] = z;
        CHECK(ag_grad_of(ag_sum(ag_mul(h, z)), NULL, 3, in3, g) == 0 && ag_get(g[0], (const int64_t[]){0}) == 12.0 && ag_get(g[2], (const int64_t[]){0}) == 12.0 &&
              ag_get(g[1], (const int64_t[]){0}) == 2.0, "grad_of [z, h, z] of sum(3z * z): 12, 2, 12");
        h = ag_mul_scalar(z, 3.0);   /* the first grad_of freed the old graph */
        in3[0] = h; in3[1] = h;
        CHECK(ag_grad_of(ag_sum(ag_mul(h, z)), NULL, 2, in3, g) == 0 && ag_get(g[1], (const int64_t[]){0}) == 2.0, "grad_of [h, h] (a non-leaf twice): 2, 2");
    }
    {   /* the seed lab's graph walk (part C): L = 0.5 sum((linear(x, W, b) - t)^2) reads as PyTorch's chain,
           linear (AddmmBackward0) with the leaves W and b as its inputs (AccumulateGrad) */
        int64_t xs[2] = {2, 3}, ws[2] = {4, 3}, bs[1] = {4}, ts[2] = {2, 4};
        ag_tensor *x = ag_ones(ctx, AG_F64, 2, xs), *W = ag_set_requires_grad(ag_full(ctx, AG_F64, 2, ws, 0.5), true);
        ag_tensor *b = ag_set_requires_grad(ag_zeros(ctx, AG_F64, 1, bs), true), *t = ag_zeros(ctx, AG_F64, 2, ts);
        ag_tensor *lin = ag_linear(x, W, b), *L = ag_mul_scalar(ag_sum(ag_pow(ag_sub(lin, t), 2.0)), 0.5), *u = L;
        const char *chain[5] = {"mul_scalar", "sum", "pow", "sub", "linear"};
        int k;
        for (k = 0; k < 5 && u; k++) { CHECK(ag_op(u) && !strcmp(ag_op(u), chain[k]), "graph walk step %d: %s, want %s", k, ag_op(u) ? ag_op(u) : "leaf", chain[k]); u = ag_input(u, 0); }
        CHECK(ag_num_inputs(lin) == 3 && ag_input(lin, 0) == x && ag_input(lin, 1) == W && ag_input(lin, 2) == b && ag_is_leaf(ag_input(lin, 1)),
              "linear is one node whose inputs are x, W, b (leaves)");
        CHECK(ag_backward(L, NULL) == 0 && ag_get(ag_grad(b), (const int64_t[]){0}) == 3.0 && ag_get(ag_grad(W), (const int64_t[]){0, 0}) == 3.0,
              "its gradients: d b = sum of (y - t) = 2 x 1.5, d W = 3");
    }
    {   /* a replay reads gather's index array again (and sorts the new values) */
        int64_t pick[2] = {0, 1}, s2[1] = {2};
        double w[2] = {5, 7};
        ag_tensor *p = ag_persistent(ctx, AG_F64, 1, s2, w), *y, *z;
        ag_capture *g;
        ag_capture_begin(ctx);
        y = ag_index_select(p, 0, 2, pick);
        z = ag_sort(p, 0, true, NULL);
        g = ag_capture_end(ctx);
        pick[0] = 1; pick[1] = 1;
        ag_set_grad_enabled(ctx, false); ag_fill_(ag_narrow(p, 0, 0, 1), 9.0); ag_set_grad_enabled(ctx, true);
        CHECK(g && ag_replay(g) == 0 && ag_get(y, (const int64_t[]){0}) == 7 && ag_get(z, (const int64_t[]){0}) == 9,
              "replay: index_select reads the new index, sort sees the new values: %g %g", ag_get(y, (const int64_t[]){0}), ag_get(z, (const int64_t[]){0}));
        pick[1] = 2;
        CHECK(ag_replay(g) != 0 && strstr(ag_error(ctx), "index_select: index 2 at position 1"), "replay: an index out of range is an error");
        ag_clear_error(ctx);
        ag_capture_free(g);
    }
    ag_copy_out(ag_topk(x, 2, 1, true, NULL), AG_F64, got);
    CHECK(isnan(got[0]) && got[1] == 3, "topk: NaN counts as the largest");
    f = tmpfile();
    if (f) {
        double w[3] = {NAN, INFINITY, -INFINITY};
        int64_t s3[1] = {3};
        ag_print(ag_from_f64(ctx, 1, s3, w), f);
        rewind(f);
        n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        CHECK(strstr(buf, "[nan, inf, -inf]") != NULL, "print: nan, inf, -inf as PyTorch: %s", buf);
    }
    ag_ctx_free(ctx);
}

/* ---- writing into an expanded view (stride 0): refused as PyTorch does, before any write (the API
   fuzzer found init_xavier_uniform writing 48M times into 2,916 elements through one, for 11 s) ---- */
static void test_overlapping_writes(void) {
    ag_desc d;
    ag_ctx *ctx;
    ag_tensor *b, *e, *one;
    int64_t s1[1] = {3}, s2[2] = {4, 3};
    memset(&d, 0, sizeof d);
    ctx = ag_ctx_new(&d);
    b = filled(ctx, AG_F32, 1, s1, 2.0);
    e = ag_expand(b, 2, s2);
    one = filled(ctx, AG_F32, 2, s2, 1.0);
    FAILS_WITH(ctx, ag_add_(e, one), "refers to one memory location");
    FAILS_WITH(ctx, ag_fill_(e, 5.0), "stride 0 along dim 0");
    FAILS_WITH(ctx, ag_copy_(e, one), "expanded view");
    FAILS_WITH(ctx, ag_relu_(e), "expanded view");
    CHECK(ag_init_uniform(e, 0, 1) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "init_uniform: more than one element"),
          "init_uniform into an expanded view: %s", ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    CHECK(at1(b, 0) == 2.0 && at1(b, 2) == 2.0, "nothing was written");
    CHECK(ag_add_(ag_expand(b, 1, s1), b) != NULL && at1(b, 1) == 4.0, "an expand that adds no stride-0 dim is writable");
    ag_ctx_free(ctx);
}

/* ---- ag_save_safetensors_mem's size query (NULL buffer) does not walk the data: the API fuzzer
   found it reading 15M elements of an expanded view one by one (2 s) only to count them ---- */
static void test_save_size_query(void) {
    ag_desc d;
    ag_ctx *ctx;
    ag_tensor *t[1];
    const char *names[1] = {"big"};
    int64_t s1[1] = {4096}, s2[2] = {65536, 4096};
    size_t need, need_small;
    double t0;
    memset(&d, 0, sizeof d);
    ctx = ag_ctx_new(&d);
    t[0] = ag_expand(filled(ctx, AG_F32, 1, s1, 1.0), 2, s2);   /* 2^28 elements, 16 KB of storage */
    t0 = harness_cpu_seconds();
    need = ag_save_safetensors_mem(ctx, NULL, 0, 1, names, t);
    CHECK(need > (size_t)65536 * 4096 * 4 && harness_cpu_seconds() - t0 < 0.2, "size query of a 1 GB view: %zu bytes in %.3f s",
          need, harness_cpu_seconds() - t0);
    {   /* the size it gives is the size it writes */
        int64_t s3[2] = {3, 4096};
        char *buf;
        t[0] = ag_expand(filled(ctx, AG_F32, 1, s1, 2.0), 2, s3);
        need_small = ag_save_safetensors_mem(ctx, NULL, 0, 1, names, t);
        buf = (char *)malloc(need_small);
        CHECK(buf && ag_save_safetensors_mem(ctx, buf, need_small, 1, names, t) == need_small, "the queried size is the written size");
        free(buf);
    }
    ag_ctx_free(ctx);
}

/* an empty result with dims whose product overflows int64 ([0, 2^40, 4, 2^40]): its contiguous strides
   were computed with a signed overflow (UBSan in the API fuzzer; make check-asan runs this under UBSan) */
static void test_empty_huge_strides(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    const int64_t one[4] = {1, 1, 1, 1}, sa[4] = {0, (int64_t)1 << 40, 1, 1}, sb[4] = {1, 1, 4, (int64_t)1 << 40};
    ag_tensor *a = ag_expand(ag_zeros(ctx, AG_F16, 4, sa), 4, sa), *b = ag_expand(ag_zeros(ctx, AG_F16, 4, one), 4, sb);
    ag_tensor *y = ag_add(a, b);   /* each input's size is fine; the broadcast result [0, 2^40, 4, 2^40] is empty */
    CHECK(a && b && y && ag_numel(y) == 0 && ag_dim(y, 3) == ((int64_t)1 << 40), "add of an empty [0, 2^40, 4, 2^40]: %s",
          ag_error(ctx) ? ag_error(ctx) : "");
    ag_ctx_free(ctx);
}

int main(void) {
    test_empty_huge_strides();
    test_save_size_query();
    test_overlapping_writes();
    test_fuzz_findings();
    test_order_nan();
    test_sizes();
    test_empty();
    test_persistent_history();
    test_contexts();
    test_capture_message();
    test_replay_scratch();
    test_threads();
    test_safetensors();
    test_large_logits();
    test_pow0();
    test_stale();
    test_free_persistent();
    test_constructors();
    test_names_and_dot();
    test_scalar_dims();
    return harness_finish("test_reliability");
}
