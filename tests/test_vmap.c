/* test_vmap.c - ag_vmap (autograd.h, >>vmap), against loops over the examples, in F64:
     1. per-example gradients = vmap of grad_of, for an MLP (with cross_entropy_t on a label per
        example), a CNN (conv2d, max_pool2d) and attention (scaled_dot_product_attention): each
        example's gradients equal those of a backward on that example alone, to 1e-10; the MLP's
        also equal ag_per_example_linear_grads;
     2. nested ag_vmap (two batch dims) against a double loop; in_dims and out_dims other than 0;
        an output that does not depend on the batch (expanded);
     3. ag_jvp and ag_vjp inside ag_vmap (jacfwd / jacrev rows);
     4. the outputs are differentiable: a backward through ag_vmap sums over the examples, and
        equals the backward of the same batched computation written with batched ops;
     5. bad input: -1, a message, every output NULL, the context usable;
     6. timing (info lines): per-example gradients of a 784-256-128-10 MLP at batch 64 by
        vmap against the loop (the README has it beside functorch's vmap(grad) and a PyTorch loop).
     7. against PyTorch's functorch (tests/data/vmap_reference.txt, made by
        tests/gen_vmap_reference.py): vmap(grad(loss)) of the three models, jacrev, jacfwd and a
        nested vmap, to 1e-10 in F64.
   The op-by-op check (every row of test_gradcheck's table, values and per-example gradients
   against a loop) is in tests/test_gradcheck.c.

   cc -std=c99 -O2 -I. tests/test_vmap.c tests/autograd_impl.c -o build/test_vmap -lm -lpthread */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime for the timing lines */
#include "autograd.h"
#include "tests/harness.h"

#include "tests/refdata.h"

#include <stdlib.h>


/* ---- 1. per-example gradients of three models ---- */
enum { M_MLP, M_CNN, M_ATTN, M_COUNT };
static const char *const model_name[M_COUNT] = {"MLP", "CNN", "attention"};
typedef struct { int model; int np; } model_info;

