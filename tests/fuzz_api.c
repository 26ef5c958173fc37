/* fuzz_api.c - libFuzzer target over the public API of autograd.h.

   clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_api.c -o build/fuzz_api -lm -lpthread
   rm -rf build/fuzz-api-corpus && cp -r tests/fuzz_api_corpus build/fuzz-api-corpus
   UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ./build/fuzz_api -rss_limit_mb=4096 -timeout=10 \
       -max_total_time=600 build/fuzz-api-corpus
   (without halt_on_error an undefined-behaviour report is printed but does not stop the fuzzer)

   Replay one input with a trace of every call, written as C, for a reproducer:
       AG_FUZZ_TRACE=1 ./build/fuzz_api crash-...

   The input bytes drive a small interpreter. Two contexts (a second one for mixing
   contexts; both with an arena_limit and an allocator that refuses huge requests and can
   be told to fail its k-th allocation) and a pool of live tensors. Each step reads an
   opcode and its arguments from the bytes and makes one call: creation (ag_new ... ag_randn,
   the typed ag_from_f32/f64, ag_wrap over the harness's arrays, misaligned too), every op
   (elementwise, the trigonometric and rounding ones, activations, binary ops with lerp and
   pow_tensor, reductions, products, views, losses, layers), in-place ops, backward and
   grad_of with random options, forward mode, hooks, custom functions, checkpointing,
   capture and replay, optimizers (made, stepped, freed), clipping, initialisers,
   safetensors in memory and on unreadable paths, the functional API (with a few fixed
   small functions), gradcheck, accessors, names and DOT pictures, ag_free_persistent,
   ag_ctx_reset, grad and anomaly modes, temporary contexts with odd ag_desc options.
   Arguments cover NULL tensors, tensors of the other context, 0-size and huge dims
   (2^40, INT64_MAX), negative and out-of-range dims, INT_MAX / negative padding, stride,
   dilation, wrong dtypes, NaN and infinite scalars, non-contiguous views.

   The pool only ever holds valid tensors: ag_ctx_reset drops the context's arena tensors
   (the harness never passes a tensor from before a reset); persistent ones survive until
   ag_free_persistent, which also kills the gradient the pool got from them.

   Checked after every call (abort() so that the fuzzer reports it):
     - a call that reports failure (NULL, -1, NaN, 0 for save_mem) leaves a non-empty
       ag_error on one of the contexts, unless no tensor or context reached it (an op
       whose only input is NULL reports nowhere, as documented);
     - no call takes more than 1 second (clock());
     - now and then a small forward + backward with known values still computes right
       (the context stays usable after errors and ag_clear_error).
   The sanitizers catch the rest (crashes, out-of-bounds, use after reset: the arena's
   free part is poisoned under ASan, undefined behaviour).

   AG_FUZZ_SKIP_KNOWN (default 1) steers around bugs that are known but still open, each at a
   line marked KNOWN, so that the fuzzer can look for others; build with -DAG_FUZZ_SKIP_KNOWN=0
   to hit them again. None is open. Fixed (no skip left for them): conv2d and the pools looping
   over the huge dims of an empty input; grad_of with an input that a checkpoint's f closes
   over (slot -1 of the checkpoint's gradient array); lr_cosine's int overflow, gather_rows'
   index size wrapping, checkpoint scratch holding a closed-over leaf's gradient, a hooked
   leaf's stale partial sum, clipping aliased gradients, clipping across contexts,
   ag_free_persistent ignoring views / tangents / checkpoint inputs, jacobian_fwd's message
   reading released scratch, and the bugs known before this fuzzer. */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef AG_FUZZ_SKIP_KNOWN
#define AG_FUZZ_SKIP_KNOWN 1
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- limits of what the harness itself creates (keeps each call fast) ---- */
#define NSLOT 24                  /* live tensors in the pool */
#define CAP_CREATE 4096           /* elements of a tensor the harness creates with real data */
#define CAP_VIEW 65536            /* elements of an expanded view the harness asks for */
#define CAP_FN 16                 /* elements per input of Jacobians, Hessians, gradcheck */
#define ARENA_LIMIT ((size_t)64 << 20)
#define HEAP_ONE_LIMIT ((size_t)256 << 20)   /* the allocator refuses one request above this */
#define HEAP_TOTAL_LIMIT ((size_t)768 << 20) /* and any request past this much live memory */
#define IDX_CAP 16384
#define WRAP_CAP 16384            /* doubles of memory for ag_wrap tensors, per run */             /* int32 index entries handed to gather/embedding/cross_entropy (kept for replays) */
#define NCAP 6                    /* live captures */
#define NOPT 8                    /* optimizers */
/* a call slower than this is a finding (a loop over a huge empty dim ran for hours once); the
   coverage instrumentation makes per-element code 10x slower or more: a 13M-element float16
   subtraction takes 0.9-1.0 s in this build, 0.02 s in a plain -O2 one */
#define CALL_SECONDS 3.0

/* ---- input reader ---- */
typedef struct { const uint8_t *p; size_t n, i; } rd_t;
static uint8_t u8(rd_t *r) { return r->i < r->n ? r->p[r->i++] : 0; }
static uint16_t u16(rd_t *r) { uint16_t a = u8(r); return (uint16_t)(a | (uint16_t)u8(r) << 8); }
static uint32_t u32(rd_t *r) { uint32_t a = u16(r); return a | (uint32_t)u16(r) << 16; }
static uint64_t u64(rd_t *r) { uint64_t a = u32(r); return a | (uint64_t)u32(r) << 32; }
static bool rbool(rd_t *r) { return u8(r) & 1; }
/* a count: byte % mod, less sub when a second byte is 0 (so that n < 0 and n = 0 turn up too) */
static int rd_count(rd_t *r, int mod, int sub) {
    int n = u8(r) % mod;
    return u8(r) == 0 ? n - sub : n;
}

/* a dimension size: mostly small, sometimes 0 or huge */
static int64_t rd_size(rd_t *r) {
    static const int64_t small[8] = {1, 2, 3, 4, 1, 2, 5, 0};
    static const int64_t special[16] = {7, 8, 16, 33, 64, 100, 1000, -1, -2, INT64_MAX, INT64_MIN,
                                        (int64_t)1 << 31, (int64_t)1 << 32, (int64_t)1 << 40, (int64_t)1 << 48,
                                        ((int64_t)1 << 62) + 1};
    uint8_t b = u8(r);
    return b < 224 ? small[b % 8] : special[b % 16];
}
/* a dim index or an int option: mostly -9..9 */
static int rd_int(rd_t *r) {
    static const int special[16] = {INT_MAX, INT_MIN, INT_MAX - 1, INT_MIN + 1, 1 << 30, -(1 << 30), 100, -100,
                                    255, 65536, 16, 32, 1000000, 1000001, 46341, -46341};
    uint8_t b = u8(r);
    return b < 224 ? (int)(b % 19) - 9 : special[b % 16];
}
/* a non-negative small int option (kernel, stride, padding), sometimes extreme */
static int rd_opt(rd_t *r) {
    uint8_t b = u8(r);
    return b < 224 ? (int)(b % 5) : rd_int(r);
}
static int64_t rd_i64(rd_t *r) {
    static const int64_t special[16] = {INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1, (int64_t)1 << 40,
                                        -((int64_t)1 << 40), (int64_t)1 << 62, -((int64_t)1 << 62), INT32_MAX, INT32_MIN,
                                        (int64_t)1 << 32, ((int64_t)1 << 61) + 1, (int64_t)1 << 61, 1000, -1000, 4097};
    uint8_t b = u8(r);
    return b < 208 ? (int64_t)(b % 21) - 10 : special[b % 16];
}
static double rd_double(rd_t *r) {
    static const double special[24] = {0.0, -0.0, 1.0, -1.0, 0.5, 1e-8, 1e30, -1e30, 1e300, DBL_MAX, -DBL_MAX,
                                       DBL_MIN, 4.9e-324, HUGE_VAL, -HUGE_VAL, NAN, 9.3e18, 1.8e19, 1e-300,
                                       0.999, 1.0000001, 1e9, 3.4e38, -3.5e38};
    uint8_t b = u8(r);
    if (b < 128) return (double)((int)(b % 17) - 8) * 0.5;
    if (b < 248) return special[b % 24];
    {
        uint64_t bits = u64(r);
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
}
static double rd_prob(rd_t *r) {   /* dropout p, momentum: mostly in [0, 1] */
    static const double ps[8] = {0.0, 0.1, 0.5, 0.9, 1.0, 0.25, 1e-300, 0.999999};
    uint8_t b = u8(r);
    return b < 200 ? ps[b % 8] : rd_double(r);
}
static ag_dtype rd_dtype(rd_t *r) {
    uint8_t b = u8(r);
    if (b < 90) return AG_F32;
    if (b < 170) return AG_F64;
    if (b < 190) return AG_F16;
    if (b < 205) return AG_BF16;
    if (b < 220) return AG_I64;
    if (b < 230) return AG_I32;
    if (b < 245) return AG_BOOL;
    return b & 1 ? (ag_dtype)7 : (ag_dtype)-1;
}
/* ndim mostly 0..4, sometimes up to 8 or out of range */
static int rd_ndim(rd_t *r) {
    static const int nd[16] = {0, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 5, 6, 7, 8, 9};
    uint8_t b = u8(r);
    if (b == 255) return -1;
    if (b == 254) return INT_MAX;
    return nd[b % 16];
}

/* ---- a heap allocator that refuses huge requests and can fail on command ---- */
typedef struct {
    size_t live;
    uint64_t count;
    uint64_t fail_at;   /* 0: never; else the fail_at-th request fails */
} heap_t;
static void *fz_alloc(size_t n, void *user) {
    heap_t *h = (heap_t *)user;
    size_t *p;
    h->count++;
    if (h->fail_at && h->count == h->fail_at) return NULL;
    if (n > HEAP_ONE_LIMIT || h->live + n > HEAP_TOTAL_LIMIT) return NULL;
    p = (size_t *)malloc(n + 16);
    if (!p) return NULL;
    p[0] = n;
    h->live += n;
    return (char *)p + 16;
}
static void fz_free(void *ptr, void *user) {
    heap_t *h = (heap_t *)user;
    size_t *p;
    if (!ptr) return;
    p = (size_t *)(void *)((char *)ptr - 16);
    h->live -= p[0];
    free(p);
}
static void fz_parallel_for(void (*task)(void *arg, int i), void *arg, int n, void *user) {   /* a serial "job system" */
    int i;
    (void)user;
    for (i = n - 1; i >= 0; i--) task(arg, i);   /* any order is allowed */
}

/* ---- state ---- */
typedef struct { int n, kind; ag_tensor *extra; } fn_user;   /* for fz_fn; extra: a tensor f uses besides its inputs */
typedef struct { int kind; } cu_user;      /* for the custom op */
#define USER_CAP 1024
typedef struct {
    ag_tensor *t;
    int c;      /* 0 or 1: the context */
    bool pers;  /* survives ag_ctx_reset */
    int id;     /* the name in traces: t<id> */
    const ag_tensor *owner;   /* for ag_grad(owner): dead when ag_free_persistent(owner) frees its gradient */
} slot_t;

typedef struct {
    rd_t r;
    heap_t heap[2];
    ag_ctx *ctx[2];
    slot_t s[NSLOT];
    int next_id;
    ag_capture *cap[NCAP];
    int ncap;
    bool capturing[2];
    ag_optim *opt[NOPT];
    int nopt;
    ag_tensor *foreign;   /* a persistent tensor of ctx[1], for functions that return another context's tensor */
    int32_t idx[IDX_CAP];
    size_t idx_used;
    int64_t idx64[IDX_CAP];   /* the int64 index arrays of gather, index_select, scatter_add: a replay reads them again */
    size_t idx64_used;
    double heavy[2];         /* multiply-adds of the products made since the context's last reset */
    const ag_tensor *closures[64];   /* tensors that a checkpoint's f uses besides its inputs */
    int nclos;
    double wrap[WRAP_CAP];   /* the caller's arrays under ag_wrap tensors: each used once per run, kept alive */
    size_t wrap_used;
    fn_user fus[USER_CAP];   /* user data of checkpoints and custom ops: a backward reads it again, so */
    cu_user cus[USER_CAP];   /* each call gets its own, kept for the whole run */
    int nfus, ncus;
    uint64_t calls;
} st_t;

static st_t *S;
static const ag_tensor *g_owner;   /* set around put() of a gradient */
static bool g_trace;
static FILE *g_null;
static const char *g_call = "?";   /* the call being made, for messages */

static void tr(const char *fmt, ...) {
    va_list ap;
    if (!g_trace) return;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}
/* "t3" or "NULL" */
static const char *nm(const ag_tensor *t) {
    static char buf[8][32];
    static int k;
    int i;
    char *b = buf[k++ & 7];
    if (!t) return "NULL";
    for (i = 0; i < NSLOT; i++)
        if (S->s[i].t == t) { snprintf(b, 32, "t%d", S->s[i].id); return b; }
    snprintf(b, 32, "<%p>", (const void *)t);
    return b;
}
static const char *shp(int nd, const int64_t *sh) {   /* "(int64_t[]){2, 3}" */
    static char buf[4][400];
    static int k;
    char *b = buf[k++ & 3];
    size_t n = 0;
    int i;
    if (!sh) return "NULL";
    n += (size_t)snprintf(b + n, 400 - n, "(int64_t[]){");
    for (i = 0; i < nd && i < AG_MAX_DIMS + 1 && n < 380; i++) n += (size_t)snprintf(b + n, 400 - n, i ? ", %lld" : "%lld", (long long)sh[i]);
    if (nd <= 0) n += (size_t)snprintf(b + n, 400 - n, "0");
    snprintf(b + n, 400 - n, "}");
    return b;
}
static const char *ctxn(const ag_ctx *c) { return !c ? "NULL" : c == S->ctx[0] ? "c0" : c == S->ctx[1] ? "c1" : "c?"; }
static const char *dtn(ag_dtype d) {
    static const char *const names[7] = { "AG_F32", "AG_F64", "AG_F16", "AG_BF16", "AG_I32", "AG_I64", "AG_BOOL" };
    return (int)d >= 0 && (int)d < 7 ? names[d] : d == (ag_dtype)7 ? "(ag_dtype)7" : "(ag_dtype)-1";
}
static void tr_shape_of(const ag_tensor *t) {   /* trace the result's shape as a comment */
    int i;
    if (!g_trace) return;
    if (!t) { tr("   /* -> NULL */\n"); return; }
    tr("   /* -> [");
    for (i = 0; i < ag_ndim(t); i++) tr(i ? ", %lld" : "%lld", (long long)ag_dim(t, i));
    tr("] %s%s */\n", ag_dtype_name(ag_type(t)), ag_is_contiguous(t) ? "" : " strided");
}

/* ---- the checks ---- */
static clock_t g_t0;
static void begin(const char *name) { g_call = name; g_t0 = clock(); S->calls++; }
static void clear_errors(void) {
    ag_clear_error(S->ctx[0]);
    ag_clear_error(S->ctx[1]);
}
/* failed: the call returned its failure value; must: a context was reachable, so a message is required */
static void end(bool failed, bool must) {
    double secs = (double)(clock() - g_t0) / CLOCKS_PER_SEC;
    const char *e0 = ag_error(S->ctx[0]), *e1 = ag_error(S->ctx[1]);
    if (secs > CALL_SECONDS) {
        fprintf(stderr, "fuzz_api: %s took %.2f s (more than %.1f)\n", g_call, secs, CALL_SECONDS);
        abort();
    }
    if (g_trace && (e0 || e1)) tr("   /* error: %s */\n", e0 ? e0 : e1);
    if (g_trace && secs > 0.05) tr("   /* %s took %.2f s */\n", g_call, secs);
    if (failed && must && !e0 && !e1) {
        fprintf(stderr, "fuzz_api: %s reported failure without an error message\n", g_call);
        abort();
    }
    if (e0 && !e0[0]) { fprintf(stderr, "fuzz_api: %s left an empty error message\n", g_call); abort(); }
    if (e1 && !e1[0]) { fprintf(stderr, "fuzz_api: %s left an empty error message\n", g_call); abort(); }
    clear_errors();
}

/* ---- the pool ---- */
static int ctx_index(const ag_tensor *t) {
    ag_ctx *c = ag_context(t);
    return c == S->ctx[0] ? 0 : c == S->ctx[1] ? 1 : -1;
}
static bool is_persistent(const ag_tensor *t) {
    int i;
    for (i = 0; i < NSLOT; i++) if (S->s[i].t == t && S->s[i].pers) return true;
    return false;
}
/* keeps a result in the slot the next byte names; pers: made persistent by this call */
static void put(ag_tensor *t, bool pers) {
    int c, k;
    uint8_t b = u8(&S->r);
    if (!t) return;
    c = ctx_index(t);
    if (c < 0) return;
    {   /* a tensor handed out is well formed: 0 to 8 dims, numel the product of the shape */
        int i, nd = ag_ndim(t);
        int64_t n = 1;
        if (nd < 0 || nd > AG_MAX_DIMS) { fprintf(stderr, "fuzz_api: %s gave a tensor of %d dims\n", g_call, nd); abort(); }
        for (i = 0; i < nd; i++) {
            if (ag_dim(t, i) < 0) { fprintf(stderr, "fuzz_api: %s gave a negative size\n", g_call); abort(); }
            n = ag_dim(t, i) == 0 || n == 0 ? 0 : n > INT64_MAX / ag_dim(t, i) ? -1 : n * ag_dim(t, i);
        }
        if (n != ag_numel(t)) { fprintf(stderr, "fuzz_api: %s gave a tensor whose numel %lld is not the product of its shape\n", g_call, (long long)ag_numel(t)); abort(); }
    }
    pers = pers || is_persistent(t);
    k = b % NSLOT;
    S->s[k].t = t; S->s[k].c = c; S->s[k].pers = pers; S->s[k].id = S->next_id++; S->s[k].owner = g_owner;
    tr("   /* t%d kept in slot %d%s */\n", S->s[k].id, k, pers ? " (persistent)" : "");
}
static ag_tensor *pick(void) {
    uint8_t b = u8(&S->r);
    if ((b & 0x87) == 0x87) return NULL;   /* 1 in 16 */
    return S->s[b % NSLOT].t;
}
static ag_ctx *pick_ctx(int *ci) {
    uint8_t b = u8(&S->r) % 16;
    *ci = b < 11 ? 0 : b < 15 ? 1 : -1;
    return *ci < 0 ? NULL : S->ctx[*ci];
}
static int64_t numel_sat(int nd, const int64_t *sh) {   /* product of the sizes, saturated; -1 if a size is negative */
    int64_t n = 1;
    int i;
    for (i = 0; i < nd; i++) {
        if (sh[i] < 0) return -1;
        if (sh[i] == 0) return 0;
        n = n > INT64_MAX / sh[i] ? INT64_MAX : n * sh[i];
    }
    return n;
}
static bool same_shape(const ag_tensor *a, const ag_tensor *b) {   /* and dtype */
    int i;
    if (ag_ndim(a) != ag_ndim(b) || ag_type(a) != ag_type(b)) return false;
    for (i = 0; i < ag_ndim(a); i++) if (ag_dim(a, i) != ag_dim(b, i)) return false;
    return true;
}


/* ---- the cost of products: the harness keeps each call and each backward fast ----
   Matrix products cost what they cost (not a bug), so the harness skips one that would do
   more than HEAVY_ONE multiply-adds, or push the context past HEAVY_STEP since its last reset
   (a backward or a replay redoes the step's products, about twice over). The scalar kernels
   under the sanitizers do some 3e7 multiply-adds a second. */
#define HEAVY_ONE 3e6
#define HEAVY_STEP 6e6
static double dimd(const ag_tensor *t, int i) { int64_t d = ag_dim(t, i); return d > 0 ? (double)d : 1.0; }
static double numeld(const ag_tensor *t) { return t && ag_numel(t) > 0 ? (double)ag_numel(t) : 1.0; }
static bool heavy_ok(const ag_tensor *t, double cost) {
    int ci = ctx_index(t);
    if (ci < 0) return true;
    if (cost > HEAVY_ONE || S->heavy[ci] + cost > HEAVY_STEP) { tr("/* skipped: a product of %.3g multiply-adds */\n", cost); return false; }
    S->heavy[ci] += cost;
    return true;
}
static double matmul_cost(const ag_tensor *a, const ag_tensor *b) {   /* an upper bound; 0 when the result cannot fit */
    double M, K, N, batch = 1;
    int i, na, nb, nbat;
    if (!a || !b || ag_ndim(a) < 1 || ag_ndim(b) < 1) return 0;
    M = ag_ndim(a) >= 2 ? dimd(a, -2) : 1; K = dimd(a, -1); N = ag_ndim(b) >= 2 ? dimd(b, -1) : 1;
    na = ag_ndim(a) - 2; nb = ag_ndim(b) - 2;
    nbat = na > nb ? na : nb;
    for (i = 0; i < nbat; i++) {   /* broadcast batch dims, right-aligned */
        double da = i - (nbat - na) >= 0 ? dimd(a, i - (nbat - na)) : 1, db = i - (nbat - nb) >= 0 ? dimd(b, i - (nbat - nb)) : 1;
        batch *= da > db ? da : db;
    }
    if (batch * M * N * 4 > 2.0 * ARENA_LIMIT) return 0;   /* the result cannot be allocated: the call must fail first */
    return batch * M * K * N;
}

/* a shape for creation: up to 9 dims; a mid-sized one (more than CAP_CREATE elements but small
   enough that the allocation could succeed) is shrunk to keep the calls fast, a huge one is kept
   (its allocation must fail cleanly) */
static int rd_shape(int64_t *sh) {
    int nd = rd_ndim(&S->r), i, n = nd < 0 ? 0 : nd > AG_MAX_DIMS + 1 ? AG_MAX_DIMS + 1 : nd;
    int64_t ne;
    for (i = 0; i < AG_MAX_DIMS + 1; i++) sh[i] = 1;
    for (i = 0; i < n; i++) sh[i] = rd_size(&S->r);
    ne = numel_sat(n, sh);
    if (ne > CAP_CREATE && ne < ((int64_t)1 << 30)) {
        while (numel_sat(n, sh) > CAP_CREATE) {
            int big = 0;
            for (i = 1; i < n; i++) if (sh[i] > sh[big]) big = i;
            sh[big] = (sh[big] + 1) / 2;
        }
    }
    return nd;
}

/* ---- data for ag_from / ag_param / ag_persistent ---- */
static float g_f32[CAP_CREATE];
static double g_f64[CAP_CREATE];
static const void *rd_data(ag_dtype dt, int64_t numel) {
    uint8_t mode = u8(&S->r);
    uint32_t seed = u8(&S->r) * 2654435761u + 1;
    int64_t i, n = numel < 0 ? 0 : numel > CAP_CREATE ? CAP_CREATE : numel;
    if (numel < 0 || numel > CAP_CREATE) return NULL;   /* the library would read past the buffer */
    if (mode % 8 == 7) return NULL;
    for (i = 0; i < n; i++) {
        double v;
        seed = seed * 1103515245u + 12345u;
        switch (mode % 6) {
        case 0: v = 0.1 * (double)(i + 1); break;
        case 1: v = ((double)(seed >> 8) / 16777216.0) * 4.0 - 2.0; break;
        case 2: v = (seed >> 28) == 0 ? NAN : (seed >> 28) == 1 ? HUGE_VAL : (seed >> 28) == 2 ? -HUGE_VAL : (double)(int)(seed >> 29); break;
        case 3: v = (double)((int)(seed >> 24) - 128) * 1e30; break;
        case 4: v = 1.0; break;
        default: v = (double)(int)(i % 7) - 3.0; break;
        }
        g_f32[i] = (float)v;   /* out of range: inf (IEEE), not UB */
        g_f64[i] = v;
    }
    return dt == AG_F64 || dt == AG_I64 ? (const void *)g_f64 : (const void *)g_f32;   /* 8-byte elements: the double buffer */
}

/* ---- index arrays: kept for the whole run (a replay reads them again) ---- */
static int32_t *rd_index(int64_t n, int64_t bound) {
    uint8_t mode = u8(&S->r);
    uint32_t seed = u8(&S->r) * 2246822519u + 7;
    int64_t i, bad = (int64_t)u8(&S->r);
    int32_t *p;
    if (mode == 255) return NULL;
    if (n < 0 || n > (int64_t)(IDX_CAP - S->idx_used)) return NULL;
    p = S->idx + S->idx_used;
    S->idx_used += (size_t)(n ? n : 1);
    if (n == 0) { p[0] = 0; return p; }
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = bound > 0 ? (int32_t)((seed >> 8) % (uint64_t)(bound > INT32_MAX ? INT32_MAX : bound)) : 0;
    }
    if (mode % 4 == 3) {   /* one entry out of range */
        static const int32_t badv[4] = {-1, 0, INT32_MAX, INT32_MIN};
        p[bad % n] = badv[mode / 4 % 4] ? badv[mode / 4 % 4] : (int32_t)(bound > INT32_MAX ? INT32_MAX : bound);
    }
    return p;
}

