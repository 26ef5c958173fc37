/* test_advanced.c - custom functions, gradient hooks, anomaly mode, checkpointing.

   cc -std=c99 -O2 -I. tests/test_advanced.c -lm -lpthread -o build/test_advanced */
#define _POSIX_C_SOURCE 199309L
#include "autograd.h"
#include "harness.h"

/* ---- a custom op: log-sum-exp over the last dim, max-shifted; d lse = d y * softmax(x) ---- */
static ag_tensor *lse_forward(ag_custom *c, ag_tensor **in, int n, void *user) {
    ag_tensor *m = ag_max_dim(in[0], -1, true);
    ag_tensor *y = ag_add(ag_squeeze(m, -1), ag_log(ag_sum_dim(ag_exp(ag_sub(in[0], m)), -1, false)));
    ag_tensor *keep[2];
    (void)n; (void)user;
    keep[0] = y; keep[1] = in[0];   /* backward reads the output and the input */
    ag_save_for_backward(c, 2, keep);
    return y;
}
static int lse_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) {
    ag_tensor *x = ag_custom_input(c, 0), *y = ag_saved(c, 0);
    (void)user;
    grads[0] = ag_mul(ag_unsqueeze(g, -1), ag_exp(ag_sub(x, ag_unsqueeze(y, -1))));   /* softmax(x) = exp(x - lse) */
    return grads[0] ? 0 : -1;
}
static int lse_jvp(ag_custom *c, ag_tensor *const *t, ag_tensor **out, void *user) {   /* t_y = sum(softmax(x) t_x) */
    ag_tensor *x = ag_custom_input(c, 0), *y = ag_saved(c, 0);
    (void)user;
    *out = ag_sum_dim(ag_mul(ag_exp(ag_sub(x, ag_unsqueeze(y, -1))), t[0]), -1, false);
    return *out ? 0 : -1;
}
static const ag_function lse_fn = { "logsumexp", lse_forward, lse_backward, lse_jvp };

/* ---- a straight-through estimator: round forward, identity backward ---- */
static ag_tensor *ste_forward(ag_custom *c, ag_tensor **in, int n, void *user) {
    ag_tensor *y = ag_contiguous(ag_mul_scalar(in[0], 1.0));
    int64_t i;
    (void)c; (void)n; (void)user;
    for (i = 0; y && i < ag_numel(y); i++) ((double *)ag_data(y))[i] = floor(((double *)ag_data(y))[i] + 0.5);
    return y;
}
static int ste_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) { (void)c; (void)user; grads[0] = g; return 0; }
static int ste_jvp(ag_custom *c, ag_tensor *const *t, ag_tensor **out, void *user) { (void)c; (void)user; *out = t[0]; return 0; }
static const ag_function ste_fn = { "round_ste", ste_forward, ste_backward, ste_jvp };

static int bad_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) {
    (void)c; (void)user;
    grads[0] = ag_sum(g);   /* the wrong shape */
    return 0;
}
static ag_tensor *null_forward(ag_custom *c, ag_tensor **in, int n, void *user) { (void)c; (void)in; (void)n; (void)user; return NULL; }
static const ag_function bad_fn = { "bad_shape", lse_forward, bad_backward, NULL };   /* no jvp */
static const ag_function null_fn = { "null_forward", null_forward, lse_backward, NULL };

static ag_tensor *f_lse(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_apply(&lse_fn, 1, in, NULL); }

