/* test_special.c - values and gradients at NaN, +-inf, +-0, tiny, huge and overflow-boundary
   inputs, against PyTorch (tests/gen_special_reference.py wrote tests/data/special_reference.txt):
   every elementwise op, the binary ops on every pair of special values, the reductions,
   softmax, log_softmax, layer_norm, cross_entropy and bce_with_logits, in F32 and F64.

   A value matches when both are NaN, when both are the same infinity, or when finite and
   within rtol |want| + atol (F32: 1e-5 and the smallest normal float, so a denormal result
   may be flushed or approximate; F64: 1e-12 and the smallest normal double; for the row ops,
   whose gradients here are often 0 computed as a difference of numbers near 1, an absolute
   epsilon). The sign of a zero is not compared. Every difference from PyTorch is either a failure or listed in
   known[] below with the reason (where this library is the more accurate one). */
#include "autograd.h"
#include "harness.h"
#include "refdata.h"

#include <float.h>
#include <stdlib.h>

/* Differences from PyTorch kept on purpose: case, dtype, "out" or "grad0", elements [lo, hi], why.
   The special inputs are, in order: nan inf -inf 0 -0 1e-30 -1e-30 1e-300 1e30 -1e30 1e300 -1e300
   88.7 -88.7 104 -104 710 -710 20.5 -20.5 1 -1 0.5 -0.5 3 (in F32, 1e-300 is 0 and 1e300 inf);
   the rows of the row ops are listed in tests/gen_special_reference.py. */