/* ---- fixed functions for checkpoint, gradcheck and the functional API ---- */
static ag_tensor *fz_fn(ag_ctx *ctx, ag_tensor **in, void *user) {
    const fn_user *u = (const fn_user *)user;
    ag_tensor *a = in[0], *b = in[u->n - 1];
    switch (u->kind) {
    case 0: return ag_sum(ag_tanh(a));
    case 1: return ag_mul(a, b);
    case 2: return ag_sum(ag_mul(ag_exp(a), b));
    case 3:
        return ag_softmax(a, -1);
    case 4: return a;                                           /* the identity */
    case 5: return ag_matmul(a, b);
    case 6: return ag_ones(ctx, AG_F32, 0, NULL);               /* depends on no input */
    case 7: return ag_sum(ag_pow(ag_add(a, b), 3.0));
    case 8: return ag_mean(ag_sigmoid(ag_sub(a, ag_mul(a, b))));
    case 9: return ag_sum(ag_layer_norm(a, NULL, NULL, 1e-5));
    case 10: return NULL;                                       /* fails without an error of its own */
    case 11: return ag_sum(ag_mul(a, u->extra));                /* uses a tensor besides its inputs (a parameter) */
    default: return S->foreign;                                 /* a tensor of another context */
    }
}
#define FN_KINDS 13

/* ---- custom functions (ag_apply) ---- */
static ag_tensor *cu_forward(ag_custom *c, ag_tensor **in, int n, void *user) {
    const cu_user *u = (const cu_user *)user;
    switch (u->kind) {
    case 0: if (ag_save_for_backward(c, n, in) != 0) return NULL; return ag_mul(in[0], in[0]);
    case 1: return ag_add(in[0], in[n - 1]);
    case 2: return NULL;
    case 3: return in[0];                                       /* the input itself */
    case 4: if (ag_save_for_backward(c, -1, in) == 0) return NULL; return ag_neg(in[0]);
    default: return ag_sum(in[0]);
    }
}
static int cu_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) {
    const cu_user *u = (const cu_user *)user;
    switch (u->kind) {
    case 0: grads[0] = ag_mul(g, ag_mul_scalar(ag_saved(c, 0), 2.0)); return 0;
    case 1: grads[0] = g; return 0;
    case 3: grads[0] = ag_custom_output(c) ? g : NULL; return 0;
    case 4: grads[0] = ag_sum(g); return 0;                     /* a wrong shape unless 0-d */
    case 5: grads[0] = ag_expand(ag_reshape(g, 0, NULL), ag_ndim(ag_custom_input(c, 0)), ag_shape(ag_custom_input(c, 0))); return 0;
    default: return -1;
    }
}
static int cu_jvp(ag_custom *c, ag_tensor *const *t, ag_tensor **out, void *user) {
    const cu_user *u = (const cu_user *)user;
    switch (u->kind) {
    case 0: *out = t[0] ? ag_mul(ag_mul_scalar(ag_custom_input(c, 0), 2.0), t[0]) : NULL; return 0;
    case 1: *out = t[0]; return 0;
    case 5: *out = t[0] ? ag_sum(t[0]) : NULL; return 0;
    default: return -1;
    }
}

/* ---- gradient hooks ---- */
static double g_bound = 0.5;
static ag_tensor *hk_scale(ag_tensor *g, void *user) { (void)user; return ag_mul_scalar(g, 2.0); }
static ag_tensor *hk_null(ag_tensor *g, void *user) { (void)g; (void)user; return NULL; }
static ag_tensor *hk_sum(ag_tensor *g, void *user) { (void)user; return ag_sum(g); }   /* a wrong shape unless 0-d */
static ag_tensor *hk_nan(ag_tensor *g, void *user) { (void)user; return ag_mul_scalar(g, NAN); }

/* ---- a small forward + backward with known values: the context still works ---- */
static void sanity(int ci) {
    static const float av[3] = {1, 2, 3};
    static const float Av[6] = {1, -2, 0.5f, 3, 0, -1};
    static const float Bv[6] = {0.5f, 1, -1, 2, 0.25f, -0.5f};
    ag_ctx *c = S->ctx[ci];
    int64_t s3 = 3, s23[2] = {2, 3}, s32[2] = {3, 2};
    bool prev;
    ag_tensor *a, *A, *B, *loss;
    float ga[3], gA[6];
    const char *e;
    int i, ok = 1;
    if (S->capturing[ci]) return;   /* the work would become part of the capture */
    tr("sanity(c%d);\n", ci);
    prev = ag_set_grad_enabled(c, true);
    a = ag_set_requires_grad(ag_from(c, AG_F32, 1, &s3, av), true);
    A = ag_set_requires_grad(ag_from(c, AG_F32, 2, s23, Av), true);
    B = ag_from(c, AG_F32, 2, s32, Bv);
    loss = ag_add(ag_sum(ag_mul(a, a)), ag_sum(ag_matmul(A, B)));
    if (!loss || ag_backward(loss, NULL) != 0 || !ag_grad(a) || !ag_grad(A) || ag_copy_out(ag_grad(a), AG_F32, ga) != 0 ||
        ag_copy_out(ag_grad(A), AG_F32, gA) != 0)
        ok = 0;
    ag_set_grad_enabled(c, prev);
    e = ag_error(c);
    if (!ok) {
        /* the only acceptable reasons: the arena is full, or the allocator was told to fail */
        if (e && (strstr(e, "arena") || strstr(e, "out of memory"))) { clear_errors(); return; }
        fprintf(stderr, "fuzz_api: the context is broken: a small forward + backward failed (%s)\n", e ? e : "no message");
        abort();
    }
    {
        double want = 14.0;   /* sum a^2, plus sum(A @ B) */
        int j, k;
        for (i = 0; i < 2; i++) for (j = 0; j < 2; j++) for (k = 0; k < 3; k++) want += Av[i * 3 + k] * Bv[k * 2 + j];
        if (fabs(ag_item(loss) - want) > 1e-5 || e) ok = 0;
    }
    for (i = 0; i < 3; i++) if (fabs(ga[i] - 2 * av[i]) > 1e-6) ok = 0;
    for (i = 0; i < 6; i++) if (fabs(gA[i] - (Bv[(i % 3) * 2] + Bv[(i % 3) * 2 + 1])) > 1e-6) ok = 0;
    if (!ok) {
        fprintf(stderr, "fuzz_api: the context is broken: a small forward + backward computed wrong values (loss %g, %s)\n",
                ag_item(loss), e ? e : "no message");
        abort();
    }
    clear_errors();
}

/* ---- the steps ---- */
enum {
    OP_CREATE, OP_UNARY, OP_BINARY, OP_DIMOP, OP_RESHAPE, OP_SLICE, OP_CAT, OP_INDEX, OP_NORM, OP_CONV,
    OP_BATCHNORM, OP_ATTENTION, OP_INPLACE, OP_BACKWARD, OP_GRAD_OF, OP_RESET, OP_MODES, OP_CAPTURE, OP_OPTIM,
    OP_CLIP, OP_INIT, OP_SAFETENSORS, OP_HOOK, OP_ACCESS, OP_CUSTOM, OP_FUNCTIONAL, OP_GRADCHECK, OP_PURE,
    OP_SANITY, OP_POKE, OP_TEMPCTX, OP_MORE, OP_MORE2, OP_FREE, OP_VMAP, OP_COUNT
};