static void test_custom(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t sh[2] = { 3, 5 };
    ag_tensor *x = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, sh), true), *y, *ref, *in[1];
    ag_gradcheck_opts o;
    ag_gradcheck_result r;
    int64_t i;
    double worst = 0;
    in[0] = x;
    y = ag_apply(&lse_fn, 1, in, NULL);
    CHECK(y && ag_op(y) && strcmp(ag_op(y), "logsumexp") == 0 && ag_num_inputs(y) == 1 && ag_input(y, 0) == x,
          "custom: the node shows its name and input (%s)", y ? ag_op(y) : "NULL");
    ref = ag_log(ag_sum_dim(ag_exp(x), -1, false));
    for (i = 0; i < 3; i++) worst = fmax(worst, fabs(ag_get(y, &i) - ag_get(ref, &i)));
    CHECK(worst < 1e-12, "custom: logsumexp value (%.3g)", worst);
    memset(&o, 0, sizeof o);
    o.second_order = true;
    CHECK(ag_gradcheck(ctx, f_lse, NULL, 1, in, &o, &r) == 1, "custom: gradcheck first and second order (worst %.3g, order %d) %s",
          r.max_abs_err, r.order, ag_error(ctx) ? ag_error(ctx) : "");
    /* straight-through: round forward, gradient passes unchanged */
    {
        ag_tensor *q = ag_apply(&ste_fn, 1, in, NULL), *g;
        int64_t k = 0, idx[2] = { 0, 0 };
        CHECK(q && ag_get(q, idx) == floor(ag_get(x, idx) + 0.5), "custom: straight-through rounds");
        ag_zero_grad(x);
        CHECK(ag_backward(ag_sum(ag_mul_scalar(q, 3.0)), NULL) == 0, "custom: backward through straight-through");
        g = ag_grad(x);
        CHECK(g && ag_get(g, idx) == 3.0, "custom: straight-through gradient is the identity (%g)", g ? ag_get(g, idx) : -1);
        (void)k;
    }
    /* in place after the op: an unsaved input may change (PyTorch too), a saved one may not */
    {
        ag_tensor *x2 = ag_mul_scalar(x, 1.0), *in2[1], *q;
        in2[0] = x2;
        q = ag_apply(&ste_fn, 1, in2, NULL);   /* saves nothing */
        ag_add_scalar_(x2, 1.0);
        CHECK(ag_backward(ag_sum(q), NULL) == 0, "custom: an input it did not save changed in place: backward runs (%s)", ag_error(ctx) ? ag_error(ctx) : "");
        x2 = ag_mul_scalar(x, 1.0); in2[0] = x2;
        q = ag_apply(&lse_fn, 1, in2, NULL);   /* saves its input */
        ag_add_scalar_(x2, 1.0);
        CHECK(ag_backward(ag_sum(q), NULL) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "input 0 of 'logsumexp'"),
              "custom: a saved input changed in place: an error naming the op (%s)", ag_error(ctx) ? ag_error(ctx) : "none");
        ag_clear_error(ctx);
    }
    /* bad input */
    ag_clear_error(ctx);
    y = ag_apply(&bad_fn, 1, in, NULL);
    CHECK(ag_backward(ag_sum(y), NULL) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "bad_shape"),
          "custom: a gradient of the wrong shape is an error naming the op (%s)", ag_error(ctx) ? ag_error(ctx) : "none");
    ag_clear_error(ctx);
    CHECK(ag_apply(&null_fn, 1, in, NULL) == NULL && ag_error(ctx) && strstr(ag_error(ctx), "null_forward"),
          "custom: forward returning NULL (%s)", ag_error(ctx) ? ag_error(ctx) : "none");
    ag_clear_error(ctx);
    CHECK(ag_apply(NULL, 1, in, NULL) == NULL, "custom: NULL function");
    ag_ctx_free(ctx);
}

/* ---- hooks ---- */
static int hook_calls;
static ag_tensor *count_and_double(ag_tensor *g, void *user) { (void)user; hook_calls++; return ag_mul_scalar(g, 2.0); }
static ag_tensor *observe(ag_tensor *g, void *user) { *(double *)user = ag_item(ag_sum(g)); return NULL; }
static ag_tensor *wrong_shape(ag_tensor *g, void *user) { (void)user; return ag_sum(g); }