static const struct { const char *op, *dt, *what; int lo, hi; const char *why; } known[] = {
    { "silu", "f32", "out", 2, 2, "silu(-inf): the limit -0 (the F32 vector math); PyTorch -inf * sigmoid(-inf) = NaN" },
    { "silu", "f32", "out", 11, 11, "the same at -1e300, which is -inf in F32" },
    { "gelu_tanh", "f32", "out", 2, 2, "gelu_tanh(-inf): the limit -0; PyTorch NaN" },
    { "gelu_tanh", "f32", "out", 11, 11, "the same at -1e300, which is -inf in F32" },
    { "gelu_tanh", "f64", "out", 19, 19, "at -20.5: -1.35e-280 is the value (x sigmoid(2u)); PyTorch's 0.5 x (1 + tanh u) cancels to -0" },
    { "layer_norm", "f64", "out", 24, 27, "a constant row of 1e4 normalises to exactly 0 (two-pass variance); PyTorch -3.6e-11" },
    { "layer_norm", "f64", "out", 36, 39, "a constant row of -1e30 normalises to 0; PyTorch 3.4e15 (its variance cancels)" },
    { "layer_norm", "f64", "grad0", 0, 3, "d sum(layer_norm(x)) is exactly 0 (the outputs sum to 0); PyTorch +-1.75e-46" },
    { "layer_norm", "f32", "out", 24, 27, "a constant row of 1e4 normalises to exactly 0; PyTorch 0.082 (its F32 variance cancels)" },
    { "layer_norm", "f32", "out", 36, 39, "a constant row of -1e30 normalises to 0; PyTorch NaN" },
    { "layer_norm", "f32", "grad0", 36, 39, "the same row: gradient 0; PyTorch NaN" },
    { "layer_norm", "f32", "out", 0, 3, "NOT more accurate: [1e30, 1e30, 0, -1e30] in F32, where (x - mean)^2 overflows past |x| ~ 1.8e19: "
                                        "this library gives 0, PyTorch NaN, the answer is [0.9, 0.9, -0.3, -1.5]; use F64 for such inputs" },
    { "layer_norm", "f32", "grad0", 0, 3, "the same row: gradient 0 (the right value for sum(layer_norm)); PyTorch NaN" },
    { "sinh", "f64", "out", 16, 17, "sinh(+-710) = +-1.117e308 is finite (glibc); PyTorch overflows to +-inf" },
    { "sinh", "f64", "grad0", 16, 17, "the same for its gradient cosh(+-710)" },
    { "cosh", "f64", "out", 16, 17, "cosh(+-710) = 1.117e308 is finite; PyTorch inf" },
    { "cosh", "f64", "grad0", 16, 17, "the same for its gradient sinh(+-710)" },
    { "softsign", "f32", "grad0", 1, 2, "d softsign at +-inf: the limit 0; PyTorch NaN" },
    { "softsign", "f32", "grad0", 10, 11, "the same at +-1e300, which is +-inf in F32" },
    { "softsign", "f32", "grad0", 16, 17, "at +-710: 1/711^2 = 1.9781571e-6; PyTorch's F32 gives 1.9781291e-6" },
    { "softsign", "f64", "grad0", 1, 2, "d softsign at +-inf: the limit 0; PyTorch NaN" },
    { "softsign", "f64", "grad0", 8, 9, "at +-1e30: 1e-60; PyTorch 0" },
    { "elu", "f32", "out", 6, 6, "elu(-1e-30) = -1e-30 (expm1); PyTorch's exp(x) - 1 gives 0" },
    { "elu", "f64", "out", 6, 6, "the same in F64" },
    { "selu", "f32", "out", 6, 6, "selu(-1e-30) = -1.76e-30 (expm1); PyTorch 0" },
    { "selu", "f64", "out", 6, 6, "the same in F64" },
    { "celu", "f32", "out", 6, 6, "celu(-1e-30) = -1e-30 (expm1); PyTorch 0" },
    { "celu", "f64", "out", 6, 6, "the same in F64" },
    { "hardswish", "f32", "out", 2, 2, "hardswish(-inf): the limit 0; PyTorch -inf * 0 = NaN" },
    { "hardswish", "f32", "out", 11, 11, "the same at -1e300, which is -inf in F32" },
    { "hardswish", "f64", "out", 2, 2, "hardswish(-inf): the limit 0; PyTorch NaN" },
    { "hardsigmoid", "f64", "grad0", 0, 24, "1/6 exactly; PyTorch's F64 backward uses float32 1/6 = 0.16666667163" },
    { "fmod", "f32", "out", 59, 59, "fmod(1e30, 1e-30) = 8.17e-31 exactly (C's fmod); PyTorch's F32 gives NaN" },
    { "remainder", "f32", "out", 59, 59, "the same for remainder" },
    /* the pairs are a = PAIR[i / 9], b = PAIR[i % 9] with PAIR = nan inf -inf 0 -0 1e-30 1e30 -2 3 */
    { "remainder", "f32", "grad1", 14, 26, "a = +-inf: d b = -floor(a / b) = -+inf here; PyTorch's floor division gives NaN" },
    { "remainder", "f64", "grad1", 14, 26, "the same in F64" },
    { "remainder", "f32", "grad1", 47, 74, "b = +-inf: floor(a / b) = floor(+-0) = 0 here; PyTorch's floor division gives -1 (Python's 1e-30 // -inf)" },
    { "remainder", "f64", "grad1", 47, 74, "the same in F64" },
    { "remainder", "f32", "grad1", 59, 59, "a = 1e30, b = 1e-30 in F32: floor(a / b) = inf; PyTorch NaN" },
    /* logsumexp's gradient is softmax(x); PyTorch computes it as exp(x - logsumexp(x)), which rounds when the max is huge */
    { "logsumexp", "f32", "grad0", 0, 1, "a tie at 1e30: softmax gives 0.5 each; PyTorch's exp(x - lse) rounds lse to 1e30 and gives 1 each" },
    { "logsumexp", "f64", "grad0", 0, 1, "the same in F64" },
    { "logsumexp", "f32", "grad0", 24, 29, "rows at 1e4 and 1e8: softmax is exact here; PyTorch's exp(x - lse) carries lse's rounding" },
    { "logsumexp", "f64", "grad0", 28, 29, "the row at 1e8 in F64: PyTorch's exp(x - lse) is off by 2e-10 from lse's rounding" },
    { "logsumexp", "f32", "grad0", 36, 39, "a row of -1e30: softmax gives 0.25 each; PyTorch gives 1 each" },
    { "logsumexp", "f64", "grad0", 36, 39, "the same in F64" },
#ifdef __MINGW32__
    /* not this library: mingw-w64's libm computes sin and cos with the x87 fsin/fcos, whose argument
       reduction (fprem, a 66-bit pi) is wrong for huge arguments; glibc's is exact */
    { "sin", "f32", "out", 8, 9, "mingw-w64's sinf at +-1e30" }, { "sin", "f32", "grad0", 8, 9, "its cosf at +-1e30" },
    { "cos", "f32", "out", 8, 9, "mingw-w64's cosf at +-1e30" }, { "cos", "f32", "grad0", 8, 9, "its sinf at +-1e30" },
    { "sin", "f64", "out", 8, 11, "mingw-w64's sin at +-1e30, +-1e300" }, { "sin", "f64", "grad0", 8, 11, "its cos there" },
    { "cos", "f64", "out", 8, 11, "mingw-w64's cos at +-1e30, +-1e300" }, { "cos", "f64", "grad0", 8, 11, "its sin there" },
#endif
    { NULL, NULL, NULL, 0, 0, NULL }
};

