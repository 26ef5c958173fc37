/* test_no_f64.c - the library built with AG_NO_F64 (F32 only): every function taking a dtype refuses
   AG_F64 with a message, index tensors are F32, and sums add in F32 with Kahan's compensation. The
   sums are measured against the double sum of the same values (what the default build computes):
   10^6 values, means of a [100000, 10] tensor along each dim, a softmax over 10^5 entries; each
   "info:" line prints the relative error (to the sum of |x|) and, for comparison, a plain
   left-to-right F32 sum's. make check-cortex-m also runs it on the Cortex-M4 and M55. */
#define AG_NO_F64
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include "harness.h"
#include <stdlib.h>

#define NBIG 1000000
#define EPS32 5.9604644775390625e-08   /* 2^-24 */

static uint32_t rng_state = 12345u;
static float next_uniform(void) {   /* U[0, 1) from an LCG's top 24 bits: the same values on every target */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(rng_state >> 8) * (float)EPS32;
}

static int has_msg(ag_ctx *ctx, const char *op) {
    const char *e = ag_error(ctx);
    int ok = e && strstr(e, op) == e && strstr(e, "float64 is not in this build (AG_NO_F64)") != NULL;
    ag_clear_error(ctx);
    return ok;
}

static void test_refusals(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    const int64_t sh[1] = {3};
    const double d3[3] = {1, 2, 3};
    double out[3];
    ag_tensor *t;
    CHECK(ctx != NULL, "context");
    if (!ctx) return;
    CHECK(!ag_new(ctx, AG_F64, 1, sh) && has_msg(ctx, "new"), "new");
    CHECK(!ag_zeros(ctx, AG_F64, 1, sh) && has_msg(ctx, "zeros"), "zeros");
    CHECK(!ag_ones(ctx, AG_F64, 1, sh) && has_msg(ctx, "ones"), "ones");
    CHECK(!ag_full(ctx, AG_F64, 1, sh, 2.0) && has_msg(ctx, "full"), "full");
    CHECK(!ag_from(ctx, AG_F64, 1, sh, d3) && has_msg(ctx, "from"), "from");
    CHECK(!ag_from_f64(ctx, 1, sh, d3) && has_msg(ctx, "from_f64"), "from_f64");
    CHECK(!ag_scalar_f64(ctx, 1.0) && has_msg(ctx, "scalar_f64"), "scalar_f64");
    CHECK(!ag_wrap(ctx, AG_F64, 1, sh, out) && has_msg(ctx, "wrap"), "wrap");
    CHECK(!ag_param(ctx, AG_F64, 1, sh, NULL) && has_msg(ctx, "param"), "param");
    CHECK(!ag_persistent(ctx, AG_F64, 1, sh, NULL) && has_msg(ctx, "persistent"), "persistent");
    CHECK(!ag_arange(ctx, AG_F64, 0, 3, 1) && has_msg(ctx, "arange"), "arange");
    CHECK(!ag_rand(ctx, AG_F64, 1, sh) && has_msg(ctx, "rand"), "rand");
    CHECK(!ag_randn(ctx, AG_F64, 1, sh) && has_msg(ctx, "randn"), "randn");
    CHECK(!ag_eye(ctx, AG_F64, 2, 2) && has_msg(ctx, "eye"), "eye");
    CHECK(!ag_linspace(ctx, AG_F64, 0, 1, 3) && has_msg(ctx, "linspace"), "linspace");
    CHECK(!ag_logspace(ctx, AG_F64, 0, 1, 3, 10) && has_msg(ctx, "logspace"), "logspace");
    t = ag_ones(ctx, AG_F32, 1, sh);
    CHECK(t && !ag_to(t, AG_F64) && has_msg(ctx, "to"), "to");
    CHECK(t && ag_copy_out(t, AG_F64, out) == -1 && has_msg(ctx, "copy_out"), "copy_out");
    CHECK(t && ag_to(t, AG_F32) == t, "to F32 is the tensor itself");
    ag_ctx_free(ctx);
}

