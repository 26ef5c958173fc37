/* test_memory.c - the memory model: deep graphs, zero heap traffic in steady
   state, arena limits, stats, what ag_ctx_reset keeps and drops, no leaks.

   (a) a chain of ~1,000,000 ops on one element builds and backpropagates (no
       recursion) to the right gradient; prints bytes per graph node
   (b) 10,000 SGD steps of a 2-16-1 MLP through a counting allocator: no heap
       allocation after the first step
   (c) arena_limit: exceeding it is an error on the context, and the context
       works again after ag_ctx_reset
   (d) stats: arena_used is 0 after reset, peak >= used, capacity reused
   (e) ag_ctx_reset drops create_graph gradients, keeps ordinary ones
   (f) ag_ctx_free gives back everything the allocator handed out
   (g) an allocator that fails after k calls, for every k: no crash, no leak,
       and the failure is reported

   Valid C99 and C++11 (make check builds it as both). */
#include "autograd.h"
#include "harness.h"

#include <stdlib.h>
#include <time.h>

/* ---- a counting allocator ----------------------------------------------- */
/* Each block carries a 16-byte header with its size (keeps malloc's alignment). */
typedef struct {
    uint64_t allocs, frees, null_frees, refused;
    size_t live, peak;
    long fail_after;   /* refuse every call after this many allocs; -1: never */
} counter;

static void *count_alloc(size_t n, void *user) {
    counter *c = (counter *)user;
    unsigned char *p;
    if (c->fail_after >= 0 && c->allocs >= (uint64_t)c->fail_after) { c->refused++; return NULL; }
    p = (unsigned char *)malloc(n + 16);
    if (!p) return NULL;
    memcpy(p, &n, sizeof n);
    c->allocs++;
    c->live += n;
    if (c->live > c->peak) c->peak = c->live;
    return p + 16;
}

static void count_free(void *ptr, void *user) {
    counter *c = (counter *)user;
    unsigned char *p;
    size_t n;
    if (!ptr) { c->null_frees++; return; }
    p = (unsigned char *)ptr - 16;
    memcpy(&n, p, sizeof n);
    c->frees++;
    c->live -= n;
    free(p);
}

static void counter_init(counter *c) { memset(c, 0, sizeof *c); c->fail_after = -1; }

static ag_desc counted_desc(counter *c) {
    ag_desc d;
    memset(&d, 0, sizeof d);
    d.allocator.alloc = count_alloc;
    d.allocator.free = count_free;
    d.allocator.user = c;
    return d;
}

#define CHECK_NO_LEAK(c, what) \
    CHECK((c).allocs == (c).frees && (c).live == 0, "%s: %llu allocs, %llu frees, %lu bytes still live", \
          (what), (unsigned long long)(c).allocs, (unsigned long long)(c).frees, (unsigned long)(c).live)

static double seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

/* ---- (a) a million-op chain --------------------------------------------- */
/* One cycle is 9 ops whose composite is y -> tanh(y): y0 = 0.5 stays positive and
   decays like 1/sqrt(k), so the gradient stays a normal number. */
#define CHAIN_CYCLES 111112L   /* x 9 ops = 1,000,008 ops */

static ag_tensor *chain_cycle(ag_tensor *y) {
    ag_tensor *t = ag_tanh(y);         /* d: 1 - t^2 */
    t = ag_mul_scalar(t, 2.0);         /* d: 2 */
    t = ag_add_scalar(t, 1.0);
    t = ag_log(t);                     /* d: 1/x */
    t = ag_exp(t);                     /* d: exp(x) */
    t = ag_sqrt(t);                    /* d: 1/(2 sqrt x) */
    t = ag_pow(t, 2.0);                /* d: 2x */
    t = ag_add_scalar(t, -1.0);
    return ag_mul_scalar(t, 0.5);      /* d: 1/2 */
}