/* the loss of one example; p = parameters, x = the example, y = its label (I64 0-d) */
static ag_tensor *model_loss(int model, ag_tensor *const *p, ag_tensor *x, ag_tensor *y) {
    ag_tensor *h, *logits;
    int64_t one[2] = {1, -1};
    switch (model) {
    case M_MLP:   /* x [12] -> 16 -> 8 -> 5 */
        h = ag_tanh(ag_linear(x, p[0], p[1]));
        h = ag_gelu(ag_linear(h, p[2], p[3]));
        logits = ag_linear(h, p[4], p[5]);
        return ag_cross_entropy_t(logits, y);
    case M_CNN: {   /* x [1, 6, 6] -> conv 3x3 (4 channels) -> relu -> max_pool 2 -> linear 5 */
        int64_t sh4[4] = {1, 1, 6, 6};
        h = ag_conv2d(ag_reshape(x, 4, sh4), p[0], p[1], NULL);            /* [1, 4, 4, 4] */
        h = ag_max_pool2d(ag_relu(h), 2, 2, 2, 2, 0, 0);                    /* [1, 4, 2, 2] */
        logits = ag_linear(ag_reshape(h, 2, one), p[2], p[3]);              /* [1, 5] */
        return ag_cross_entropy_t(ag_reshape(logits, 1, one + 1), y);
    }
    default: {   /* x [4, 6]: q, k, v = x Wq^T, x Wk^T, x Wv^T; causal attention, mean-pooled, linear 5 */
        ag_sdpa_opts o;
        memset(&o, 0, sizeof o);
        o.is_causal = true;
        h = ag_scaled_dot_product_attention(ag_linear(x, p[0], NULL), ag_linear(x, p[1], NULL), ag_linear(x, p[2], NULL), &o);
        logits = ag_linear(ag_mean_dim(h, 0, false), p[3], p[4]);
        return ag_cross_entropy_t(logits, y);
    }
    }
}
/* f(x, y, params...) -> gradients of the loss with respect to every parameter */
static int per_example_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    const model_info *m = (const model_info *)user;
    ag_tensor *L = model_loss(m->model, in + 2, in[0], in[1]);
    (void)ctx;
    if (!L) return -1;
    return ag_grad_of(L, NULL, m->np, in + 2, out);
}
static int make_model(ag_ctx *ctx, int model, ag_tensor **p, ag_tensor **x, ag_tensor **y, int B) {
    static const int64_t mlp[6][2] = {{16, 12}, {16, 0}, {8, 16}, {8, 0}, {5, 8}, {5, 0}};
    static const int64_t attn[5][2] = {{6, 6}, {6, 6}, {6, 6}, {5, 6}, {5, 0}};
    int64_t xs[4], lab[1];
    int i, np;
    lab[0] = B;
    if (model == M_MLP) {
        np = 6;
        for (i = 0; i < np; i++) p[i] = ag_mul_scalar(ag_randn(ctx, AG_F64, mlp[i][1] ? 2 : 1, mlp[i]), 0.4);
        xs[0] = B; xs[1] = 12;
        *x = ag_randn(ctx, AG_F64, 2, xs);
    } else if (model == M_CNN) {
        int64_t w0[4] = {4, 1, 3, 3}, b0[1] = {4}, w1[2] = {5, 16}, b1[1] = {5};
        np = 4;
        p[0] = ag_mul_scalar(ag_randn(ctx, AG_F64, 4, w0), 0.4); p[1] = ag_mul_scalar(ag_randn(ctx, AG_F64, 1, b0), 0.1);
        p[2] = ag_mul_scalar(ag_randn(ctx, AG_F64, 2, w1), 0.3); p[3] = ag_mul_scalar(ag_randn(ctx, AG_F64, 1, b1), 0.1);
        xs[0] = B; xs[1] = 1; xs[2] = 6; xs[3] = 6;
        *x = ag_randn(ctx, AG_F64, 4, xs);
    } else {
        np = 5;
        for (i = 0; i < np; i++) p[i] = ag_mul_scalar(ag_randn(ctx, AG_F64, attn[i][1] ? 2 : 1, attn[i]), 0.4);
        xs[0] = B; xs[1] = 4; xs[2] = 6;
        *x = ag_randn(ctx, AG_F64, 3, xs);
    }
    for (i = 0; i < np; i++) ag_set_requires_grad(p[i], true);
    *y = ag_to(ag_floor(ag_mul_scalar(ag_rand(ctx, AG_F64, 1, lab), 4.999)), AG_I64);
    return np;
}
static void test_per_example(ag_ctx *ctx) {
    int model, B = 5, i, b;
    for (model = 0; model < M_COUNT; model++) {
        ag_tensor *p[8], *x, *y, *in[10], *out[8], *g[8];
        int dims[10], np = make_model(ctx, model, p, &x, &y, B), rc;
        model_info mi;
        double worst = 0;
        mi.model = model; mi.np = np;
        in[0] = x; in[1] = y; dims[0] = dims[1] = 0;
        for (i = 0; i < np; i++) { in[2 + i] = p[i]; dims[2 + i] = AG_UNBATCHED; }
        rc = ag_vmap(ctx, per_example_fn, &mi, 2 + np, in, dims, np, out, NULL);
        CHECK(rc == 0, "vmap of grad_of, %s: %s", model_name[model], rc ? ag_error(ctx) : "");
        for (b = 0; b < B && rc == 0; b++) {
            ag_tensor *L = model_loss(model, p, ag_select(x, 0, b), ag_select(y, 0, b));
            CHECK(ag_grad_of(L, NULL, np, p, g) == 0, "loop, %s", model_name[model]);
            for (i = 0; i < np; i++) {
                double d = harness_max_abs_diff(ag_select(out[i], 0, b), g[i]);
                if (d > worst) worst = d;
            }
        }
        CHECK(worst <= 1e-10, "per-example gradients of the %s by vmap(grad_of) against a loop of grad_of: worst %.3g", model_name[model], worst);
        if (model == M_MLP && rc == 0) {   /* and against the linear layers' own per-example path */
            ag_tensor *xs_[3], *ys_[3], *dW[3], *db[3], *h0, *h1, *h2, *loss;
            int64_t k;
            double w2 = 0;
            h0 = ag_linear(x, p[0], p[1]); h1 = ag_linear(ag_tanh(h0), p[2], p[3]); h2 = ag_linear(ag_gelu(h1), p[4], p[5]);
            xs_[0] = x; xs_[1] = ag_tanh(h0); xs_[2] = ag_gelu(h1);
            ys_[0] = h0; ys_[1] = h1; ys_[2] = h2;
            /* tanh/gelu recomputed above are new nodes: rebuild the chain through them */
            h0 = ag_linear(x, p[0], p[1]); xs_[1] = ag_tanh(h0); h1 = ag_linear(xs_[1], p[2], p[3]);
            xs_[2] = ag_gelu(h1); h2 = ag_linear(xs_[2], p[4], p[5]);
            ys_[0] = h0; ys_[1] = h1; ys_[2] = h2;
            loss = ag_mul_scalar(ag_cross_entropy_t(h2, y), (double)B);   /* mean over B, times B: each example's own loss */
            CHECK(ag_per_example_linear_grads(loss, 3, xs_, ys_, dW, db) == 0, "per_example_linear_grads: %s", ag_error(ctx));
            for (k = 0; k < 3; k++) {
                double d1 = harness_max_abs_diff(dW[k], out[2 * k]), d2 = harness_max_abs_diff(db[k], out[2 * k + 1]);
                if (d1 > w2) w2 = d1;
                if (d2 > w2) w2 = d2;
            }
            CHECK(w2 <= 1e-10, "per-example gradients of the MLP: vmap(grad_of) against ag_per_example_linear_grads: worst %.3g", w2);
        }
        ag_ctx_reset(ctx);
    }
}