static void do_create(void) {
    rd_t *r = &S->r;
    int kind = u8(r) % 14, ci, nd;
    ag_ctx *c = pick_ctx(&ci);
    ag_dtype dt = rd_dtype(r);
    int64_t sh[AG_MAX_DIMS + 1], ne;
    ag_tensor *t = NULL;
    const void *data;
    bool pers = false;
    nd = rd_shape(sh);
    ne = nd >= 0 && nd <= AG_MAX_DIMS ? numel_sat(nd, sh) : -1;
    switch (kind) {
    case 0: tr("t = ag_new(%s, %s, %d, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh)); begin("ag_new"); t = ag_new(c, dt, nd, sh); break;
    case 1: tr("t = ag_zeros(%s, %s, %d, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh)); begin("ag_zeros"); t = ag_zeros(c, dt, nd, sh); break;
    case 2: tr("t = ag_ones(%s, %s, %d, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh)); begin("ag_ones"); t = ag_ones(c, dt, nd, sh); break;
    case 3: {
        double v = rd_double(r);
        tr("t = ag_full(%s, %s, %d, %s, %g);", ctxn(c), dtn(dt), nd, shp(nd, sh), v);
        begin("ag_full"); t = ag_full(c, dt, nd, sh, v); break;
    }
    case 4:
        data = rd_data(dt, ne);
        tr("t = ag_from(%s, %s, %d, %s, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh), data ? "data" : "NULL");
        begin("ag_from"); t = ag_from(c, dt, nd, sh, data); break;
    case 5:
        data = rd_data(dt, ne);
        tr("t = ag_param(%s, %s, %d, %s, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh), data ? "data" : "NULL");
        begin("ag_param"); t = ag_param(c, dt, nd, sh, data); pers = true; break;
    case 6:
        data = rd_data(dt, ne);
        tr("t = ag_persistent(%s, %s, %d, %s, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh), data ? "data" : "NULL");
        begin("ag_persistent"); t = ag_persistent(c, dt, nd, sh, data); pers = true; break;
    case 7: {
        double v = rd_double(r);
        bool f64 = rbool(r);
        tr("t = %s(%s, %g);", f64 ? "ag_scalar_f64" : "ag_scalar", ctxn(c), v);
        begin("ag_scalar"); t = f64 ? ag_scalar_f64(c, v) : ag_scalar(c, v); break;
    }
    case 8: {
        double a = rd_double(r), b = rd_double(r), st = rd_double(r), len = ceil((b - a) / st);
        if (len > CAP_CREATE && len < 1e9) b = a + st * CAP_CREATE;   /* keep it fast; huge counts stay */
        tr("t = ag_arange(%s, %s, %.17g, %.17g, %.17g);", ctxn(c), dtn(dt), a, b, st);
        begin("ag_arange"); t = ag_arange(c, dt, a, b, st); break;
    }
    case 9: tr("t = ag_rand(%s, %s, %d, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh)); begin("ag_rand"); t = ag_rand(c, dt, nd, sh); break;
    case 10: tr("t = ag_randn(%s, %s, %d, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh)); begin("ag_randn"); t = ag_randn(c, dt, nd, sh); break;
    case 12: {   /* the typed constructors */
        bool f64 = rbool(r);
        data = rd_data(f64 ? AG_F64 : AG_F32, ne);
        tr("t = %s(%s, %d, %s, %s);", f64 ? "ag_from_f64" : "ag_from_f32", ctxn(c), nd, shp(nd, sh), data ? "data" : "NULL");
        begin(f64 ? "ag_from_f64" : "ag_from_f32");
        t = f64 ? ag_from_f64(c, nd, sh, (const double *)data) : ag_from_f32(c, nd, sh, (const float *)data);
        break;
    }
    case 13: {   /* ag_wrap: the caller's array, no copy; misaligned or NULL sometimes */
        uint8_t m = u8(r);
        size_t es = dt == AG_F64 || dt == AG_I64 ? 8 : dt == AG_F16 || dt == AG_BF16 ? 2 : dt == AG_BOOL ? 1 : 4;
        size_t need = ne >= 0 && ne <= 2 * WRAP_CAP ? (size_t)ne * es : 0;
        char *p = NULL;
        if (ne >= 0 && ne <= 2 * WRAP_CAP && need + 8 <= (WRAP_CAP - S->wrap_used) * sizeof(double) && !(m & 0x80)) {
            int64_t i;
            p = (char *)(S->wrap + S->wrap_used);
            S->wrap_used += (need + 7) / 8 + 1;   /* one spare double: a misaligned start stays inside */
            for (i = 0; i < ne; i++) {
                double v = (double)((i * 7 + m) % 11) - 5.0;
                if (dt == AG_F64) ((double *)(void *)p)[i] = v;
                else if (dt == AG_F32) ((float *)(void *)p)[i] = (float)v;
                else memset(p + (size_t)i * es, (int)(v + 5), es);   /* integers, bools, 16-bit: some bytes */
            }
            if (m & 1) p += 1 + (m & 2);   /* misaligned: must be refused */
        }
        tr("t = ag_wrap(%s, %s, %d, %s, %s);", ctxn(c), dtn(dt), nd, shp(nd, sh), p ? ((m & 1) ? "misaligned" : "buffer") : "NULL");
        begin("ag_wrap");
        t = ag_wrap(c, dt, nd, sh, p);
        if (t && p && ((uintptr_t)p % es)) { fprintf(stderr, "fuzz_api: ag_wrap accepted a misaligned array\n"); abort(); }
        break;
    }
    default: {   /* a param that requires grad, or a leaf made to require grad */
        data = rd_data(dt, ne);
        tr("t = ag_set_requires_grad(ag_from(%s, %s, %d, %s, %s), true);", ctxn(c), dtn(dt), nd, shp(nd, sh), data ? "data" : "NULL");
        begin("ag_from");
        t = ag_from(c, dt, nd, sh, data);
        end(!t, c != NULL);
        if (!t) { put(NULL, false); return; }
        begin("ag_set_requires_grad");
        t = ag_set_requires_grad(t, true);
        break;
    }
    }
    tr_shape_of(t);
    end(!t, c != NULL);
    put(t, pers);
}

static void do_unary(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *y = NULL;
    int k = u8(r) % 68;
    double p = rd_double(r), q = rd_double(r);
    static ag_tensor *(*const plain[26])(ag_tensor *) = {ag_sin, ag_cos, ag_tan, ag_asin, ag_acos, ag_atan, ag_sinh, ag_cosh,
        ag_asinh, ag_acosh, ag_atanh, ag_log2, ag_log10, ag_log1p, ag_exp2, ag_expm1, ag_rsqrt, ag_reciprocal, ag_square,
        ag_floor, ag_ceil, ag_round, ag_trunc, ag_frac, ag_softsign, ag_logsigmoid};
    static const char *const plain_names[26] = {"ag_sin", "ag_cos", "ag_tan", "ag_asin", "ag_acos", "ag_atan", "ag_sinh",
        "ag_cosh", "ag_asinh", "ag_acosh", "ag_atanh", "ag_log2", "ag_log10", "ag_log1p", "ag_exp2", "ag_expm1", "ag_rsqrt",
        "ag_reciprocal", "ag_square", "ag_floor", "ag_ceil", "ag_round", "ag_trunc", "ag_frac", "ag_softsign", "ag_logsigmoid"};
    static const char *const act_names[13] = {"ag_elu", "ag_selu", "ag_celu", "ag_hardtanh", "ag_relu6", "ag_hardsigmoid",
        "ag_hardswish", "ag_mish", "ag_rsub_scalar", "ag_rdiv_scalar", "ag_rpow_scalar", "ag_sign", "ag_std"};
    if (k >= 29) {   /* the ops added at a5e7aa3..189860d: 26 plain ones, the activations, the scalar-on-the-left ops */
        const char *name = k < 55 ? plain_names[k - 29] : act_names[k - 55];
        tr("t = %s(%s", name, nm(a));
        if (k == 67) p = (double)rd_int(r);   /* std's correction */
        if (k == 55 || k == 57 || k == 63 || k == 64 || k == 65) tr(", %.17g", p);
        if (k == 67) tr(", %d", (int)p);
        if (k == 58) tr(", %.17g, %.17g", p, q);
        tr(");");
        begin(name);
        if (k < 55) y = plain[k - 29](a);
        else switch (k) {
        case 55: y = ag_elu(a, p); break;
        case 56: y = ag_selu(a); break;
        case 57: y = ag_celu(a, p); break;
        case 58: y = ag_hardtanh(a, p, q); break;
        case 59: y = ag_relu6(a); break;
        case 60: y = ag_hardsigmoid(a); break;
        case 61: y = ag_hardswish(a); break;
        case 62: y = ag_mish(a); break;
        case 63: y = ag_rsub_scalar(a, p); break;
        case 64: y = ag_rdiv_scalar(a, p); break;
        case 65: y = ag_rpow_scalar(a, p); break;
        case 66: y = ag_sign(a); break;
        default: y = ag_std(a, (int)p); break;
        }
        tr_shape_of(y);
        end(!y, a != NULL);
        put(y, false);
        return;
    }
    static const char *const names[29] = {"ag_neg", "ag_pow", "ag_add_scalar", "ag_mul_scalar", "ag_exp", "ag_log", "ag_sqrt",
        "ag_abs", "ag_tanh", "ag_sigmoid", "ag_relu", "ag_leaky_relu", "ag_gelu", "ag_gelu_tanh", "ag_silu", "ag_erf",
        "ag_clamp", "ag_softplus", "ag_to", "ag_contiguous", "ag_detach", "ag_sum", "ag_mean", "ag_max", "ag_min", "ag_var",
        "ag_dropout", "ag_softplus", "ag_to"};
    if (k == 25) p = (double)rd_int(r);
    if (k == 26) p = rd_prob(r);
    if (k == 27) { p = 1.0; q = 20.0; }
    ag_dtype dt = k == 18 || k == 28 ? rd_dtype(r) : AG_F32;
    tr("t = %s(%s", names[k], nm(a));
    if (k == 1 || k == 2 || k == 3 || k == 11 || k == 26) tr(", %.17g", p);
    if (k == 16 || k == 17 || k == 27) tr(", %.17g, %.17g", p, q);
    if (k == 18 || k == 28) tr(", %s", dtn(dt));
    if (k == 25) tr(", %d", (int)p);
    if (k == 26) tr(", %s", q > 0 ? "true" : "false");
    tr(");");
    begin(names[k]);
    switch (k) {
    case 0: y = ag_neg(a); break;
    case 1: y = ag_pow(a, p); break;
    case 2: y = ag_add_scalar(a, p); break;
    case 3: y = ag_mul_scalar(a, p); break;
    case 4: y = ag_exp(a); break;
    case 5: y = ag_log(a); break;
    case 6: y = ag_sqrt(a); break;
    case 7: y = ag_abs(a); break;
    case 8: y = ag_tanh(a); break;
    case 9: y = ag_sigmoid(a); break;
    case 10: y = ag_relu(a); break;
    case 11: y = ag_leaky_relu(a, p); break;
    case 12: y = ag_gelu(a); break;
    case 13: y = ag_gelu_tanh(a); break;
    case 14: y = ag_silu(a); break;
    case 15: y = ag_erf(a); break;
    case 16: y = ag_clamp(a, p, q); break;
    case 17: case 27: y = ag_softplus(a, p, q); break;
    case 18: case 28: y = ag_to(a, dt); break;
    case 19: y = ag_contiguous(a); break;
    case 20: y = ag_detach(a); break;
    case 21: y = ag_sum(a); break;
    case 22: y = ag_mean(a); break;
    case 23: y = ag_max(a); break;
    case 24: y = ag_min(a); break;
    case 25: y = ag_var(a, (int)p); break;
    default: y = ag_dropout(a, p, q > 0); break;
    }
    tr_shape_of(y);
    end(!y, a != NULL);
    put(y, false);
}

static void do_binary(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *b = pick(), *y = NULL;
    int k = u8(r) % 18;
    static const char *const names[18] = {"ag_add", "ag_sub", "ag_mul", "ag_div", "ag_maximum", "ag_minimum", "ag_matmul",
                                          "ag_mse_loss", "ag_bce_with_logits", "ag_make_dual", "ag_linear", "ag_atan2",
                                          "ag_hypot", "ag_logaddexp", "ag_fmod", "ag_remainder", "ag_pow_tensor", "ag_lerp"};
    ag_tensor *bias = k == 10 || k == 17 ? pick() : NULL;   /* linear's bias, lerp's weight */
    if (k == 6 && !heavy_ok(a, matmul_cost(a, b))) return;
    if (k == 10 && a && b && !heavy_ok(a, numeld(a) * numeld(b))) return;
    if (k == 10 || k == 17) tr("t = %s(%s, %s, %s);", names[k], nm(a), nm(b), nm(bias));
    else tr("t = %s(%s, %s);", names[k], nm(a), nm(b));
    begin(names[k]);
    switch (k) {
    case 0: y = ag_add(a, b); break;
    case 1: y = ag_sub(a, b); break;
    case 2: y = ag_mul(a, b); break;
    case 3: y = ag_div(a, b); break;
    case 4: y = ag_maximum(a, b); break;
    case 5: y = ag_minimum(a, b); break;
    case 6: y = ag_matmul(a, b); break;
    case 7: y = ag_mse_loss(a, b); break;
    case 8: y = ag_bce_with_logits(a, b); break;
    case 9: y = ag_make_dual(a, b); break;
    case 10: y = ag_linear(a, b, bias); break;
    case 11: y = ag_atan2(a, b); break;
    case 12: y = ag_hypot(a, b); break;
    case 13: y = ag_logaddexp(a, b); break;
    case 14: y = ag_fmod(a, b); break;
    case 15: y = ag_remainder(a, b); break;
    case 16: y = ag_pow_tensor(a, b); break;
    default: y = ag_lerp(a, b, bias); break;
    }
    tr_shape_of(y);
    end(!y, a || b || (k == 17 && bias));   /* linear's bias is optional: with only the bias, no message is accepted */
    put(y, false);
}

static void do_dimop(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *y = NULL;
    int k = u8(r) % 19, d = rd_int(r), d2 = rd_int(r), corr = rd_int(r);
    bool keep = rbool(r);
    static const char *const names[19] = {"ag_sum_dim", "ag_mean_dim", "ag_max_dim", "ag_min_dim", "ag_var_dim", "ag_argmax",
                                          "ag_softmax", "ag_log_softmax", "ag_squeeze", "ag_unsqueeze", "ag_transpose",
                                          "ag_std_dim", "ag_logsumexp", "ag_cumsum", "ag_tril", "ag_triu", "ag_argmin", "ag_roll",
                                          "ag_flip"};
    if (k >= 11) {   /* the ops added at 44da245..fabdda6 */
        int dims[AG_MAX_DIMS + 1], nd = 0, i;
        int64_t shift = 0;
        bool null_dims = false;
        if (k == 17) shift = rd_i64(r);
        if (k == 18) {
            nd = rd_count(r, 5, 1);
            null_dims = u8(r) == 0;
            for (i = 0; i < AG_MAX_DIMS + 1; i++) dims[i] = i < nd ? rd_int(r) : 0;
        }
        if (g_trace) {
            if (k == 11) tr("t = ag_std_dim(%s, %d, %s, %d);", nm(a), d, keep ? "true" : "false", corr);
            else if (k == 12 || k == 16) tr("t = %s(%s, %d, %s);", names[k], nm(a), d, keep ? "true" : "false");
            else if (k == 17) tr("t = ag_roll(%s, %lldLL, %d);", nm(a), (long long)shift, d);
            else if (k == 18) {
                tr("t = ag_flip(%s, %d, ", nm(a), nd);
                if (null_dims) tr("NULL"); else { tr("(int[]){"); for (i = 0; i < (nd > 0 ? nd : 1); i++) tr(i ? ", %d" : "%d", dims[i]); tr("}"); }
                tr(");");
            } else tr("t = %s(%s, %d);", names[k], nm(a), d);
        }
        begin(names[k]);
        switch (k) {
        case 11: y = ag_std_dim(a, d, keep, corr); break;
        case 12: y = ag_logsumexp(a, d, keep); break;
        case 13: y = ag_cumsum(a, d); break;
        case 14: y = ag_tril(a, d); break;
        case 15: y = ag_triu(a, d); break;
        case 16: y = ag_argmin(a, d, keep); break;
        case 17: y = ag_roll(a, shift, d); break;
        default: y = ag_flip(a, nd, null_dims ? NULL : dims); break;
        }
        tr_shape_of(y);
        end(!y, a != NULL);
        put(y, false);
        return;
    }
    if (k <= 3 || k == 5) tr("t = %s(%s, %d, %s);", names[k], nm(a), d, keep ? "true" : "false");
    else if (k == 4) tr("t = ag_var_dim(%s, %d, %s, %d);", nm(a), d, keep ? "true" : "false", corr);
    else if (k == 10) tr("t = ag_transpose(%s, %d, %d);", nm(a), d, d2);
    else tr("t = %s(%s, %d);", names[k], nm(a), d);
    begin(names[k]);
    switch (k) {
    case 0: y = ag_sum_dim(a, d, keep); break;
    case 1: y = ag_mean_dim(a, d, keep); break;
    case 2: y = ag_max_dim(a, d, keep); break;
    case 3: y = ag_min_dim(a, d, keep); break;
    case 4: y = ag_var_dim(a, d, keep, corr); break;
    case 5: y = ag_argmax(a, d, keep); break;
    case 6: y = ag_softmax(a, d); break;
    case 7: y = ag_log_softmax(a, d); break;
    case 8: y = ag_squeeze(a, d); break;
    case 9: y = ag_unsqueeze(a, d); break;
    default: y = ag_transpose(a, d, d2); break;
    }
    tr_shape_of(y);
    end(!y, a != NULL);
    put(y, false);
}

static void do_reshape(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *y = NULL;
    int k = u8(r) % 3, mode = u8(r) % 6, nd = 0, i, an = a ? ag_ndim(a) : 0;
    int64_t sh[AG_MAX_DIMS + 1];
    int perm[AG_MAX_DIMS + 1];
    const int64_t *shape = sh;
    for (i = 0; i < AG_MAX_DIMS + 1; i++) { sh[i] = 1; perm[i] = i; }
    if (k == 0) {   /* reshape */
        int64_t ne = a ? ag_numel(a) : 6;
        switch (mode) {
        case 0: nd = 1; sh[0] = -1; break;
        case 1: nd = 1; sh[0] = ne; break;
        case 2: nd = 2; sh[0] = -1; sh[1] = rd_size(r); break;
        case 3: nd = 3; sh[0] = rd_size(r); sh[1] = -1; sh[2] = rd_size(r); break;
        case 4: shape = NULL; nd = rd_ndim(r); break;
        default: nd = rd_ndim(r); for (i = 0; i < nd && i <= AG_MAX_DIMS; i++) sh[i] = u8(r) < 32 ? -1 : rd_size(r); break;
        }
        tr("t = ag_reshape(%s, %d, %s);", nm(a), nd, shape ? shp(nd, sh) : "NULL");
        begin("ag_reshape");
        y = ag_reshape(a, nd, shape);
    } else if (k == 1) {   /* expand */
        int extra = mode % 3;
        int64_t ne;
        nd = an + extra;
        if (u8(r) < 16) nd = rd_ndim(r);
        for (i = 0; i < nd && i <= AG_MAX_DIMS; i++) {
            int j = i - (nd - an);
            uint8_t b = u8(r);
            if (j >= 0 && b < 128) sh[i] = -1;
            else if (j >= 0 && b < 160) sh[i] = ag_dim(a, j);
            else sh[i] = rd_size(r);
        }
        /* the harness keeps the views it asks for small (their cost is real work, not a bug) */
        {
            int64_t tmp[AG_MAX_DIMS + 1];
            for (i = 0; i < nd && i <= AG_MAX_DIMS; i++) { int j = i - (nd - an); tmp[i] = sh[i] == -1 && j >= 0 ? ag_dim(a, j) : sh[i]; }
            ne = nd >= 0 && nd <= AG_MAX_DIMS ? numel_sat(nd, tmp) : 0;
            if (ne > CAP_VIEW) for (i = 0; i < nd && i <= AG_MAX_DIMS; i++) if (sh[i] > 4) sh[i] = 4;
            for (i = 0; i < nd && i <= AG_MAX_DIMS; i++) { int j = i - (nd - an); tmp[i] = sh[i] == -1 && j >= 0 ? ag_dim(a, j) : sh[i]; }
            ne = nd >= 0 && nd <= AG_MAX_DIMS ? numel_sat(nd, tmp) : 0;
            if (ne > CAP_VIEW)   /* still big (kept sizes of a big input): the new leading dims become 1 */
                for (i = 0; i < nd && i <= AG_MAX_DIMS && i < nd - an; i++) if (sh[i] > 1) sh[i] = 1;
        }
        if (mode == 5) shape = NULL;
        tr("t = ag_expand(%s, %d, %s);", nm(a), nd, shape ? shp(nd, sh) : "NULL");
        begin("ag_expand");
        y = ag_expand(a, nd, shape);
    } else {   /* permute */
        const int *pp = perm;
        if (mode < 3) {   /* a permutation */
            for (i = an - 1; i > 0; i--) { int j = u8(r) % (i + 1), t = perm[i]; perm[i] = perm[j]; perm[j] = t; }
        } else if (mode < 5) {
            for (i = 0; i < AG_MAX_DIMS + 1; i++) perm[i] = rd_int(r);
        } else pp = NULL;
        if (g_trace) {
            tr("t = ag_permute(%s, ", nm(a));
            if (!pp) tr("NULL");
            else { tr("(int[]){"); for (i = 0; i < (an > 0 ? an : 1); i++) tr(i ? ", %d" : "%d", perm[i]); tr("}"); }
            tr(");");
        }
        begin("ag_permute");
        y = ag_permute(a, pp);
    }
    tr_shape_of(y);
    end(!y, a != NULL);
    put(y, false);
}

static void do_slice(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *y;
    bool narrow = rbool(r);
    int d = rd_int(r);
    int64_t s = rd_i64(r), e = rd_i64(r), st = rd_i64(r);
    if (u8(r) < 128 && st <= 0) st = st < -(INT64_MAX - 1) ? INT64_MAX : 1 - st;   /* mostly valid steps */
    if (narrow) {
        tr("t = ag_narrow(%s, %d, %lldLL, %lldLL);", nm(a), d, (long long)s, (long long)e);
        begin("ag_narrow");
        y = ag_narrow(a, d, s, e);
    } else {
        tr("t = ag_slice(%s, %d, %lldLL, %lldLL, %lldLL);", nm(a), d, (long long)s, (long long)e, (long long)st);
        begin("ag_slice");
        y = ag_slice(a, d, s, e, st);
    }
    tr_shape_of(y);
    end(!y, a != NULL);
    put(y, false);
}

static void do_cat(void) {
    rd_t *r = &S->r;
    ag_tensor *ts[8], *y;
    bool stack = rbool(r), null_list = u8(r) == 0;
    int n = rd_count(r, 6, 2), d = rd_int(r), i;
    bool any = false;
    for (i = 0; i < 8; i++) ts[i] = NULL;
    for (i = 0; i < n && i < 8; i++) if ((ts[i] = pick())) any = true;
    if (g_trace) {
        tr("t = %s(", stack ? "ag_stack" : "ag_cat");
        if (null_list) tr("NULL");
        else { tr("(ag_tensor *[]){"); for (i = 0; i < (n > 0 ? n : 1); i++) tr(i ? ", %s" : "%s", nm(ts[i])); tr("}"); }
        tr(", %d, %d);", n, d);
    }
    begin(stack ? "ag_stack" : "ag_cat");
    y = stack ? ag_stack(null_list ? NULL : ts, n, d) : ag_cat(null_list ? NULL : ts, n, d);
    tr_shape_of(y);
    /* documented: no tensor (a NULL list or n <= 0) means no context to report to */
    end(!y, any && !null_list && n > 0);
    put(y, false);
}

static void do_index(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *y = NULL;
    int k = u8(r) % 3;
    if (k == 0) {   /* gather_rows */
        int64_t n = u8(r) < 16 ? rd_i64(r) : (int64_t)(u8(r) % 9);
        int64_t bound = a && ag_ndim(a) > 0 ? ag_dim(a, 0) : 1;
        int32_t *ix = rd_index(n, bound);
        /* the library reads n entries: a huge n goes with a short array only when no correct
           library can allocate the room for n entries (8 n bytes > 2^64 or > the arena limit) */
        if (!ix && n > IDX_CAP && n >= ((int64_t)1 << 59) && u8(r) < 128) ix = S->idx;
        tr("t = ag_gather_rows(%s, %lldLL, %s);", nm(a), (long long)n, ix ? "index" : "NULL");
        begin("ag_gather_rows");
        y = ag_gather_rows(a, n, ix);
    } else if (k == 1) {   /* embedding */
        int nd = rd_ndim(r) % 4, i;
        int64_t sh[AG_MAX_DIMS + 1], n;
        int32_t *ix;
        for (i = 0; i < AG_MAX_DIMS + 1; i++) sh[i] = 1;
        if (nd < 0) nd = 0;
        for (i = 0; i < nd; i++) sh[i] = u8(r) < 16 ? rd_size(r) : (int64_t)(u8(r) % 5);
        n = numel_sat(nd, sh);
        ix = rd_index(n, a && ag_ndim(a) == 2 ? ag_dim(a, 0) : 1);
        tr("t = ag_embedding(%s, %d, %s, %s);", nm(a), nd, shp(nd, sh), ix ? "index" : "NULL");
        begin("ag_embedding");
        y = ag_embedding(a, nd, sh, ix);
    } else {   /* cross_entropy */
        int64_t N = a && ag_ndim(a) == 2 ? ag_dim(a, 0) : 1, C = a && ag_ndim(a) >= 1 ? ag_dim(a, ag_ndim(a) - 1) : 1;
        int32_t *ix = rd_index(N, C);
        tr("t = ag_cross_entropy(%s, %s);", nm(a), ix ? "targets" : "NULL");
        begin("ag_cross_entropy");
        y = ag_cross_entropy(a, ix);
    }
    tr_shape_of(y);
    end(!y, a != NULL);
    put(y, false);
}

static void do_norm(void) {
    rd_t *r = &S->r;
    ag_tensor *x = pick(), *w = u8(r) < 96 ? NULL : pick(), *b = u8(r) < 96 ? NULL : pick(), *y;
    double eps = u8(r) < 200 ? 1e-5 : rd_double(r);
    tr("t = ag_layer_norm(%s, %s, %s, %.17g);", nm(x), nm(w), nm(b), eps);
    begin("ag_layer_norm");
    y = ag_layer_norm(x, w, b, eps);
    tr_shape_of(y);
    end(!y, x != NULL);   /* documented (test_errors): a NULL x may fail silently */
    put(y, false);
}


/* the ops built from other ops (select ... kl_div) */
static void do_more(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *b = pick(), *y = NULL, *out[16];
    int k = u8(r) % 22, d = rd_int(r), d2 = rd_int(r), n = rd_count(r, 10, 3), i, got = 0;
    int64_t sizes[AG_MAX_DIMS + 2];
    int dims[AG_MAX_DIMS + 2];
    double p = u8(r) < 160 ? (double)(u8(r) % 4) : rd_double(r), eps = u8(r) < 200 ? 1e-6 : rd_double(r);
    ag_reduction red = (ag_reduction)(u8(r) < 240 ? u8(r) % 4 : rd_int(r));
    bool keep = rbool(r), nul = u8(r) == 0, nll = rbool(r), uses_b;
    static const int32_t tg[8] = {0, 1, 2, 1, 0, 3, 2, 1};
    static const char *const names[22] = {"ag_select", "ag_flatten", "ag_unflatten", "ag_movedim", "ag_split", "ag_chunk",
                                          "ag_unbind", "ag_repeat", "ag_sum_dims", "ag_mean_dims", "ag_norm_dims", "ag_prelu",
                                          "ag_glu", "ag_normalize", "ag_cosine_similarity", "ag_pairwise_distance", "ag_rms_norm",
                                          "ag_l1_loss", "ag_smooth_l1_loss", "ag_huber_loss", "ag_bce_loss", "ag_kl_div"};
    for (i = 0; i < AG_MAX_DIMS + 2; i++) { sizes[i] = u8(r) < 200 ? (int64_t)(u8(r) % 5) - 1 : rd_i64(r); dims[i] = rd_int(r); }
    if (n > AG_MAX_DIMS + 2) n = AG_MAX_DIMS + 2;
    if (k == 7 && a) {   /* repeat: the copy's size */
        double c = numeld(a);
        for (i = 0; i < n && i < AG_MAX_DIMS + 2; i++) c *= sizes[i] > 1 ? (double)sizes[i] : 1.0;
        if (c > 1e6) return;
    }
    if (k == 6 && a && (ag_ndim(a) == 0 || ag_dim(a, ((d % ag_ndim(a)) + ag_ndim(a)) % ag_ndim(a)) > 16)) return;   /* out has 16 entries */
    if (k == 4 && n > 16) return;
    if (g_trace) {
        tr("t = %s(%s, ...);   /* b %s d %d d2 %d n %d p %g eps %g red %d keep %d null %d sizes", names[k], nm(a), nm(b), d, d2, n, p, eps, (int)red, keep, nul);
        for (i = 0; i < n && i >= 0; i++) tr(" %lld/%d", (long long)sizes[i], dims[i]);
        tr(" */");
    }
    begin(names[k]);
    switch (k) {
    case 0: y = ag_select(a, d, sizes[0]); break;
    case 1: y = ag_flatten(a, d, d2); break;
    case 2: y = ag_unflatten(a, d, n, nul ? NULL : sizes); break;
    case 3: y = ag_movedim(a, d, d2); break;
    case 4: got = ag_split(a, n, nul ? NULL : sizes, d, out); break;
    case 5: got = ag_chunk(a, n > 16 ? 16 : n, d, nul ? NULL : out); break;
    case 6: got = ag_unbind(a, d, nul ? NULL : out); break;
    case 7: y = ag_repeat(a, n, nul ? NULL : sizes); break;
    case 8: y = ag_sum_dims(a, n, nul ? NULL : dims, keep); break;
    case 9: y = ag_mean_dims(a, n, nul ? NULL : dims, keep); break;
    case 10: y = ag_norm_dims(a, p, n, nul ? NULL : dims, keep); break;
    case 11: y = ag_prelu(a, b); break;
    case 12: y = ag_glu(a, d); break;
    case 13: y = ag_normalize(a, p, d, eps); break;
    case 14: y = ag_cosine_similarity(a, b, d, eps); break;
    case 15: y = ag_pairwise_distance(a, b, p, eps); break;
    case 16: y = ag_rms_norm(a, b, eps); break;
    case 17: y = ag_l1_loss(a, b, red); break;
    case 18: y = ag_smooth_l1_loss(a, b, p, red); break;
    case 19: y = ag_huber_loss(a, b, p, red); break;
    case 20: y = !nll ? ag_bce_loss(a, b, red) : ag_nll_loss(a, a && ag_numel(a) <= 32 && ag_ndim(a) <= 2 ? tg : NULL, red); break;
    default: y = ag_kl_div(a, b, red, keep); break;
    }
    if (k >= 4 && k <= 6) {
        tr("   /* -> %d pieces */\n", got);
        end(got < 0, a != NULL);
        for (i = 0; i < got && i < 16; i++) put(out[i], false);
        return;
    }
    uses_b = k == 11 || (k >= 14 && k <= 21 && !(k == 20 && nll));
    tr_shape_of(y);
    end(!y, a || (b && uses_b));
    put(y, false);
}

/* order, indexing, shapes, products, einsum, layers and losses with options (the ops after 4c59e03) */
static void do_more2(void) {
    rd_t *r = &S->r;
    ag_tensor *a = pick(), *b = pick(), *c = pick(), *y = NULL, *idx = NULL, *out[8];
    int k = u8(r) % 30, d = rd_int(r), d2 = rd_int(r), n = rd_count(r, 9, 3), i, got = 0;
    int64_t v64_spare[16], *v64 = S->idx64_used + 16 <= IDX_CAP ? S->idx64 + S->idx64_used : v64_spare, kk = rd_i64(r), pads[8];
    double p = u8(r) < 160 ? (double)(u8(r) % 4) : rd_double(r);
    bool flag = rbool(r), nul = u8(r) == 0;
    static const char *const specs[8] = {"ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ii->", "ij->ji", "ik,jkl,il->ij", "...i", "i1,,->"};
    static const char *const names[30] = {"ag_sort", "ag_topk", "ag_kthvalue", "ag_median_dim", "ag_median", "ag_gather", "ag_index_select",
        "ag_scatter_add", "ag_tile", "ag_repeat_interleave", "ag_diagonal", "ag_diag", "ag_trace", "ag_pad", "ag_eye", "ag_linspace",
        "ag_meshgrid", "ag_prod_dim", "ag_cumprod", "ag_cummax", "ag_einsum", "ag_max_pool2d_ex", "ag_adaptive_avg_pool2d",
        "ag_conv1d", "ag_conv_transpose2d", "ag_group_norm", "ag_scaled_dot_product_attention", "ag_interpolate",
        "ag_cross_entropy_ex", "ag_bce_with_logits_ex"};
    if (v64 != v64_spare) S->idx64_used += 16;   /* kept for the run, like rd_index's arrays */
    for (i = 0; i < 16; i++) v64[i] = u8(r) < 220 ? (int64_t)(u8(r) % 6) - 1 : rd_i64(r);
    for (i = 0; i < 8; i++) pads[i] = u8(r) < 220 ? (int64_t)(u8(r) % 5) - 1 : rd_i64(r);
    if (n > 8) n = 8;
    if (a && ag_numel(a) > 4096 && (k <= 4 || k == 17 || k == 18 || k == 19)) return;   /* sorts and scans: keep calls fast */
    if (k == 8 || k == 9 || k == 13 || k == 11) {   /* copies whose size the arguments set */
        double sz = numeld(a) * 64;
        for (i = 0; i < n; i++) if (v64[i] > 1) sz *= (double)v64[i];
        if (kk > 64 || kk < -64 || sz > 4e6) return;
        for (i = 0; i < 8; i++) if (pads[i] > 64) return;
    }
    if (k == 5) {   /* gather reads as many indices as its shape holds: v64 + 8 has 8 */
        double cnt = 1;
        for (i = 0; i < n; i++) cnt *= v64[i] > 0 ? (double)v64[i] : 1;
        if (cnt > 8) return;
    }
    if ((k >= 21 && k <= 27) && a && !heavy_ok(a, numeld(a) * numeld(b) * 16)) return;
    if (k == 27 && (d > 64 || d2 > 64)) return;
    if (k == 14 || k == 15) { if (kk > 4096 || kk < -4096 || d > 4096) return; }
    tr("t = %s(%s, %s, %s, ...);   /* d %d d2 %d n %d k %lld p %g flag %d null %d */", names[k], nm(a), nm(b), nm(c), d, d2, n, (long long)kk, p, flag, nul);
    begin(names[k]);
    switch (k) {
    case 0: y = ag_sort(a, d, flag, nul ? NULL : &idx); break;
    case 1: y = ag_topk(a, kk, d, flag, nul ? NULL : &idx); break;
    case 2: y = ag_kthvalue(a, kk, d, flag, nul ? NULL : &idx); break;
    case 3: y = ag_median_dim(a, d, flag, nul ? NULL : &idx); break;
    case 4: y = ag_median(a); break;
    case 5: y = ag_gather(a, d, n, nul ? NULL : v64, v64 + 8); break;
    case 6: y = ag_index_select(a, d, n, nul ? NULL : v64); break;
    case 7: y = ag_scatter_add(a, d, nul ? NULL : v64, b && ag_numel(b) <= 16 ? b : NULL); break;
    case 8: y = ag_tile(a, n, nul ? NULL : v64); break;
    case 9: y = ag_repeat_interleave(a, kk, d); break;
    case 10: y = ag_diagonal(a, kk, d, d2); break;
    case 11: y = ag_diag(a, kk); break;
    case 12: y = ag_trace(a); break;
    case 13: y = ag_pad(a, n, nul ? NULL : pads, (ag_pad_mode)(u8(r) % 5), p); break;
    case 14: y = ag_eye(a ? ag_context(a) : S->ctx[0], (ag_dtype)(u8(r) % 3), kk, d); break;
    case 15: y = (flag ? ag_linspace : ag_linspace)(a ? ag_context(a) : S->ctx[0], AG_F32, p, (double)d, kk); break;
    case 16: { ag_tensor *ins[3]; ins[0] = a; ins[1] = b; ins[2] = c; got = ag_meshgrid(n > 3 ? 3 : n, ins, flag, out); break; }
    case 17: y = ag_prod_dim(a, d, flag); break;
    case 18: y = ag_cumprod(a, d); break;
    case 19: y = flag ? ag_cummax(a, d, nul ? NULL : &idx) : ag_cummin(a, d, nul ? NULL : &idx); break;
    case 20: { ag_tensor *ins[3]; ins[0] = a; ins[1] = b; ins[2] = c; y = ag_einsum(nul ? NULL : specs[u8(r) % 8], n > 3 ? 3 : n, ins); break; }
    case 21: { ag_pool2d_opts o; memset(&o, 0, sizeof o); o.kh = rd_opt(r); o.kw = rd_opt(r); o.stride_h = rd_opt(r); o.stride_w = rd_opt(r);
               o.pad_h = rd_opt(r); o.pad_w = rd_opt(r); o.dil_h = rd_opt(r); o.dil_w = rd_opt(r); o.ceil_mode = flag; o.exclude_pad = rbool(r);
               y = rbool(r) ? ag_max_pool2d_ex(a, nul ? NULL : &o) : ag_avg_pool2d_ex(a, nul ? NULL : &o); break; }
    case 22: y = flag ? ag_adaptive_avg_pool2d(a, kk, d) : ag_adaptive_max_pool2d(a, kk, d); break;
    case 23: y = ag_conv1d(a, b, c, rd_opt(r), rd_opt(r), rd_opt(r), rd_opt(r)); break;
    case 24: { ag_conv_transpose2d_opts o; memset(&o, 0, sizeof o); o.stride_h = rd_opt(r); o.stride_w = rd_opt(r); o.pad_h = rd_opt(r);
               o.pad_w = rd_opt(r); o.output_pad_h = rd_opt(r); o.output_pad_w = rd_opt(r); o.dil_h = rd_opt(r); o.dil_w = rd_opt(r); o.groups = rd_opt(r);
               y = ag_conv_transpose2d(a, b, c, nul ? NULL : &o); break; }
    case 25: y = flag ? ag_group_norm(a, d, b, c, 1e-5) : ag_instance_norm(a, b, c, p); break;
    case 26: { ag_sdpa_opts o; memset(&o, 0, sizeof o); o.is_causal = flag; o.attn_mask = rbool(r) ? NULL : c; o.mask_keeps = rbool(r);
               o.dropout_p = u8(r) < 200 ? 0 : p; y = ag_scaled_dot_product_attention(a, b, c, nul ? NULL : &o); break; }
    case 27: y = ag_interpolate(a, d, d2, (ag_interp_mode)(u8(r) % 3), flag); break;
    case 28: { ag_cross_entropy_opts o; static const int32_t tg[8] = {0, 1, -100, 2, 1, 0, 3, -100}; memset(&o, 0, sizeof o);
               o.ignore_index = -100; o.label_smoothing = u8(r) < 200 ? 0.1 : p; o.weight = b; o.reduction = (ag_reduction)(u8(r) % 4);
               y = flag ? ag_cross_entropy_ex(a, a && ag_numel(a) <= 64 && ag_ndim(a) <= 2 && ag_dim(a, 0) <= 8 ? tg : NULL, nul ? NULL : &o)
                        : ag_cross_entropy_probs(a, c, nul ? NULL : &o); break; }
    default: y = ag_bce_with_logits_ex(a, b, flag ? c : NULL, flag ? NULL : c, (ag_reduction)(u8(r) % 4)); break;
    }
    if (k == 16) {
        tr("   /* -> %d */\n", got);
        end(got < 0, n >= 1 && (a || (n > 1 && b) || (n > 2 && c)));   /* only the first n inputs are read */
        for (i = 0; i < got && i < 3; i++) put(out[i], false);
        return;
    }
    tr_shape_of(y);
    end(!y, k == 14 || k == 15 || (k == 20 ? n >= 1 && (a || (n > 1 && b) || (n > 2 && c)) : a != NULL));
    put(y, false);
    if (idx) put(idx, false);
}

static void do_conv(void) {
    rd_t *r = &S->r;
    ag_tensor *x = pick(), *y;
    int k = u8(r) % 3;
    if (k == 0) {
        ag_tensor *W = pick(), *b = u8(r) < 128 ? NULL : pick();
        ag_conv2d_opts o;
        bool null_opts = u8(r) < 32;
        o.stride_h = rd_opt(r); o.stride_w = rd_opt(r); o.pad_h = rd_opt(r); o.pad_w = rd_opt(r);
        o.dil_h = rd_opt(r); o.dil_w = rd_opt(r); o.groups = u8(r) < 200 ? 0 : rd_int(r);
        if (x && W && ag_ndim(x) == 4 && ag_ndim(W) == 4) {   /* N O C kh kw (H + 2 ph) (W + 2 pw) / (sh sw), a bound */
            double sh = null_opts || o.stride_h < 1 ? 1 : o.stride_h, sw = null_opts || o.stride_w < 1 ? 1 : o.stride_w;
            double ph = null_opts || o.pad_h < 0 ? 0 : o.pad_h, pw = null_opts || o.pad_w < 0 ? 0 : o.pad_w;
            double cost = dimd(x, 0) * dimd(W, 0) * dimd(x, 1) * dimd(W, 2) * dimd(W, 3) * (dimd(x, 2) + 2 * ph) * (dimd(x, 3) + 2 * pw) / (sh * sw);
            /* the unfolded windows: bytes written one by one. Past the arena limit the call must fail
               at once; below it, many megabytes are slow but real work */
            double cols = 4 * dimd(x, 0) * dimd(x, 1) * dimd(W, 2) * dimd(W, 3) * (dimd(x, 2) + 2 * ph) * (dimd(x, 3) + 2 * pw) / (sh * sw);
            if (cols > 4e6 && cols < 2.0 * ARENA_LIMIT) { tr("/* skipped: conv2d windows of %.3g bytes */\n", cols); return; }
            if (cols < 2.0 * ARENA_LIMIT && !heavy_ok(x, cost)) return;
        }
        tr("t = ag_conv2d(%s, %s, %s, %s);", nm(x), nm(W), nm(b), null_opts ? "NULL" : "&o");
        if (!null_opts) tr("   /* o = {stride %d %d, pad %d %d, dil %d %d, groups %d} */", o.stride_h, o.stride_w, o.pad_h, o.pad_w, o.dil_h, o.dil_w, o.groups);
        begin("ag_conv2d");
        y = ag_conv2d(x, W, b, null_opts ? NULL : &o);
        tr_shape_of(y);
        end(!y, x || W || b);
    } else {
        int kh = rd_opt(r), kw = rd_opt(r), sh = rd_opt(r), sw = rd_opt(r), ph = rd_opt(r), pw = rd_opt(r);
        tr("t = %s(%s, %d, %d, %d, %d, %d, %d);", k == 1 ? "ag_max_pool2d" : "ag_avg_pool2d", nm(x), kh, kw, sh, sw, ph, pw);
        begin(k == 1 ? "ag_max_pool2d" : "ag_avg_pool2d");
        y = k == 1 ? ag_max_pool2d(x, kh, kw, sh, sw, ph, pw) : ag_avg_pool2d(x, kh, kw, sh, sw, ph, pw);
        tr_shape_of(y);
        end(!y, x != NULL);
    }
    put(y, false);
}

static void do_batchnorm(void) {
    rd_t *r = &S->r;
    ag_tensor *x = pick(), *w = u8(r) < 128 ? NULL : pick(), *b = u8(r) < 128 ? NULL : pick();
    ag_tensor *rm = u8(r) < 96 ? NULL : pick(), *rv = u8(r) < 96 ? NULL : pick(), *y;
    bool training = rbool(r);
    double mom = rd_prob(r), eps = u8(r) < 200 ? 1e-5 : rd_double(r);
    tr("t = ag_batch_norm(%s, %s, %s, %s, %s, %s, %.17g, %.17g);", nm(x), nm(w), nm(b), nm(rm), nm(rv), training ? "true" : "false", mom, eps);
    begin("ag_batch_norm");
    y = ag_batch_norm(x, w, b, rm, rv, training, mom, eps);
    tr_shape_of(y);
    end(!y, x || w || b || rm || rv);
    put(y, false);
}

static void do_attention(void) {
    rd_t *r = &S->r;
    ag_tensor *x = pick(), *Wqkv = pick(), *bqkv = u8(r) < 128 ? NULL : pick(), *Wo = pick(), *bo = u8(r) < 128 ? NULL : pick(), *y;
    int nh = u8(r) < 200 ? 1 + u8(r) % 4 : rd_int(r);
    if (x && ag_ndim(x) == 3 && !heavy_ok(x, 4 * numeld(x) * dimd(x, 2) + 2 * numeld(x) * dimd(x, 1))) return;
    tr("t = ag_causal_self_attention(%s, %s, %s, %s, %s, %d);", nm(x), nm(Wqkv), nm(bqkv), nm(Wo), nm(bo), nh);
    begin("ag_causal_self_attention");
    y = ag_causal_self_attention(x, Wqkv, bqkv, Wo, bo, nh);
    tr_shape_of(y);
    end(!y, x || Wqkv || Wo);   /* the biases are optional: with only those, no message is accepted (as layer_norm's) */
    put(y, false);
}

static void do_inplace(void) {
    rd_t *r = &S->r;
    ag_tensor *t = pick(), *x = pick(), *y = NULL;
    int k = u8(r) % 11;
    double p = rd_double(r), q = rd_double(r);
    static const char *const names[11] = {"ag_add_", "ag_sub_", "ag_mul_", "ag_div_", "ag_add_scalar_", "ag_mul_scalar_",
                                          "ag_relu_", "ag_clamp_", "ag_fill_", "ag_zero_", "ag_copy_"};
    bool two = k <= 3 || k == 10;
    if (two) tr("t = %s(%s, %s);", names[k], nm(t), nm(x));
    else if (k == 4 || k == 5 || k == 8) tr("t = %s(%s, %.17g);", names[k], nm(t), p);
    else if (k == 7) tr("t = ag_clamp_(%s, %.17g, %.17g);", nm(t), p, q);
    else tr("t = %s(%s);", names[k], nm(t));
    begin(names[k]);
    switch (k) {
    case 0: y = ag_add_(t, x); break;
    case 1: y = ag_sub_(t, x); break;
    case 2: y = ag_mul_(t, x); break;
    case 3: y = ag_div_(t, x); break;
    case 4: y = ag_add_scalar_(t, p); break;
    case 5: y = ag_mul_scalar_(t, p); break;
    case 6: y = ag_relu_(t); break;
    case 7: y = ag_clamp_(t, p, q); break;
    case 8: y = ag_fill_(t, p); break;
    case 9: y = ag_zero_(t); break;
    default: y = ag_copy_(t, x); break;
    }
    tr_shape_of(y);
    end(!y, t || (two && x));
    (void)ag_version(y);
    put(y, false);
}

static void do_backward(void) {
    rd_t *r = &S->r;
    ag_tensor *root = pick();
    ag_backward_opts o;
    uint8_t m = u8(r);
    int rc;
    memset(&o, 0, sizeof o);
    o.grad = m & 1 ? pick() : NULL;
    o.retain_graph = (m & 2) != 0;
    o.create_graph = (m & 4) != 0;
    if (m & 8) o.grad = root && (m & 16) ? ag_ones(ag_context(root), ag_type(root), ag_ndim(root), ag_shape(root)) : o.grad;
    clear_errors();
    tr("{ ag_backward_opts o = {%s, %d, %d}; rc = ag_backward(%s, %s); }", o.grad ? (nm(o.grad)[0] == 't' ? nm(o.grad) : "ones_like_root") : "NULL",
       o.retain_graph, o.create_graph, nm(root), m & 32 ? "NULL" : "&o");
    begin("ag_backward");
    rc = ag_backward(root, m & 32 ? NULL : &o);
    tr("   /* -> %d */\n", rc);
    end(rc != 0, root != NULL);
    if (rc != 0 && rc != -1) { fprintf(stderr, "fuzz_api: ag_backward returned %d\n", rc); abort(); }
}

static void do_grad_of(void) {
    rd_t *r = &S->r;
    ag_tensor *root = pick(), *in[8], *g[8];
    ag_backward_opts o;
    uint8_t m = u8(r);
    int n = rd_count(r, 5, 2), i, rc;
    bool null_in = u8(r) == 0, null_g = u8(r) == 0;
    memset(&o, 0, sizeof o);
    o.grad = m & 1 ? pick() : NULL;
    o.retain_graph = (m & 2) != 0;
    o.create_graph = (m & 4) != 0;
    for (i = 0; i < 8; i++) { in[i] = i < n ? pick() : NULL; g[i] = NULL; }
    if (g_trace) {
        tr("{ ag_backward_opts o = {%s, %d, %d}; ag_tensor *g[8]; rc = ag_grad_of(%s, %s, %d, ", nm(o.grad), o.retain_graph, o.create_graph,
           nm(root), m & 32 ? "NULL" : "&o", n);
        if (null_in) tr("NULL"); else { tr("(ag_tensor *[]){"); for (i = 0; i < (n > 0 ? n : 1); i++) tr(i ? ", %s" : "%s", nm(in[i])); tr("}"); }
        tr(", %s); }", null_g ? "NULL" : "g");
    }
    begin("ag_grad_of");
    rc = ag_grad_of(root, m & 32 ? NULL : &o, n, null_in ? NULL : in, null_g ? NULL : g);
    tr("   /* -> %d */\n", rc);
    end(rc != 0, root != NULL);
    if (rc == 0)
        for (i = 0; i < n; i++) {
            if (!g[i]) { fprintf(stderr, "fuzz_api: ag_grad_of succeeded with a NULL gradient\n"); abort(); }
            if (!same_shape(g[i], in[i])) { fprintf(stderr, "fuzz_api: ag_grad_of gave gradient %d of another shape or dtype than its input\n", i); abort(); }
        }
    if (rc == 0 && n > 0) put(g[u8(r) % n], false);
}

static void do_reset(void) {
    int ci = u8(&S->r) & 1, i;
    ag_ctx *c = S->ctx[ci];
    tr("ag_ctx_reset(c%d);\n", ci);
    for (i = 0; i < NSLOT; i++) {
        slot_t *s = &S->s[i];
        if (!s->t || s->c != ci) continue;
        if (!s->pers) s->t = NULL;
    }
    S->heavy[ci] = 0;
    begin("ag_ctx_reset");
    ag_ctx_reset(c);
    end(false, false);
}

static void do_modes(void) {
    rd_t *r = &S->r;
    int k = u8(r) % 8, ci = u8(r) & 1;
    ag_ctx *c = S->ctx[ci];
    bool on = rbool(r);
    switch (k) {
    case 0: tr("ag_set_grad_enabled(c%d, %d);\n", ci, on); (void)ag_set_grad_enabled(c, on); break;
    case 1: tr("ag_set_anomaly_detection(c%d, %d);\n", ci, on); (void)ag_set_anomaly_detection(c, on); break;
    case 2: { uint64_t s = u64(r); tr("ag_manual_seed(c%d, %llu);\n", ci, (unsigned long long)s); ag_manual_seed(c, s); break; }
    case 3: {
        ag_stats st = ag_get_stats(c);
        if (st.arena_capacity > ARENA_LIMIT) { fprintf(stderr, "fuzz_api: arena capacity %zu over the limit\n", st.arena_capacity); abort(); }
        if (st.arena_used > st.arena_capacity) { fprintf(stderr, "fuzz_api: arena_used %zu > capacity %zu\n", st.arena_used, st.arena_capacity); abort(); }
        if (st.persistent_tensors > ((uint64_t)1 << 40) || st.threads < 1) { fprintf(stderr, "fuzz_api: ag_stats says %llu persistent tensors, %d threads\n", (unsigned long long)st.persistent_tensors, st.threads); abort(); }
        (void)ag_get_stats(NULL);
        break;
    }
    case 4: (void)ag_simd_name(c); (void)ag_simd_name(NULL); (void)ag_dtype_name(rd_dtype(r)); (void)ag_is_grad_enabled(c); break;
    case 5: tr("ag_clear_error(c%d);\n", ci); ag_clear_error(c); ag_clear_error(NULL); (void)ag_error(NULL); break;
    case 6: tr("ag_set_grad_enabled(c%d, true);\n", ci); (void)ag_set_grad_enabled(c, true); break;
    default: tr("ag_set_anomaly_detection(c%d, false);\n", ci); (void)ag_set_anomaly_detection(c, false); break;
    }
}

static void forget_capture(int i) {
    S->cap[i] = S->cap[--S->ncap];
}
static void do_capture(void) {
    rd_t *r = &S->r;
    int k = u8(r) % 6, ci = u8(r) & 1, i, rc;
    ag_ctx *c = S->ctx[ci];
    switch (k) {
    case 0: case 1:
        tr("rc = ag_capture_begin(c%d);", ci);
        begin("ag_capture_begin");
        rc = ag_capture_begin(c);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, true);
        if (rc == 0) S->capturing[ci] = true;
        break;
    case 2: {
        ag_capture *g;
        bool was = S->capturing[ci];
        tr("g = ag_capture_end(c%d);", ci);
        begin("ag_capture_end");
        g = ag_capture_end(c);
        tr("   /* -> %s */\n", g ? "a capture" : "NULL");
        end(!g, true);   /* it says why, even when the step's own error was cleared since */
        (void)was;
        S->capturing[ci] = false;
        if (g) {
            if (S->ncap == NCAP) { ag_capture_free(S->cap[0]); forget_capture(0); }
            S->cap[S->ncap++] = g;
            (void)ag_capture_steps(g);
        }
        break;
    }
    case 3: case 4:
        if (!S->ncap) { tr("rc = ag_replay(NULL);\n"); begin("ag_replay"); rc = ag_replay(NULL); end(false, false); break; }
        i = u8(r) % S->ncap;
        tr("rc = ag_replay(g%d);", i);
        begin("ag_replay");
        rc = ag_replay(S->cap[i]);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, true);
        break;
    default:
        if (!S->ncap) { ag_capture_free(NULL); break; }
        i = u8(r) % S->ncap;
        tr("ag_capture_free(g%d);\n", i);
        ag_capture_free(S->cap[i]);
        forget_capture(i);
        break;
    }
}

static void do_optim(void) {
    rd_t *r = &S->r;
    int k = u8(r) % 9, i, rc;
    if (k <= 2) {   /* create */
        int ci, n = rd_count(r, 5, 1);
        ag_ctx *c = pick_ctx(&ci);
        ag_tensor *ps[8];
        ag_optim *o = NULL;
        uint8_t m = u8(r);
        bool null_opts = (m & 3) == 0, null_params = u8(r) == 0;
        ag_sgd_opts so = ag_sgd_defaults();
        ag_adam_opts ao = k == 2 ? ag_adamw_defaults() : ag_adam_defaults();
        for (i = 0; i < 8; i++) ps[i] = i < n ? pick() : NULL;
        if (m & 4) { so.lr = rd_double(r); ao.lr = so.lr; }
        if (m & 8) { so.momentum = rd_double(r); ao.beta1 = rd_prob(r); }
        if (m & 16) { so.dampening = rd_double(r); ao.beta2 = rd_prob(r); }
        if (m & 32) { so.weight_decay = rd_double(r); ao.weight_decay = so.weight_decay; ao.eps = rd_double(r); }
        so.nesterov = (m & 64) != 0; ao.amsgrad = (m & 64) != 0;
        so.maximize = ao.maximize = (m & 128) != 0;
        if (g_trace) {
            tr("o = %s(%s, ", k == 0 ? "ag_sgd_new" : k == 1 ? "ag_adam_new" : "ag_adamw_new", ctxn(c));
            if (null_params) tr("NULL"); else { tr("(ag_tensor *[]){"); for (i = 0; i < (n > 0 ? n : 1); i++) tr(i ? ", %s" : "%s", nm(ps[i])); tr("}"); }
            if (null_opts) tr(", %d, NULL);", n);
            else if (k == 0) tr(", %d, &so);   /* lr %g mom %g damp %g wd %g nesterov %d max %d */", n, so.lr, so.momentum, so.dampening, so.weight_decay, so.nesterov, so.maximize);
            else tr(", %d, &ao);   /* lr %g b1 %g b2 %g eps %g wd %g ams %d max %d */", n, ao.lr, ao.beta1, ao.beta2, ao.eps, ao.weight_decay, ao.amsgrad, ao.maximize);
        }
        begin(k == 0 ? "ag_sgd_new" : k == 1 ? "ag_adam_new" : "ag_adamw_new");
        if (k == 0) o = ag_sgd_new(c, null_params ? NULL : ps, n, null_opts ? NULL : &so);
        else if (k == 1) o = ag_adam_new(c, null_params ? NULL : ps, n, null_opts ? NULL : &ao);
        else o = ag_adamw_new(c, null_params ? NULL : ps, n, null_opts ? NULL : &ao);
        tr("   /* -> %s */\n", o ? "an optimizer" : "NULL");
        end(!o, c != NULL);
        if (o && S->nopt < NOPT) S->opt[S->nopt++] = o;
        return;
    }
    if (!S->nopt) {
        begin("ag_optim_step");
        rc = ag_optim_step(NULL);
        end(false, false);
        ag_optim_zero_grad(NULL);
        ag_optim_set_lr(NULL, 1.0);
        ag_optim_free(NULL);
        if (!isnan(ag_optim_get_lr(NULL)) || ag_optim_steps(NULL, 0) != -1) abort();
        return;
    }
    i = u8(r) % S->nopt;
    switch (k) {
    case 3: case 4:
        tr("rc = ag_optim_step(o%d);", i);
        begin("ag_optim_step");
        rc = ag_optim_step(S->opt[i]);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, true);
        break;
    case 5: tr("ag_optim_zero_grad(o%d);\n", i); begin("ag_optim_zero_grad"); ag_optim_zero_grad(S->opt[i]); end(false, false); break;
    case 6: {
        double lr = rd_double(r);
        tr("ag_optim_set_lr(o%d, %.17g);\n", i, lr);
        begin("ag_optim_set_lr");
        ag_optim_set_lr(S->opt[i], lr);
        end(false, false);
        if (lr >= 0 && lr <= DBL_MAX && ag_optim_get_lr(S->opt[i]) != lr) { fprintf(stderr, "fuzz_api: set_lr %g did not stick\n", lr); abort(); }
        break;
    }
    case 7: (void)ag_optim_get_lr(S->opt[i]); (void)ag_optim_steps(S->opt[i], rd_int(r)); break;
    default:   /* its state's memory back now; the pointer is dead */
        tr("ag_optim_free(o%d);\n", i);
        begin("ag_optim_free");
        ag_optim_free(S->opt[i]);
        end(false, false);
        S->opt[i] = S->opt[--S->nopt];
        break;
    }
}

static void do_clip(void) {
    rd_t *r = &S->r;
    ag_tensor *ps[8];
    int n = rd_count(r, 5, 2), i;
    bool value = rbool(r), null_list = u8(r) == 0;
    double a = u8(r) < 128 ? 1.0 : rd_double(r), b = u8(r) < 128 ? 2.0 : rd_double(r);
    for (i = 0; i < 8; i++) ps[i] = i < n ? pick() : NULL;
    if (g_trace) {
        tr("%s(", value ? "rc = ag_clip_grad_value" : "d = ag_clip_grad_norm");
        if (null_list) tr("NULL"); else { tr("(ag_tensor *[]){"); for (i = 0; i < (n > 0 ? n : 1); i++) tr(i ? ", %s" : "%s", nm(ps[i])); tr("}"); }
        if (value) tr(", %d, %.17g);", n, a); else tr(", %d, %.17g, %.17g);", n, a, b);
    }
    {
        /* invalid arguments must fail; a message is needed when params[0] gives a context
           (the library reports through params[0]) */
        bool has_null = false, capt = false;
        for (i = 0; i < n; i++) if (!ps[i]) has_null = true;
        if (n > 0 && !null_list && ps[0] && S->capturing[ctx_index(ps[0])]) capt = true;   /* the library looks at params[0] only */
        if (value) {
            int rc;
            begin("ag_clip_grad_value");
            rc = ag_clip_grad_value(null_list ? NULL : ps, n, a);
            tr("   /* -> %d */\n", rc);
            end(rc != 0, !null_list && n > 0 && ps[0]);
            (void)capt; (void)has_null;
        } else {
            double d;
            bool invalid = n < 0 || (n > 0 && (null_list || has_null)) || !(b > 0) || !(a >= 0) || capt;
            begin("ag_clip_grad_norm");
            d = ag_clip_grad_norm(null_list ? NULL : ps, n, a, b);
            tr("   /* -> %g */\n", d);
            if (invalid && !isnan(d)) { fprintf(stderr, "fuzz_api: ag_clip_grad_norm accepted invalid arguments\n"); abort(); }
            end(invalid && isnan(d), !null_list && n > 0 && ps[0]);
        }
    }
}

static void do_init(void) {
    rd_t *r = &S->r;
    ag_tensor *t = pick();
    int k = u8(r) % 9, rc = 0;
    double a = rd_double(r), b = rd_double(r);
    ag_fan mode = (ag_fan)(u8(r) % 3);
    ag_nonlinearity nl = (ag_nonlinearity)(u8(r) % 7);
    static const char *const names[9] = {"ag_init_uniform", "ag_init_normal", "ag_init_constant", "ag_init_xavier_uniform",
                                         "ag_init_xavier_normal", "ag_init_kaiming_uniform", "ag_init_kaiming_normal",
                                         "ag_init_linear", "ag_init_linear"};
    ag_tensor *bias = k == 8 ? pick() : NULL;
    tr("rc = %s(%s, ...);   /* a %g b %g mode %d nl %d bias %s */", names[k], nm(t), a, b, (int)mode, (int)nl, nm(bias));
    begin(names[k]);
    switch (k) {
    case 0: rc = ag_init_uniform(t, a, b); break;
    case 1: rc = ag_init_normal(t, a, b); break;
    case 2: rc = ag_init_constant(t, a); break;
    case 3: rc = ag_init_xavier_uniform(t, a); break;
    case 4: rc = ag_init_xavier_normal(t, a); break;
    case 5: rc = ag_init_kaiming_uniform(t, a, mode, nl); break;
    case 6: rc = ag_init_kaiming_normal(t, a, mode, nl); break;
    case 7: rc = ag_init_linear(t, NULL); break;
    default: rc = ag_init_linear(t, bias); break;
    }
    tr("   /* -> %d */\n", rc);
    /* like layer_norm's x (test_errors): W is the tensor init_linear reports through; a NULL W
       with a bias may fail silently */
    end(rc != 0, t != NULL);
}

static void do_safetensors(void) {
    rd_t *r = &S->r;
    static const char *const names_all[8] = {"a", "b", "weight", "a", "__metadata__", "", "x\"y\\z\001", "\xc3\x28 not utf-8"};
    const char *names[4];
    ag_tensor *ts[4];
    int n = rd_count(r, 4, 1), i, ci, rc;
    ag_ctx *c = pick_ctx(&ci);
    uint8_t m = u8(r);
    for (i = 0; i < 4; i++) { names[i] = u8(r) == 0 ? NULL : names_all[u8(r) % 8]; ts[i] = i < n ? pick() : NULL; }
    if ((m & 0x60) == 0x60) {   /* the file functions, on paths that cannot be read back (or written) */
        static const char *const paths[3] = {NULL, "/dev/null", "/nonexistent-dir/fuzz_api.safetensors"};
        const char *path = paths[u8(r) % 3];
        if (rbool(r)) {
            tr("rc = ag_save_safetensors(%s, \"%s\", %d, names, ts);", ctxn(c), path ? path : "NULL", n);
            begin("ag_save_safetensors");
            rc = ag_save_safetensors(c, path, n, names, ts);
        } else {
            ag_tensor *into[4];
            for (i = 0; i < 4; i++) into[i] = u8(r) & 1 ? ts[i] : NULL;
            tr("rc = ag_load_safetensors(%s, \"%s\", %d, names, ts);", ctxn(c), path ? path : "NULL", n);
            begin("ag_load_safetensors");
            rc = ag_load_safetensors(c, path, n, names, into);
            if (rc == 0) { fprintf(stderr, "fuzz_api: ag_load_safetensors read %s\n", path ? path : "NULL"); abort(); }
        }
        tr("   /* -> %d */\n", rc);
        end(rc != 0, c != NULL);
        return;
    }
    if (m & 1) {   /* load fuzz bytes straight */
        size_t len = u8(r), left = S->r.n - S->r.i;
        const uint8_t *p = S->r.p + S->r.i;
        if (len > left) len = left;
        S->r.i += len;
        for (i = 0; i < 4; i++) if (u8(r) & 1) ts[i] = NULL;
        tr("rc = ag_load_safetensors_mem(%s, bytes, %zu, %d, names, ts);", ctxn(c), len, n);
        begin("ag_load_safetensors_mem");
        rc = ag_load_safetensors_mem(c, p, len, n, names, ts);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, c != NULL);
        if (rc == 0) for (i = 0; i < n; i++) if (ts[i] && ag_context(ts[i]) == c) put(ts[i], true);
        return;
    }
    {   /* save, then load back into new persistent tensors or into given ones */
        size_t need, got;
        unsigned char *buf;
        tr("need = ag_save_safetensors_mem(%s, NULL, 0, %d, (const char *[]){...}, (ag_tensor *[]){%s, %s, %s});", ctxn(c), n, nm(ts[0]), nm(ts[1]), nm(ts[2]));
        begin("ag_save_safetensors_mem");
        need = ag_save_safetensors_mem(c, NULL, 0, n, (m & 2) ? NULL : names, (m & 4) ? NULL : ts);
        tr("   /* -> %zu */\n", need);
        end(need == 0, c != NULL);
        if (!need || need > ((size_t)8 << 20)) return;
        buf = (unsigned char *)malloc(need);
        if (!buf) return;
        begin("ag_save_safetensors_mem");
        got = ag_save_safetensors_mem(c, buf, (m & 8) ? need - 1 : need, n, (m & 2) ? NULL : names, (m & 4) ? NULL : ts);
        end(got == 0, c != NULL);
        if (got != need) { fprintf(stderr, "fuzz_api: save_safetensors_mem measured %zu, then wrote %zu\n", need, got); abort(); }
        if (!(m & 8)) {
            ag_tensor *back[4];
            int nb = n < 0 ? 0 : n;
            for (i = 0; i < 4; i++) back[i] = (m & 16) ? ts[i] : NULL;
            tr("rc = ag_load_safetensors_mem(%s, buf, %zu, %d, names, back);", ctxn(c), need, nb);
            begin("ag_load_safetensors_mem");
            rc = ag_load_safetensors_mem(c, buf, need, nb, names, back);
            tr("   /* -> %d */\n", rc);
            end(rc != 0, c != NULL);
            if (rc == 0 && !(m & 16)) {
                for (i = 0; i < nb; i++) {   /* what was saved came back */
                    int64_t ne = ag_numel(ts[i]), j;
                    if (!back[i] || ag_numel(back[i]) != ne || ag_type(back[i]) != ag_type(ts[i])) { fprintf(stderr, "fuzz_api: safetensors round trip changed a tensor\n"); abort(); }
                    if (ne <= CAP_VIEW) {
                        double *x = (double *)malloc(sizeof(double) * (size_t)(ne ? ne : 1)), *y = (double *)malloc(sizeof(double) * (size_t)(ne ? ne : 1));
                        if (x && y && ag_copy_out(ts[i], AG_F64, x) == 0 && ag_copy_out(back[i], AG_F64, y) == 0)
                            for (j = 0; j < ne; j++)
                                if (memcmp(&x[j], &y[j], sizeof(double)) && !(isnan(x[j]) && isnan(y[j]))) { fprintf(stderr, "fuzz_api: safetensors round trip changed a value\n"); abort(); }
                        free(x); free(y);
                        clear_errors();
                    }
                }
                if (nb > 0) put(back[u8(r) % nb], true);
            }
        }
        free(buf);
    }
    (void)ci;
}

static void do_hook(void) {
    rd_t *r = &S->r;
    ag_tensor *t = pick();
    int k = u8(r) % 6, rc;
    ag_tensor *(*fns[6])(ag_tensor *, void *) = {ag_hook_clamp, hk_scale, hk_null, hk_sum, hk_nan, NULL};
    static const char *const names[6] = {"ag_hook_clamp", "hk_scale", "hk_null", "hk_sum", "hk_nan", "NULL"};
    tr("rc = ag_register_hook(%s, %s, %s);", nm(t), names[k], k == 0 ? "&bound" : "NULL");
    begin("ag_register_hook");
    rc = ag_register_hook(t, fns[k], k == 0 ? (void *)&g_bound : NULL);
    tr("   /* -> %d */\n", rc);
    end(rc != 0, t != NULL);
}

/* frees a persistent tensor now: the pointer (and its gradient's) is dead afterwards */
static void free_persistent(ag_tensor *t) {
    int rc, i;
    tr("rc = ag_free_persistent(%s);", nm(t));
    begin("ag_free_persistent");
    rc = ag_free_persistent(t);
    tr("   /* -> %d */\n", rc);
    end(rc != 0, t != NULL);
    if (rc == 0)
        for (i = 0; i < NSLOT; i++)
            if (S->s[i].t == t || S->s[i].owner == t) { tr("   /* t%d dropped: freed */\n", S->s[i].id); S->s[i].t = NULL; S->s[i].owner = NULL; }
}
static void do_free(void) {   /* ag_free_persistent on a persistent tensor of the pool, mostly */
    uint8_t b = u8(&S->r);
    int i;
    for (i = 0; i < NSLOT; i++) {
        slot_t *s = &S->s[(b + i) % NSLOT];
        if (s->t && s->pers) { free_persistent(s->t); return; }
    }
}

static void do_access(void) {
    rd_t *r = &S->r;
    ag_tensor *t = pick(), *y = NULL;
    int k = u8(r) % 24;
    switch (k) {
    case 0: {   /* item */
        double v;
        tr("d = ag_item(%s);", nm(t));
        begin("ag_item");
        v = ag_item(t);
        tr("   /* -> %g */\n", v);
        end(t && ag_numel(t) != 1, t != NULL);
        if (t && ag_numel(t) != 1 && !isnan(v)) { fprintf(stderr, "fuzz_api: ag_item of %lld elements gave %g\n", (long long)ag_numel(t), v); abort(); }
        break;
    }
    case 1: {   /* get */
        int64_t ix[AG_MAX_DIMS];
        int i, nd = ag_ndim(t);
        bool bad = false, null_ix = u8(r) == 0;
        double v;
        for (i = 0; i < AG_MAX_DIMS; i++) {
            ix[i] = u8(r) < 200 ? (int64_t)(u8(r) % 4) : rd_i64(r);
            if (i < nd && (ix[i] < 0 || ix[i] >= ag_dim(t, i))) bad = true;
        }
        if (null_ix && nd > 0) bad = true;
        tr("d = ag_get(%s, %s);", nm(t), null_ix ? "NULL" : shp(nd, ix));
        begin("ag_get");
        v = ag_get(t, null_ix ? NULL : ix);
        tr("   /* -> %g */\n", v);
        end(t && bad, t != NULL);
        if (t && bad && !isnan(v)) { fprintf(stderr, "fuzz_api: ag_get out of range gave %g\n", v); abort(); }
        break;
    }
    case 2: {   /* copy_out */
        ag_dtype dt = rd_dtype(r);
        int64_t ne = ag_numel(t);
        void *dst = ne >= 0 && ne <= CAP_VIEW && u8(r) ? malloc(8 * (size_t)(ne ? ne : 1)) : NULL;
        int rc;
        tr("rc = ag_copy_out(%s, %s, %s);", nm(t), dtn(dt), dst ? "dst" : "NULL");
        begin("ag_copy_out");
        rc = ag_copy_out(t, dt, dst);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, t != NULL);
        free(dst);
        break;
    }
    case 3: {   /* write through ag_data, as a caller refilling inputs between replays does */
        void *p = ag_data(t);
        if (p && ag_numel(t) > 0) {
            double v = rd_double(r);
            ag_dtype dt = ag_type(t);
            tr("*(%s *)ag_data(%s) = %g;\n", dt == AG_F64 ? "double" : dt == AG_F32 ? "float" : "uint16_t", nm(t), v);
            uint64_t bits;
            memcpy(&bits, &v, 8);
            if (dt == AG_F64) *(double *)p = v;
            else if (dt == AG_F32) *(float *)p = (float)v;
            else if (dt == AG_I64) memcpy(p, &bits, 8);                   /* some integer: v's bits */
            else if (dt == AG_I32) { uint32_t w = (uint32_t)(bits >> 32); memcpy(p, &w, 4); }
            else if (dt == AG_BOOL) *(unsigned char *)p = (unsigned char)(bits >> 63);
            else *(uint16_t *)p = (uint16_t)(bits >> 48);   /* a 16-bit pattern: v's top bits */
        }
        break;
    }
    case 4: {
        int i;
        const int64_t *sh = ag_shape(t), *st = ag_strides(t);
        int64_t ne = 1;
        for (i = 0; i < ag_ndim(t); i++) { ne *= sh[i] > 0 ? 1 : 0; (void)st[i]; }
        (void)ne; (void)ag_is_contiguous(t); (void)ag_dim(t, rd_int(r)); (void)ag_type(t); (void)ag_context(t);
        (void)ag_requires_grad(t); (void)ag_is_leaf(t); (void)ag_version(t); (void)ag_num_inputs(t); (void)ag_op(t);
        break;
    }
    case 5:
        tr("ag_print(%s, devnull);\n", nm(t));
        begin("ag_print");
        if (ag_numel(t) <= CAP_VIEW) ag_print(t, u8(r) ? g_null : NULL);
        end(false, false);
        break;
    case 6: {
        int rc;
        FILE *f = u8(r) ? g_null : NULL;
        tr("rc = ag_graph_dot(%s, %s);", nm(t), f ? "devnull" : "NULL");
        begin("ag_graph_dot");
        rc = ag_graph_dot(t, f);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, t != NULL);
        break;
    }
    case 7: {
        int i = u8(r) < 200 ? (int)(u8(r) % 4) : rd_int(r);
        bool bad = !t || !ag_op(t) || i < 0 || i >= ag_num_inputs(t);
        tr("t = ag_input(%s, %d);", nm(t), i);
        begin("ag_input");
        y = ag_input(t, i);
        tr_shape_of(y);
        end(bad && !y, t != NULL);
        if (!bad && !y) { fprintf(stderr, "fuzz_api: ag_input(%d) of a node with %d inputs gave NULL\n", i, ag_num_inputs(t)); abort(); }
        put(y, false);
        break;
    }
    case 8:
        tr("t = ag_grad(%s);\n", nm(t));
        y = ag_grad(t);
        if (y && !same_shape(y, t)) { fprintf(stderr, "fuzz_api: the gradient of a tensor has another shape or dtype\n"); abort(); }
        g_owner = t;   /* a persistent tensor's gradient buffer goes with it (ag_free_persistent) */
        put(y, false);
        g_owner = NULL;
        break;
    case 20: {   /* names: copied, at most 63 bytes kept */
        static const char *const names[8] = {NULL, "w1", "", "x\"y{}|<>\\ \n", "\x01\x1f", "\xff\xfe not utf-8",
            "a name that is longer than sixty-three bytes, so that it is cut short by set_name", "b"};
        const char *name = names[u8(r) % 8], *got;
        tr("t = ag_set_name(%s, name);", nm(t));
        begin("ag_set_name");
        y = ag_set_name(t, name);
        tr_shape_of(y);
        end(!y, t != NULL);
        got = ag_name(t);
        if (y && (name ? !got || strncmp(got, name, 63) || strlen(got) > 63 : got != NULL)) {
            fprintf(stderr, "fuzz_api: ag_name does not give back what ag_set_name set\n");
            abort();
        }
        break;
    }
    case 21: {   /* the DOT picture with values, gradients, op nodes */
        ag_dot_opts o;
        uint8_t m = u8(r);
        int rc;
        o.values = (m & 1) != 0; o.grads = (m & 2) != 0; o.op_nodes = (m & 4) != 0;
        tr("rc = ag_graph_dot_ex(%s, devnull, %s);", nm(t), (m & 8) ? "NULL" : "&o");
        begin("ag_graph_dot_ex");
        rc = ag_graph_dot_ex(t, (m & 16) ? NULL : g_null, (m & 8) ? NULL : &o);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, t != NULL);
        break;
    }
    case 22: free_persistent(t); break;
    case 23: (void)ag_name(t); (void)ag_get_stats(ag_context(t)); break;
    case 9: tr("ag_zero_grad(%s);\n", nm(t)); ag_zero_grad(t); break;
    case 10: case 11: {
        bool on = k == 10;
        tr("t = ag_set_requires_grad(%s, %d);", nm(t), on);
        begin("ag_set_requires_grad");
        y = ag_set_requires_grad(t, on);
        tr_shape_of(y);
        end(!y, t != NULL);
        break;
    }
    case 12:
        tr("t = ag_retain_grad(%s);", nm(t));
        begin("ag_retain_grad");
        y = ag_retain_grad(t);
        tr_shape_of(y);
        end(!y, t != NULL);
        break;
    case 13: tr("t = ag_tangent(%s);\n", nm(t)); put(ag_tangent(t), false); break;
    case 14: {   /* detach and requires grad: a fresh leaf */
        tr("t = ag_set_requires_grad(ag_detach(%s), true);", nm(t));
        begin("ag_detach");
        y = ag_set_requires_grad(ag_detach(t), true);
        tr_shape_of(y);
        end(!y, t != NULL);
        put(y, false);
        break;
    }
    default: {   /* a chain that makes a non-contiguous view: transpose, or a strided slice */
        tr("t = ag_slice(ag_transpose(%s, 0, -1), 0, 0, INT64_MAX, 2);", nm(t));
        begin("ag_slice");
        y = ag_slice(ag_transpose(t, 0, -1), 0, 0, INT64_MAX, 2);
        tr_shape_of(y);
        end(!y, t != NULL);
        put(y, false);
        break;
    }
    }
}

static void do_custom(void) {
    rd_t *r = &S->r;
    int k = u8(r) % 3, n = rd_count(r, 4, 1), i;
    ag_tensor *in[8], *y;
    bool any = false;
    for (i = 0; i < 8; i++) { in[i] = i < n ? pick() : NULL; if (in[i]) any = true; }
    if (k <= 1) {   /* ag_apply */
        cu_user *cu;
        static const ag_function fn = {"fz_custom", cu_forward, cu_backward, cu_jvp};
        static const ag_function fn_nojvp = {"fz_nojvp", cu_forward, cu_backward, NULL};
        static const ag_function fn_bad = {NULL, cu_forward, cu_backward, NULL};
        uint8_t m = u8(r);
        const ag_function *f = m < 200 ? &fn : m < 230 ? &fn_nojvp : m < 250 ? &fn_bad : NULL;
        if (S->ncus == USER_CAP) return;
        cu = &S->cus[S->ncus++];
        cu->kind = u8(r) % 6;
        tr("t = ag_apply(%s, %d, (ag_tensor *[]){%s, %s, %s}, &user);   /* kind %d */", f ? f->name ? f->name : "fn_noname" : "NULL", n,
           nm(in[0]), nm(in[1]), nm(in[2]), cu->kind);
        begin("ag_apply");
        y = ag_apply(f, n, in, cu);
        tr_shape_of(y);
        end(!y, any && n >= 1);
        put(y, false);
    } else {   /* ag_checkpoint */
        fn_user *fu;
        if (S->nfus == USER_CAP) return;
        fu = &S->fus[S->nfus++];
        fu->n = n < 1 ? 1 : n;
        fu->kind = u8(r) % FN_KINDS;
        fu->extra = pick();
        /* f runs again at backward time: what it uses must live as long as the checkpoint (same context) */
        if (fu->extra && in[0] && ag_context(fu->extra) != ag_context(in[0])) fu->extra = NULL;
        tr("t = ag_checkpoint(fz_fn, &user, %d, (ag_tensor *[]){%s, %s, %s});   /* kind %d, extra %s */", n, nm(in[0]), nm(in[1]), nm(in[2]),
           fu->kind, nm(fu->extra));
        begin("ag_checkpoint");
        y = ag_checkpoint(u8(r) < 250 ? fz_fn : NULL, fu, n, in);
        if (y && fu->kind == 11 && fu->extra && S->nclos < 64) S->closures[S->nclos++] = fu->extra;
        tr_shape_of(y);
        end(!y, any && n >= 1);
        put(y, false);
    }
}

static bool small_inputs(ag_tensor *const *in, int n) {
    int i;
    for (i = 0; i < n; i++) if (in[i] && ag_numel(in[i]) > CAP_FN) return false;
    return true;
}

/* ---- ag_vmap of fz_fn, and of its gradient: random in_dims and out_dims (out of range too),
   inputs of different batch sizes, nesting; when it succeeds, its first and last examples must
   equal fz_fn (and its gradient) run on those examples alone: the vmap oracle ---- */
typedef struct { fn_user fu; bool grad, nest; int inner_dim; } vm_user;
static int fz_vmap_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    vm_user *v = (vm_user *)user;
    ag_tensor *y;
    if (v->nest) {   /* a vmap inside: over dim inner_dim of input 0 */
        vm_user inner = *v;
        int dims[3] = {0, AG_UNBATCHED, AG_UNBATCHED};
        inner.nest = false;
        dims[0] = v->inner_dim;
        return ag_vmap(ctx, fz_vmap_fn, &inner, v->fu.n, in, dims, v->grad ? 2 : 1, out, NULL);
    }
    y = fz_fn(ctx, in, &v->fu);
    out[0] = y;
    if (!y) return -1;
    if (v->grad) return ag_grad_of(ag_sum(y), NULL, 1, in, out + 1);
    return 0;
}
static double fz_as_double(ag_tensor *t, int64_t i) {
    ag_tensor *c = ag_contiguous(ag_to(t, AG_F64));
    return c ? ((const double *)ag_data(c))[i] : NAN;
}
/* out's example b along dim od equals ref (tolerance by dtype); false reports it */
static bool fz_same_example(ag_tensor *out, int od, int64_t b, ag_tensor *ref) {
    ag_tensor *e = ag_select(out, od, b), *ec, *rc;
    double tol = ag_type(ref) == AG_F64 ? 1e-9 : ag_type(ref) == AG_F32 ? 1e-4 : ag_type(ref) == AG_F16 || ag_type(ref) == AG_BF16 ? 2e-2 : 0;
    int64_t i;
    if (!e) return true;   /* out of memory (the arena limit): nothing to compare */
    if (ag_ndim(e) != ag_ndim(ref) || ag_numel(e) != ag_numel(ref) || ag_type(e) != ag_type(ref)) {
        fprintf(stderr, "fuzz_api: ag_vmap example %lld: %d dims, %lld elements, %s; alone %d dims, %lld elements, %s\n", (long long)b,
                ag_ndim(e), (long long)ag_numel(e), ag_dtype_name(ag_type(e)), ag_ndim(ref), (long long)ag_numel(ref), ag_dtype_name(ag_type(ref)));
        return false;
    }
    ec = ag_contiguous(ag_to(e, AG_F64)); rc = ag_contiguous(ag_to(ref, AG_F64));
    if (!ec || !rc) return true;   /* out of memory: nothing to compare */
    for (i = 0; i < ag_numel(ref); i++) {
        double a = ((const double *)ag_data(ec))[i], c = ((const double *)ag_data(rc))[i];
        if (a != a && c != c) continue;
        if (a == c) continue;
        if (!(fabs(a - c) <= tol * (1 + fabs(c)))) {
            fprintf(stderr, "fuzz_api: ag_vmap example %lld element %lld: %.17g, alone %.17g\n", (long long)b, (long long)i, a, c);
            return false;
        }
    }
    (void)fz_as_double;
    return true;
}
static void do_vmap(void) {
    rd_t *r = &S->r;
    int n = 1 + rd_count(r, 3, 1), i, ci, rc, dims[4], od[2], nout;
    ag_ctx *c = pick_ctx(&ci);
    ag_tensor *in[4], *out[2] = {NULL, NULL};
    static vm_user vu;
    uint8_t m = u8(r);
    if (n < 1) n = 1;
    if (n > 3) n = 3;
    for (i = 0; i < n; i++) {
        uint8_t d = u8(r);
        in[i] = pick();
        dims[i] = d % 8 == 7 ? AG_UNBATCHED : (int)(d % 8) - 3;   /* -3 .. 3 */
    }
    vu.fu.n = n; vu.fu.kind = u8(r) % FN_KINDS; vu.fu.extra = vu.fu.kind == 11 ? pick() : NULL;
    vu.grad = (m & 1) != 0; vu.nest = (m & 2) != 0; vu.inner_dim = (m >> 2) % 3;
    if (vu.nest) vu.fu.kind = vu.fu.kind == 12 ? 0 : vu.fu.kind;
    if (ag_numel(vu.fu.extra) > CAP_FN) vu.fu.extra = NULL;
    od[0] = (int)(m >> 4) % 5 - 2; od[1] = 0;
    nout = vu.grad ? 2 : 1;
    for (i = 0; i < n; i++) if (ag_numel(in[i]) > 4096) return;   /* harness cost, not a bug */
    tr("rc = ag_vmap(%s, fz_vmap_fn, &user, %d, (ag_tensor *[]){%s, %s, %s}, (int[]){%d, %d, %d}, %d, out, (int[]){%d, 0});   /* kind %d, grad %d, nest %d */",
       ctxn(c), n, nm(in[0]), n > 1 ? nm(in[1]) : "-", n > 2 ? nm(in[2]) : "-", dims[0], n > 1 ? dims[1] : 0, n > 2 ? dims[2] : 0, nout, od[0],
       vu.fu.kind, vu.grad, vu.nest);
    begin("ag_vmap");
    rc = ag_vmap(c, fz_vmap_fn, &vu, n, in, dims, nout, out, od);
    tr("   /* -> %d */\n", rc);
    end(rc != 0, c != NULL);
    if (rc != 0 && (out[0] || out[1])) { fprintf(stderr, "fuzz_api: ag_vmap failed but left an output set\n"); abort(); }
    if (rc == 0 && !vu.nest) {   /* the oracle: the first and the last example alone */
        int64_t B = -1, bs[2];
        int k, j, o0 = od[0];
        for (i = 0; i < n; i++) if (dims[i] != AG_UNBATCHED) B = ag_dim(in[i], dims[i] < 0 ? dims[i] + ag_ndim(in[i]) : dims[i]);
        bs[0] = 0; bs[1] = B - 1;
        if (o0 < 0) o0 += ag_ndim(out[0]);
        for (k = 0; k < 2 && B > 0; k++) {
            ag_tensor *ex[4], *ref[2] = {NULL, NULL};
            for (i = 0; i < n; i++) ex[i] = dims[i] == AG_UNBATCHED ? in[i] : ag_select(in[i], dims[i], bs[k]);
            g_call = "fz_fn on one example";
            ref[0] = fz_fn(c, ex, &vu.fu);
            if (ref[0] && vu.grad && ag_grad_of(ag_sum(ref[0]), NULL, 1, ex, ref + 1) != 0) ref[0] = NULL;
            if (!ref[0]) { clear_errors(); continue; }   /* an example alone may fail where the batch did not (e.g. no gradient) */
            for (j = 0; j < nout; j++)
                if (!fz_same_example(out[j], j == 0 ? o0 : 0, bs[k], ref[j])) {
                    fprintf(stderr, "fuzz_api: ag_vmap output %d, example %lld, differs from f on that example alone (kind %d, grad %d)\n",
                            j, (long long)bs[k], vu.fu.kind, vu.grad);
                    abort();
                }
            clear_errors();
        }
    }
    if (rc == 0) put(out[0], false);
}