/* the same chain in plain C, with its derivative in forward mode */
static double chain_ref(double y, double *dydx) {
    double d = 1.0;
    long k;
    for (k = 0; k < CHAIN_CYCLES; k++) {
        double t1 = tanh(y), t2, t3, t4, t5, t6, t7;
        d *= 1.0 - t1 * t1;
        t2 = t1 * 2.0;  d *= 2.0;
        t3 = t2 + 1.0;
        t4 = log(t3);   d *= 1.0 / t3;
        t5 = exp(t4);   d *= t5;
        t6 = sqrt(t5);  d *= 0.5 / t6;
        t7 = pow(t6, 2.0); d *= 2.0 * t6;
        y = (t7 - 1.0) * 0.5; d *= 0.5;
    }
    *dydx = d;
    return y;
}

static void test_long_chain(void) {
    counter c;
    ag_desc desc;
    ag_ctx *ctx;
    ag_tensor *x, *y;
    ag_stats s;
    double x0 = 0.5, ref_y, ref_d, t0, t_fwd, t_bwd;
    long k;
    int rc;

    counter_init(&c);
    desc = counted_desc(&c);
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new");
    if (!ctx) return;
    x = ag_param(ctx, AG_F64, 0, NULL, &x0);
    CHECK(x != NULL, "ag_param: %s", ag_error(ctx) ? ag_error(ctx) : "?");

    t0 = seconds();
    y = x;
    for (k = 0; k < CHAIN_CYCLES && y; k++) y = chain_cycle(y);
    t_fwd = seconds() - t0;
    CHECK(y != NULL, "1M-op chain forward: %s", ag_error(ctx) ? ag_error(ctx) : "?");
    s = ag_get_stats(ctx);
    CHECK(s.nodes >= 1000000, "nodes after the chain: %llu", (unsigned long long)s.nodes);
    if (s.nodes > 0) {
        double per = (double)s.arena_used / (double)s.nodes;
        printf("  info: 1M-op chain: %llu nodes, arena_used %.1f MB: %.1f bytes per graph node "
               "(%.1f without the 8-byte F64 values)\n",
               (unsigned long long)s.nodes, s.arena_used / 1048576.0, per, per - 8.0);
    }

    ref_y = chain_ref(x0, &ref_d);
    if (y) CHECK_CLOSE(ag_item(y), ref_y, 0.0, 1e-9, "1M-op chain: value");

    t0 = seconds();
    rc = y ? ag_backward(y, NULL) : -1;
    t_bwd = seconds() - t0;
    CHECK(rc == 0, "1M-op chain backward: %s", ag_error(ctx) ? ag_error(ctx) : "?");
    CHECK(ag_grad(x) != NULL, "1M-op chain: x has no gradient");
    if (rc == 0 && ag_grad(x)) {
        ag_stats s2 = ag_get_stats(ctx);
        CHECK(ref_d > 1e-300 && ref_d < 1.0, "reference gradient is a usable number: %g", ref_d);
        CHECK_CLOSE(ag_item(ag_grad(x)), ref_d, 0.0, 1e-8, "1M-op chain: d y / d x");
        printf("  info: 1M-op chain: forward %.2fs, backward %.2fs, backward used %.1f more bytes per node; "
               "arena peak %.1f MB, capacity %.1f MB\n", t_fwd, t_bwd,
               (double)(s2.arena_used - s.arena_used) / (double)(s.nodes ? s.nodes : 1),
               s2.arena_peak / 1048576.0, s2.arena_capacity / 1048576.0);
    }

    ag_ctx_reset(ctx);
    s = ag_get_stats(ctx);
    CHECK(s.arena_used == 0 && s.nodes == 0, "after reset: arena_used %lu, nodes %llu",
          (unsigned long)s.arena_used, (unsigned long long)s.nodes);
    CHECK(ag_grad(x) != NULL, "x's ordinary gradient survives reset");
    ag_ctx_free(ctx);
    CHECK_NO_LEAK(c, "1M-op chain");
}

/* ---- a small MLP on data made in code ------------------------------------- */
#define MLP_N 64
#define MLP_H 16

