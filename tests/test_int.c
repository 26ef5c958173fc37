/* test_int.c - I32, I64 and BOOL (>>int) against PyTorch: casts between all seven dtypes
   at special values (bit for bit), promotion (torch.result_type against ag_add's dtype),
   integer arithmetic with wraparound, floor_divide / remainder / fmod with every sign,
   comparisons and logic with NaN, inf and -0.0, mixed dtypes and broadcasting,
   isnan/isinf/isfinite on every dtype, where and masked_fill with their gradients, one_hot,
   and the I64 indices of argmax/argmin/argsort. tests/gen_int_reference.py wrote
   tests/data/int_reference.txt (its header describes the records). Every record runs under
   each kernel set this CPU has. Then the refusals PyTorch also makes (integer division by
   zero, bool subtraction, gradients of integer tensors, a non-bool condition, a class out of
   range), and what torch cannot answer (the minimum divided by -1 traps on x86). */
#include "autograd.h"
#include "harness.h"
#include "refdata.h"

#include <stdint.h>
#include <stdlib.h>

static const char *const SETS[] = { "scalar", "avx2", "avx512", "neon", "simd128" };


/* ---- the file's tensors: <dtype> <ndim> <dims...> <hex bits...> ---- */
typedef struct { int dt, nd; int64_t sh[AG_MAX_DIMS], n; unsigned char *bytes; } itensor;
static const char *const DTN[] = { "f32", "f64", "f16", "bf16", "i32", "i64", "bool" };
static int esize(int dt) { return dt == AG_F64 || dt == AG_I64 ? 8 : dt == AG_F32 || dt == AG_I32 ? 4 : dt == AG_BOOL ? 1 : 2; }
static int dt_of(const char *s) {
    int i;
    for (i = 0; s && i < 7; i++) if (!strcmp(s, DTN[i])) return i;
    return -1;
}
static void put_bits(unsigned char *p, int es, uint64_t v) {   /* the element's bits, in the host's order */
    if (es == 1) { uint8_t u = (uint8_t)v; memcpy(p, &u, 1); }
    else if (es == 2) { uint16_t u = (uint16_t)v; memcpy(p, &u, 2); }
    else if (es == 4) { uint32_t u = (uint32_t)v; memcpy(p, &u, 4); }
    else memcpy(p, &v, 8);
}
static uint64_t get_bits(const unsigned char *p, int es) {
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64;
    if (es == 1) { memcpy(&u8, p, 1); return u8; }
    if (es == 2) { memcpy(&u16, p, 2); return u16; }
    if (es == 4) { memcpy(&u32, p, 4); return u32; }
    memcpy(&u64, p, 8);
    return u64;
}
static int read_it(char **p, itensor *t) {
    int64_t i;
    int es;
    t->bytes = NULL;
    t->dt = dt_of(next_tok(p));
    if (t->dt < 0) return -1;
    t->nd = atoi(next_tok(p));
    t->n = 1;
    for (i = 0; i < t->nd; i++) { t->sh[i] = atoll(next_tok(p)); t->n *= t->sh[i]; }
    es = esize(t->dt);
    t->bytes = (unsigned char *)malloc((size_t)(t->n ? t->n : 1) * (size_t)es);
    for (i = 0; i < t->n; i++) {
        const char *tok = next_tok(p);
        if (!tok) return -1;
        put_bits(t->bytes + i * es, es, strtoull(tok, NULL, 16));
    }
    return 0;
}
static ag_tensor *mk(ag_ctx *ctx, const itensor *t) { return ag_from(ctx, (ag_dtype)t->dt, t->nd, t->sh, t->bytes); }

static bool is_nan_bits(int dt, uint64_t u) {
    if (dt == AG_F32) return (u & 0x7fffffffu) > 0x7f800000u;
    if (dt == AG_F64) return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
    if (dt == AG_F16) return (u & 0x7fff) > 0x7c00;
    if (dt == AG_BF16) return (u & 0x7fff) > 0x7f80;
    return false;
}

/* NaN results of float arithmetic whose sign differs from PyTorch's: the sign of a NaN that an
   invalid operation makes is the CPU's (x86's default -NaN; ARM's and WebAssembly's +NaN), and
   torch 1.13's vectorised loop gives +NaN for the 16-element remainder/fmod records on x86 while
   its scalar loop gives -NaN: counted and printed, not failed */
