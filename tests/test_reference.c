/* test_reference.c - autograd.h against PyTorch: forward values and gradients.

   Build and run from the repository root:
       cc -std=c99 -O1 -I. tests/test_reference.c -lm -o build/test_reference && ./build/test_reference
   (an argument overrides the data file, default tests/data/reference.txt;
   REF_VERBOSE=1 in the environment prints every run's worst error)

   The data comes from tests/gen_reference.py (Debian's python3-torch, float64);
   its docstring describes the format. Every case is run in F32 and in F64, with
   the inputs contiguous, as transposed views (last two dims) and as strided
   views (every other element of the last dim), and each run is one CHECK:
   the forward output and the gradient of every input that requires grad
   (backward with the recorded seed) must match torch.
   Tolerance, per element, |got - want| <= rtol |want| + atol max(1, max |want|):
       F64: rtol 1e-10, atol 1e-12      F32: rtol 1e-5, atol 1e-6
   The seeds' lab case (op "lab", shared/seeds 004) uses |got - want| <= atol
   max(1, max |want|) with atol 1e-5 in F32 and 1e-10 in F64: scaled by the
   tensor, not the element, because dx = dy @ W sums 600 terms of size ~10
   into entries up to 1564, and torch's own float32 autograd misses the
   per-element form (atol max(1, |want_i|)) by 9x against float64. */
#include "autograd.h"
#include "harness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define REF_MAX_IN 8
#define REF_JUNK (-777.25)   /* fills the skipped elements of strided inputs */

typedef struct {
    int ndim;
    int64_t shape[AG_MAX_DIMS];
    int64_t numel;
    double *v;
    int rg;        /* inputs: requires grad */
} ref_tensor;

typedef struct {
    char name[64], op[32];
    int line;
    int nints, nreals;
    int64_t *ints;
    double *reals;
    int nin, ngrad, has_seed;
    ref_tensor in[REF_MAX_IN], out, seed, grad[REF_MAX_IN];
} ref_case;

/* ==== parsing ==== */

typedef struct { FILE *f; int line; char tok[128]; const char *err; } ref_reader;

/* next whitespace-separated token into r->tok; skips '#' comments; 0 at EOF */
static int ref_next(ref_reader *r) {
    int ch, n = 0;
    for (;;) {
        ch = getc(r->f);
        if (ch == EOF) return 0;
        if (ch == '\n') r->line++;
        else if (ch == '#') { while ((ch = getc(r->f)) != EOF && ch != '\n') {} r->line++; }
        else if (ch != ' ' && ch != '\t' && ch != '\r') break;
    }
    while (ch != EOF && ch != ' ' && ch != '\t' && ch != '\r' && ch != '\n') {
        if (n < (int)sizeof r->tok - 1) r->tok[n++] = (char)ch;
        ch = getc(r->f);
    }
    if (ch == '\n') ungetc(ch, r->f);
    r->tok[n] = 0;
    return 1;
}

static int ref_int(ref_reader *r, int64_t *out) {
    char *end;
    if (!ref_next(r)) { r->err = "unexpected end of file"; return 0; }
    errno = 0;
    *out = (int64_t)strtoll(r->tok, &end, 10);
    if (*end || end == r->tok || errno) { r->err = "bad integer"; return 0; }
    return 1;
}

/* f32: the token is a float32 shortest repr; parse as float so it is that float exactly */
static int ref_real(ref_reader *r, double *out, int f32) {
    char *end;
    if (!ref_next(r)) { r->err = "unexpected end of file"; return 0; }
    *out = f32 ? (double)strtof(r->tok, &end) : strtod(r->tok, &end);
    if (*end || end == r->tok) { r->err = "bad number"; return 0; }
    return 1;
}

static int ref_tensor_read(ref_reader *r, ref_tensor *t, int f32) {
    int64_t v, i;
    if (!ref_int(r, &v)) return 0;
    if (v < 0 || v > AG_MAX_DIMS) { r->err = "bad ndim"; return 0; }
    t->ndim = (int)v;
    t->numel = 1;
    for (i = 0; i < t->ndim; i++) {
        if (!ref_int(r, &t->shape[i])) return 0;
        if (t->shape[i] < 0 || t->shape[i] > (1 << 24)) { r->err = "bad dim"; return 0; }
        t->numel *= t->shape[i];
    }
    t->v = (double *)malloc((size_t)(t->numel ? t->numel : 1) * sizeof(double));
    if (!t->v) { r->err = "out of memory"; return 0; }
    for (i = 0; i < t->numel; i++)
        if (!ref_real(r, &t->v[i], f32)) return 0;
    return 1;
}

static void ref_case_free(ref_case *c) {
    int i;
    free(c->ints); free(c->reals); free(c->out.v); free(c->seed.v);
    for (i = 0; i < c->nin; i++) free(c->in[i].v);
    for (i = 0; i < c->ngrad; i++) free(c->grad[i].v);
    memset(c, 0, sizeof *c);
}

/* one case; 1 ok, 0 at EOF, -1 on error (r->err set) */
static int ref_case_read(ref_reader *r, ref_case *c) {
    int64_t n, i;
    memset(c, 0, sizeof *c);
    if (!ref_next(r)) return 0;
    if (strcmp(r->tok, "case") != 0) { r->err = "expected 'case'"; return -1; }
    c->line = r->line;
    if (!ref_next(r)) { r->err = "unexpected end of file"; return -1; }
    snprintf(c->name, sizeof c->name, "%.63s", r->tok);
    if (!ref_next(r)) { r->err = "unexpected end of file"; return -1; }
    snprintf(c->op, sizeof c->op, "%.31s", r->tok);
    for (;;) {
        if (!ref_next(r)) { r->err = "unexpected end of file"; return -1; }
        if (!strcmp(r->tok, "end")) break;
        if (!strcmp(r->tok, "ints")) {
            if (!ref_int(r, &n) || n < 0 || n > 1024) { r->err = r->err ? r->err : "bad count"; return -1; }
            c->nints = (int)n;
            c->ints = (int64_t *)malloc((size_t)(n + 1) * sizeof(int64_t));
            for (i = 0; i < n; i++) if (!ref_int(r, &c->ints[i])) return -1;
        } else if (!strcmp(r->tok, "reals")) {
            if (!ref_int(r, &n) || n < 0 || n > 1024) { r->err = r->err ? r->err : "bad count"; return -1; }
            c->nreals = (int)n;
            c->reals = (double *)malloc((size_t)(n + 1) * sizeof(double));
            for (i = 0; i < n; i++) if (!ref_real(r, &c->reals[i], 0)) return -1;
        } else if (!strcmp(r->tok, "in")) {
            if (c->nin == REF_MAX_IN) { r->err = "too many inputs"; return -1; }
            if (!ref_int(r, &n)) return -1;
            c->in[c->nin].rg = n != 0;
            if (!ref_tensor_read(r, &c->in[c->nin++], 1)) return -1;
        } else if (!strcmp(r->tok, "out")) {
            if (!ref_tensor_read(r, &c->out, 0)) return -1;
        } else if (!strcmp(r->tok, "seed")) {
            c->has_seed = 1;
            if (!ref_tensor_read(r, &c->seed, 1)) return -1;
        } else if (!strcmp(r->tok, "grad")) {
            if (c->ngrad == REF_MAX_IN) { r->err = "too many grads"; return -1; }
            if (!ref_tensor_read(r, &c->grad[c->ngrad++], 0)) return -1;
        } else {
            r->err = "unknown record";
            return -1;
        }
    }
    return 1;
}