/* index tensors are F32; cross-entropy (which builds one) trains as before */
static void test_indices(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    const float x[6] = {0.5f, 2.0f, -1.0f, 3.0f, 0.0f, 1.0f};
    const int64_t sh[2] = {2, 3};
    const int32_t labels[2] = {1, 0};
    const int64_t zero = 0, one = 1;
    ag_tensor *t, *i, *w, *loss;
    double ref;
    if (!ctx) { CHECK(0, "context"); return; }
    t = ag_from(ctx, AG_F32, 2, sh, x);
    i = ag_argmax(t, 1, false);
    CHECK(i && ag_type(i) == AG_I64 && ag_get(i, &zero) == 1 && ag_get(i, &one) == 0, "argmax: I64 indices 1, 0");
    w = ag_param(ctx, AG_F32, 2, sh, x);
    loss = ag_cross_entropy(w, labels);
    /* mean of logsumexp(row) - row[label] */
    ref = (log(exp(0.5) + exp(2.0) + exp(-1.0)) - 2.0 + log(exp(3.0) + exp(0.0) + exp(1.0)) - 3.0) / 2;
    CHECK(loss && fabs(ag_item(loss) - ref) < 1e-6, "cross_entropy %.9g vs %.9g (%s)", loss ? ag_item(loss) : 0.0, ref, ag_error(ctx) ? ag_error(ctx) : "");
    CHECK(loss && ag_backward(loss, NULL) == 0 && ag_grad(w) && ag_type(ag_grad(w)) == AG_F32, "cross_entropy backward");
    ag_ctx_free(ctx);
}

/* how many F32 values lie between a and b (0: the same float) */
static long ulps(float a, float b) {
    int32_t ia, ib;
    memcpy(&ia, &a, 4); memcpy(&ib, &b, 4);
    if (ia < 0) ia = INT32_MIN - ia;
    if (ib < 0) ib = INT32_MIN - ib;
    return labs((long)ia - (long)ib);
}
/* |got - want| / scale, the error relative to the sum of magnitudes */
static double rel(double got, double want, double scale) { return fabs(got - want) / (scale > 0 ? scale : 1); }