static int n_nan_sign;

/* y against the expected tensor, bit for bit. nan_any: a NaN expected in BF16 accepts any NaN
   (torch's vectorised copy writes 0xffff where ours keeps the sign, >>half); nan_sign: any NaN
   for a NaN, counted in n_nan_sign */
static bool same(const char *what, const char *set, ag_ctx *ctx, ag_tensor *y, const itensor *e, bool nan_any, bool nan_sign) {
    int64_t i, bad = 0, first = -1;
    int es = esize(e->dt), k;
    unsigned char *got;
    if (!y) { CHECK(0, "%s (%s): NULL: %s", what, set, ag_error(ctx) ? ag_error(ctx) : "?"); ag_clear_error(ctx); return false; }
    if ((int)ag_type(y) != e->dt || ag_ndim(y) != e->nd) {
        CHECK(0, "%s (%s): %s with %d dims, PyTorch gives %s with %d", what, set, ag_dtype_name(ag_type(y)), ag_ndim(y), DTN[e->dt], e->nd);
        return false;
    }
    for (k = 0; k < e->nd; k++)
        if (ag_dim(y, k) != e->sh[k]) { CHECK(0, "%s (%s): dim %d is %lld, PyTorch's %lld", what, set, k, (long long)ag_dim(y, k), (long long)e->sh[k]); return false; }
    got = (unsigned char *)malloc((size_t)(e->n ? e->n : 1) * (size_t)es);
    if (ag_copy_out(y, ag_type(y), got) != 0) { free(got); CHECK(0, "%s (%s): copy_out", what, set); return false; }
    for (i = 0; i < e->n; i++) {
        uint64_t g = get_bits(got + i * es, es), w = get_bits(e->bytes + i * es, es);
        bool ok = g == w;
        if (!ok && nan_any && e->dt == AG_BF16 && is_nan_bits(e->dt, w)) ok = is_nan_bits(e->dt, g);
        if (!ok && nan_sign && is_nan_bits(e->dt, w) && is_nan_bits(e->dt, g)) { ok = true; n_nan_sign++; }
        if (!ok) { bad++; if (first < 0) first = i; }
    }
    if (bad) {
        uint64_t g = get_bits(got + first * es, es), w = get_bits(e->bytes + first * es, es);
        CHECK(0, "%s (%s): %lld of %lld elements differ from PyTorch, the first [%lld]: bits 0x%llx, PyTorch's 0x%llx", what, set,
              (long long)bad, (long long)e->n, (long long)first, (unsigned long long)g, (unsigned long long)w);
    } else CHECK(1, "%s", what);
    free(got);
    return bad == 0;
}

static ag_tensor *binop(const char *op, ag_tensor *a, ag_tensor *b) {
    if (!strcmp(op, "add")) return ag_add(a, b);
    if (!strcmp(op, "sub")) return ag_sub(a, b);
    if (!strcmp(op, "mul")) return ag_mul(a, b);
    if (!strcmp(op, "div")) return ag_div(a, b);
    if (!strcmp(op, "maximum")) return ag_maximum(a, b);
    if (!strcmp(op, "minimum")) return ag_minimum(a, b);
    if (!strcmp(op, "floor_divide")) return ag_floor_divide(a, b);
    if (!strcmp(op, "remainder")) return ag_remainder(a, b);
    if (!strcmp(op, "fmod")) return ag_fmod(a, b);
    if (!strcmp(op, "eq")) return ag_eq(a, b);
    if (!strcmp(op, "ne")) return ag_ne(a, b);
    if (!strcmp(op, "lt")) return ag_lt(a, b);
    if (!strcmp(op, "le")) return ag_le(a, b);
    if (!strcmp(op, "gt")) return ag_gt(a, b);
    if (!strcmp(op, "ge")) return ag_ge(a, b);
    if (!strcmp(op, "logical_and")) return ag_logical_and(a, b);
    if (!strcmp(op, "logical_or")) return ag_logical_or(a, b);
    if (!strcmp(op, "logical_xor")) return ag_logical_xor(a, b);
    return NULL;
}
static ag_tensor *unop(const char *op, ag_tensor *a) {
    if (!strcmp(op, "neg")) return ag_neg(a);
    if (!strcmp(op, "abs")) return ag_abs(a);
    if (!strcmp(op, "sign")) return ag_sign(a);
    if (!strcmp(op, "logical_not")) return ag_logical_not(a);
    if (!strcmp(op, "isnan")) return ag_isnan(a);
    if (!strcmp(op, "isinf")) return ag_isinf(a);
    if (!strcmp(op, "isfinite")) return ag_isfinite(a);
    return NULL;
}