/* ==== ops: data-file names to calls ==== */

typedef ag_tensor *(*ref_un)(ag_tensor *);
typedef ag_tensor *(*ref_bin)(ag_tensor *, ag_tensor *);
typedef ag_tensor *(*ref_unr)(ag_tensor *, double);
typedef ag_tensor *(*ref_dimk)(ag_tensor *, int, bool);
typedef ag_tensor *(*ref_dim)(ag_tensor *, int);

/* the regular ops: one call shape each. ints/reals they take are listed in gen_reference.py */
static const struct ref_op {
    const char *name;
    ref_un un;       /* f(x) */
    ref_bin bin;     /* f(a, b) */
    ref_unr unr;     /* f(x, reals[0]) */
    ref_dimk dimk;   /* f(x, ints[0], ints[1]) */
    ref_dim dim;     /* f(x, ints[0]) */
} ref_ops[] = {
    {"add", 0, ag_add, 0, 0, 0},          {"sub", 0, ag_sub, 0, 0, 0},
    {"mul", 0, ag_mul, 0, 0, 0},          {"div", 0, ag_div, 0, 0, 0},
    {"maximum", 0, ag_maximum, 0, 0, 0},  {"minimum", 0, ag_minimum, 0, 0, 0},
    {"atan2", 0, ag_atan2, 0, 0, 0},      {"hypot", 0, ag_hypot, 0, 0, 0},
    {"logaddexp", 0, ag_logaddexp, 0, 0, 0}, {"fmod", 0, ag_fmod, 0, 0, 0},
    {"remainder", 0, ag_remainder, 0, 0, 0}, {"pow_tensor", 0, ag_pow_tensor, 0, 0, 0},
    {"rsub_scalar", 0, 0, ag_rsub_scalar, 0, 0}, {"rdiv_scalar", 0, 0, ag_rdiv_scalar, 0, 0},
    {"rpow_scalar", 0, 0, ag_rpow_scalar, 0, 0}, {"sign", ag_sign, 0, 0, 0, 0},
    {"matmul", 0, ag_matmul, 0, 0, 0},    {"mse_loss", 0, ag_mse_loss, 0, 0, 0},
    {"bce_with_logits", 0, ag_bce_with_logits, 0, 0, 0},
    {"neg", ag_neg, 0, 0, 0, 0},          {"exp", ag_exp, 0, 0, 0, 0},
    {"log", ag_log, 0, 0, 0, 0},          {"sqrt", ag_sqrt, 0, 0, 0, 0},
    {"abs", ag_abs, 0, 0, 0, 0},          {"tanh", ag_tanh, 0, 0, 0, 0},
    {"sigmoid", ag_sigmoid, 0, 0, 0, 0},  {"relu", ag_relu, 0, 0, 0, 0},
    {"gelu", ag_gelu, 0, 0, 0, 0},        {"gelu_tanh", ag_gelu_tanh, 0, 0, 0, 0},
    {"silu", ag_silu, 0, 0, 0, 0},        {"erf", ag_erf, 0, 0, 0, 0},
    {"sin", ag_sin, 0, 0, 0, 0},          {"cos", ag_cos, 0, 0, 0, 0},
    {"tan", ag_tan, 0, 0, 0, 0},          {"asin", ag_asin, 0, 0, 0, 0},
    {"acos", ag_acos, 0, 0, 0, 0},        {"atan", ag_atan, 0, 0, 0, 0},
    {"sinh", ag_sinh, 0, 0, 0, 0},        {"cosh", ag_cosh, 0, 0, 0, 0},
    {"asinh", ag_asinh, 0, 0, 0, 0},      {"acosh", ag_acosh, 0, 0, 0, 0},
    {"atanh", ag_atanh, 0, 0, 0, 0},      {"log2", ag_log2, 0, 0, 0, 0},
    {"log10", ag_log10, 0, 0, 0, 0},      {"log1p", ag_log1p, 0, 0, 0, 0},
    {"exp2", ag_exp2, 0, 0, 0, 0},        {"expm1", ag_expm1, 0, 0, 0, 0},
    {"rsqrt", ag_rsqrt, 0, 0, 0, 0},      {"reciprocal", ag_reciprocal, 0, 0, 0, 0},
    {"square", ag_square, 0, 0, 0, 0},    {"floor", ag_floor, 0, 0, 0, 0},
    {"ceil", ag_ceil, 0, 0, 0, 0},        {"round", ag_round, 0, 0, 0, 0},
    {"trunc", ag_trunc, 0, 0, 0, 0},      {"frac", ag_frac, 0, 0, 0, 0},
    {"softsign", ag_softsign, 0, 0, 0, 0}, {"logsigmoid", ag_logsigmoid, 0, 0, 0, 0},
    {"selu", ag_selu, 0, 0, 0, 0},        {"relu6", ag_relu6, 0, 0, 0, 0},
    {"hardsigmoid", ag_hardsigmoid, 0, 0, 0, 0}, {"hardswish", ag_hardswish, 0, 0, 0, 0},
    {"mish", ag_mish, 0, 0, 0, 0},
    {"elu", 0, 0, ag_elu, 0, 0},          {"celu", 0, 0, ag_celu, 0, 0},
    {"sum", ag_sum, 0, 0, 0, 0},          {"mean", ag_mean, 0, 0, 0, 0},
    {"max", ag_max, 0, 0, 0, 0},          {"min", ag_min, 0, 0, 0, 0},
    {"contiguous", ag_contiguous, 0, 0, 0, 0},
    {"pow", 0, 0, ag_pow, 0, 0},          {"add_scalar", 0, 0, ag_add_scalar, 0, 0},
    {"mul_scalar", 0, 0, ag_mul_scalar, 0, 0},
    {"leaky_relu", 0, 0, ag_leaky_relu, 0, 0},
    {"sum_dim", 0, 0, 0, ag_sum_dim, 0},  {"mean_dim", 0, 0, 0, ag_mean_dim, 0},
    {"max_dim", 0, 0, 0, ag_max_dim, 0},  {"min_dim", 0, 0, 0, ag_min_dim, 0},
    {"argmax", 0, 0, 0, ag_argmax, 0},    {"argmin", 0, 0, 0, ag_argmin, 0},
    {"logsumexp", 0, 0, 0, ag_logsumexp, 0},
    {"cumsum", 0, 0, 0, 0, ag_cumsum},
    {"tril", 0, 0, 0, 0, ag_tril},        {"triu", 0, 0, 0, 0, ag_triu},
    {"squeeze", 0, 0, 0, 0, ag_squeeze},  {"unsqueeze", 0, 0, 0, 0, ag_unsqueeze},
    {"softmax", 0, 0, 0, 0, ag_softmax},  {"log_softmax", 0, 0, 0, 0, ag_log_softmax},
};