static void do_functional(void) {
    rd_t *r = &S->r;
    int k = u8(r) % 7, n = 1 + rd_count(r, 3, 1), i, ci, rc = 0;
    ag_ctx *c = pick_ctx(&ci);
    ag_tensor *in[AG_FUNCTIONAL_MAX_INPUTS + 1], *v[AG_FUNCTIONAL_MAX_INPUTS + 1], *out = NULL, *res[AG_FUNCTIONAL_MAX_INPUTS * AG_FUNCTIONAL_MAX_INPUTS + 1];
    ag_tensor *vv = NULL;
    static fn_user fu;
    bool cg = rbool(r), want_out = rbool(r);
    uint8_t m = u8(r);
    static const char *const names[7] = {"ag_vjp", "ag_jvp", "ag_jacobian", "ag_jacobian_fwd", "ag_hessian", "ag_hvp", "ag_per_example_linear_grads"};
    if (m == 255) n = AG_FUNCTIONAL_MAX_INPUTS + 1;
    for (i = 0; i <= AG_FUNCTIONAL_MAX_INPUTS; i++) { in[i] = i < n && i < 3 ? pick() : i < n ? in[i % 3] : NULL; v[i] = NULL; }
    for (i = 0; i < AG_FUNCTIONAL_MAX_INPUTS * AG_FUNCTIONAL_MAX_INPUTS + 1; i++) res[i] = NULL;
    for (i = 0; i < n && i <= AG_FUNCTIONAL_MAX_INPUTS; i++) v[i] = (m & 1) ? pick() : in[i];
    fu.n = n < 1 ? 1 : n > 3 ? 3 : n;
    fu.kind = u8(r) % FN_KINDS;
    fu.extra = fu.kind == 11 ? pick() : NULL;
    if (ag_numel(fu.extra) > CAP_FN * CAP_FN) fu.extra = NULL;   /* f runs many times in Jacobians and gradcheck */
    if (k >= 2 && k <= 5 && !small_inputs(in, n > AG_FUNCTIONAL_MAX_INPUTS ? AG_FUNCTIONAL_MAX_INPUTS : n)) return;   /* harness cost, not a bug */
    if (k == 2 && fu.kind == 1) fu.kind = 0;   /* a broadcast product of two inputs has too many rows */
    vv = (m & 2) ? NULL : pick();
    tr("rc = %s(%s, fz_fn, &user, %d, (ag_tensor *[]){%s, %s, %s}, ...);   /* kind %d, v %s, u/v[0] %s, create_graph %d */", names[k], ctxn(c), n,
       nm(in[0]), nm(in[1]), nm(in[2]), fu.kind, nm(vv), nm(v[0]), cg);
    begin(names[k]);
    switch (k) {
    case 0: rc = ag_vjp(c, fz_fn, &fu, n, in, vv, want_out ? &out : NULL, res, cg); break;
    case 1: rc = ag_jvp(c, fz_fn, &fu, n, in, (m & 4) ? NULL : v, want_out ? &out : NULL, res, cg); break;
    case 2: rc = ag_jacobian(c, fz_fn, &fu, n, in, (m & 8) ? NULL : res, cg); break;
    case 3: rc = ag_jacobian_fwd(c, fz_fn, &fu, n, in, (m & 8) ? NULL : res, cg); break;
    case 4: rc = ag_hessian(c, fz_fn, &fu, n, in, (m & 8) ? NULL : res, cg); break;
    case 5: rc = ag_hvp(c, fz_fn, &fu, n, in, (m & 4) ? NULL : v, want_out ? &out : NULL, res, cg); break;
    default: {   /* per-example linear grads: ys made by ag_linear here (or arbitrary tensors) */
        ag_tensor *xs[AG_FUNCTIONAL_MAX_INPUTS + 1], *ys[AG_FUNCTIONAL_MAX_INPUTS + 1], *dW[AG_FUNCTIONAL_MAX_INPUTS + 1];
        ag_tensor *db[AG_FUNCTIONAL_MAX_INPUTS + 1], *loss;
        int nl = n > 3 ? 3 : n < 0 ? 0 : n;
        for (i = 0; i <= AG_FUNCTIONAL_MAX_INPUTS; i++) { xs[i] = in[i]; dW[i] = db[i] = NULL; ys[i] = i < 3 && (m & 16) ? pick() : i < 3 ? NULL : ys[i % 3]; }
        g_call = "ag_linear";
        for (i = 0; i < nl; i++)
            if (!(m & 16)) {
                ag_tensor *W = pick(), *bb = (m & 32) ? pick() : NULL;
                if (xs[i] && W && !heavy_ok(xs[i], 2 * numeld(xs[i]) * numeld(W))) return;
                ys[i] = ag_linear(xs[i], W, bb);
                clear_errors();
            }
        if (ys[0] && xs[0] && !heavy_ok(ys[0], numeld(ys[0]) * numeld(xs[0]))) return;
        loss = (m & 64) ? pick() : ag_sum(ys[0]);
        clear_errors();
        begin(names[k]);
        rc = ag_per_example_linear_grads(loss, n, xs, ys, dW, (m & 128) ? NULL : db);
        tr("   /* -> %d */\n", rc);
        end(rc != 0, loss != NULL);
        if (rc == 0 && nl > 0) put(dW[0], false);
        return;
    }
    }
    tr("   /* -> %d */\n", rc);
    end(rc != 0, c != NULL);
    if (rc == 0 && (k == 0 || k == 5))   /* vjps and hvps have the inputs' shapes */
        for (i = 0; i < n; i++)
            if (!res[i] || ag_ndim(res[i]) != ag_ndim(in[i]) || ag_numel(res[i]) != ag_numel(in[i])) {
                fprintf(stderr, "fuzz_api: %s result %d does not have input %d's shape\n", names[k], i, i);
                abort();
            }
    if (rc != 0)
        for (i = 0; i < AG_FUNCTIONAL_MAX_INPUTS * AG_FUNCTIONAL_MAX_INPUTS + 1; i++)
            if (res[i] || out) { fprintf(stderr, "fuzz_api: %s failed but left a result pointer set\n", names[k]); abort(); }
    if (rc == 0) {
        put(res[0], false);
        if (out) put(out, false);
    }
}