static void test_hooks(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double w0[3] = { 1, 2, 3 }, seen = 0, bound = 0.5;
    int64_t n = 3;
    ag_tensor *w = ag_param(ctx, AG_F64, 1, &n, w0), *h, *loss, *g;
    int step;
    CHECK(ag_register_hook(w, count_and_double, NULL) == 0, "hooks: register on a parameter");
    for (step = 0; step < 2; step++) {   /* the hook persists across resets */
        hook_calls = 0;
        ag_zero_grad(w);
        loss = ag_add(ag_sum(ag_mul(w, w)), ag_sum(w));   /* w used three times: d = 2w + 1 */
        CHECK(ag_backward(loss, NULL) == 0, "hooks: backward");
        g = ag_grad(w);
        CHECK(hook_calls == 1, "hooks: a leaf's hook runs once on the summed gradient (ran %d times)", hook_calls);
        CHECK(g && fabs(((double *)ag_data(g))[2] - 2 * (2 * 3 + 1)) < 1e-12,
              "hooks: the returned gradient replaces it (%g)", g ? ((double *)ag_data(g))[2] : -1);
        ag_ctx_reset(ctx);
    }
    /* a hook on an intermediate sees and can change what flows on */
    h = ag_tanh(ag_mul_scalar(w, 0.1));
    CHECK(ag_register_hook(h, observe, &seen) == 0, "hooks: register on a node");
    ag_zero_grad(w);
    CHECK(ag_backward(ag_sum(h), NULL) == 0 && seen == 3.0, "hooks: a node's hook sees its gradient (%g)", seen);
    /* per-parameter clipping with ag_hook_clamp */
    {
        ag_tensor *v = ag_param(ctx, AG_F64, 1, &n, w0);
        ag_register_hook(v, ag_hook_clamp, &bound);
        ag_backward(ag_sum(ag_mul(v, v)), NULL);
        g = ag_grad(v);
        CHECK(g && ((double *)ag_data(g))[0] == 0.5 && ((double *)ag_data(g))[2] == 0.5, "hooks: clamp clips per element");
    }
    /* a hook giving the wrong shape */
    {
        ag_tensor *u = ag_param(ctx, AG_F64, 1, &n, w0);
        ag_register_hook(u, wrong_shape, NULL);
        ag_clear_error(ctx);
        CHECK(ag_backward(ag_sum(u), NULL) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "hook"),
              "hooks: a wrong shape is an error (%s)", ag_error(ctx) ? ag_error(ctx) : "none");
        ag_clear_error(ctx);
        CHECK(ag_register_hook(u, NULL, NULL) == -1, "hooks: NULL function");
    }
    ag_ctx_free(ctx);
}

/* ---- anomaly mode ---- */
static void test_anomaly(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double x0[3] = { 1, 0, 2 };
    int64_t n = 3;
    ag_tensor *x = ag_param(ctx, AG_F64, 1, &n, x0), *loss;
    loss = ag_sum(ag_log(ag_mul_scalar(x, 1.0)));   /* log(0): the gradient 1/x is Inf */
    CHECK(ag_backward(loss, NULL) == 0, "anomaly: off, backward just produces Inf");
    ag_set_anomaly_detection(ctx, true);
    ag_ctx_reset(ctx);
    ag_zero_grad(x);
    loss = ag_sum(ag_log(ag_mul_scalar(x, 1.0)));
    CHECK(ag_backward(loss, NULL) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "'log'") && strstr(ag_error(ctx), "'mul_scalar'") &&
          strstr(ag_error(ctx), "Inf"), "anomaly: names the op and its input's op (%s)", ag_error(ctx) ? ag_error(ctx) : "none");
    ag_ctx_free(ctx);
}