/* why a case cannot be built (a malformed data file), or NULL */
static const char *ref_need(const ref_case *c, int nin, int nints, int nreals) {
    if (nin >= 0 && c->nin != nin) return "wrong number of inputs";
    if (nints >= 0 && c->nints < nints) return "too few ints";
    if (nreals >= 0 && c->nreals < nreals) return "too few reals";
    return NULL;
}

/* builds the case's output from its inputs x; *bad says why not for a malformed case */
static ag_tensor *ref_apply(const ref_case *c, ag_tensor **x, const char **bad) {
    const char *op = c->op;
    const int64_t *I = c->ints;
    const double *R = c->reals;
    size_t k;
    int i;
    for (k = 0; k < sizeof ref_ops / sizeof ref_ops[0]; k++) {
        const struct ref_op *o = &ref_ops[k];
        if (strcmp(op, o->name) != 0) continue;
        if (o->un) { if ((*bad = ref_need(c, 1, 0, 0))) return NULL; return o->un(x[0]); }
        if (o->bin) { if ((*bad = ref_need(c, 2, 0, 0))) return NULL; return o->bin(x[0], x[1]); }
        if (o->unr) { if ((*bad = ref_need(c, 1, 0, 1))) return NULL; return o->unr(x[0], R[0]); }
        if (o->dimk) { if ((*bad = ref_need(c, 1, 2, 0))) return NULL; return o->dimk(x[0], (int)I[0], I[1] != 0); }
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        return o->dim(x[0], (int)I[0]);
    }
    if (!strcmp(op, "lerp")) {
        if ((*bad = ref_need(c, 3, 0, 0))) return NULL;
        return ag_lerp(x[0], x[1], x[2]);
    }
    if (!strcmp(op, "hardtanh")) {
        if ((*bad = ref_need(c, 1, 0, 2))) return NULL;
        return ag_hardtanh(x[0], R[0], R[1]);
    }
    if (!strcmp(op, "softplus")) {
        if ((*bad = ref_need(c, 1, 0, 2))) return NULL;
        return ag_softplus(x[0], R[0], R[1]);
    }
    if (!strcmp(op, "clamp")) {
        if ((*bad = ref_need(c, 1, 0, 2))) return NULL;
        return ag_clamp(x[0], R[0], R[1]);
    }
    if (!strcmp(op, "var")) {
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        return ag_var(x[0], (int)I[0]);
    }
    if (!strcmp(op, "std_dim")) {
        if ((*bad = ref_need(c, 1, 3, 0))) return NULL;
        return ag_std_dim(x[0], (int)I[0], I[1] != 0, (int)I[2]);
    }
    if (!strcmp(op, "var_dim")) {
        if ((*bad = ref_need(c, 1, 3, 0))) return NULL;
        return ag_var_dim(x[0], (int)I[0], I[1] != 0, (int)I[2]);
    }
    if (!strcmp(op, "mul_self")) {
        if ((*bad = ref_need(c, 1, 0, 0))) return NULL;
        return ag_mul(x[0], x[0]);
    }
    if (!strcmp(op, "linear")) {
        if (c->nin != 2 && c->nin != 3) { *bad = "linear takes 2 or 3 inputs"; return NULL; }
        return ag_linear(x[0], x[1], c->nin == 3 ? x[2] : NULL);
    }
    if (!strcmp(op, "reshape") || !strcmp(op, "expand")) {
        if ((*bad = ref_need(c, 1, 0, 0))) return NULL;
        if (c->nints > AG_MAX_DIMS) { *bad = "shape too long"; return NULL; }
        return op[0] == 'r' ? ag_reshape(x[0], c->nints, I) : ag_expand(x[0], c->nints, I);
    }
    if (!strcmp(op, "transpose")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        return ag_transpose(x[0], (int)I[0], (int)I[1]);
    }
    if (!strcmp(op, "roll")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        return ag_roll(x[0], I[0], (int)I[1]);
    }
    if (!strcmp(op, "flip")) {
        int dims[AG_MAX_DIMS];
        if ((*bad = ref_need(c, 1, c->nints, 0))) return NULL;
        if (c->nints < 1 || I[0] != c->nints - 1 || I[0] > AG_MAX_DIMS) { *bad = "flip: ints are [ndims, dims...]"; return NULL; }
        for (i = 0; i < (int)I[0]; i++) dims[i] = (int)I[i + 1];
        return ag_flip(x[0], (int)I[0], dims);
    }
    if (!strcmp(op, "permute")) {
        int perm[AG_MAX_DIMS];
        if ((*bad = ref_need(c, 1, 0, 0))) return NULL;
        if (c->nints > AG_MAX_DIMS) { *bad = "perm too long"; return NULL; }
        for (i = 0; i < c->nints; i++) perm[i] = (int)I[i];
        return ag_permute(x[0], perm);
    }
    if (!strcmp(op, "slice")) {
        if ((*bad = ref_need(c, 1, 4, 0))) return NULL;
        return ag_slice(x[0], (int)I[0], I[1], I[2], I[3]);
    }
    if (!strcmp(op, "narrow")) {
        if ((*bad = ref_need(c, 1, 3, 0))) return NULL;
        return ag_narrow(x[0], (int)I[0], I[1], I[2]);
    }
    if (!strcmp(op, "cat") || !strcmp(op, "stack")) {
        if ((*bad = ref_need(c, -1, 1, 0))) return NULL;
        return op[0] == 'c' ? ag_cat(x, c->nin, (int)I[0]) : ag_stack(x, c->nin, (int)I[0]);
    }
    if (!strcmp(op, "gather_rows") || !strcmp(op, "cross_entropy")) {
        int32_t idx[1024];
        ag_tensor *r;
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        for (i = 0; i < c->nints; i++) idx[i] = (int32_t)I[i];
        r = op[0] == 'g' ? ag_gather_rows(x[0], c->nints, idx) : ag_cross_entropy(x[0], idx);
        return r;
    }
    if (!strcmp(op, "layer_norm")) {
        ag_tensor *w, *b;
        if ((*bad = ref_need(c, -1, 2, 1))) return NULL;
        if (c->nin != 1 + (I[0] != 0) + (I[1] != 0)) { *bad = "layer_norm: inputs do not match flags"; return NULL; }
        w = I[0] ? x[1] : NULL;
        b = I[1] ? x[c->nin - 1] : NULL;
        return ag_layer_norm(x[0], w, b, R[0]);
    }
    if (!strcmp(op, "to")) {
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        return ag_to(x[0], I[0] ? AG_F64 : AG_F32);
    }
    if (!strcmp(op, "composite")) {
        /* tanh(softmax(a @ w, -1) @ w^T + a).mean(0) */
        if ((*bad = ref_need(c, 2, 0, 0))) return NULL;
        return ag_mean_dim(ag_tanh(ag_add(ag_matmul(ag_softmax(ag_matmul(x[0], x[1]), -1),
                                                    ag_transpose(x[1], 0, 1)), x[0])), 0, false);
    }
    if (!strcmp(op, "lab")) {
        /* L = 0.5 * sum((linear(x, W, b) - t)^2) */
        if ((*bad = ref_need(c, 4, 0, 0))) return NULL;
        return ag_mul_scalar(ag_sum(ag_pow(ag_sub(ag_linear(x[0], x[1], x[2]), x[3]), 2.0)), 0.5);
    }
    /* built from other ops (gen_reference.py lists their ints and reals) */
    if (!strcmp(op, "select") || !strcmp(op, "flatten") || !strcmp(op, "movedim")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        return op[0] == 's' ? ag_select(x[0], (int)I[0], I[1]) : op[0] == 'f' ? ag_flatten(x[0], (int)I[0], (int)I[1])
                            : ag_movedim(x[0], (int)I[0], (int)I[1]);
    }
    if (!strcmp(op, "unflatten")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        return ag_unflatten(x[0], (int)I[0], c->nints - 1, I + 1);
    }
    if (!strcmp(op, "split") || !strcmp(op, "chunk") || !strcmp(op, "unbind")) {   /* the pieces reversed, put back together */
        ag_tensor *o[16], *r[16];
        int n, d = (int)I[0];
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        if (c->nints > 17) { *bad = "too many pieces"; return NULL; }
        n = op[0] == 's' ? ag_split(x[0], c->nints - 1, I + 1, d, o)
          : op[0] == 'c' ? (c->nints < 2 || I[1] > 16 ? -1 : ag_chunk(x[0], (int)I[1], d, o))
          : (x[0] && ag_dim(x[0], d) > 16 ? -1 : ag_unbind(x[0], d, o));
        if (n < 1) return NULL;
        for (i = 0; i < n; i++) r[i] = o[n - 1 - i];
        return op[0] == 'u' ? ag_stack(r, n, d) : ag_cat(r, n, d);
    }
    if (!strcmp(op, "repeat")) return ag_repeat(x[0], c->nints, I);
    if (!strcmp(op, "sum_dims") || !strcmp(op, "mean_dims") || !strcmp(op, "norm")) {
        int dims[AG_MAX_DIMS];
        if ((*bad = ref_need(c, 1, 1, op[0] == 'n' ? 1 : 0))) return NULL;
        if (c->nints > AG_MAX_DIMS + 1) { *bad = "too many dims"; return NULL; }
        for (i = 1; i < c->nints; i++) dims[i - 1] = (int)I[i];
        if (op[0] == 'n') return ag_norm_dims(x[0], R[0], c->nints - 1, dims, I[0] != 0);
        return op[0] == 's' ? ag_sum_dims(x[0], c->nints - 1, dims, I[0] != 0) : ag_mean_dims(x[0], c->nints - 1, dims, I[0] != 0);
    }
    if (!strcmp(op, "prelu")) { if ((*bad = ref_need(c, 2, 0, 0))) return NULL; return ag_prelu(x[0], x[1]); }
    if (!strcmp(op, "glu")) { if ((*bad = ref_need(c, 1, 1, 0))) return NULL; return ag_glu(x[0], (int)I[0]); }
    if (!strcmp(op, "normalize")) { if ((*bad = ref_need(c, 1, 1, 2))) return NULL; return ag_normalize(x[0], R[0], (int)I[0], R[1]); }
    if (!strcmp(op, "cosine_similarity")) { if ((*bad = ref_need(c, 2, 1, 1))) return NULL; return ag_cosine_similarity(x[0], x[1], (int)I[0], R[0]); }
    if (!strcmp(op, "pairwise_distance")) { if ((*bad = ref_need(c, 2, 0, 2))) return NULL; return ag_pairwise_distance(x[0], x[1], R[0], R[1]); }
    if (!strcmp(op, "rms_norm")) {
        if ((*bad = ref_need(c, -1, 0, 1))) return NULL;
        return ag_rms_norm(x[0], c->nin > 1 ? x[1] : NULL, R[0]);
    }
    if (!strcmp(op, "mse_loss_ex")) { if ((*bad = ref_need(c, 2, 1, 0))) return NULL; return ag_mse_loss_ex(x[0], x[1], (ag_reduction)I[0]); }
    if (!strcmp(op, "l1_loss") || !strcmp(op, "bce_loss")) {
        if ((*bad = ref_need(c, 2, 1, 0))) return NULL;
        return op[0] == 'l' ? ag_l1_loss(x[0], x[1], (ag_reduction)I[0]) : ag_bce_loss(x[0], x[1], (ag_reduction)I[0]);
    }
    if (!strcmp(op, "smooth_l1_loss") || !strcmp(op, "huber_loss")) {
        if ((*bad = ref_need(c, 2, 1, 1))) return NULL;
        return op[0] == 's' ? ag_smooth_l1_loss(x[0], x[1], R[0], (ag_reduction)I[0]) : ag_huber_loss(x[0], x[1], R[0], (ag_reduction)I[0]);
    }
    if (!strcmp(op, "kl_div")) { if ((*bad = ref_need(c, 2, 2, 0))) return NULL; return ag_kl_div(x[0], x[1], (ag_reduction)I[0], I[1] != 0); }
    if (!strcmp(op, "nll_loss")) {
        int32_t idx[64];
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        if (c->nints > 65) { *bad = "too many targets"; return NULL; }
        for (i = 1; i < c->nints; i++) idx[i - 1] = (int32_t)I[i];
        return ag_nll_loss(x[0], idx, (ag_reduction)I[0]);
    }
    if (!strcmp(op, "lstm_cell")) {   /* h' + 0.7 c' */
        ag_tensor *h2, *c2;
        if (c->nin != 5 && c->nin != 7) { *bad = "lstm_cell takes 5 or 7 inputs"; return NULL; }
        if (ag_lstm_cell(x[0], x[1], x[2], x[3], x[4], c->nin == 7 ? x[5] : NULL, c->nin == 7 ? x[6] : NULL, &h2, &c2) != 0) return NULL;
        return ag_add(h2, ag_mul_scalar(c2, 0.7));
    }
    if (!strcmp(op, "gru_cell")) {
        if (c->nin != 4 && c->nin != 6) { *bad = "gru_cell takes 4 or 6 inputs"; return NULL; }
        return ag_gru_cell(x[0], x[1], x[2], x[3], c->nin == 6 ? x[4] : NULL, c->nin == 6 ? x[5] : NULL);
    }
    if (!strcmp(op, "sort") || !strcmp(op, "argsort")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        return op[0] == 's' ? ag_sort(x[0], (int)I[0], I[1] != 0, NULL) : ag_argsort(x[0], (int)I[0], I[1] != 0);
    }
    if (!strcmp(op, "topk") || !strcmp(op, "kthvalue")) {
        if ((*bad = ref_need(c, 1, 3, 0))) return NULL;
        return op[0] == 't' ? ag_topk(x[0], I[0], (int)I[1], I[2] != 0, NULL) : ag_kthvalue(x[0], I[0], (int)I[1], I[2] != 0, NULL);
    }
    if (!strcmp(op, "median_dim")) { if ((*bad = ref_need(c, 1, 2, 0))) return NULL; return ag_median_dim(x[0], (int)I[0], I[1] != 0, NULL); }
    if (!strcmp(op, "median")) { if ((*bad = ref_need(c, 1, 0, 0))) return NULL; return ag_median(x[0]); }
    if (!strcmp(op, "gather")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        if (I[1] < 0 || I[1] > AG_MAX_DIMS || c->nints < 2 + I[1]) { *bad = "gather: ints are [dim, ndim, shape..., index...]"; return NULL; }
        return ag_gather(x[0], (int)I[0], (int)I[1], I + 2, I + 2 + I[1]);
    }
    if (!strcmp(op, "index_select")) { if ((*bad = ref_need(c, 1, 1, 0))) return NULL; return ag_index_select(x[0], (int)I[0], c->nints - 1, I + 1); }
    if (!strcmp(op, "scatter_add")) { if ((*bad = ref_need(c, 2, 1, 0))) return NULL; return ag_scatter_add(x[0], (int)I[0], I + 1, x[1]); }
    if (!strcmp(op, "squeeze_all")) { if ((*bad = ref_need(c, 1, 0, 0))) return NULL; return ag_squeeze_all(x[0]); }
    if (!strcmp(op, "tile")) { if ((*bad = ref_need(c, 1, 0, 0))) return NULL; return ag_tile(x[0], c->nints, I); }
    if (!strcmp(op, "repeat_interleave")) { if ((*bad = ref_need(c, 1, 2, 0))) return NULL; return ag_repeat_interleave(x[0], I[0], (int)I[1]); }
    if (!strcmp(op, "diagonal")) { if ((*bad = ref_need(c, 1, 3, 0))) return NULL; return ag_diagonal(x[0], I[0], (int)I[1], (int)I[2]); }
    if (!strcmp(op, "diag")) { if ((*bad = ref_need(c, 1, 1, 0))) return NULL; return ag_diag(x[0], I[0]); }
    if (!strcmp(op, "trace")) { if ((*bad = ref_need(c, 1, 0, 0))) return NULL; return ag_trace(x[0]); }
    if (!strcmp(op, "pad")) { if ((*bad = ref_need(c, 1, 1, 1))) return NULL; return ag_pad(x[0], c->nints - 1, I + 1, (ag_pad_mode)I[0], R[0]); }
    if (!strcmp(op, "prod")) { if ((*bad = ref_need(c, 1, 0, 0))) return NULL; return ag_prod(x[0]); }
    if (!strcmp(op, "prod_dim")) { if ((*bad = ref_need(c, 1, 2, 0))) return NULL; return ag_prod_dim(x[0], (int)I[0], I[1] != 0); }
    if (!strcmp(op, "cumprod") || !strcmp(op, "cummax") || !strcmp(op, "cummin")) {
        if ((*bad = ref_need(c, 1, 1, 0))) return NULL;
        return op[3] == 'p' ? ag_cumprod(x[0], (int)I[0]) : op[4] == 'a' ? ag_cummax(x[0], (int)I[0], NULL) : ag_cummin(x[0], (int)I[0], NULL);
    }
    if (!strcmp(op, "einsum")) {
        static const char *const specs[] = {"ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ii->", "ij->ji", "ik,jkl,il->ij", "ii->i", "ij,ij->i", "ij", "bn,anm,bm->ba"};
        if ((*bad = ref_need(c, -1, 1, 0))) return NULL;
        if (I[0] < 0 || I[0] >= (int64_t)(sizeof specs / sizeof specs[0])) { *bad = "einsum: unknown spec"; return NULL; }
        return ag_einsum(specs[I[0]], c->nin, x);
    }
    if (!strcmp(op, "eye") || !strcmp(op, "linspace") || !strcmp(op, "logspace")) {   /* x[0] only lends its context and dtype */
        ag_ctx *ctx = ag_context(x[0]);
        ag_dtype dt = ag_type(x[0]);
        if (op[0] == 'e') { if ((*bad = ref_need(c, 1, 2, 0))) return NULL; return ag_eye(ctx, dt, I[0], I[1]); }
        if (op[1] == 'i') { if ((*bad = ref_need(c, 1, 1, 2))) return NULL; return ag_linspace(ctx, dt, R[0], R[1], I[0]); }
        if ((*bad = ref_need(c, 1, 1, 3))) return NULL;
        return ag_logspace(ctx, dt, R[0], R[1], I[0], R[2]);
    }
    if (!strcmp(op, "meshgrid")) {
        ag_tensor *o[2];
        if ((*bad = ref_need(c, 2, 1, 0))) return NULL;
        if (ag_meshgrid(2, x, I[0] != 0, o) != 2) return NULL;
        return ag_mul(o[0], ag_exp(o[1]));
    }
    if (!strcmp(op, "max_pool2d_ex") || !strcmp(op, "avg_pool2d_ex")) {
        ag_pool2d_opts o;
        if ((*bad = ref_need(c, 1, 6, 0))) return NULL;
        memset(&o, 0, sizeof o);
        o.kh = o.kw = (int)I[0]; o.stride_h = o.stride_w = (int)I[1]; o.pad_h = o.pad_w = (int)I[2]; o.dil_h = o.dil_w = (int)I[3];
        o.ceil_mode = I[4] != 0; o.exclude_pad = I[5] != 0;
        return op[0] == 'm' ? ag_max_pool2d_ex(x[0], &o) : ag_avg_pool2d_ex(x[0], &o);
    }
    if (!strcmp(op, "adaptive_avg_pool2d") || !strcmp(op, "adaptive_max_pool2d")) {
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        return op[9] == 'a' ? ag_adaptive_avg_pool2d(x[0], I[0], I[1]) : ag_adaptive_max_pool2d(x[0], I[0], I[1]);
    }
    if (!strcmp(op, "conv1d")) {
        if ((*bad = ref_need(c, -1, 4, 0))) return NULL;
        return ag_conv1d(x[0], x[1], c->nin > 2 ? x[2] : NULL, (int)I[0], (int)I[1], (int)I[2], (int)I[3]);
    }
    if (!strcmp(op, "conv_transpose2d") || !strcmp(op, "conv_transpose1d")) {
        ag_conv_transpose2d_opts o;
        if ((*bad = ref_need(c, -1, 5, 0))) return NULL;
        if (op[14] == '1') return ag_conv_transpose1d(x[0], x[1], c->nin > 2 ? x[2] : NULL, (int)I[0], (int)I[1], (int)I[2], (int)I[3], (int)I[4]);
        memset(&o, 0, sizeof o);
        o.stride_h = o.stride_w = (int)I[0]; o.pad_h = o.pad_w = (int)I[1]; o.output_pad_h = o.output_pad_w = (int)I[2];
        o.dil_h = o.dil_w = (int)I[3]; o.groups = (int)I[4];
        return ag_conv_transpose2d(x[0], x[1], c->nin > 2 ? x[2] : NULL, &o);
    }
    if (!strcmp(op, "group_norm")) { if ((*bad = ref_need(c, -1, 1, 0))) return NULL; return ag_group_norm(x[0], (int)I[0], c->nin > 1 ? x[1] : NULL, c->nin > 2 ? x[2] : NULL, 1e-5); }
    if (!strcmp(op, "instance_norm")) { if ((*bad = ref_need(c, -1, 0, 0))) return NULL; return ag_instance_norm(x[0], c->nin > 1 ? x[1] : NULL, c->nin > 2 ? x[2] : NULL, 1e-5); }
    if (!strcmp(op, "sdpa")) {
        ag_sdpa_opts o;
        if ((*bad = ref_need(c, -1, 2, 0))) return NULL;
        memset(&o, 0, sizeof o);
        o.is_causal = I[0] != 0;
        if (I[1] && c->nin > 3) { o.attn_mask = I[1] == 2 ? ag_relu(x[3]) : x[3]; o.mask_keeps = I[1] == 2; }   /* relu: > 0 kept */
        return ag_scaled_dot_product_attention(x[0], x[1], x[2], &o);
    }
    if (!strcmp(op, "interpolate")) { if ((*bad = ref_need(c, 1, 4, 0))) return NULL; return ag_interpolate(x[0], I[0], I[1], (ag_interp_mode)I[2], I[3] != 0); }
    if (!strcmp(op, "cross_entropy_ex")) {
        ag_cross_entropy_opts o;
        int32_t tg[64];
        if ((*bad = ref_need(c, -1, 3, 1))) return NULL;
        if (c->nints > 66) { *bad = "too many targets"; return NULL; }
        for (i = 2; i < c->nints; i++) tg[i - 2] = (int32_t)I[i];
        memset(&o, 0, sizeof o);
        o.reduction = (ag_reduction)I[0]; o.ignore_index = I[1]; o.label_smoothing = R[0]; o.weight = c->nin > 1 ? x[1] : NULL;
        return ag_cross_entropy_ex(x[0], tg, &o);
    }
    if (!strcmp(op, "cross_entropy_probs")) {
        ag_cross_entropy_opts o;
        if ((*bad = ref_need(c, -1, 1, 1))) return NULL;
        memset(&o, 0, sizeof o);
        o.reduction = (ag_reduction)I[0]; o.label_smoothing = R[0]; o.weight = c->nin > 2 ? x[2] : NULL; o.ignore_index = -100;
        return ag_cross_entropy_probs(x[0], x[1], &o);
    }
    if (!strcmp(op, "bce_with_logits_ex")) {
        if ((*bad = ref_need(c, -1, 1, 0))) return NULL;
        return ag_bce_with_logits_ex(x[0], x[1], c->nin > 2 ? x[2] : NULL, c->nin > 3 ? x[3] : NULL, (ag_reduction)I[0]);
    }
    if (!strcmp(op, "scatter")) { if ((*bad = ref_need(c, 2, 1, 0))) return NULL; return ag_scatter(x[0], (int)I[0], I + 1, x[1]); }
    if (!strcmp(op, "cumargmax")) {
        ag_tensor *idx = NULL;
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        if (!(I[1] ? ag_cummin(x[0], (int)I[0], &idx) : ag_cummax(x[0], (int)I[0], &idx))) return NULL;
        return idx;
    }
    if (!strcmp(op, "max_pool2d_indices") || !strcmp(op, "max_unpool2d")) {
        ag_pool2d_opts o;
        if ((*bad = ref_need(c, 1, 2, 0))) return NULL;
        memset(&o, 0, sizeof o);
        o.kh = o.kw = (int)I[0]; o.stride_h = o.stride_w = (int)I[1];
        if (!strcmp(op, "max_pool2d_indices")) {
            if ((*bad = ref_need(c, 1, 5, 0))) return NULL;
            o.pad_h = o.pad_w = (int)I[2]; o.dil_h = o.dil_w = (int)I[3]; o.ceil_mode = I[4] != 0;
            return ag_max_pool2d_indices(x[0], &o);
        }
        return ag_max_unpool2d(ag_max_pool2d_ex(x[0], &o), ag_max_pool2d_indices(x[0], &o), ag_dim(x[0], 2), ag_dim(x[0], 3));
    }
    *bad = "unknown op";
    return NULL;
}