static const char *known_why(const char *op, const char *dt, const char *what, int i) {
    int k;
    for (k = 0; known[k].op; k++)
        if (!strcmp(known[k].op, op) && !strcmp(known[k].dt, dt) && !strcmp(known[k].what, what) && i >= known[k].lo && i <= known[k].hi)
            return known[k].why;
    return NULL;
}

/* row: the case is a row op (softmax, layer_norm, reductions), whose gradients of sum(op(x)) are
   often exactly 0 computed as a difference of numbers near 1: rounding noise up to one epsilon */
/* element k of t in row-major order (no compound literals: this file is C++ too) */
static double flat_at(ag_tensor *t, int64_t k) {
    int64_t m1 = -1, idx[1];
    idx[0] = k;
    return ag_get(ag_reshape(t, 1, &m1), idx);
}

static bool matches(double got, double want, bool f32, bool row) {
    double rtol = f32 ? 1e-5 : 1e-12, atol = row ? (f32 ? FLT_EPSILON : DBL_EPSILON) : f32 ? FLT_MIN : DBL_MIN;
    if (want != want) return got != got;
    if (isinf(want)) return got == want;
    if (got != got || isinf(got)) return false;
    return fabs(got - want) <= rtol * fabs(want) + atol;
}

static ag_tensor *apply_op(const char *op, ag_tensor **x, const double *p, int rows, int cols) {
    int32_t tg[64] = {0};
    (void)cols;
    if (!strcmp(op, "neg")) return ag_neg(x[0]);
    if (!strcmp(op, "exp")) return ag_exp(x[0]);
    if (!strcmp(op, "log")) return ag_log(x[0]);
    if (!strcmp(op, "sqrt")) return ag_sqrt(x[0]);
    if (!strcmp(op, "abs")) return ag_abs(x[0]);
    if (!strcmp(op, "tanh")) return ag_tanh(x[0]);
    if (!strcmp(op, "sigmoid")) return ag_sigmoid(x[0]);
    if (!strcmp(op, "relu")) return ag_relu(x[0]);
    if (!strcmp(op, "gelu")) return ag_gelu(x[0]);
    if (!strcmp(op, "gelu_tanh")) return ag_gelu_tanh(x[0]);
    if (!strcmp(op, "silu")) return ag_silu(x[0]);
    if (!strcmp(op, "erf")) return ag_erf(x[0]);
    if (!strcmp(op, "sin")) return ag_sin(x[0]);
    if (!strcmp(op, "cos")) return ag_cos(x[0]);
    if (!strcmp(op, "tan")) return ag_tan(x[0]);
    if (!strcmp(op, "asin")) return ag_asin(x[0]);
    if (!strcmp(op, "acos")) return ag_acos(x[0]);
    if (!strcmp(op, "atan")) return ag_atan(x[0]);
    if (!strcmp(op, "sinh")) return ag_sinh(x[0]);
    if (!strcmp(op, "cosh")) return ag_cosh(x[0]);
    if (!strcmp(op, "asinh")) return ag_asinh(x[0]);
    if (!strcmp(op, "acosh")) return ag_acosh(x[0]);
    if (!strcmp(op, "atanh")) return ag_atanh(x[0]);
    if (!strcmp(op, "log2")) return ag_log2(x[0]);
    if (!strcmp(op, "log10")) return ag_log10(x[0]);
    if (!strcmp(op, "log1p")) return ag_log1p(x[0]);
    if (!strcmp(op, "exp2")) return ag_exp2(x[0]);
    if (!strcmp(op, "expm1")) return ag_expm1(x[0]);
    if (!strcmp(op, "rsqrt")) return ag_rsqrt(x[0]);
    if (!strcmp(op, "reciprocal")) return ag_reciprocal(x[0]);
    if (!strcmp(op, "square")) return ag_square(x[0]);
    if (!strcmp(op, "floor")) return ag_floor(x[0]);
    if (!strcmp(op, "ceil")) return ag_ceil(x[0]);
    if (!strcmp(op, "round")) return ag_round(x[0]);
    if (!strcmp(op, "trunc")) return ag_trunc(x[0]);
    if (!strcmp(op, "frac")) return ag_frac(x[0]);
    if (!strcmp(op, "sign")) return ag_sign(x[0]);
    if (!strcmp(op, "softsign")) return ag_softsign(x[0]);
    if (!strcmp(op, "logsigmoid")) return ag_logsigmoid(x[0]);
    if (!strcmp(op, "elu")) return ag_elu(x[0], p[0]);
    if (!strcmp(op, "selu")) return ag_selu(x[0]);
    if (!strcmp(op, "celu")) return ag_celu(x[0], p[0]);
    if (!strcmp(op, "hardtanh")) return ag_hardtanh(x[0], p[0], p[1]);
    if (!strcmp(op, "relu6")) return ag_relu6(x[0]);
    if (!strcmp(op, "hardsigmoid")) return ag_hardsigmoid(x[0]);
    if (!strcmp(op, "hardswish")) return ag_hardswish(x[0]);
    if (!strcmp(op, "mish")) return ag_mish(x[0]);
    if (!strcmp(op, "leaky_relu")) return ag_leaky_relu(x[0], p[0]);
    if (!strcmp(op, "clamp")) return ag_clamp(x[0], p[0], p[1]);
    if (!strcmp(op, "softplus")) return ag_softplus(x[0], p[0], p[1]);
    if (!strcmp(op, "pow")) return ag_pow(x[0], p[0]);
    if (!strcmp(op, "add_scalar")) return ag_add_scalar(x[0], p[0]);
    if (!strcmp(op, "mul_scalar")) return ag_mul_scalar(x[0], p[0]);
    if (!strcmp(op, "add")) return ag_add(x[0], x[1]);
    if (!strcmp(op, "sub")) return ag_sub(x[0], x[1]);
    if (!strcmp(op, "mul")) return ag_mul(x[0], x[1]);
    if (!strcmp(op, "div")) return ag_div(x[0], x[1]);
    if (!strcmp(op, "maximum")) return ag_maximum(x[0], x[1]);
    if (!strcmp(op, "minimum")) return ag_minimum(x[0], x[1]);
    if (!strcmp(op, "atan2")) return ag_atan2(x[0], x[1]);
    if (!strcmp(op, "hypot")) return ag_hypot(x[0], x[1]);
    if (!strcmp(op, "logaddexp")) return ag_logaddexp(x[0], x[1]);
    if (!strcmp(op, "fmod")) return ag_fmod(x[0], x[1]);
    if (!strcmp(op, "remainder")) return ag_remainder(x[0], x[1]);
    if (!strcmp(op, "pow_tensor")) return ag_pow_tensor(x[0], x[1]);
    if (!strcmp(op, "softmax")) return ag_softmax(x[0], -1);
    if (!strcmp(op, "log_softmax")) return ag_log_softmax(x[0], -1);
    if (!strcmp(op, "sum_dim")) return ag_sum_dim(x[0], -1, false);
    if (!strcmp(op, "mean_dim")) return ag_mean_dim(x[0], -1, false);
    if (!strcmp(op, "max_dim")) return ag_max_dim(x[0], -1, false);
    if (!strcmp(op, "min_dim")) return ag_min_dim(x[0], -1, false);
    if (!strcmp(op, "var_dim")) return ag_var_dim(x[0], -1, false, 1);
    if (!strcmp(op, "logsumexp")) return ag_logsumexp(x[0], -1, false);
    if (!strcmp(op, "cumsum")) return ag_cumsum(x[0], -1);
    if (!strcmp(op, "layer_norm")) return ag_layer_norm(x[0], NULL, NULL, p[0]);
    if (!strcmp(op, "cross_entropy")) return rows <= 64 ? ag_cross_entropy(x[0], tg) : NULL;
    if (!strcmp(op, "bce_with_logits")) return ag_bce_with_logits(x[0], x[1]);
    return NULL;
}