static void do_gradcheck(void) {
    rd_t *r = &S->r;
    int n = 1 + u8(r) % 2, ci, rc, i;
    ag_ctx *c = pick_ctx(&ci);
    ag_tensor *in[4];
    static fn_user fu;
    ag_gradcheck_opts o;
    ag_gradcheck_result res;
    uint8_t m = u8(r);
    for (i = 0; i < 4; i++) in[i] = i < n ? pick() : NULL;
    if (!small_inputs(in, n)) return;
    fu.n = n;
    fu.kind = u8(r) % FN_KINDS;
    fu.extra = fu.kind == 11 ? pick() : NULL;
    if (ag_numel(fu.extra) > CAP_FN * CAP_FN) fu.extra = NULL;   /* f runs many times in Jacobians and gradcheck */
    memset(&o, 0, sizeof o);
    if (m & 1) o.eps = rd_double(r);
    if (m & 2) { o.atol = rd_double(r); o.rtol = rd_double(r); }
    o.second_order = (m & 4) != 0;
    tr("rc = ag_gradcheck(%s, fz_fn, &user, %d, (ag_tensor *[]){%s, %s}, &o, &res);   /* kind %d, eps %g, 2nd %d */", ctxn(c), n, nm(in[0]), nm(in[1]),
       fu.kind, o.eps, o.second_order);
    begin("ag_gradcheck");
    rc = ag_gradcheck(c, (m & 8) && (m & 16) ? NULL : fz_fn, &fu, n, in, (m & 32) ? NULL : &o, (m & 64) ? NULL : &res);
    tr("   /* -> %d */\n", rc);
    end(rc == -1, c != NULL);
    if (rc < -1 || rc > 1) abort();
}