/* ==== layouts: how an input is handed to the op ==== */

enum { REF_CONTIG, REF_TRANSPOSED, REF_STRIDED, REF_NLAYOUTS };
static const char *const ref_layout_name[] = {"contiguous", "transposed-view", "strided-view"};

/* the layout an input of ndim dims actually gets under a run's layout */
static int ref_mode(int layout, int ndim) {
    if (layout == REF_TRANSPOSED && ndim >= 2) return REF_TRANSPOSED;
    if (layout == REF_STRIDED && ndim >= 1) return REF_STRIDED;
    return REF_CONTIG;
}

/* the leaf's shape for mode; returns its numel */
static int64_t ref_leaf_shape(const ref_tensor *t, int mode, int64_t *ls) {
    int i, nd = t->ndim;
    int64_t n = 1, tmp;
    for (i = 0; i < nd; i++) ls[i] = t->shape[i];
    if (mode == REF_TRANSPOSED) { tmp = ls[nd - 1]; ls[nd - 1] = ls[nd - 2]; ls[nd - 2] = tmp; }
    if (mode == REF_STRIDED) ls[nd - 1] *= 2;
    for (i = 0; i < nd; i++) n *= ls[i];
    return n;
}

/* row-major index i of the logical tensor t -> row-major index in the leaf */
static int64_t ref_leaf_index(const ref_tensor *t, int mode, int64_t i) {
    int64_t idx[AG_MAX_DIMS], ls[AG_MAX_DIMS], tmp, off = 0;
    int d, nd = t->ndim;
    for (d = nd - 1; d >= 0; d--) { idx[d] = i % t->shape[d]; i /= t->shape[d]; }
    ref_leaf_shape(t, mode, ls);
    if (mode == REF_TRANSPOSED) { tmp = idx[nd - 1]; idx[nd - 1] = idx[nd - 2]; idx[nd - 2] = tmp; }
    if (mode == REF_STRIDED) idx[nd - 1] = 2 * idx[nd - 1] + 1;
    for (d = 0; d < nd; d++) off = off * ls[d] + idx[d];
    return off;
}