typedef struct { ag_tensor *X, *Y, *W1, *b1, *W2, *b2; } mlp;

static uint32_t lcg_next(uint32_t *s) { *s = *s * 1664525u + 1013904223u; return *s >> 8; }
static float lcg_uniform(uint32_t *s) { return (float)lcg_next(s) / 16777216.0f * 2.0f - 1.0f; } /* [-1, 1) */

/* 0 ok, -1 if a tensor could not be made */
static int mlp_init(ag_ctx *ctx, mlp *m) {
    float X[MLP_N * 2], Y[MLP_N], W1[MLP_H * 2], b1[MLP_H], W2[MLP_H], b2[1];
    int64_t sx[2] = {MLP_N, 2}, sy[2] = {MLP_N, 1}, sw1[2] = {MLP_H, 2}, sb1[1] = {MLP_H},
            sw2[2] = {1, MLP_H}, sb2[1] = {1};
    uint32_t seed = 12345u;
    int i;
    for (i = 0; i < MLP_N; i++) {
        float a = lcg_uniform(&seed), b = lcg_uniform(&seed);
        X[2 * i] = a; X[2 * i + 1] = b;
        Y[i] = (float)(sin(3.0 * a) * 0.5 + a * b);
    }
    for (i = 0; i < MLP_H * 2; i++) W1[i] = lcg_uniform(&seed) * 0.7f;
    for (i = 0; i < MLP_H; i++) b1[i] = lcg_uniform(&seed) * 0.1f;
    for (i = 0; i < MLP_H; i++) W2[i] = lcg_uniform(&seed) * 0.25f;
    b2[0] = 0.0f;
    m->X = ag_persistent(ctx, AG_F32, 2, sx, X);
    m->Y = ag_persistent(ctx, AG_F32, 2, sy, Y);
    m->W1 = ag_param(ctx, AG_F32, 2, sw1, W1);
    m->b1 = ag_param(ctx, AG_F32, 1, sb1, b1);
    m->W2 = ag_param(ctx, AG_F32, 2, sw2, W2);
    m->b2 = ag_param(ctx, AG_F32, 1, sb2, b2);
    return (m->X && m->Y && m->W1 && m->b1 && m->W2 && m->b2) ? 0 : -1;
}

/* one SGD step; the loss before the update, NaN if anything failed. Does not reset. */
static double mlp_step(mlp *m, float lr) {
    ag_tensor *ps[4];
    ag_tensor *h, *out, *loss;
    double l;
    int i;
    ps[0] = m->W1; ps[1] = m->b1; ps[2] = m->W2; ps[3] = m->b2;
    h = ag_tanh(ag_linear(m->X, m->W1, m->b1));
    out = ag_linear(h, m->W2, m->b2);
    loss = ag_mse_loss(out, m->Y);
    if (!loss) return NAN;
    for (i = 0; i < 4; i++) ag_zero_grad(ps[i]);
    if (ag_backward(loss, NULL) != 0) return NAN;
    l = ag_item(loss);
    for (i = 0; i < 4; i++) {
        ag_tensor *g = ag_grad(ps[i]);
        float *w, *gd;
        int64_t j, n;
        if (!g || ag_type(g) != AG_F32 || !ag_is_contiguous(g) || ag_numel(g) != ag_numel(ps[i])) return NAN;
        w = (float *)ag_data(ps[i]);
        gd = (float *)ag_data(g);
        n = ag_numel(g);
        for (j = 0; j < n; j++) w[j] -= lr * gd[j];
    }
    return l;
}

