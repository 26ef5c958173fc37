/* test_inplace.c - in-place ops, version counters, and the errors PyTorch gives for them;
   in-place ops on views of tensors in the graph (CopySlices) and views made before a write
   (regenerated), against PyTorch (tests/data/inplace_view_reference.txt, made by
   tests/gen_inplace_view_reference.py), with second derivatives and forward mode.

   cc -std=c99 -O2 -I. tests/test_inplace.c -lm -lpthread -o build/test_inplace */
#include "autograd.h"
#include "harness.h"
#include "refdata.h"

static double at(ag_tensor *t, int64_t i) { return ag_get(t, &i); }
static bool has(ag_ctx *ctx, const char *a, const char *b) {
    const char *e = ag_error(ctx);
    return e && strstr(e, a) && (!b || strstr(e, b));
}

/* ---- in-place ops on views, against PyTorch ---- */
#define IVREF "tests/data/inplace_view_reference.txt"
static rnamed refs[32];
static int nrefs;
static ag_tensor *ref(ag_ctx *ctx, const char *name) {
    const rtensor *r = find_named(refs, nrefs, name);
    CHECK(r != NULL, "%s: no tensor %s", IVREF, name);
    return r ? ag_from_f64(ctx, r->ndim, r->shape, r->v) : NULL;
}
/* the cases of gen_inplace_view_reference.py, written the same way */
static ag_tensor *case_A(ag_ctx *ctx, ag_tensor **in, void *u) {   /* b = x * 1; b[1:3] *= w; sum(b^2) */
    ag_tensor *b = ag_mul_scalar(in[0], 1.0);
    (void)ctx; (void)u;
    if (!ag_mul_(ag_slice(b, 0, 1, 3, 1), in[1])) return NULL;
    return ag_sum(ag_mul(b, b));
}
static ag_tensor *case_B(ag_ctx *ctx, ag_tensor **in, void *u) {   /* v = b[:, 1]; v += c; sum(3 v) + sum(b^3) */
    ag_tensor *b = ag_mul_scalar(in[0], 1.0), *v = ag_select(b, 1, 1);
    (void)ctx; (void)u;
    if (!ag_add_(v, in[1])) return NULL;
    return ag_add(ag_sum(ag_mul_scalar(v, 3.0)), ag_sum(ag_pow(b, 3.0)));
}
static ag_tensor *case_C(ag_ctx *ctx, ag_tensor **in, void *u) {   /* s2 = b[0]; s = b.t()[1]; s *= 2; sum(s2^2) + sum(exp(b)) */
    ag_tensor *b = ag_mul_scalar(in[0], 1.0), *s2 = ag_select(b, 0, 0), *s = ag_select(ag_transpose(b, 0, 1), 0, 1);
    (void)ctx; (void)u;
    if (!ag_mul_scalar_(s, 2.0)) return NULL;
    return ag_add(ag_sum(ag_mul(s2, s2)), ag_sum(ag_exp(b)));
}
static ag_tensor *case_D(ag_ctx *ctx, ag_tensor **in, void *u) {   /* b[2].relu_(); sum(b^2) */
    ag_tensor *b = ag_mul_scalar(in[0], 1.0);
    (void)ctx; (void)u;
    if (!ag_relu_(ag_select(b, 0, 2))) return NULL;
    return ag_sum(ag_mul(b, b));
}
static ag_tensor *case_E(ag_ctx *ctx, ag_tensor **in, void *u) {   /* b[0] *= w[0]; b[1:] *= 0.5; sum(b^3) */
    ag_tensor *b = ag_mul_scalar(in[0], 1.0);
    (void)ctx; (void)u;
    if (!ag_mul_(ag_select(b, 0, 0), ag_select(in[1], 0, 0)) || !ag_mul_scalar_(ag_slice(b, 0, 1, 4, 1), 0.5)) return NULL;
    return ag_sum(ag_mul(ag_mul(b, b), b));
}
static void test_views(ag_ctx *ctx) {
    static const char *const names[5] = {"A", "B", "C", "D", "E"};
    static ag_tensor *(*const fns[5])(ag_ctx *, ag_tensor **, void *) = {case_A, case_B, case_C, case_D, case_E};
    static const char *const second[5] = {"w", "c", NULL, NULL, "w"};
    int k, i;
    nrefs = read_named(IVREF, refs, 32);
    CHECK(nrefs > 0, "cannot read %s (run from the repository root)", IVREF);
    if (nrefs <= 0) return;
    for (k = 0; k < 5; k++) {
        ag_tensor *in[2], *g[2], *L;
        int n = second[k] ? 2 : 1;
        char nm[32];
        double worst;
        ag_gradcheck_opts o;
        ag_gradcheck_result res;
        in[0] = ag_set_requires_grad(ref(ctx, "x"), true);
        if (n == 2) in[1] = ag_set_requires_grad(ref(ctx, second[k]), true);
        L = fns[k](ctx, in, NULL);
        CHECK(L && ag_grad_of(L, NULL, n, in, g) == 0, "in place on views, case %s: %s", names[k], ag_error(ctx) ? ag_error(ctx) : "");
        if (!L) { ag_clear_error(ctx); continue; }
        snprintf(nm, sizeof nm, "%s_L", names[k]);
        worst = harness_max_abs_diff(L, ref(ctx, nm));
        for (i = 0; i < n; i++) { snprintf(nm, sizeof nm, "%s_g%d", names[k], i); worst = fmax(worst, harness_max_abs_diff(g[i], ref(ctx, nm))); }
        CHECK(worst <= 1e-12, "in place on views, case %s: the value and gradients against PyTorch's (worst %.3g)", names[k], worst);
        /* first and second derivatives by finite differences, and forward mode against reverse */
        memset(&o, 0, sizeof o);
        o.second_order = true;
        CHECK(ag_gradcheck(ctx, fns[k], NULL, n, in, &o, &res) == 1, "in place on views, case %s: gradcheck to order 2 (%.3g)", names[k], res.max_abs_err);
        {
            ag_tensor *jf[2], *jr[2];
            CHECK(ag_jacobian_fwd(ctx, fns[k], NULL, n, in, jf, false) == 0 && ag_jacobian(ctx, fns[k], NULL, n, in, jr, false) == 0 &&
                  harness_max_abs_diff(jf[0], jr[0]) <= 1e-12 && (n == 1 || harness_max_abs_diff(jf[1], jr[1]) <= 1e-12),
                  "in place on views, case %s: forward mode equals reverse mode", names[k]);
        }
        if (ag_error(ctx)) ag_clear_error(ctx);
        ag_ctx_reset(ctx);
    }
    {   /* a captured step with an in-place op on a view replays bit for bit */
        ag_tensor *X = ag_param(ctx, AG_F64, 2, refs[0].t.shape, refs[0].t.v), *W = ag_param(ctx, AG_F64, 2, refs[1].t.shape, refs[1].t.v);
        ag_tensor *in[2], *L;
        ag_capture *cap;
        double want[12], got[12];
        int64_t e;
        in[0] = X; in[1] = W;
        ag_capture_begin(ctx);
        L = case_E(ctx, in, NULL);
        CHECK(L && ag_backward(L, NULL) == 0, "capture of an in-place op on a view: %s", ag_error(ctx) ? ag_error(ctx) : "");
        cap = ag_capture_end(ctx);
        CHECK(cap != NULL, "capture_end: %s", ag_error(ctx) ? ag_error(ctx) : "");
        for (e = 0; e < 12; e++) ((double *)ag_data(X))[e] = cos(0.3 * (double)e);   /* a new frame */
        ag_zero_grad(X); ag_zero_grad(W);
        CHECK(cap && ag_replay(cap) == 0, "replay");
        if (ag_grad(X)) ag_copy_out(ag_grad(X), AG_F64, got);
        ag_zero_grad(X); ag_zero_grad(W);
        ag_ctx_reset(ctx);
        L = case_E(ctx, in, NULL);   /* rebuilt on the same data */
        CHECK(L && ag_backward(L, NULL) == 0 && ag_grad(X) && ag_copy_out(ag_grad(X), AG_F64, want) == 0 && !memcmp(want, got, sizeof want),
              "a replayed step with an in-place op on a view gives the rebuilt step's gradient, bit for bit");
        ag_zero_grad(X); ag_zero_grad(W);
        ag_ctx_reset(ctx);
        ag_free_persistent(X); ag_free_persistent(W);
    }
    free_named(refs, nrefs);
    {   /* what PyTorch refuses too */
        int64_t s2[2] = {2, 3};
        ag_tensor *p = ag_set_requires_grad(ag_ones(ctx, AG_F64, 2, s2), true), *w = ag_set_requires_grad(ag_ones(ctx, AG_F64, 1, s2 + 1), true);
        ag_tensor *h = ag_mul_scalar(p, 2.0);
        CHECK(ag_mul_(ag_select(p, 0, 0), w) == NULL && has(ctx, "view of a leaf", NULL), "in place on a view of a leaf that requires grad: %s",
              ag_error(ctx) ? ag_error(ctx) : "no error");
        ag_clear_error(ctx);
        CHECK(ag_mul_(ag_select(ag_detach(h), 0, 0), w) == NULL && has(ctx, "not supported under autograd", NULL),
              "in place on a view of a detached tensor with an operand that requires grad: %s", ag_error(ctx) ? ag_error(ctx) : "no error");
        ag_clear_error(ctx);
        CHECK(ag_mul_(ag_expand(ag_select(h, 0, 0), 2, s2), w) == NULL && has(ctx, "expanded view", NULL), "in place on an expanded view");
        ag_clear_error(ctx);
        ag_ctx_reset(ctx);
    }
}