static void do_pure(void) {   /* functions of numbers only */
    rd_t *r = &S->r;
    int a = rd_int(r), b = rd_int(r), c = rd_int(r);
    double x = rd_double(r), y = rd_double(r);
    ag_nonlinearity nl = (ag_nonlinearity)(u8(r) % 8);
    tr("ag_lr_step(%d, %d, %g, %g); ag_lr_cosine(%d, %d, %d, %g, %g); ag_init_gain(%d, %g);\n", a, b, x, y, a, b, c, x, y, (int)nl, x);
    begin("ag_lr_step");
    (void)ag_lr_step(a, b, x, y);
    (void)ag_lr_cosine(a, b, c, x, y);
    (void)ag_init_gain(nl, x);
    (void)ag_sgd_defaults(); (void)ag_adam_defaults(); (void)ag_adamw_defaults();
    end(false, false);
}

static void do_poke(void) {   /* rewrite an index entry (a replay reads the arrays again) */
    rd_t *r = &S->r;
    if (!S->idx_used) return;
    {
        size_t at = u16(r) % S->idx_used;
        int32_t v = u8(r) < 200 ? (int32_t)(u8(r) % 8) : (int32_t)u32(r);
        tr("index[%zu] = %d;\n", at, (int)v);
        S->idx[at] = v;
    }
}