/* ---- (b) + (d) steady-state training ------------------------------------ */
static void test_training_steady_state(void) {
    counter c;
    ag_desc desc;
    ag_ctx *ctx;
    mlp m;
    ag_stats s, s1, s2, send;
    uint64_t c_allocs1 = 0, c_frees1 = 0;
    double loss0 = NAN, loss = NAN;
    size_t used2 = 0, used_end = 0;
    int step, ok = 1;
    const int steps = 10000;

    counter_init(&c);
    desc = counted_desc(&c);
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new");
    if (!ctx) return;
    CHECK(mlp_init(ctx, &m) == 0, "mlp_init: %s", ag_error(ctx) ? ag_error(ctx) : "?");
    memset(&s1, 0, sizeof s1);
    memset(&s2, 0, sizeof s2);

    for (step = 1; step <= steps && ok; step++) {
        loss = mlp_step(&m, 0.1f);
        if (loss != loss) { ok = 0; break; }
        if (step == 1) loss0 = loss;
        s = ag_get_stats(ctx);
        if (s.arena_peak < s.arena_used) ok = 0;
        if (step == 2) used2 = s.arena_used;
        if (step == steps) used_end = s.arena_used;
        ag_ctx_reset(ctx);
        s = ag_get_stats(ctx);
        if (s.arena_used != 0 || s.nodes != 0) {
            CHECK(0, "step %d: after reset arena_used %lu, nodes %llu", step,
                  (unsigned long)s.arena_used, (unsigned long long)s.nodes);
            ok = 0;
        }
        if (step == 1) { s1 = s; c_allocs1 = c.allocs; c_frees1 = c.frees; }
        if (step == 2) s2 = s;
    }
    CHECK(ok, "training loop failed at step %d: %s", step, ag_error(ctx) ? ag_error(ctx) : "(no error set)");
    send = ag_get_stats(ctx);

    CHECK(c.allocs == c_allocs1, "heap allocations (counting allocator) after step 1: %llu, after step %d: %llu",
          (unsigned long long)c_allocs1, steps, (unsigned long long)c.allocs);
    CHECK(c.frees == c_frees1, "heap frees after step 1: %llu, after step %d: %llu",
          (unsigned long long)c_frees1, steps, (unsigned long long)c.frees);
    CHECK(send.heap_allocs == s1.heap_allocs, "ag_get_stats heap_allocs after step 1: %llu, after step %d: %llu",
          (unsigned long long)s1.heap_allocs, steps, (unsigned long long)send.heap_allocs);
    CHECK(send.heap_frees == s1.heap_frees, "ag_get_stats heap_frees after step 1: %llu, after step %d: %llu",
          (unsigned long long)s1.heap_frees, steps, (unsigned long long)send.heap_frees);
    CHECK(send.heap_allocs > 0 && send.heap_allocs <= c.allocs,
          "ag_get_stats heap_allocs %llu vs the allocator's count %llu",
          (unsigned long long)send.heap_allocs, (unsigned long long)c.allocs);
    /* (d) */
    CHECK(send.arena_capacity == s1.arena_capacity && send.arena_capacity == s2.arena_capacity,
          "arena capacity grew: step 1 %lu, step 2 %lu, step %d %lu", (unsigned long)s1.arena_capacity,
          (unsigned long)s2.arena_capacity, steps, (unsigned long)send.arena_capacity);
    CHECK(used2 > 0 && used2 == used_end, "arena_used per step: step 2 %lu, step %d %lu",
          (unsigned long)used2, steps, (unsigned long)used_end);
    CHECK(send.arena_peak >= used2, "arena_peak %lu < a step's use %lu", (unsigned long)send.arena_peak, (unsigned long)used2);
    CHECK(send.arena_capacity >= send.arena_peak, "capacity %lu < peak %lu",
          (unsigned long)send.arena_capacity, (unsigned long)send.arena_peak);
    CHECK(send.persistent_bytes >= (size_t)(MLP_N * 3 + MLP_H * 4 + 1) * 4 * 1,
          "persistent_bytes %lu is too small for the data and parameters", (unsigned long)send.persistent_bytes);
    CHECK(loss < 0.25 * loss0, "training did not learn: loss %g -> %g", loss0, loss);
    printf("  info: MLP 2-%d-1, %d steps: loss %.5f -> %.5f; %llu heap allocs (all in step 1), "
           "arena %lu bytes/step, capacity %lu, persistent %lu bytes\n", MLP_H, steps, loss0, loss,
           (unsigned long long)c.allocs, (unsigned long)used2, (unsigned long)send.arena_capacity,
           (unsigned long)send.persistent_bytes);

    ag_ctx_free(ctx);
    CHECK_NO_LEAK(c, "training loop");
}