/* ---- 2. nesting, in_dims and out_dims ---- */
static int inner_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {   /* x [3], w [3] -> (x . w) * x, sum(exp(x)) */
    (void)ctx; (void)user;
    out[0] = ag_mul(ag_sum(ag_mul(in[0], in[1])), in[0]);
    out[1] = ag_sum(ag_exp(in[0]));
    return out[0] && out[1] ? 0 : -1;
}
static int outer_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {   /* x [4, 3] (rows: inner batch) */
    int dims[2] = {0, AG_UNBATCHED};
    (void)user;
    return ag_vmap(ctx, inner_fn, NULL, 2, in, dims, 2, out, NULL);
}
static int const_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {   /* an output that ignores the batch */
    (void)user;
    out[0] = ag_mul_scalar(in[1], 2.0);
    out[1] = ag_add(in[0], in[1]);
    (void)ctx;
    return 0;
}
static void test_nesting(ag_ctx *ctx) {
    int64_t xs[3] = {2, 4, 3}, ws[1] = {3};
    ag_tensor *X = ag_randn(ctx, AG_F64, 3, xs), *w = ag_randn(ctx, AG_F64, 1, ws), *in[2], *out[2], *c[2];
    int dims[2] = {0, AG_UNBATCHED}, a, b, od[2] = {1, -1};
    double worst = 0;
    in[0] = X; in[1] = w;
    CHECK(ag_vmap(ctx, outer_fn, NULL, 2, in, dims, 2, out, NULL) == 0, "nested vmap: %s", ag_error(ctx));
    CHECK(out[0] && ag_ndim(out[0]) == 3 && ag_shape(out[0])[0] == 2 && ag_shape(out[0])[1] == 4 && out[1] && ag_ndim(out[1]) == 2,
          "nested vmap: output shapes [2, 4, 3] and [2, 4]");
    for (a = 0; a < 2 && out[0]; a++)
        for (b = 0; b < 4; b++) {
            ag_tensor *x = ag_select(ag_select(X, 0, a), 0, b);
            double d1 = harness_max_abs_diff(ag_select(ag_select(out[0], 0, a), 0, b), ag_mul(ag_sum(ag_mul(x, w)), x));
            double d2 = harness_max_abs_diff(ag_select(ag_select(out[1], 0, a), 0, b), ag_sum(ag_exp(x)));
            worst = fmax(worst, fmax(d1, d2));
        }
    CHECK(worst == 0, "nested vmap against a double loop: worst %.3g", worst);
    /* in_dims 1, out_dims 1 and -1, an output the same for every example */
    dims[0] = 1;
    in[0] = ag_select(X, 0, 0);   /* [4, 3]: 3 examples of [4] along dim 1 */
    in[1] = w = ag_randn(ctx, AG_F64, 1, xs + 1);   /* [4] */
    CHECK(ag_vmap(ctx, const_fn, NULL, 2, in, dims, 2, c, od) == 0, "in_dims 1: %s", ag_error(ctx));
    CHECK(c[0] && ag_ndim(c[0]) == 2 && ag_shape(c[0])[0] == 4 && ag_shape(c[0])[1] == 3, "an output without the batch: expanded to [4, 3] at out_dims 1");
    CHECK(c[1] && ag_ndim(c[1]) == 2 && ag_shape(c[1])[0] == 4 && ag_shape(c[1])[1] == 3, "out_dims -1: [4, 3]");
    if (c[0] && c[1]) {
        CHECK(harness_max_abs_diff(c[1], ag_add(in[0], ag_unsqueeze(w, 1))) == 0, "in_dims 1 and out_dims -1 against the broadcast");
        CHECK(harness_max_abs_diff(ag_select(c[0], 1, 2), ag_mul_scalar(w, 2.0)) == 0, "the expanded output repeats the value");
    }
    ag_ctx_reset(ctx);
}