int main(void) {
    FILE *f = fopen("tests/data/special_reference.txt", "rb");
    char *buf, *p, *tok;
    long size;
    int cases = 0, kept = 0;
    (void)read_tensor;   /* refdata.h's tensor reader: this file's records are read here */
    CHECK(f != NULL, "tests/data/special_reference.txt (run from the repository root)");
    if (!f) return harness_finish("test_special");
    fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) { fclose(f); CHECK(0, "reading the data"); return harness_finish("test_special"); }
    buf[size] = 0;
    fclose(f);
    p = strchr(buf, '\n');   /* the comment line */
    while (p && (tok = next_tok(&p)) != NULL) {
        char name[64], op[64], dt[8];
        double prm[4] = {0, 0, 0, 0};
        int np, rows, cols, nin = 0, i, k;
        rtensor in[2], out, grad[2];
        ag_ctx *ctx = ag_ctx_new(NULL);
        ag_tensor *x[2], *y;
        bool f32;
        if (strcmp(tok, "case") != 0) { CHECK(0, "expected 'case', got '%s'", tok); break; }
        snprintf(name, sizeof name, "%s", next_tok(&p));
        snprintf(op, sizeof op, "%s", next_tok(&p));
        snprintf(dt, sizeof dt, "%s", next_tok(&p));
        f32 = !strcmp(dt, "f32");
        np = atoi(next_tok(&p));
        for (i = 0; i < np; i++) prm[i] = strtod(next_tok(&p), NULL);
        rows = atoi(next_tok(&p)); cols = atoi(next_tok(&p));
        while ((tok = next_tok(&p)) != NULL && !strcmp(tok, "in")) {
            int64_t n = atoll(next_tok(&p));
            in[nin].ndim = cols > 1 ? 2 : 1;
            in[nin].shape[0] = rows; in[nin].shape[1] = cols; in[nin].n = n;
            in[nin].v = (double *)malloc(sizeof(double) * (size_t)n);
            for (k = 0; k < n; k++) in[nin].v[k] = strtod(next_tok(&p), NULL);
            nin++;
        }
        /* tok is "out" */
        out.n = atoll(next_tok(&p));
        out.v = (double *)malloc(sizeof(double) * (size_t)(out.n ? out.n : 1));
        for (k = 0; k < out.n; k++) out.v[k] = strtod(next_tok(&p), NULL);
        for (i = 0; i < nin; i++) {
            next_tok(&p);   /* "grad" */
            grad[i].n = atoll(next_tok(&p));
            grad[i].v = (double *)malloc(sizeof(double) * (size_t)grad[i].n);
            for (k = 0; k < grad[i].n; k++) grad[i].v[k] = strtod(next_tok(&p), NULL);
        }
        next_tok(&p);   /* "end" */
        for (i = 0; i < nin; i++) {
            ag_tensor *t = ag_from(ctx, AG_F64, in[i].ndim, in[i].shape, in[i].v);
            x[i] = ag_set_requires_grad(ag_detach(ag_to(t, f32 ? AG_F32 : AG_F64)), true);
        }
        y = apply_op(op, x, prm, rows, cols);
        CHECK(y != NULL, "%s %s: %s", name, dt, ag_error(ctx) ? ag_error(ctx) : "no result");
        if (y) {
            CHECK(ag_numel(y) == out.n, "%s %s: %lld outputs, PyTorch %lld", name, dt, (long long)ag_numel(y), (long long)out.n);
            for (k = 0; k < out.n && k < ag_numel(y); k++) {
                double got = ag_numel(y) == 1 ? ag_item(y) : flat_at(y, k);
                if (matches(got, out.v[k], f32, cols > 1)) continue;
                if (known_why(name, dt, "out", k)) { kept++; continue; }
                CHECK(0, "%s %s: out[%d] at input %.17g: %.17g, PyTorch %.17g", name, dt, k, in[0].v[k < in[0].n ? k : 0], got, out.v[k]);
            }
            CHECK(ag_backward(ag_sum(y), NULL) == 0, "%s %s: backward: %s", name, dt, ag_error(ctx) ? ag_error(ctx) : "");
            for (i = 0; i < nin; i++) {
                ag_tensor *g = ag_grad(x[i]);
                for (k = 0; k < grad[i].n && g; k++) {
                    double got = flat_at(g, k);
                    char what[16];
                    snprintf(what, sizeof what, "grad%d", i % 10);
                    if (matches(got, grad[i].v[k], f32, cols > 1)) continue;
                    if (known_why(name, dt, what, k)) { kept++; continue; }
                    CHECK(0, "%s %s: d input %d [%d] at %.17g: %.17g, PyTorch %.17g", name, dt, i, k, in[i].v[k], got, grad[i].v[k]);
                }
            }
        }
        for (i = 0; i < nin; i++) { free(in[i].v); free(grad[i].v); }
        free(out.v);
        ag_ctx_free(ctx);
        cases++;
    }
    free(buf);
    printf("  info: %d cases at special values; %d differences from PyTorch kept on purpose (listed in known[])\n", cases, kept);
    return harness_finish("test_special");
}