/* ---- (c) arena_limit ----------------------------------------------------- */
static void test_arena_limit(void) {
    counter c;
    ag_desc desc;
    ag_ctx *ctx;
    ag_stats s;
    int64_t n1000[1] = {1000}, nbig[1] = {100000}, n4[1] = {4};
    double pv[4] = {1, -2, 3, 0.5};
    ag_tensor *p, *t = NULL, *loss;
    size_t limit = 64 * 1024;
    uint64_t allocs_after_round0 = 0;
    int i, round, made;

    counter_init(&c);
    desc = counted_desc(&c);
    desc.arena_bytes = 4096;
    desc.arena_limit = limit;
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new with arena_limit");
    if (!ctx) return;
    p = ag_param(ctx, AG_F64, 1, n4, pv);
    CHECK(p != NULL, "ag_param under arena_limit: %s", ag_error(ctx) ? ag_error(ctx) : "?");

    for (round = 0; round < 3; round++) {
        /* fill: 8000-byte tensors until the arena says no */
        made = 0;
        for (i = 0; i < 100; i++) {
            t = ag_new(ctx, AG_F64, 1, n1000);
            if (!t) break;
            made++;
        }
        CHECK(t == NULL, "round %d: 100 x 8000 bytes fit under a %lu-byte arena_limit", round, (unsigned long)limit);
        CHECK(made >= 1 && made <= 8, "round %d: %d 8000-byte tensors fit under the limit", round, made);
        CHECK(ag_error(ctx) != NULL, "round %d: no error after the arena ran out", round);
        if (round == 0 && ag_error(ctx)) printf("  info: arena_limit error: %s\n", ag_error(ctx));
        s = ag_get_stats(ctx);
        CHECK(s.arena_capacity <= limit, "round %d: capacity %lu exceeds the limit %lu", round,
              (unsigned long)s.arena_capacity, (unsigned long)limit);
        /* NULL flows through ops */
        CHECK(ag_sum(ag_mul_scalar(t, 2.0)) == NULL, "ops on NULL give NULL");

        ag_ctx_reset(ctx);
        ag_clear_error(ctx);
        s = ag_get_stats(ctx);
        CHECK(ag_error(ctx) == NULL, "error cleared");
        CHECK(s.arena_used == 0, "arena_used after reset: %lu", (unsigned long)s.arena_used);

        /* and it works again */
        ag_zero_grad(p);
        loss = ag_sum(ag_mul(p, p));
        CHECK(loss != NULL, "round %d: small graph after reset: %s", round, ag_error(ctx) ? ag_error(ctx) : "?");
        CHECK(loss && ag_backward(loss, NULL) == 0, "round %d: backward after reset: %s", round,
              ag_error(ctx) ? ag_error(ctx) : "?");
        if (ag_grad(p)) {
            int64_t j;
            for (j = 0; j < 4; j++) CHECK_CLOSE(ag_get(ag_grad(p), &j), 2 * pv[j], 1e-12, 0, "d sum(p^2) / dp");
        }
        ag_ctx_reset(ctx);
        if (round == 0) allocs_after_round0 = c.allocs;
        else CHECK(c.allocs == allocs_after_round0, "round %d: filling the arena again allocated again (%llu -> %llu)",
                   round, (unsigned long long)allocs_after_round0, (unsigned long long)c.allocs);
    }

    /* a single tensor larger than the whole limit */
    t = ag_new(ctx, AG_F64, 1, nbig);
    CHECK(t == NULL && ag_error(ctx) != NULL, "an 800 KB tensor under a 64 KB limit");
    ag_ctx_reset(ctx);
    ag_clear_error(ctx);

    /* running out during backward: fill the arena, then ask for gradients */
    {
        ag_tensor *q, *y;
        int rc;
        q = ag_param(ctx, AG_F64, 1, n1000, NULL);
        CHECK(q != NULL, "ag_param [1000] (persistent, not in the arena): %s", ag_error(ctx) ? ag_error(ctx) : "?");
        y = q ? ag_sum(ag_mul_scalar(ag_exp(q), 3.0)) : NULL;
        CHECK(y != NULL, "forward fits: %s", ag_error(ctx) ? ag_error(ctx) : "?");
        while (ag_new(ctx, AG_F64, 1, n1000)) {}
        ag_clear_error(ctx);
        rc = y ? ag_backward(y, NULL) : -1;
        CHECK(rc == 0 || ag_error(ctx) != NULL, "backward failed (%d) without an error", rc);
        printf("  info: backward with a full arena: %s\n",
               rc == 0 ? "fit anyway" : ag_error(ctx) ? ag_error(ctx) : "(failed, no error)");
        ag_ctx_reset(ctx);
        ag_clear_error(ctx);
        if (q) ag_zero_grad(q);
        y = q ? ag_sum(ag_mul_scalar(ag_exp(q), 3.0)) : NULL;
        rc = y ? ag_backward(y, NULL) : -1;
        CHECK(rc == 0, "backward after a failed one and a reset: %s", ag_error(ctx) ? ag_error(ctx) : "?");
        if (rc == 0 && ag_grad(q)) {
            int64_t j = 999;
            CHECK_CLOSE(ag_get(ag_grad(q), &j), 3.0, 1e-12, 0, "d sum(3 exp(q)) / dq at q = 0");
        }
        ag_ctx_reset(ctx);
    }
    s = ag_get_stats(ctx);
    CHECK(s.arena_capacity <= limit, "final capacity %lu exceeds the limit %lu",
          (unsigned long)s.arena_capacity, (unsigned long)limit);
    ag_ctx_free(ctx);
    CHECK_NO_LEAK(c, "arena_limit");

    /* only a limit set (the default block size is larger than it): small graphs still work */
    counter_init(&c);
    desc = counted_desc(&c);
    desc.arena_limit = limit;
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new with only arena_limit");
    if (ctx) {
        p = ag_param(ctx, AG_F64, 1, n4, pv);
        loss = ag_sum(ag_mul(p, p));
        CHECK(loss != NULL && ag_backward(loss, NULL) == 0,
              "arena_limit 64 KB with the default arena_bytes: a tiny graph fails: %s",
              ag_error(ctx) ? ag_error(ctx) : "?");
        s = ag_get_stats(ctx);
        CHECK(s.arena_capacity <= limit, "capacity %lu exceeds the limit %lu with default arena_bytes",
              (unsigned long)s.arena_capacity, (unsigned long)limit);
        ag_ctx_free(ctx);
    }
    CHECK_NO_LEAK(c, "arena_limit with default arena_bytes");
}