/* counts of the records run (with the first kernel set) */
static int n_cast, n_promote, n_bin, n_un, n_sum, n_where, n_mfill, n_onehot, n_arg;

/* the gradients of sum(y * w) with respect to the leaves */
static int grads(ag_tensor *y, ag_tensor *w) { return ag_backward(ag_sum(ag_mul(y, w)), NULL); }

static void run_records(const char *text, const char *set, bool count) {
    ag_ctx *ctx = harness_ctx_for(set);
    char *buf, *p, *tok;
    char what[160];
    int rec = 0;
    if (!ctx) return;
    buf = (char *)malloc(strlen(text) + 1);
    strcpy(buf, text);
    p = strchr(buf, '\n');   /* the comment line */
    while (p && (tok = next_tok(&p)) != NULL) {
        itensor t[8];
        int nt = 0, i;
        char op[32] = "";
        rec++;
        memset(t, 0, sizeof t);
        if (!strcmp(tok, "cast")) {
            ag_tensor *x, *y, *yt;
            read_it(&p, &t[0]); read_it(&p, &t[1]); nt = 2;
            snprintf(what, sizeof what, "record %d: cast %s -> %s", rec, DTN[t[0].dt], DTN[t[1].dt]);
            x = mk(ctx, &t[0]);
            y = ag_to(x, (ag_dtype)t[1].dt);
            same(what, set, ctx, y, &t[1], true, false);
            /* the element-by-element path: [3, n/3] transposed to [n/3, 3], converted, compared at (j, i) */
            if (t[0].n % 3 == 0) {
                int64_t sh[2], k = t[0].n / 3, r, c, bad = 0;
                int es = esize(t[1].dt);
                unsigned char *out = (unsigned char *)malloc((size_t)t[1].n * (size_t)es);
                sh[0] = 3; sh[1] = k;
                yt = ag_to(ag_transpose(ag_reshape(x, 2, sh), 0, 1), (ag_dtype)t[1].dt);
                if (yt && ag_copy_out(yt, (ag_dtype)t[1].dt, out) == 0) {
                    for (r = 0; r < k; r++)
                        for (c = 0; c < 3; c++) {
                            uint64_t g = get_bits(out + (r * 3 + c) * es, es), w = get_bits(t[1].bytes + (c * k + r) * es, es);
                            if (g != w && !(t[1].dt == AG_BF16 && is_nan_bits(AG_BF16, w) && is_nan_bits(AG_BF16, g))) bad++;
                        }
                } else bad = -1;
                CHECK(bad == 0, "%s through a transposed view (%s): %lld differ", what, set, (long long)bad);
                free(out);
            }
            if (count) n_cast++;
        } else if (!strcmp(tok, "promote")) {
            char kind[4];
            int da, db, dy;
            int64_t two = 2;
            ag_tensor *a, *b, *c;
            snprintf(kind, sizeof kind, "%s", next_tok(&p));
            da = dt_of(next_tok(&p)); db = dt_of(next_tok(&p)); dy = dt_of(next_tok(&p));
            a = ag_ones(ctx, (ag_dtype)da, kind[0] == '0' ? 0 : 1, &two);
            b = ag_ones(ctx, (ag_dtype)db, kind[1] == '0' ? 0 : 1, &two);
            c = ag_ones(ctx, AG_BOOL, 1, &two);
            snprintf(what, sizeof what, "record %d: result_type %s %s, %s", rec, DTN[da], DTN[db], kind);
#define DT_IS(y, want, fn) CHECK((y) && (int)ag_type(y) == (want), "%s: %s gives %s, torch.result_type %s", what, fn, \
                                 (y) ? ag_dtype_name(ag_type(y)) : ag_error(ctx), DTN[want])
            DT_IS(ag_add(a, b), dy, "add");
            DT_IS(ag_mul(a, b), dy, "mul");
            DT_IS(ag_maximum(a, b), dy, "maximum");
            DT_IS(ag_where(c, a, b), dy, "where");
            DT_IS(ag_eq(a, b), AG_BOOL, "eq");
            DT_IS(ag_lt(a, b), AG_BOOL, "lt");
            DT_IS(ag_logical_xor(a, b), AG_BOOL, "logical_xor");
            if (da != AG_BOOL && db != AG_BOOL) DT_IS(ag_sub(a, b), dy, "sub");   /* PyTorch refuses a bool operand of sub */
            else CHECK(ag_sub(a, b) == NULL && ag_error(ctx), "%s: sub with a bool operand is refused, as PyTorch", what);
            ag_clear_error(ctx);
            if (count) n_promote++;
        } else if (!strcmp(tok, "bin") || !strcmp(tok, "un") || !strcmp(tok, "sum")) {
            bool bin = !strcmp(tok, "bin"), sum = !strcmp(tok, "sum");
            ag_tensor *y;
            if (!sum) snprintf(op, sizeof op, "%s", next_tok(&p));
            read_it(&p, &t[0]);
            if (bin) read_it(&p, &t[1]);
            read_it(&p, &t[bin ? 2 : 1]);
            nt = bin ? 3 : 2;
            if (bin) snprintf(what, sizeof what, "record %d: %s(%s %lld, %s %lld)", rec, op, DTN[t[0].dt], (long long)t[0].n, DTN[t[1].dt], (long long)t[1].n);
            else snprintf(what, sizeof what, "record %d: %s(%s %lld)", rec, sum ? "sum" : op, DTN[t[0].dt], (long long)t[0].n);
            if (sum) y = ag_sum(mk(ctx, &t[0]));
            else if (bin) y = binop(op, mk(ctx, &t[0]), mk(ctx, &t[1]));
            else y = unop(op, mk(ctx, &t[0]));
            /* the sign of a NaN that arithmetic makes is the CPU's (x86: -NaN, ARM and WebAssembly: +NaN):
               float results compare NaN as NaN */
            same(what, set, ctx, y, &t[nt - 1], false, t[0].dt == AG_F32 || t[0].dt == AG_F64 || t[0].dt == AG_F16 || t[0].dt == AG_BF16);
            if (count) { if (sum) n_sum++; else if (bin) n_bin++; else n_un++; }
        } else if (!strcmp(tok, "where") || !strcmp(tok, "mfill")) {
            bool where = !strcmp(tok, "where"), g = atoi(next_tok(&p)) != 0;
            double value = 0;
            ag_tensor *c, *a, *b = NULL, *y;
            read_it(&p, &t[0]); read_it(&p, &t[1]);
            if (where) read_it(&p, &t[2]); else value = strtod(next_tok(&p), NULL);
            nt = where ? 3 : 2;
            read_it(&p, &t[nt++]);                           /* y */
            if (g) for (i = 0; i < (where ? 3 : 2); i++) read_it(&p, &t[nt++]);   /* w, the gradients */
            if (where) {
                snprintf(what, sizeof what, "record %d: where(bool %lld, %s %lld, %s %lld)%s", rec, (long long)t[0].n, DTN[t[1].dt],
                         (long long)t[1].n, DTN[t[2].dt], (long long)t[2].n, g ? " and its gradients" : "");
                c = mk(ctx, &t[0]); a = mk(ctx, &t[1]); b = mk(ctx, &t[2]);
                if (g) { ag_set_requires_grad(a, true); ag_set_requires_grad(b, true); }
                y = ag_where(c, a, b);
                same(what, set, ctx, y, &t[3], false, false);
                if (g && y) {
                    CHECK(grads(y, mk(ctx, &t[4])) == 0, "%s: backward: %s", what, ag_error(ctx));
                    same(what, set, ctx, ag_grad(a), &t[5], false, false);
                    same(what, set, ctx, ag_grad(b), &t[6], false, false);
                }
            } else {
                snprintf(what, sizeof what, "record %d: masked_fill(%s %lld, bool %lld, %g)%s", rec, DTN[t[0].dt], (long long)t[0].n,
                         (long long)t[1].n, value, g ? " and its gradient" : "");
                a = mk(ctx, &t[0]);
                if (g) ag_set_requires_grad(a, true);
                y = ag_masked_fill(a, mk(ctx, &t[1]), value);
                same(what, set, ctx, y, &t[2], false, false);
                if (g && y) {
                    CHECK(grads(y, mk(ctx, &t[3])) == 0, "%s: backward: %s", what, ag_error(ctx));
                    same(what, set, ctx, ag_grad(a), &t[4], false, false);
                }
            }
            if (count) { if (where) n_where++; else n_mfill++; }
        } else if (!strcmp(tok, "onehot")) {
            int64_t nc = atoll(next_tok(&p));
            read_it(&p, &t[0]); read_it(&p, &t[1]); nt = 2;
            snprintf(what, sizeof what, "record %d: one_hot(%s %lld, %lld)", rec, DTN[t[0].dt], (long long)t[0].n, (long long)nc);
            same(what, set, ctx, ag_one_hot(mk(ctx, &t[0]), nc), &t[1], false, false);
            if (count) n_onehot++;
        } else if (!strcmp(tok, "argmax") || !strcmp(tok, "argmin") || !strcmp(tok, "argsort")) {
            int dim, flag;
            ag_tensor *x, *y;
            snprintf(op, sizeof op, "%s", tok);
            dim = atoi(next_tok(&p)); flag = atoi(next_tok(&p));
            read_it(&p, &t[0]); read_it(&p, &t[1]); nt = 2;
            snprintf(what, sizeof what, "record %d: %s(%s, dim %d, %d)", rec, op, DTN[t[0].dt], dim, flag);
            x = mk(ctx, &t[0]);
            y = !strcmp(op, "argmax") ? ag_argmax(x, dim, flag != 0) : !strcmp(op, "argmin") ? ag_argmin(x, dim, flag != 0) : ag_argsort(x, dim, flag != 0);
            same(what, set, ctx, y, &t[1], false, false);
            if (count) n_arg++;
        } else {
            CHECK(0, "record %d: unknown record '%s'", rec, tok);
            break;
        }
        for (i = 0; i < nt; i++) free(t[i].bytes);
        ag_ctx_reset(ctx);
    }
    free(buf);
    ag_ctx_free(ctx);
}