/* a tensor of dtype dt holding n doubles v */
static ag_tensor *ref_from(ag_ctx *ctx, ag_dtype dt, int nd, const int64_t *shape, const double *v, int64_t n) {
    ag_tensor *t;
    int64_t i;
    if (dt == AG_F64) return ag_from(ctx, dt, nd, shape, v);
    {
        float *f = (float *)malloc((size_t)(n ? n : 1) * sizeof(float));
        if (!f) return NULL;
        for (i = 0; i < n; i++) f[i] = (float)v[i];
        t = ag_from(ctx, dt, nd, shape, f);
        free(f);
    }
    return t;
}

/* the input as the op sees it; *leaf is the tensor that gets the gradient */
static ag_tensor *ref_input(ag_ctx *ctx, const ref_tensor *t, ag_dtype dt, int mode, ag_tensor **leaf) {
    int64_t ls[AG_MAX_DIMS], n, i;
    double *buf;
    int nd = t->ndim;
    n = ref_leaf_shape(t, mode, ls);
    buf = (double *)malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!buf) return NULL;
    for (i = 0; i < n; i++) buf[i] = REF_JUNK;
    for (i = 0; i < t->numel; i++) buf[ref_leaf_index(t, mode, i)] = t->v[i];
    *leaf = ref_from(ctx, dt, nd, ls, buf, n);
    free(buf);
    if (!*leaf) return NULL;
    if (t->rg && !ag_set_requires_grad(*leaf, true)) return NULL;
    if (mode == REF_TRANSPOSED) return ag_transpose(*leaf, -1, -2);
    if (mode == REF_STRIDED) return ag_slice(*leaf, -1, 1, ls[nd - 1], 2);
    return *leaf;
}