/* ---- (e) what reset keeps ------------------------------------------------ */
static void test_reset_and_grads(void) {
    counter c;
    ag_desc desc;
    ag_ctx *ctx;
    ag_backward_opts cg;
    double w0 = 3.0, v0 = 5.0;
    ag_tensor *w, *v, *g;
    uint64_t allocs_after_first = 0;
    int it;

    counter_init(&c);
    desc = counted_desc(&c);
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new");
    if (!ctx) return;
    memset(&cg, 0, sizeof cg);
    cg.create_graph = true;
    w = ag_param(ctx, AG_F64, 0, NULL, &w0);
    v = ag_param(ctx, AG_F64, 0, NULL, &v0);

    /* w's gradient made under create_graph: a graph node, in the arena */
    CHECK(ag_backward(ag_pow(w, 3.0), &cg) == 0, "create_graph backward: %s", ag_error(ctx) ? ag_error(ctx) : "?");
    g = ag_grad(w);
    CHECK(g != NULL, "create_graph gradient exists");
    if (g) {
        CHECK_CLOSE(ag_item(g), 27.0, 1e-12, 0, "d w^3 / dw at 3");
        CHECK(ag_requires_grad(g), "a create_graph gradient requires grad");
    }
    /* v's gradient: ordinary */
    CHECK(ag_backward(ag_mul_scalar(v, 2.0), NULL) == 0, "plain backward: %s", ag_error(ctx) ? ag_error(ctx) : "?");
    CHECK(ag_grad(v) && ag_item(ag_grad(v)) == 2.0, "d 2v / dv");

    ag_ctx_reset(ctx);
    CHECK(ag_grad(w) == NULL, "a create_graph gradient is dropped by ag_ctx_reset");
    CHECK(ag_grad(v) != NULL && ag_item(ag_grad(v)) == 2.0, "an ordinary gradient survives ag_ctx_reset");

    /* ordinary gradients keep accumulating across resets, until zeroed */
    CHECK(ag_backward(ag_mul_scalar(v, 2.0), NULL) == 0, "plain backward again");
    CHECK(ag_grad(v) && ag_item(ag_grad(v)) == 4.0, "gradients accumulate across a reset: %g",
          ag_grad(v) ? ag_item(ag_grad(v)) : NAN);
    ag_ctx_reset(ctx);
    ag_zero_grad(v);
    CHECK(ag_grad(v) == NULL, "ag_zero_grad sets the gradient to none");

    /* after the drop, w gets an ordinary gradient again, and it survives a reset */
    CHECK(ag_backward(ag_pow(w, 3.0), NULL) == 0, "plain backward on w after reset");
    CHECK(ag_grad(w) && ag_item(ag_grad(w)) == 27.0, "w's ordinary gradient");
    ag_ctx_reset(ctx);
    CHECK(ag_grad(w) && ag_item(ag_grad(w)) == 27.0, "w's ordinary gradient survives reset");

    /* a gradient-penalty style loop (create_graph + ag_grad_of): no heap traffic after iteration 1 */
    for (it = 0; it < 100; it++) {
        ag_tensor *gw = NULL, *gg = NULL, *y;
        ag_zero_grad(w);
        y = ag_pow(w, 3.0);
        if (ag_grad_of(y, &cg, 1, &w, &gw) != 0 || !gw) { CHECK(0, "ag_grad_of create_graph: %s", ag_error(ctx) ? ag_error(ctx) : "?"); break; }
        if (ag_grad_of(ag_mul(gw, gw), NULL, 1, &w, &gg) != 0 || !gg) { CHECK(0, "ag_grad_of second order: %s", ag_error(ctx) ? ag_error(ctx) : "?"); break; }
        if (it == 0) {
            CHECK_CLOSE(ag_item(gw), 27.0, 1e-12, 0, "ag_grad_of: 3 w^2");
            CHECK_CLOSE(ag_item(gg), 972.0, 1e-9, 0, "d (3 w^2)^2 / dw = 36 w^3");
            CHECK(ag_grad(w) == NULL, "ag_grad_of leaves .grad untouched");
        }
        ag_ctx_reset(ctx);
        if (it == 0) allocs_after_first = c.allocs;
    }
    CHECK(c.allocs == allocs_after_first, "create_graph loop: heap allocs after iteration 1: %llu, after 100: %llu",
          (unsigned long long)allocs_after_first, (unsigned long long)c.allocs);
    ag_ctx_free(ctx);
    CHECK_NO_LEAK(c, "reset and grads");
}