int main(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t n = 4;
    double v0[4] = { -1, 2, -3, 4 };
    ag_tensor *x, *h, *y, *v, *g;

    /* plain values through views, and versions */
    x = ag_from(ctx, AG_F64, 1, &n, v0);
    v = ag_slice(x, 0, 0, 4, 2);   /* elements 0 and 2 */
    CHECK(ag_version(x) == 0, "a new tensor is at version 0");
    CHECK(ag_add_scalar_(v, 10) == v && at(x, 0) == 9 && at(x, 2) == 7 && at(x, 1) == 2, "add_scalar_ writes through a view");
    CHECK(ag_version(x) == 1 && ag_version(v) == 1, "a view shares its storage's version (%u, %u)", ag_version(x), ag_version(v));
    ag_relu_(ag_mul_scalar_(x, -1));
    CHECK(at(x, 0) == 0 && at(x, 1) == 0 && at(x, 3) == 0, "mul_scalar_ then relu_");
    ag_fill_(x, 3);
    ag_clamp_(x, -1, 2);
    CHECK(at(x, 3) == 2 && ag_zero_(x) && at(x, 1) == 0, "fill_, clamp_, zero_");
    CHECK(ag_copy_(x, ag_scalar_f64(ctx, 5)) && at(x, 2) == 5, "copy_ broadcasts");

    /* autograd through in-place ops: h = relu_(x * 2 + 1) in place, d/dx = 2 [2x + 1 > 0] */
    x = ag_set_requires_grad(ag_from(ctx, AG_F64, 1, &n, v0), true);
    h = ag_mul_scalar(x, 2.0);
    ag_add_scalar_(h, 1.0);
    ag_relu_(h);
    CHECK(ag_op(h) && strcmp(ag_op(h), "relu_") == 0, "the tensor becomes the in-place op's node (%s)", ag_op(h) ? ag_op(h) : "leaf");
    CHECK(ag_backward(ag_sum(h), NULL) == 0, "backward through in-place ops (%s)", ag_error(ctx) ? ag_error(ctx) : "");
    g = ag_grad(x);
    CHECK(g && at(g, 0) == 0 && at(g, 1) == 2 && at(g, 2) == 0 && at(g, 3) == 2, "gradient through relu_ and add_scalar_");

    /* y = x * 2; y *= w (and /=) with w requiring grad: w's gradient reads y's old value, which the op
       keeps (PyTorch saves the original self): d x = 2 w, d w = 2 x (division: 2 / w and -2 x / w^2) */
    {
        double wv[4] = { 0.5, -1, 2, 4 };
        ag_tensor *w = ag_set_requires_grad(ag_from(ctx, AG_F64, 1, &n, wv), true);
        ag_zero_grad(x);
        y = ag_mul_scalar(x, 2.0);
        CHECK(ag_mul_(y, w) == y && ag_backward(ag_sum(y), NULL) == 0, "mul_ by a tensor that requires grad (%s)", ag_error(ctx) ? ag_error(ctx) : "");
        CHECK(ag_grad(x) && ag_grad(w) && at(ag_grad(x), 2) == 4 && at(ag_grad(w), 1) == 4 && at(ag_grad(w), 2) == -6, "d x = 2 w, d w = 2 x");
        ag_zero_grad(x); ag_zero_grad(w);
        y = ag_mul_scalar(x, 2.0);
        CHECK(ag_div_(y, w) == y && ag_backward(ag_sum(y), NULL) == 0, "div_ by a tensor that requires grad (%s)", ag_error(ctx) ? ag_error(ctx) : "");
        CHECK(ag_grad(w) && at(ag_grad(x), 0) == 4 && at(ag_grad(w), 0) == 8 && at(ag_grad(w), 3) == -0.5, "d x = 2 / w, d w = -2 x / w^2");
        ag_zero_grad(x);
    }
    /* relu_ saves its output, so an in-place op after it is an error, as in PyTorch */
    h = ag_relu_(ag_mul_scalar(x, 2.0));
    ag_add_scalar_(h, 1.0);
    CHECK(ag_backward(ag_sum(h), NULL) == -1 && has(ctx, "'relu_'", NULL), "relu_ then add_scalar_ (%s)", ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    /* a value saved for backward, then overwritten: the error names the op and the tensor */
    ag_zero_grad(x);
    h = ag_mul_scalar(x, 1.0);
    y = ag_exp(h);                  /* exp's backward reads its output */
    ag_mul_scalar_(y, 2.0);         /* fine: y itself is the node now (rebased) */
    CHECK(ag_backward(ag_sum(y), NULL) == -1 && has(ctx, "'exp'", "in-place"), "exp's saved output overwritten (%s)",
          ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    h = ag_mul_scalar(x, 1.0);
    y = ag_mul(h, h);               /* mul reads both inputs */
    ag_add_scalar_(h, 1.0);
    CHECK(ag_backward(ag_sum(y), NULL) == -1 && has(ctx, "'mul'", "made by mul_scalar"), "mul's saved input overwritten (%s)",
          ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    h = ag_mul_scalar(x, 1.0);
    y = ag_add(h, h);               /* add reads nothing: modifying h afterwards is fine */
    ag_mul_scalar_(h, 3.0);
    ag_zero_grad(x);
    CHECK(ag_backward(ag_sum(y), NULL) == 0 && at(ag_grad(x), 0) == 2, "add reads no values, so a later in-place is fine");

    /* in-place on a leaf that requires grad, while recording: an error; under no-grad: fine */
    CHECK(ag_add_scalar_(x, 1.0) == NULL && has(ctx, "add_scalar_", "leaf"), "in-place on a leaf that requires grad (%s)",
          ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    {
        bool prev = ag_set_grad_enabled(ctx, false);
        CHECK(ag_add_scalar_(x, 1.0) == x && at(x, 1) == 3, "in-place on a parameter under no-grad");
        ag_set_grad_enabled(ctx, prev);
    }
    /* the optimizer's kind of update bumps the version, so an old graph that saved W refuses to run */
    {
        int64_t s2[2] = { 2, 2 };
        double w0[4] = { 1, 2, 3, 4 };
        ag_tensor *W = ag_param(ctx, AG_F64, 2, s2, w0), *in = ag_ones(ctx, AG_F64, 2, s2), *out;
        bool prev;
        out = ag_sum(ag_matmul(in, W));
        prev = ag_set_grad_enabled(ctx, false);
        ag_mul_scalar_(W, 0.5);
        ag_set_grad_enabled(ctx, prev);
        ag_clear_error(ctx);
        CHECK(ag_backward(out, NULL) == 0, "matmul's d W reads only the other input, so W may change (%s)", ag_error(ctx) ? ag_error(ctx) : "");
        out = ag_sum(ag_matmul(ag_set_requires_grad(ag_ones(ctx, AG_F64, 2, s2), true), W));
        prev = ag_set_grad_enabled(ctx, false);
        ag_mul_scalar_(W, 0.5);
        ag_set_grad_enabled(ctx, prev);
        CHECK(ag_backward(out, NULL) == -1 && has(ctx, "'matmul'", "leaf"), "d x of matmul reads W, changed since (%s)",
              ag_error(ctx) ? ag_error(ctx) : "no error");
        ag_clear_error(ctx);
    }
    /* bad input */
    CHECK(ag_add_(NULL, NULL) == NULL && ag_add_(x, NULL) == NULL && has(ctx, "add_", "NULL"), "add_ with NULL");
    ag_clear_error(ctx);
    {
        int64_t s3 = 3;
        ag_tensor *a = ag_zeros(ctx, AG_F64, 1, &s3), *b = ag_zeros(ctx, AG_F64, 1, &n);
        CHECK(ag_add_(a, b) == NULL && ag_error(ctx), "add_ of mismatched shapes (%s)", ag_error(ctx) ? ag_error(ctx) : "");
        ag_clear_error(ctx);
        CHECK(ag_copy_(a, b) == NULL && has(ctx, "copy_", "[4]"), "copy_ of a shape that does not fit");
        ag_clear_error(ctx);
        CHECK(ag_clamp_(a, NAN, 1) == NULL && has(ctx, "clamp_", NULL), "clamp_ with a NaN bound");
        ag_clear_error(ctx);
        h = ag_mul_scalar(x, 1.0);
        CHECK(ag_zero_(h) == NULL && has(ctx, "zero_", "not differentiable"), "zero_ on a tensor in the graph");
        ag_clear_error(ctx);
        CHECK(ag_add_scalar_(ag_slice(h, 0, 0, 2, 1), 1.0) != NULL && !ag_error(ctx), "in place on a view in the graph (CopySlices)");
        ag_clear_error(ctx);
    }
    {   /* a dual view of a persistent tensor: an in-place op through it would give the persistent tensor a
           tangent in the arena, read after ag_ctx_reset (the API fuzzer's use-after-poison); refused, and
           the tensor works after the reset */
        int64_t s3 = 3, one = 1;
        double v[3] = { 1, -2, 3 };
        ag_tensor *p = ag_persistent(ctx, AG_F64, 1, &s3, v), *d = ag_make_dual(p, ag_ones(ctx, AG_F64, 1, &s3));
        CHECK(ag_add_(d, ag_ones(ctx, AG_F64, 1, &s3)) == NULL && has(ctx, "add_", "persistent"), "add_ through a dual view of a persistent tensor");
        ag_clear_error(ctx);
        CHECK(ag_relu_(d) == NULL && has(ctx, "relu_", "persistent"), "relu_ through a dual view of a persistent tensor");
        ag_clear_error(ctx);
        CHECK(ag_get(p, &one) == -2.0, "the persistent tensor unchanged by the refused writes: %g", ag_get(p, &one));
        ag_ctx_reset(ctx);
        CHECK(ag_item(ag_sum(ag_layer_norm(p, NULL, NULL, 1e-5))) == ag_item(ag_sum(ag_layer_norm(p, NULL, NULL, 1e-5))) && !ag_error(ctx),
              "the persistent tensor after the reset: %s", ag_error(ctx) ? ag_error(ctx) : "");
        ag_clear_error(ctx);
    }
    ag_ctx_reset(ctx);
    test_views(ctx);
    ag_ctx_free(ctx);
    return harness_finish("test_inplace");
}