/* ---- checkpointing: a deep MLP, with and without ---- */
#define LAYERS 128   /* the most layers measured; the checks use 64 */
#define WIDTH 128
#define BATCH 32
typedef struct { ag_tensor **W, **b; int first, count; } segment;
static ag_tensor *run_layers(ag_ctx *ctx, ag_tensor **in, void *user) {
    segment *s = (segment *)user;
    ag_tensor *h = in[0];
    int i;
    (void)ctx;
    for (i = s->first; i < s->first + s->count; i++) h = ag_tanh(ag_linear(h, s->W[i], s->b[i]));
    return h;
}
static double train_step(ag_ctx *ctx, ag_tensor **W, ag_tensor **b, ag_tensor *x, int layers, int every, size_t *peak, double *secs) {
    ag_tensor *h = x, *loss;
    int i;
    double t0;
    ag_stats st;
    ag_ctx_reset(ctx);
    for (i = 0; i < layers; i++) { ag_zero_grad(W[i]); ag_zero_grad(b[i]); }
    t0 = harness_cpu_seconds();
    if (!every) {
        segment s;
        s.W = W; s.b = b; s.first = 0; s.count = layers;
        h = run_layers(ctx, &h, &s);
    } else {
        static segment seg[LAYERS];   /* must live until backward has run */
        for (i = 0; i < layers; i += every) {
            seg[i].W = W; seg[i].b = b; seg[i].first = i; seg[i].count = layers - i < every ? layers - i : every;
            h = ag_checkpoint(run_layers, &seg[i], 1, &h);
        }
    }
    loss = ag_mean(ag_mul(h, h));
    if (ag_backward(loss, NULL) != 0) { printf("  error: %s\n", ag_error(ctx)); return -1; }
    *secs = harness_cpu_seconds() - t0;
    st = ag_get_stats(ctx);
    *peak = st.arena_step_peak;
    return ag_item(loss);
}
static void test_checkpoint(void) {
    ag_desc d;
    ag_ctx *ctx;
    ag_tensor *W[LAYERS], *b[LAYERS], *x;
    int64_t ws[2] = { WIDTH, WIDTH }, bs = WIDTH, xs[2] = { BATCH, WIDTH };
    float *g_plain;
    size_t peak_plain, peak_ckpt;
    double l_plain, l_ckpt, t_plain = 0, t_ckpt = 0, tp, tc;
    int i, rep, same = 1;
    memset(&d, 0, sizeof d);
    d.seed = 5;
    ctx = ag_ctx_new(&d);
    for (i = 0; i < LAYERS; i++) {
        W[i] = ag_param(ctx, AG_F32, 2, ws, ag_data(ag_mul_scalar(ag_randn(ctx, AG_F32, 2, ws), 1.0 / sqrt((double)WIDTH))));
        b[i] = ag_param(ctx, AG_F32, 1, &bs, NULL);
    }
    x = ag_persistent(ctx, AG_F32, 2, xs, ag_data(ag_randn(ctx, AG_F32, 2, xs)));
    l_plain = train_step(ctx, W, b, x, 64, 0, &peak_plain, &tp);
    g_plain = (float *)malloc(sizeof(float) * WIDTH * WIDTH);
    memcpy(g_plain, ag_data(ag_grad(W[0])), sizeof(float) * WIDTH * WIDTH);
    l_ckpt = train_step(ctx, W, b, x, 64, 8, &peak_ckpt, &tc);   /* every sqrt(64) = 8 layers */
    CHECK(l_ckpt == l_plain, "checkpoint: same loss (%.9g vs %.9g)", l_ckpt, l_plain);
    same = ag_grad(W[0]) && memcmp(g_plain, ag_data(ag_grad(W[0])), sizeof(float) * WIDTH * WIDTH) == 0;
    CHECK(same, "checkpoint: the first layer's gradient is bit-identical");
    CHECK(peak_ckpt < peak_plain / 2, "checkpoint: arena peak %zu vs %zu without", peak_ckpt, peak_plain);
    for (rep = 0; rep < 5; rep++) {   /* best of 5 for the time */
        train_step(ctx, W, b, x, 64, 0, &peak_plain, &tp);
        train_step(ctx, W, b, x, 64, 8, &peak_ckpt, &tc);
        if (rep == 0 || tp < t_plain) t_plain = tp;
        if (rep == 0 || tc < t_ckpt) t_ckpt = tc;
    }
    printf("  info: 64-layer MLP (width %d, batch %d), checkpoint every 8 layers: arena peak %.2f MB vs %.2f MB (%.2fx less), "
           "step %.2f ms vs %.2f ms (%.2fx the time)\n", WIDTH, BATCH, (double)peak_ckpt / 1e6, (double)peak_plain / 1e6,
           (double)peak_plain / (double)peak_ckpt, t_ckpt * 1e3, t_plain * 1e3, t_ckpt / t_plain);
    {   /* the README's table: a checkpoint every ~sqrt(L) layers */
        static const int Ls[4] = {16, 32, 64, 128}, every[4] = {4, 6, 8, 11};
        int k;
        for (k = 0; k < 4; k++) {
            train_step(ctx, W, b, x, Ls[k], 0, &peak_plain, &tp);
            train_step(ctx, W, b, x, Ls[k], every[k], &peak_ckpt, &tc);
            printf("  info: checkpoint table: L %3d, every %2d: arena peak %.2f MB vs %.2f MB (%.2fx less), step %.2fx the time\n",
                   Ls[k], every[k], (double)peak_ckpt / 1e6, (double)peak_plain / 1e6, (double)peak_plain / (double)peak_ckpt, tc / tp);
        }
    }
    /* bad input: a function that returns NULL */
    {
        ag_tensor *in = x;
        ag_clear_error(ctx);
        CHECK(ag_checkpoint(NULL, NULL, 1, &in) == NULL && ag_error(ctx), "checkpoint: NULL function");
    }
    free(g_plain);
    ag_ctx_free(ctx);
}