/* ---- (f) + (g) allocation failure at every point ------------------------- */
static void test_failing_allocator(void) {
    long k;
    int complete = 0, crashes_avoided = 0;
    for (k = 0; k < 400 && !complete; k++) {
        counter c;
        ag_desc desc;
        ag_ctx *ctx;
        mlp m;
        int saw_error = 0, step;
        counter_init(&c);
        c.fail_after = k;
        desc = counted_desc(&c);
        desc.arena_bytes = 2048;   /* many blocks, so failures land mid-graph */
        ctx = ag_ctx_new(&desc);
        if (!ctx) {
            CHECK_NO_LEAK(c, "ag_ctx_new under a failing allocator");
            continue;
        }
        if (mlp_init(ctx, &m) != 0) saw_error = 1;
        for (step = 0; step < 3 && !saw_error; step++) {
            double l = mlp_step(&m, 0.1f);
            if (l != l) saw_error = 1;
            ag_ctx_reset(ctx);
        }
        if (ag_error(ctx)) saw_error = 1;
        CHECK(c.refused == 0 || saw_error, "k = %ld: %llu allocations refused but no error reported",
              k, (unsigned long long)c.refused);
        CHECK(!saw_error || c.refused > 0, "k = %ld: failed although no allocation was refused: %s",
              k, ag_error(ctx) ? ag_error(ctx) : "(no error)");
        if (c.refused == 0 && !saw_error) complete = 1;
        ag_ctx_free(ctx);
        CHECK_NO_LEAK(c, "failing allocator");
        crashes_avoided++;
    }
    CHECK(complete, "a run with no refused allocation never happened (k < 400)");
    printf("  info: failing allocator: refusing call 1, 2, ... or %ld: no crash, no leak, always reported (%d contexts)\n",
           k - 1, crashes_avoided);
}