/* ---- 3. jvp and vjp inside vmap: Jacobians by basis vectors ---- */
static ag_tensor *fx(ag_ctx *ctx, ag_tensor **x, void *user) { (void)ctx; (void)user; return ag_mul(ag_sin(x[0]), ag_sum(ag_square(x[0]))); }
typedef struct { ag_tensor *x; } jac_info;
static int jvp_row(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {   /* in[0] = a basis vector */
    jac_info *j = (jac_info *)user;
    return ag_jvp(ctx, fx, NULL, 1, &j->x, in, NULL, out, false);
}
static int vjp_row(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    jac_info *j = (jac_info *)user;
    return ag_vjp(ctx, fx, NULL, 1, &j->x, in[0], NULL, out, false);
}
static void test_jacobians(ag_ctx *ctx) {
    int64_t n = 5, sq[2] = {5, 5};
    jac_info j;
    ag_tensor *eye = ag_eye(ctx, AG_F64, 5, 5), *jf, *jr, *ref;
    j.x = ag_randn(ctx, AG_F64, 1, &n);
    CHECK(ag_jacobian(ctx, fx, NULL, 1, &j.x, &ref, false) == 0, "jacobian");
    CHECK(ag_vmap(ctx, jvp_row, &j, 1, &eye, NULL, 1, &jf, NULL) == 0, "jacfwd as vmap(jvp): %s", ag_error(ctx));
    CHECK(ag_vmap(ctx, vjp_row, &j, 1, &eye, NULL, 1, &jr, NULL) == 0, "jacrev as vmap(vjp): %s", ag_error(ctx));
    if (jf && jr && ref) {
        CHECK(harness_max_abs_diff(jr, ref) <= 1e-14, "vmap(vjp) over basis vectors = ag_jacobian (%.3g)", harness_max_abs_diff(jr, ref));
        CHECK(harness_max_abs_diff(ag_transpose(jf, 0, 1), ref) <= 1e-14, "vmap(jvp) over basis vectors = ag_jacobian transposed (%.3g)",
              harness_max_abs_diff(ag_transpose(jf, 0, 1), ref));
    }
    (void)sq;
    ag_ctx_reset(ctx);
}

/* a custom op inside ag_vmap: y = x^3 / 3 + sin(x) w, its forward and backward written with ops */
static ag_tensor *cube_fwd(ag_custom *c, ag_tensor **in, int n, void *user) {
    (void)n; (void)user;
    ag_save_for_backward(c, 2, in);
    return ag_add(ag_mul_scalar(ag_pow(in[0], 3.0), 1.0 / 3.0), ag_mul(ag_sin(in[0]), in[1]));
}
static int cube_bwd(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) {   /* d x = g (x^2 + cos(x) w), d w = g sin(x) */
    ag_tensor *x = ag_saved(c, 0), *w = ag_saved(c, 1);
    (void)user;
    grads[0] = ag_mul(g, ag_add(ag_square(x), ag_mul(ag_cos(x), w)));
    grads[1] = ag_mul(g, ag_sin(x));
    return grads[0] && grads[1] ? 0 : -1;
}
static const ag_function cube_op = { "cube", cube_fwd, cube_bwd, NULL };
static int custom_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag_tensor *y = ag_apply(&cube_op, 2, in, NULL);
    (void)ctx; (void)user;
    out[0] = y;
    return y ? ag_grad_of(ag_sum(ag_square(y)), NULL, 2, in, out + 1) : -1;
}
/* f(x, w) -> 3 outputs under ag_vmap (x batched along dim 0, w shared) against f on each example */
static double against_loop(ag_ctx *ctx, ag_vmap_fn f, ag_tensor *X, ag_tensor *w, const char *what) {
    ag_tensor *in[2], *out[3], *ex[2], *ref[3];
    int dims[2] = {0, AG_UNBATCHED}, i;
    int64_t b;
    double worst = 0;
    in[0] = X; in[1] = w;
    CHECK(ag_vmap(ctx, f, NULL, 2, in, dims, 3, out, NULL) == 0, "%s inside ag_vmap: %s", what, ag_error(ctx));
    for (b = 0; b < ag_dim(X, 0) && out[0]; b++) {
        ex[0] = ag_select(X, 0, b); ex[1] = w;
        if (f(ctx, ex, ref, NULL) != 0) return INFINITY;
        for (i = 0; i < 3; i++) worst = fmax(worst, harness_max_abs_diff(ag_select(out[i], 0, b), ref[i]));
    }
    return out[0] ? worst : INFINITY;
}
static void test_custom(ag_ctx *ctx) {
    int64_t xs[2] = {4, 3}, ws[1] = {3};
    ag_tensor *X = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, xs), true), *w = ag_set_requires_grad(ag_randn(ctx, AG_F64, 1, ws), true);
    double worst = against_loop(ctx, custom_fn, X, w, "a custom op");
    CHECK(worst == 0, "a custom op inside ag_vmap: values and per-example gradients against a loop (worst %.3g)", worst);
    ag_ctx_reset(ctx);
}