static void do_tempctx(void) {   /* a context with odd options, used a little, freed */
    rd_t *r = &S->r;
    ag_desc d;
    heap_t h;
    ag_ctx *c;
    uint8_t m = u8(r);
    static const char *const simd[6] = {NULL, "scalar", "avx2", "avx512", "neon", "bogus"};
    memset(&d, 0, sizeof d);
    memset(&h, 0, sizeof h);
    d.allocator.alloc = fz_alloc; d.allocator.free = fz_free; d.allocator.user = &h;
    d.arena_bytes = (m & 1) ? (size_t)(u8(r) * 37) : 0;
    d.arena_limit = (m & 2) ? (size_t)u16(r) * 16 : 0;
    d.seed = u64(r);
    d.threads = (m & 4) ? (int)(u8(r) % 4) : 0;
    d.parallel_for = (m & 8) ? fz_parallel_for : NULL;
    d.simd = simd[u8(r) % 6];
    h.fail_at = (m & 16) ? u8(r) % 16 : 0;
    tr("/* temporary context: arena_bytes %zu limit %zu threads %d parallel_for %d simd %s fail_at %llu */\n", d.arena_bytes, d.arena_limit,
       d.threads, d.parallel_for != NULL, d.simd ? d.simd : "NULL", (unsigned long long)h.fail_at);
    begin("ag_ctx_new");
    c = ag_ctx_new((m & 32) ? NULL : &d);
    end(false, false);
    if (!c) return;
    {
        int64_t s[2] = {3, 4}, s2[2] = {4, 5};
        ag_tensor *a, *b, *y;
        int rc;
        begin("temporary context work");
        a = ag_set_requires_grad(ag_randn(c, AG_F32, 2, s), true);
        b = ag_rand(c, AG_F64, 2, s2);
        y = ag_sum(ag_tanh(ag_matmul(a, b)));
        rc = ag_backward(y, NULL);
        if ((!y || rc != 0) && !ag_error(c)) { fprintf(stderr, "fuzz_api: the temporary context failed without a message\n"); abort(); }
        ag_clear_error(c);
        ag_ctx_reset(c);
        (void)ag_get_stats(c);
        ag_ctx_free(c);
        end(false, false);
    }
    if (h.live) { fprintf(stderr, "fuzz_api: ag_ctx_free left %zu bytes allocated\n", h.live); abort(); }
}