/* an allocator whose blocks are only 2-aligned (misaligned = 1) or 8-aligned from its Nth call on: the
   library needs 8 (int64_t, double and pointers live in its blocks) and must say so instead of faulting */
typedef struct { int calls, from; unsigned char *keep[64]; } odd_pool;
static void *odd_alloc(size_t n, void *user) {
    odd_pool *o = (odd_pool *)user;
    unsigned char *p = (unsigned char *)malloc(n + 16);
    if (!p || o->calls >= 64) { free(p); return NULL; }
    o->keep[o->calls] = p;
    return p + (o->calls++ >= o->from ? 2 : 0);
}
static void odd_free(void *ptr, void *user) {
    odd_pool *o = (odd_pool *)user;
    int i;
    for (i = 0; i < o->calls; i++)
        if (o->keep[i] && (o->keep[i] == ptr || o->keep[i] + 2 == ptr)) { free(o->keep[i]); o->keep[i] = NULL; }
}
static void test_allocator_alignment(void) {
    odd_pool o;
    ag_desc d;
    ag_ctx *ctx;
    const int64_t shape[1] = { 4 };
    int i;
    memset(&o, 0, sizeof o);
    memset(&d, 0, sizeof d);
    d.allocator.alloc = odd_alloc; d.allocator.free = odd_free; d.allocator.user = &o;
    CHECK(ag_ctx_new(&d) == NULL, "a misaligned context block: ag_ctx_new gives NULL");
    CHECK(o.keep[0] == NULL, "and gives the block back");
    memset(&o, 0, sizeof o);
    o.from = 1;   /* the context is aligned, the parameter's block is not */
    ctx = ag_ctx_new(&d);
    CHECK(ctx != NULL, "an aligned context block");
    CHECK(ag_param(ctx, AG_F32, 1, shape, NULL) == NULL, "a misaligned parameter block: NULL");
    CHECK(ag_error(ctx) && strstr(ag_error(ctx), "not aligned to 8 bytes"), "and the message says why: %s", ag_error(ctx) ? ag_error(ctx) : "(none)");
    ag_ctx_free(ctx);
    for (i = 0; i < o.calls; i++) CHECK(o.keep[i] == NULL, "block %d given back", i);
}

int main(void) {
    test_allocator_alignment();
    test_long_chain();
    test_training_steady_state();
    test_arena_limit();
    test_reset_and_grads();
    test_failing_allocator();
    return harness_finish("test_memory");
}