/* a checkpoint inside ag_vmap: f runs as it is, the gradients are the loop's */
static ag_tensor *block(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_tanh(ag_linear(in[0], in[1], NULL)); }
static int ckpt_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag_tensor *y = ag_checkpoint(block, NULL, 2, in);
    (void)ctx; (void)user;
    out[0] = y;
    return y ? ag_grad_of(ag_sum(ag_square(y)), NULL, 2, in, out + 1) : -1;
}
static void test_checkpoint(ag_ctx *ctx) {
    int64_t xs[2] = {5, 3}, ws[2] = {4, 3};
    ag_tensor *X = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, xs), true), *W = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, ws), true);
    double worst = against_loop(ctx, ckpt_fn, X, W, "a checkpoint");
    CHECK(worst <= 1e-14, "a checkpoint inside ag_vmap: values and per-example gradients against a loop (worst %.3g)", worst);
    ag_ctx_reset(ctx);
}

/* ---- 4. a backward through ag_vmap ---- */
static int layer_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {   /* x [3], W [2, 3], b [2] */
    (void)ctx; (void)user;
    out[0] = ag_tanh(ag_linear(in[0], in[1], in[2]));
    return out[0] ? 0 : -1;
}
static int backward_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag_tensor *y = ag_tanh(ag_linear(in[0], in[1], in[2]));
    (void)ctx; (void)user;
    out[0] = y;
    return y ? ag_backward(ag_sum(ag_square(y)), NULL) : -1;
}
static void test_grad_of_vmap(ag_ctx *ctx) {
    int64_t xs[2] = {6, 3}, ws[2] = {2, 3}, bs[1] = {2};
    ag_tensor *X = ag_randn(ctx, AG_F64, 2, xs), *W = ag_randn(ctx, AG_F64, 2, ws), *b = ag_randn(ctx, AG_F64, 1, bs);
    ag_tensor *in[3], *out, *g1[3], *g2[3];
    int dims[3] = {0, AG_UNBATCHED, AG_UNBATCHED}, i;
    double worst = 0;
    ag_set_requires_grad(X, true); ag_set_requires_grad(W, true); ag_set_requires_grad(b, true);
    in[0] = X; in[1] = W; in[2] = b;
    CHECK(ag_vmap(ctx, layer_fn, NULL, 3, in, dims, 1, &out, NULL) == 0, "vmap of a layer: %s", ag_error(ctx));
    CHECK(out && ag_grad_of(ag_sum(ag_square(out)), NULL, 3, in, g1) == 0, "grad_of through vmap: %s", ag_error(ctx));
    CHECK(ag_grad_of(ag_sum(ag_square(ag_tanh(ag_linear(X, W, b)))), NULL, 3, in, g2) == 0, "grad_of of the batched layer");
    for (i = 0; i < 3 && out; i++) worst = fmax(worst, harness_max_abs_diff(g1[i], g2[i]));
    CHECK(worst <= 1e-14, "a backward through ag_vmap sums over the examples: the gradients of X, W, b equal the batched layer's (%.3g)", worst);
    /* and into .grad */
    CHECK(ag_vmap(ctx, layer_fn, NULL, 3, in, dims, 1, &out, NULL) == 0 && ag_backward(ag_sum(ag_square(out)), NULL) == 0, "backward through vmap");
    CHECK(harness_max_abs_diff(ag_grad(W), g2[1]) <= 1e-14, "W.grad after a backward through ag_vmap");
    /* ag_backward inside f: .grad gets the sum over the examples, as a loop of backward calls */
    ag_zero_grad(W); ag_zero_grad(X); ag_zero_grad(b);
    CHECK(ag_vmap(ctx, backward_fn, NULL, 3, in, dims, 1, &out, NULL) == 0, "ag_backward inside ag_vmap: %s", ag_error(ctx));
    CHECK(harness_max_abs_diff(ag_grad(W), g2[1]) <= 1e-14 && harness_max_abs_diff(ag_grad(X), g2[0]) <= 1e-14,
          "ag_backward inside ag_vmap adds the sum over the examples to W.grad, and each example's part to X.grad");
    ag_ctx_reset(ctx);
}