/* ==== comparison ==== */

typedef struct { double rtol, atol; } ref_tol;

typedef struct {
    int ok;
    double worst;          /* worst err / tol */
    double worst_abs;      /* its |got - want| */
    double got, want;
    int64_t index;
    char where[32];
    char problem[400];     /* a failure that is not a number (shape, NULL, error) */
    char summary[256];     /* max |got - want| per compared tensor */
} ref_result;

/* appends src to dst (of size n), truncating */
static void ref_append(char *dst, size_t n, const char *src) {
    size_t len = strlen(dst);
    while (*src && len + 1 < n) dst[len++] = *src++;
    dst[len] = 0;
}

/* the first non-numeric failure of a run: what went wrong, and the library's message */
static void ref_problem(ref_result *res, const char *what, const char *detail) {
    if (!res->problem[0]) {
        ref_append(res->problem, sizeof res->problem, what);
        ref_append(res->problem, sizeof res->problem, ": ");
        ref_append(res->problem, sizeof res->problem, detail ? detail : "?");
    }
    res->ok = 0;
}

static void ref_compare(ref_result *res, const char *where, const double *got, const double *want,
                        int64_t n, ref_tol tol) {
    int64_t i;
    double scale = 1.0, maxabs = 0;
    size_t len = strlen(res->summary);
    for (i = 0; i < n; i++) if (fabs(want[i]) > scale) scale = fabs(want[i]);
    for (i = 0; i < n; i++) if (fabs(got[i] - want[i]) > maxabs) maxabs = fabs(got[i] - want[i]);
    if (len < sizeof res->summary - 64)
        snprintf(res->summary + len, sizeof res->summary - len, " %s %.3g (of max |want| %.4g);", where, maxabs, scale);
    for (i = 0; i < n; i++) {
        double err = fabs(got[i] - want[i]);
        double lim = tol.rtol * fabs(want[i]) + tol.atol * scale;
        double ratio = err / lim;
        if (!(err <= lim)) { res->ok = 0; if (ratio != ratio) ratio = HUGE_VAL; }
        if (ratio > res->worst || !res->where[0]) {
            res->worst = ratio; res->worst_abs = err; res->got = got[i]; res->want = want[i];
            res->index = i;
            snprintf(res->where, sizeof res->where, "%s", where);
        }
    }
}