static ag_tensor *f_null(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)in; (void)user; return NULL; }
static ag_tensor *f_inner(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_mul(in[0], in[0]); }
static ag_tensor *f_block(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_tanh(ag_matmul(in[0], in[1])); }
static ag_tensor *f_ckpt(ag_ctx *ctx, ag_tensor **in, void *user) {   /* a checkpoint, and one nested in another */
    ag_tensor *h = ag_checkpoint(f_block, NULL, 2, in), *sq;
    (void)ctx; (void)user;
    sq = ag_checkpoint(f_inner, NULL, 1, &h);
    return ag_add(h, sq);
}

int main(void) {
    test_custom();
    test_hooks();
    test_anomaly();
    test_checkpoint();
    {   /* checkpoint of a function that returns NULL; a checkpoint inside a checkpoint */
        ag_ctx *ctx = ag_ctx_new(NULL);
        int64_t n = 4;
        ag_tensor *x = ag_set_requires_grad(ag_randn(ctx, AG_F64, 1, &n), true), *y, *g;
        int64_t i = 2;
        CHECK(ag_checkpoint(f_null, NULL, 1, &x) == NULL && ag_error(ctx) && strstr(ag_error(ctx), "checkpoint"),
              "checkpoint: a function returning NULL (%s)", ag_error(ctx) ? ag_error(ctx) : "none");
        ag_clear_error(ctx);
        y = ag_checkpoint(f_inner, NULL, 1, &x);
        y = ag_checkpoint(f_inner, NULL, 1, &y);
        CHECK(ag_backward(ag_sum(y), NULL) == 0, "checkpoint: nested backward (%s)", ag_error(ctx) ? ag_error(ctx) : "");
        g = ag_grad(x);
        {   /* y = (x^2)^2 = x^4: d = 4 x^3 */
            double xv = ag_get(x, &i);
            CHECK(g && fabs(ag_get(g, &i) - 4 * xv * xv * xv) < 1e-12, "checkpoint: nested gradient 4x^3");
        }
        ag_ctx_free(ctx);
    }
    {   /* checkpoints under create_graph: second derivatives reach the inputs (gradcheck, order 2) */
        ag_ctx *ctx = ag_ctx_new(NULL);
        int64_t sx[2] = { 3, 4 }, sw[2] = { 4, 2 };
        ag_tensor *in[2];
        ag_gradcheck_opts o;
        ag_gradcheck_result r;
        int ok;
        in[0] = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, sx), true);
        in[1] = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, sw), true);
        memset(&o, 0, sizeof o);
        memset(&r, 0, sizeof r);
        o.second_order = true;
        ok = ag_gradcheck(ctx, f_ckpt, NULL, 2, in, &o, &r);
        CHECK(ok == 1, "checkpoint: gradcheck with second order: %d, worst %.3g at order %d (%s)", ok, r.max_abs_err, r.order,
              ag_error(ctx) ? ag_error(ctx) : "");
        ag_ctx_free(ctx);
    }
    return harness_finish("test_advanced");
}