static void step(void) {
    rd_t *r = &S->r;
    int op = u8(r) % OP_COUNT;
    switch (op) {
    case OP_CREATE: do_create(); break;
    case OP_UNARY: do_unary(); break;
    case OP_BINARY: do_binary(); break;
    case OP_DIMOP: do_dimop(); break;
    case OP_RESHAPE: do_reshape(); break;
    case OP_SLICE: do_slice(); break;
    case OP_CAT: do_cat(); break;
    case OP_INDEX: do_index(); break;
    case OP_NORM: do_norm(); break;
    case OP_CONV: do_conv(); break;
    case OP_BATCHNORM: do_batchnorm(); break;
    case OP_ATTENTION: do_attention(); break;
    case OP_INPLACE: do_inplace(); break;
    case OP_BACKWARD: do_backward(); break;
    case OP_GRAD_OF: do_grad_of(); break;
    case OP_RESET: do_reset(); break;
    case OP_MODES: do_modes(); break;
    case OP_CAPTURE: do_capture(); break;
    case OP_OPTIM: do_optim(); break;
    case OP_CLIP: do_clip(); break;
    case OP_INIT: do_init(); break;
    case OP_SAFETENSORS: do_safetensors(); break;
    case OP_HOOK: do_hook(); break;
    case OP_ACCESS: do_access(); break;
    case OP_CUSTOM: do_custom(); break;
    case OP_FUNCTIONAL: do_functional(); break;
    case OP_GRADCHECK: do_gradcheck(); break;
    case OP_PURE: do_pure(); break;
    case OP_SANITY: sanity(u8(r) & 1); break;
    case OP_POKE: do_poke(); break;
    case OP_TEMPCTX: do_tempctx(); break;
    case OP_MORE: do_more(); break;
    case OP_MORE2: do_more2(); break;
    case OP_VMAP: do_vmap(); break;
    default: do_free(); break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static st_t st;
    ag_desc d[2];
    int i;
    uint8_t cfg;
    static const char *const simd[4] = {NULL, "scalar", "avx2", "avx512"};
    memset(&st, 0, sizeof st);
    S = &st;
    st.r.p = data; st.r.n = size;
    if (!g_null) {
        g_null = fopen("/dev/null", "w");
        g_trace = getenv("AG_FUZZ_TRACE") != NULL;
    }
    cfg = u8(&st.r);
    for (i = 0; i < 2; i++) {
        memset(&d[i], 0, sizeof d[i]);
        d[i].allocator.alloc = fz_alloc; d[i].allocator.free = fz_free; d[i].allocator.user = &st.heap[i];
        d[i].arena_limit = ARENA_LIMIT;
        d[i].seed = (uint64_t)i * 77 + cfg;
        d[i].simd = simd[(cfg >> (2 * i)) & 3];
        d[i].parallel_for = (cfg & 0x10) && i == 0 ? fz_parallel_for : NULL;
        d[i].threads = (cfg & 0x10) && i == 1 ? 2 : 0;   /* a worker thread for context 1's products */
        if (cfg & 0x20) d[i].arena_bytes = 4096;   /* many small blocks */
    }
    /* the allocator of context 0 fails its k-th request, when told to */
    if ((cfg & 0xC0) == 0xC0) st.heap[0].fail_at = 2 + u8(&st.r) % 64;
    tr("/* config %u: simd %s / %s, parallel_for %d, arena_bytes %zu, fail_at %llu */\n", cfg, d[0].simd ? d[0].simd : "NULL",
       d[1].simd ? d[1].simd : "NULL", d[0].parallel_for != NULL, d[0].arena_bytes, (unsigned long long)st.heap[0].fail_at);
    st.ctx[0] = ag_ctx_new(&d[0]);
    st.ctx[1] = ag_ctx_new(&d[1]);
    if (st.ctx[0] && st.ctx[1]) {
        int64_t one = 1;
        float v = 2.0f;
        st.foreign = ag_param(st.ctx[1], AG_F32, 1, &one, &v);
        clear_errors();
        while (st.r.i < st.r.n) step();
    }
    for (i = 0; i < st.nopt; i++) (void)ag_optim_steps(st.opt[i], 0);
    ag_ctx_free(st.ctx[0]);
    ag_ctx_free(st.ctx[1]);
    for (i = 0; i < 2; i++)
        if (st.heap[i].live) { fprintf(stderr, "fuzz_api: ag_ctx_free left %zu bytes allocated\n", st.heap[i].live); abort(); }
    S = NULL;
    return 0;
}