/* ---- the refusals (PyTorch refuses them too), and what torch cannot answer ---- */
static bool err_has(ag_ctx *ctx, const char *what) {
    const char *e = ag_error(ctx);
    bool ok = e && strstr(e, what);
    if (!ok) fprintf(stderr, "  (the error is \"%s\", expected it to contain \"%s\")\n", e ? e : "(none)", what);
    ag_clear_error(ctx);
    return ok;
}
/* what PyTorch refuses: refused here too, with a message */
static void torch_refuses(ag_ctx *ctx, const char *what, const char *torch_says, ag_tensor *y) {
    CHECK(!y && ag_error(ctx) != NULL, "%s must be refused as PyTorch does (%s); got %s", what, torch_says, y ? ag_dtype_name(ag_type(y)) : "no message");
    ag_clear_error(ctx);
}
static void test_refusals(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t n3 = 3, i;
    const int64_t i64[3] = { 5, -4, 0 }, i64b[3] = { 2, 0, 3 };
    const int32_t i32[3] = { 5, -4, 7 }, i32z[3] = { 1, 2, 0 };
    const unsigned char bl[3] = { 1, 0, 1 };
    const float fl[3] = { 0.5f, -1.0f, 2.0f };
    const double dv[3] = { 0.5, -1.0, 2.0 };
    ag_tensor *a64 = ag_from(ctx, AG_I64, 1, &n3, i64), *b64 = ag_from(ctx, AG_I64, 1, &n3, i64b);
    ag_tensor *a32 = ag_from(ctx, AG_I32, 1, &n3, i32), *z32 = ag_from(ctx, AG_I32, 1, &n3, i32z);
    ag_tensor *bb = ag_from(ctx, AG_BOOL, 1, &n3, bl), *f = ag_from_f32(ctx, 1, &n3, fl);
    ag_tensor *idx;
    /* integer division by zero: an error (torch: ZeroDivisionError), also where the zero comes from a broadcast 0-d */
    CHECK(ag_floor_divide(a64, b64) == NULL && err_has(ctx, "division by zero"), "floor_divide(I64, 0) refused");
    CHECK(ag_remainder(a64, b64) == NULL && err_has(ctx, "division by zero"), "remainder(I64, 0) refused");
    CHECK(ag_fmod(a64, b64) == NULL && err_has(ctx, "division by zero"), "fmod(I64, 0) refused");
    CHECK(ag_floor_divide(a32, z32) == NULL && err_has(ctx, "division by zero"), "floor_divide(I32, 0) refused");
    CHECK(ag_remainder(a32, ag_zeros(ctx, AG_I64, 0, NULL)) == NULL && err_has(ctx, "division by zero"), "remainder(I32, 0-d 0) refused");
    CHECK(ag_fmod(a32, ag_expand(ag_reshape(z32, 1, &n3), 1, &n3)) == NULL && err_has(ctx, "division by zero"), "fmod(I32, 0) refused");
    /* a float zero divisor is not an error: inf, as PyTorch */
    CHECK(ag_floor_divide(f, ag_zeros(ctx, AG_F32, 0, NULL)) != NULL && !ag_error(ctx), "floor_divide(F32, 0.0) is inf, not an error");
    CHECK(ag_floor_divide(a64, ag_zeros(ctx, AG_F32, 0, NULL)) != NULL && !ag_error(ctx), "floor_divide(I64, 0.0 F32 0-d) promotes: no error");
    /* bool subtraction */
    CHECK(ag_sub(bb, bb) == NULL && err_has(ctx, "bool"), "sub(BOOL, BOOL) refused");
    /* integer tensors never require grad */
    CHECK(ag_set_requires_grad(a64, true) == NULL && err_has(ctx, "int64"), "requires_grad on I64 refused");
    CHECK(ag_set_requires_grad(a32, true) == NULL && err_has(ctx, "int32"), "requires_grad on I32 refused");
    CHECK(ag_set_requires_grad(bb, true) == NULL && err_has(ctx, "bool"), "requires_grad on BOOL refused");
    CHECK(!ag_requires_grad(a64) && !ag_requires_grad(bb), "they still do not require grad");
    CHECK(ag_set_requires_grad(a64, false) == a64 && !ag_error(ctx), "requires_grad(false) on I64 is fine");
    CHECK(ag_param(ctx, AG_I64, 1, &n3, NULL) == NULL && err_has(ctx, "int64"), "ag_param(I64) refused");
    CHECK(ag_param(ctx, AG_I32, 1, &n3, i32) == NULL && err_has(ctx, "int32"), "ag_param(I32) refused");
    CHECK(ag_param(ctx, AG_BOOL, 1, &n3, bl) == NULL && err_has(ctx, "bool"), "ag_param(BOOL) refused");
    /* ops on an integer tensor give no gradient path: the float result of a float op does not require grad */
    CHECK(!ag_requires_grad(ag_exp(a64)) && !ag_error(ctx), "exp(I64) does not require grad");
    /* where and masked_fill want a BOOL condition */
    CHECK(ag_where(f, f, f) == NULL && err_has(ctx, "not bool"), "where with an F32 condition refused");
    CHECK(ag_where(a64, f, f) == NULL && err_has(ctx, "not bool"), "where with an I64 condition refused");
    CHECK(ag_where(NULL, f, f) == NULL && ag_error(ctx) != NULL, "where with a NULL condition refused");
    ag_clear_error(ctx);
    CHECK(ag_masked_fill(f, a32, 1.0) == NULL && err_has(ctx, "not bool"), "masked_fill with an I32 mask refused");
    {   /* torch's out-of-place masked_fill broadcasts t to a mask with more dims (F32 [3] with a [2, 3] mask: [2, 3]) */
        ag_tensor *y = ag_masked_fill(f, ag_ones(ctx, AG_BOOL, 2, (const int64_t[]){2, 3}), 1.0);
        CHECK(y && ag_ndim(y) == 2 && ag_dim(y, 0) == 2 && ag_dim(y, 1) == 3, "masked_fill(F32 [3], BOOL [2,3]) is [2, 3] as PyTorch's: %s",
              ag_error(ctx) ? ag_error(ctx) : "");
    }
    CHECK(ag_where(bb, f, ag_ones(ctx, AG_F32, 1, (const int64_t[]){2})) == NULL && err_has(ctx, "broadcast"), "where with shapes that do not broadcast refused");
    /* one_hot: a negative class, a class too large, a bad num_classes, a float index */
    idx = ag_from(ctx, AG_I64, 1, &n3, i64b);
    CHECK(ag_one_hot(idx, 3) == NULL && err_has(ctx, "class 3") , "one_hot class 3 of 3 refused");
    CHECK(ag_one_hot(a64, 6) == NULL && err_has(ctx, "class -4"), "one_hot class -4 refused");
    CHECK(ag_one_hot(a64, -1) == NULL && err_has(ctx, "class -4"), "one_hot class -4 with num_classes -1 refused");
    CHECK(ag_one_hot(idx, -2) == NULL && err_has(ctx, "num_classes"), "one_hot num_classes -2 refused");
    CHECK(ag_one_hot(f, 3) == NULL && err_has(ctx, "float32"), "one_hot of F32 refused");
    CHECK(ag_one_hot(bb, 3) == NULL && err_has(ctx, "bool"), "one_hot of BOOL refused");
    CHECK(ag_one_hot(ag_zeros(ctx, AG_I64, 1, (const int64_t[]){0}), -1) == NULL && err_has(ctx, "empty"), "one_hot of an empty index with -1 refused");
    /* F64 leaves through where with an integer side: the float side gets its gradient */
    {
        ag_tensor *x = ag_set_requires_grad(ag_from_f64(ctx, 1, &n3, dv), true), *y;
        y = ag_where(bb, x, a64);   /* F64 */
        CHECK(y && ag_type(y) == AG_F64 && ag_requires_grad(y), "where(F64 leaf, I64) is F64 and requires grad");
        CHECK(y && ag_backward(ag_sum(y), NULL) == 0 && ag_grad(x) && ag_get(ag_grad(x), (const int64_t[]){1}) == 0.0 &&
              ag_get(ag_grad(x), (const int64_t[]){2}) == 1.0, "where(F64 leaf, I64): the gradient is the mask");
    }
    /* what torch 1.13 cannot give (SIGFPE on x86): the minimum divided by -1 wraps as two's complement (Python's
       -2^63 // -1 = 2^63, wrapped), its remainder and fmod are 0 */
    {
        const int64_t mn64[2] = { INT64_MIN, INT64_MIN + 1 }, m1[2] = { -1, -1 };
        const int32_t mn32[2] = { INT32_MIN, INT32_MIN + 1 }, m132[2] = { -1, -1 };
        int64_t n2 = 2, out[2];
        ag_tensor *x64 = ag_from(ctx, AG_I64, 1, &n2, mn64), *d64 = ag_from(ctx, AG_I64, 1, &n2, m1);
        ag_tensor *x32 = ag_from(ctx, AG_I32, 1, &n2, mn32), *d32 = ag_from(ctx, AG_I32, 1, &n2, m132), *y;
        y = ag_floor_divide(x64, d64);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == INT64_MIN && out[1] == INT64_MAX, "I64 min // -1 wraps to the min");
        y = ag_remainder(x64, d64);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == 0 && out[1] == 0, "I64 min %% -1 is 0");
        y = ag_fmod(x64, d64);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == 0 && out[1] == 0, "fmod(I64 min, -1) is 0");
        y = ag_floor_divide(x32, d32);
        CHECK(y && ag_type(y) == AG_I32 && ag_copy_out(y, AG_I64, out) == 0 && out[0] == INT32_MIN && out[1] == INT32_MAX, "I32 min // -1 wraps to the min");
        y = ag_remainder(x32, d32);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == 0 && out[1] == 0, "I32 min %% -1 is 0");
        y = ag_fmod(x32, d32);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == 0 && out[1] == 0, "fmod(I32 min, -1) is 0");
        y = ag_neg(x64);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == INT64_MIN, "-(I64 min) wraps");
        y = ag_abs(x32);
        CHECK(y && ag_copy_out(y, AG_I64, out) == 0 && out[0] == INT32_MIN, "abs(I32 min) wraps");
    }
    /* ag_copy_out to I64 is exact beyond 2^53; ag_get is a double */
    {
        const int64_t big[2] = { 9007199254740993LL, INT64_MIN };
        int64_t n2 = 2, out[2];
        ag_tensor *x = ag_from(ctx, AG_I64, 1, &n2, big);
        CHECK(ag_copy_out(x, AG_I64, out) == 0 && out[0] == big[0] && out[1] == big[1], "copy_out I64 exact");
        for (i = 0; i < 2; i++) CHECK(ag_get(x, &i) == (double)big[i], "ag_get I64 %lld as a double", (long long)i);
    }
    /* refused by PyTorch, computed here */
    torch_refuses(ctx, "neg(BOOL)", "Negation, the `-` operator, on a bool tensor is not supported", ag_neg(bb));
    torch_refuses(ctx, "abs(BOOL)", "\"abs_cpu\" not implemented for 'Bool'", ag_abs(bb));
    torch_refuses(ctx, "sub(BOOL, I32)", "Subtraction, the `-` operator, with a bool tensor is not supported", ag_sub(bb, a32));
    torch_refuses(ctx, "sub(F32, BOOL)", "Subtraction, the `-` operator, with a bool tensor is not supported", ag_sub(f, bb));
    torch_refuses(ctx, "floor_divide(BOOL, BOOL true)", "\"div_floor_cpu\" not implemented for 'Bool'", ag_floor_divide(bb, ag_ones(ctx, AG_BOOL, 0, NULL)));
    torch_refuses(ctx, "masked_fill(F16, mask, 1e5)", "value cannot be converted to type at::Half without overflow",
                  ag_masked_fill(ag_to(f, AG_F16), bb, 1e5));
    torch_refuses(ctx, "masked_fill(F32, mask, 1e39)", "value cannot be converted to type float without overflow", ag_masked_fill(f, bb, 1e39));
    torch_refuses(ctx, "masked_fill(I32, mask, 1e10)", "value cannot be converted to type int without overflow", ag_masked_fill(a32, bb, 1e10));
    torch_refuses(ctx, "masked_fill(I64, mask, NaN)", "value cannot be converted to type int64_t without overflow", ag_masked_fill(a64, bb, NAN));
    CHECK(ag_error(ctx) == NULL, "no error left over: %s", ag_error(ctx) ? ag_error(ctx) : "");
    ag_ctx_free(ctx);
}