/* ---- 5. bad input ---- */
static int fails_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)in; (void)out; (void)user; return 3; }
static int null_out_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)in; (void)user; out[0] = NULL; return 0; }
static int item_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)user; out[0] = in[0]; (void)ag_item(ag_sum(in[0])); return 0; }
static int inplace_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)user; out[0] = ag_mul_scalar_(in[0], 2.0); return out[0] ? 0 : -1; }
static int rand_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)user; out[0] = ag_add(in[0], ag_rand(ctx, AG_F64, 0, NULL)); return out[0] ? 0 : -1; }
static ag_tensor *leaked;
static int leak_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)user; leaked = in[0]; out[0] = in[0]; return 0; }
static int idx_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)user; out[0] = ag_index_select_t(in[1], 0, in[0]); return out[0] ? 0 : -1; }
static int id_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) { (void)ctx; (void)user; out[0] = in[0]; return 0; }

/* f returns 0 after an error inside it (item's): ag_vmap still fails */
static void expect_fail(ag_ctx *ctx, int rc, ag_tensor *const *outp, const char *what, const char *needle) {
    ag_tensor *out = *outp;
    const char *e = ag_error(ctx);
    CHECK(rc == -1 && !out && e && strstr(e, needle), "%s: -1, a NULL output and a message with \"%s\" (got %d, %s)", what, needle, rc, e ? e : "no error");
    ag_clear_error(ctx);
}
static void test_errors(ag_ctx *ctx) {
    int64_t s2[2] = {3, 2}, s3[2] = {4, 2}, s0[1] = {0}, ix[1] = {3};
    ag_tensor *A = ag_randn(ctx, AG_F64, 2, s2), *B = ag_randn(ctx, AG_F64, 2, s3), *E = ag_zeros(ctx, AG_F64, 1, s0), *in[2], *out = NULL;
    int d2[2] = {0, 0}, dn[2] = {AG_UNBATCHED, AG_UNBATCHED}, bad[1] = {2}, od[1] = {3};
    ag_tensor *I = ag_zeros(ctx, AG_I64, 1, ix);
    in[0] = A; in[1] = B;
    expect_fail(ctx, ag_vmap(ctx, NULL, NULL, 1, in, NULL, 1, &out, NULL), &out, "NULL f", "function is NULL");
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 0, in, NULL, 1, &out, NULL), &out, "n_in 0", "n_in is 0");
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 2, in, d2, 1, &out, NULL), &out, "batch sizes 3 and 4", "has 4 examples");
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 2, in, dn, 1, &out, NULL), &out, "no batched input", "no input is batched");
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 1, in, bad, 1, &out, NULL), &out, "in_dims out of range", "in_dims[0] is 2");
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 1, in, NULL, 1, &out, od), &out, "out_dims out of range", "out_dims[0] is 3");
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 1, &E, NULL, 1, &out, NULL), &out, "an empty batch", "0 examples");
    {
        ag_tensor *z = ag_scalar_f64(ctx, 1.0);
        expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 1, &z, NULL, 1, &out, NULL), &out, "a 0-d input", "0-d: it has no dim to map over");
    }
    in[1] = NULL;
    expect_fail(ctx, ag_vmap(ctx, id_fn, NULL, 2, in, NULL, 1, &out, NULL), &out, "a NULL input", "input 1 is NULL");
    expect_fail(ctx, ag_vmap(ctx, fails_fn, NULL, 1, in, NULL, 1, &out, NULL), &out, "f returning 3", "returned 3");
    expect_fail(ctx, ag_vmap(ctx, null_out_fn, NULL, 1, in, NULL, 1, &out, NULL), &out, "f leaving its output NULL", "output 0 NULL");
    expect_fail(ctx, ag_vmap(ctx, item_fn, NULL, 1, in, NULL, 1, &out, NULL), &out, "ag_item inside f", "item: not supported on a tensor inside ag_vmap");
    expect_fail(ctx, ag_vmap(ctx, inplace_fn, NULL, 1, in, NULL, 1, &out, NULL), &out, "an in-place op inside f", "in-place ops are not supported");
    expect_fail(ctx, ag_vmap(ctx, rand_fn, NULL, 1, in, NULL, 1, &out, NULL), &out, "random numbers inside f", "the same for every example");
    in[1] = A;
    in[0] = I;
    {
        int di[2] = {0, AG_UNBATCHED};
        int64_t is[2] = {3, 2};
        in[0] = ag_zeros(ctx, AG_I64, 2, is);
        expect_fail(ctx, ag_vmap(ctx, idx_fn, NULL, 2, in, di, 1, &out, NULL), &out, "index_select_t with an index per example", "index tensor batched by ag_vmap");
    }
    in[0] = A;
    CHECK(ag_vmap(ctx, leak_fn, NULL, 1, in, NULL, 1, &out, NULL) == 0, "leak_fn");
    out = ag_exp(leaked);
    expect_fail(ctx, out ? 0 : -1, &out, "a tensor kept from inside f used after ag_vmap", "ag_vmap that has returned");
    /* the context is still usable */
    CHECK(ag_vmap(ctx, id_fn, NULL, 1, in, NULL, 1, &out, NULL) == 0 && out && harness_max_abs_diff(out, A) == 0, "the context works after the errors");
    ag_ctx_reset(ctx);
}