/* the shapes agree? (reports into res) */
static int ref_same_shape(ref_result *res, const char *what, const ag_tensor *t, int nd, const int64_t *shape) {
    int i;
    char msg[160];
    int ok = ag_ndim(t) == nd;
    for (i = 0; ok && i < nd; i++) ok = ag_shape(t)[i] == shape[i];
    if (!ok) {
        int len = snprintf(msg, sizeof msg, "shape [");
        for (i = 0; i < ag_ndim(t) && len < 120; i++) len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%lld", i ? "," : "", (long long)ag_shape(t)[i]);
        len += snprintf(msg + len, sizeof msg - (size_t)len, "], want [");
        for (i = 0; i < nd && len < 150; i++) len += snprintf(msg + len, sizeof msg - (size_t)len, "%s%lld", i ? "," : "", (long long)shape[i]);
        if (len < (int)sizeof msg - 2) snprintf(msg + len, sizeof msg - (size_t)len, "]");
        ref_problem(res, what, msg);
    }
    return ok;
}

static int ref_verbose;   /* env REF_VERBOSE=1: print every run's worst error */

/* one case, one dtype, one layout: one CHECK */
static void ref_run(const ref_case *c, ag_dtype dt, int layout) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *leaf[REF_MAX_IN], *x[REF_MAX_IN], *out = NULL;
    int mode[REF_MAX_IN];
    const char *bad = NULL;
    ref_result res;
    ref_tol tol;
    int i, k;
    int is_lab = !strcmp(c->op, "lab");
    double *got = NULL, *want = NULL;

    memset(&res, 0, sizeof res);
    res.ok = 1;
    res.index = -1;
    if (is_lab) { tol.rtol = 0; tol.atol = dt == AG_F32 ? 1e-5 : 1e-10; }
    else if (dt == AG_F32) { tol.rtol = 1e-5; tol.atol = 1e-6; }
    else { tol.rtol = 1e-10; tol.atol = 1e-12; }

    if (!ctx) { ref_problem(&res, "ag_ctx_new", "NULL"); goto done; }
    for (i = 0; i < c->nin; i++) {
        mode[i] = ref_mode(layout, c->in[i].ndim);
        leaf[i] = NULL;
        x[i] = ref_input(ctx, &c->in[i], dt, mode[i], &leaf[i]);
        if (!x[i]) { ref_problem(&res, "making input", ag_error(ctx)); goto done; }
    }
    out = ref_apply(c, x, &bad);
    if (bad) { ref_problem(&res, "bad case in data file", bad); goto done; }
    if (!out) { ref_problem(&res, "forward returned NULL", ag_error(ctx)); goto done; }

    /* forward */
    {
        ag_dtype want_dt = dt;
        if (!strcmp(c->op, "to")) want_dt = c->ints[0] ? AG_F64 : AG_F32;
        if (!strcmp(c->op, "argmax") || !strcmp(c->op, "argmin") || !strcmp(c->op, "argsort") || !strcmp(c->op, "cumargmax") ||
            !strcmp(c->op, "max_pool2d_indices")) want_dt = AG_I64;   /* indices, as PyTorch */
        if (ag_type(out) != want_dt) ref_problem(&res, "output dtype", ag_dtype_name(ag_type(out)));
        if (!ref_same_shape(&res, "output", out, c->out.ndim, c->out.shape)) goto done;
        got = (double *)malloc((size_t)(c->out.numel + 1) * sizeof(double));
        if (!got || ag_copy_out(out, AG_F64, got) != 0) { ref_problem(&res, "ag_copy_out(output)", ag_error(ctx)); goto done; }
        ref_compare(&res, "output", got, c->out.v, c->out.numel, tol);
        free(got); got = NULL;
    }

    /* backward with the recorded seed, then every requires-grad input's gradient */
    if (c->has_seed) {
        ag_backward_opts opts;
        ag_tensor *seed = ref_from(ctx, ag_type(out), c->seed.ndim, c->seed.shape, c->seed.v, c->seed.numel);
        memset(&opts, 0, sizeof opts);
        opts.grad = seed;
        if (!seed) { ref_problem(&res, "making seed", ag_error(ctx)); goto done; }
        /* the lab calls loss.backward() with no seed; its recorded seed is 1 */
        if (ag_backward(out, is_lab ? NULL : &opts) != 0) { ref_problem(&res, "ag_backward", ag_error(ctx)); goto done; }
        for (i = 0, k = 0; i < c->nin; i++) {
            const ref_tensor *in = &c->in[i], *g;
            ag_tensor *lg;
            int64_t ls[AG_MAX_DIMS], n, j;
            char where[32];
            if (!in->rg) continue;
            if (k >= c->ngrad) { ref_problem(&res, "bad case in data file", "fewer grads than inputs"); goto done; }
            g = &c->grad[k++];
            snprintf(where, sizeof where, "grad[%d]", i);
            lg = ag_grad(leaf[i]);
            if (!lg) { ref_problem(&res, where, "ag_grad is NULL"); continue; }
            n = ref_leaf_shape(in, mode[i], ls);
            if (!ref_same_shape(&res, where, lg, in->ndim, ls)) continue;
            got = (double *)malloc((size_t)(n + 1) * sizeof(double));
            want = (double *)calloc((size_t)(n + 1), sizeof(double));
            if (!got || !want) { ref_problem(&res, where, "out of memory"); goto done; }
            if (ag_copy_out(lg, AG_F64, got) != 0) { ref_problem(&res, where, ag_error(ctx)); goto done; }
            for (j = 0; j < g->numel; j++) want[ref_leaf_index(in, mode[i], j)] = g->v[j];
            ref_compare(&res, where, got, want, n, tol);
            free(got); free(want); got = want = NULL;
        }
    }
    if (ag_error(ctx)) ref_problem(&res, "error left on the context", ag_error(ctx));