int main(void) {
    FILE *f = fopen("tests/data/int_reference.txt", "rb");
    char *buf;
    long size;
    size_t s;
    int sets = 0;
    CHECK(f != NULL, "tests/data/int_reference.txt (run from the repository root)");
    if (!f) return harness_finish("test_int");
    fseek(f, 0, SEEK_END); size = ftell(f); fseek(f, 0, SEEK_SET);
    buf = (char *)malloc((size_t)size + 1);
    if (!buf || fread(buf, 1, (size_t)size, f) != (size_t)size) { fclose(f); CHECK(0, "reading the data"); return harness_finish("test_int"); }
    buf[size] = 0;
    fclose(f);
    (void)read_tensor;   /* refdata.h's float reader: this file's tensors are bits */
    for (s = 0; s < sizeof SETS / sizeof SETS[0]; s++) {
        ag_ctx *probe = harness_ctx_for(SETS[s]);
        if (!probe) continue;
        ag_ctx_free(probe);
        run_records(buf, SETS[s], sets == 0);
        printf("  info: kernel set %s: every record compared\n", SETS[s]);
        sets++;
    }
    CHECK(sets >= 1, "at least the scalar kernels ran");
    printf("  info: %d casts, %d promotions (8 ops each), %d binary, %d unary, %d sums, %d where, %d masked_fill, %d one_hot, "
           "%d argmax/argmin/argsort records\n", n_cast, n_promote, n_bin, n_un, n_sum, n_where, n_mfill, n_onehot, n_arg);
    if (n_nan_sign)
        printf("  info: %d NaN results of float ops have another sign than PyTorch's (the CPU's default NaN, or torch's vectorised loop; compared as NaN)\n", n_nan_sign);
    CHECK(n_cast == 49 && n_promote == 196, "the file has every pair of dtypes (%d casts, %d promotions)", n_cast, n_promote);
    free(buf);
    test_refusals();
    return harness_finish("test_int");
}