/* ---- 6. timing: per-example gradients of the Fashion-MNIST MLP at batch 64 ---- */
static ag_tensor *mlp_loss(ag_tensor *const *p, ag_tensor *x, ag_tensor *y) {
    ag_tensor *h = ag_relu(ag_linear(x, p[0], p[1]));
    h = ag_relu(ag_linear(h, p[2], p[3]));
    return ag_cross_entropy_t(ag_linear(h, p[4], p[5]), y);
}
static int mlp_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag_tensor *L = mlp_loss(in + 2, in[0], in[1]);
    (void)ctx; (void)user;
    return L ? ag_grad_of(L, NULL, 6, in + 2, out) : -1;
}
static void time_mlp(ag_ctx *ctx) {
    static const int64_t sh[6][2] = {{256, 784}, {256, 0}, {128, 256}, {128, 0}, {10, 128}, {10, 0}};
    int64_t xs[2] = {64, 784}, ls[1] = {64};
    ag_tensor *p[6], *x, *y, *in[8], *out[6], *g[6];
    int dims[8], i, r, b, reps = 5;
    double t0, tv = 1e30, tl = 1e30;
    for (i = 0; i < 6; i++) { p[i] = ag_persistent(ctx, AG_F32, sh[i][1] ? 2 : 1, sh[i], NULL); ag_init_normal(p[i], 0, 0.05); ag_set_requires_grad(p[i], true); }
    for (r = 0; r < reps; r++) {
        x = ag_rand(ctx, AG_F32, 2, xs);
        y = ag_to(ag_floor(ag_mul_scalar(ag_rand(ctx, AG_F32, 1, ls), 9.999)), AG_I64);
        in[0] = x; in[1] = y; dims[0] = dims[1] = 0;
        for (i = 0; i < 6; i++) { in[2 + i] = p[i]; dims[2 + i] = AG_UNBATCHED; }
        t0 = harness_cpu_seconds();
        CHECK(ag_vmap(ctx, mlp_fn, NULL, 8, in, dims, 6, out, NULL) == 0, "vmap MLP: %s", ag_error(ctx));
        tv = fmin(tv, harness_cpu_seconds() - t0);
        t0 = harness_cpu_seconds();
        for (b = 0; b < 64; b++) CHECK(ag_grad_of(mlp_loss(p, ag_select(x, 0, b), ag_select(y, 0, b)), NULL, 6, p, g) == 0, "loop MLP");
        tl = fmin(tl, harness_cpu_seconds() - t0);
        ag_ctx_reset(ctx);
    }
    printf("info: per-example gradients, MLP 784-256-128-10 F32, batch 64: vmap(grad_of) %.2f ms, loop of grad_of %.2f ms (%.2fx)\n",
           tv * 1e3, tl * 1e3, tl / tv);
}