done:
    free(got); free(want);
    if (is_lab && layout == REF_CONTIG)
        printf("%s %s: max |got - want|:%s\n", c->name, ag_dtype_name(dt), res.summary);
    if (ref_verbose && !res.problem[0])
        printf("%-22s %-8s %-16s worst %.3g x tol (|err| %.3g at %s)\n", c->name, ag_dtype_name(dt),
               ref_layout_name[layout], res.worst, res.worst_abs, res.where);
    if (res.problem[0])
        CHECK(0, "%s (op %s) %s %s: %s", c->name, c->op, ag_dtype_name(dt), ref_layout_name[layout], res.problem);
    else
        CHECK(res.ok, "%s (op %s) %s %s: worst err %.3g = %.3g x tol at %s[%lld]: got %.17g want %.17g",
              c->name, c->op, ag_dtype_name(dt), ref_layout_name[layout], res.worst_abs, res.worst,
              res.where, (long long)res.index, res.got, res.want);
    if (ctx) ag_ctx_free(ctx);
}

int main(int argc, char **argv) {
    const char *path = argc > 1 ? argv[1] : "tests/data/reference.txt";
    ref_reader r;
    ref_case c;
    int rc, ncases = 0, layout, i, d;
    const ag_dtype dts[2] = {AG_F32, AG_F64};

    ref_verbose = getenv("REF_VERBOSE") != NULL;
    memset(&r, 0, sizeof r);
    r.line = 1;
    r.f = fopen(path, "r");
    CHECK(r.f != NULL, "cannot open %s (run from the repository root)", path);
    if (!r.f) return harness_finish("test_reference");
    while ((rc = ref_case_read(&r, &c)) == 1) {
        ncases++;
        for (d = 0; d < 2; d++)
            for (layout = 0; layout < REF_NLAYOUTS; layout++) {
                int applies = layout == REF_CONTIG;
                for (i = 0; i < c.nin; i++) applies |= ref_mode(layout, c.in[i].ndim) != REF_CONTIG;
                if (applies) ref_run(&c, dts[d], layout);
            }
        ref_case_free(&c);
    }
    CHECK(rc == 0, "%s:%d: parse error: %s (at '%s')", path, r.line, r.err ? r.err : "?", r.tok);
    if (rc != 0) ref_case_free(&c);
    fclose(r.f);
    CHECK(ncases >= 200, "only %d cases read from %s", ncases, path);
    printf("test_reference: %d cases from %s\n", ncases, path);
    return harness_finish("test_reference");
}
