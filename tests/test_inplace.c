/* test_inplace.c - in-place ops, version counters, and the errors PyTorch gives for them.

   cc -std=c99 -O2 -I. tests/test_inplace.c -lm -lpthread -o build/test_inplace */
#include "autograd.h"
#include "harness.h"

static double at(ag_tensor *t, int64_t i) { return ag_get(t, &i); }
static bool has(ag_ctx *ctx, const char *a, const char *b) {
    const char *e = ag_error(ctx);
    return e && strstr(e, a) && (!b || strstr(e, b));
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
        CHECK(ag_add_scalar_(ag_slice(h, 0, 0, 2, 1), 1.0) == NULL && has(ctx, "view", NULL), "in place on a view in the graph");
        ag_clear_error(ctx);
    }
    ag_ctx_free(ctx);
    return harness_finish("test_inplace");
}