/* ---- 7. against functorch ---- */
#define VREF "tests/data/vmap_reference.txt"
static rnamed refs[64];
static int nrefs;
static ag_tensor *ref_tensor(ag_ctx *ctx, const char *name, ag_dtype dt) {
    const rtensor *r = find_named(refs, nrefs, name);
    ag_tensor *t = r ? ag_from_f64(ctx, r->ndim, r->shape, r->v) : NULL;
    CHECK(r != NULL, "%s: no tensor %s", VREF, name);
    return dt == AG_F64 || !t ? t : ag_to(t, dt);
}
static void test_functorch(ag_ctx *ctx) {
    static const char *const names[M_COUNT] = {"pe_mlp", "pe_cnn", "pe_attn"};
    static const int nps[M_COUNT] = {6, 4, 5};
    int model, i;
    nrefs = read_named(VREF, refs, 64);
    CHECK(nrefs > 0, "cannot read %s (run from the repository root)", VREF);
    if (nrefs <= 0) return;
    for (model = 0; model < M_COUNT; model++) {
        char nm[64];
        ag_tensor *in[10], *out[8];
        int dims[10], np = nps[model];
        model_info mi;
        double worst = 0;
        mi.model = model; mi.np = np;
        snprintf(nm, sizeof nm, "%s_x", names[model]); in[0] = ref_tensor(ctx, nm, AG_F64);
        snprintf(nm, sizeof nm, "%s_y", names[model]); in[1] = ref_tensor(ctx, nm, AG_I64);
        dims[0] = dims[1] = 0;
        for (i = 0; i < np; i++) {
            snprintf(nm, sizeof nm, "%s_p%d", names[model], i);
            in[2 + i] = ag_set_requires_grad(ref_tensor(ctx, nm, AG_F64), true);
            dims[2 + i] = AG_UNBATCHED;
        }
        CHECK(ag_vmap(ctx, per_example_fn, &mi, 2 + np, in, dims, np, out, NULL) == 0, "functorch %s: %s", names[model], ag_error(ctx));
        for (i = 0; i < np; i++) {
            snprintf(nm, sizeof nm, "%s_g%d", names[model], i);
            worst = fmax(worst, harness_max_abs_diff(out[i], ref_tensor(ctx, nm, AG_F64)));
        }
        CHECK(worst <= 1e-10, "per-example gradients of the %s against functorch.vmap(grad(loss)): worst %.3g", model_name[model], worst);
        ag_ctx_reset(ctx);
    }
    {
        jac_info j;
        ag_tensor *eye = ag_eye(ctx, AG_F64, 5, 5), *jf = NULL, *jr = NULL, *X, *w, *in[2], *o[2];
        int d2[2] = {0, AG_UNBATCHED};
        j.x = ref_tensor(ctx, "jac_x", AG_F64);
        CHECK(ag_vmap(ctx, vjp_row, &j, 1, &eye, NULL, 1, &jr, NULL) == 0 && ag_vmap(ctx, jvp_row, &j, 1, &eye, NULL, 1, &jf, NULL) == 0, "jacobians");
        CHECK(harness_max_abs_diff(jr, ref_tensor(ctx, "jacrev", AG_F64)) <= 1e-12, "vmap(vjp) against functorch.jacrev: %.3g", harness_max_abs_diff(jr, ref_tensor(ctx, "jacrev", AG_F64)));
        CHECK(jf && harness_max_abs_diff(ag_transpose(jf, 0, 1), ref_tensor(ctx, "jacfwd", AG_F64)) <= 1e-12, "vmap(jvp) against functorch.jacfwd");
        X = ref_tensor(ctx, "nested_x", AG_F64); w = ref_tensor(ctx, "nested_w", AG_F64);
        in[0] = X; in[1] = w;
        CHECK(ag_vmap(ctx, outer_fn, NULL, 2, in, d2, 2, o, NULL) == 0, "nested");
        CHECK(harness_max_abs_diff(o[0], ref_tensor(ctx, "nested", AG_F64)) <= 1e-12, "nested vmap against functorch's: %.3g", harness_max_abs_diff(o[0], ref_tensor(ctx, "nested", AG_F64)));
    }
    free_named(refs, nrefs);
    ag_ctx_reset(ctx);
}

int main(void) {
    ag_desc desc;
    ag_ctx *ctx;
    memset(&desc, 0, sizeof desc);
    desc.seed = 0x7a3u;
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new");
    if (!ctx) return harness_finish("vmap");
    test_per_example(ctx);
    test_nesting(ctx);
    test_jacobians(ctx);
    test_grad_of_vmap(ctx);
    test_custom(ctx);
    test_checkpoint(ctx);
    test_errors(ctx);
    test_functorch(ctx);
    if (harness_timing()) time_mlp(ctx);
    ag_ctx_free(ctx);
    return harness_finish("vmap");
}