static void test_sums(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    float *x = (float *)malloc(sizeof(float) * NBIG);
    const int64_t nbig = NBIG, nc[2] = {100000, 10};
    double want = 0, mag = 0, e, e_naive, worst, worst_naive;
    float naive = 0;
    long differ, maxulp, u;
    int64_t i, j;
    ag_tensor *t, *s;
    if (!ctx || !x) { CHECK(0, "context and memory"); ag_ctx_free(ctx); free(x); return; }

    /* one sum of 10^6 values in [0, 1) (the hard case for a plain F32 sum: the total grows to 5e5) */
    for (i = 0; i < NBIG; i++) { x[i] = next_uniform(); want += x[i]; naive += x[i]; }
    t = ag_wrap(ctx, AG_F32, 1, &nbig, x);
    s = ag_sum(t);
    e = s ? rel(ag_item(s), want, want) : 1;
    e_naive = rel(naive, want, want);
    printf("  info: sum of 10^6 U[0,1): relative error %.2e (%.2f x 2^-24), %ld ulp from the default build's (float)(double sum); plain F32 sum %.2e\n",
           e, e / EPS32, s ? ulps((float)ag_item(s), (float)want) : -1, e_naive);
    CHECK(e <= 3 * EPS32, "sum of 10^6: relative error %.3g", e);
    s = ag_mean(t);
    e = s ? rel(ag_item(s), want / NBIG, want / NBIG) : 1;
    printf("  info: mean of 10^6 U[0,1): relative error %.2e (%.2f x 2^-24), %ld ulp from the default build's\n",
           e, e / EPS32, s ? ulps((float)ag_item(s), (float)(want * (1.0 / NBIG))) : -1);
    CHECK(e <= 3 * EPS32, "mean of 10^6: relative error %.3g", e);

    /* the same values centred, U[-1/2, 1/2): cancellation, so the error is relative to sum |x| */
    want = 0; mag = 0; naive = 0;
    for (i = 0; i < NBIG; i++) { x[i] -= 0.5f; want += x[i]; mag += fabs(x[i]); naive += x[i]; }
    s = ag_sum(t);
    e = s ? rel(ag_item(s), want, mag) : 1;
    printf("  info: sum of 10^6 U[-1/2,1/2): error / sum|x| %.2e (%.2f x 2^-24); plain F32 sum %.2e\n", e, e / EPS32, rel(naive, want, mag));
    CHECK(e <= 3 * EPS32, "centred sum of 10^6: error %.3g", e);
    for (i = 0; i < NBIG; i++) x[i] += 0.5f;   /* back to [0, 1) (exact) */

    /* means of a [100000, 10] tensor: over dim 0 (10 sums of 10^5 strided values, the accumulator
       array path) and over dim 1 (10^5 sums of 10 contiguous values, the row path) */
    t = ag_wrap(ctx, AG_F32, 2, nc, x);
    s = ag_mean_dim(t, 0, false);
    worst = worst_naive = 0;
    differ = 0; maxulp = 0;
    for (j = 0; j < 10 && s; j++) {
        double w0 = 0;
        float nv = 0;
        for (i = 0; i < nc[0]; i++) { w0 += x[i * 10 + j]; nv += x[i * 10 + j]; }
        e = rel(((const float *)ag_data(s))[j], w0 / (double)nc[0], w0 / (double)nc[0]);
        if (e > worst) worst = e;
        u = ulps(((const float *)ag_data(s))[j], (float)(w0 * (1.0 / (double)nc[0])));
        differ += u != 0; if (u > maxulp) maxulp = u;
        e = rel(nv / (float)nc[0], w0 / (double)nc[0], w0 / (double)nc[0]);
        if (e > worst_naive) worst_naive = e;
    }
    printf("  info: mean of [100000, 10] over dim 0: worst relative error %.2e (%.2f x 2^-24), %ld of 10 differ from the default build's"
           " (at most %ld ulp); plain F32 %.2e\n", worst, worst / EPS32, differ, maxulp, worst_naive);
    CHECK(s && worst <= 3 * EPS32, "mean over dim 0: error %.3g", worst);
    s = ag_mean_dim(t, 1, false);
    worst = 0;
    differ = 0; maxulp = 0;
    for (i = 0; i < nc[0] && s; i++) {
        double w0 = 0;
        for (j = 0; j < 10; j++) w0 += x[i * 10 + j];
        e = rel(((const float *)ag_data(s))[i], w0 / 10, w0 / 10);
        if (e > worst) worst = e;
        u = ulps(((const float *)ag_data(s))[i], (float)(w0 * (1.0 / 10)));
        differ += u != 0; if (u > maxulp) maxulp = u;
    }
    printf("  info: mean of [100000, 10] over dim 1: worst relative error %.2e (%.2f x 2^-24), %ld of 100000 differ from the default"
           " build's (at most %ld ulp)\n", worst, worst / EPS32, differ, maxulp);
    CHECK(s && worst <= 3 * EPS32, "mean over dim 1: error %.3g", worst);

    /* a softmax over 10^5 logits in [0, 8): its denominator is a sum of 10^5 exponentials */
    {
        const int64_t n = 100000;
        double den = 0, sum_p = 0;
        float mx = 0;
        for (i = 0; i < n; i++) { x[i] = 8 * next_uniform(); if (x[i] > mx) mx = x[i]; }
        for (i = 0; i < n; i++) den += exp((double)x[i] - mx);
        t = ag_wrap(ctx, AG_F32, 1, &n, x);
        s = ag_softmax(t, 0);
        worst = 0;
        for (i = 0; i < n && s; i++) {
            double p = exp((double)x[i] - mx) / den, got = ((const float *)ag_data(s))[i];
            sum_p += got;
            e = rel(got, p, p);
            if (e > worst) worst = e;
        }
        printf("  info: softmax over 10^5: worst relative error %.2e (%.2f x 2^-24), sum of p - 1 = %.2e\n",
               worst, worst / EPS32, sum_p - 1);
        CHECK(s && worst <= 8 * EPS32, "softmax over 10^5: error %.3g", worst);   /* exp's 1 ulp, the division's and the sum's */
    }
    ag_ctx_free(ctx);
    free(x);
}

int main(void) {
    test_refusals();
    test_indices();
    test_sums();
    return harness_finish("test_no_f64");
}
