/* test_functional.c - the functional API (autograd.h, >>functional): ag_vjp, ag_jvp,
   ag_jacobian, ag_hessian, ag_hvp and ag_per_example_linear_grads:
     1. against torch.autograd.functional (tests/data/functional_reference.txt, made by
        tests/gen_functional_reference.py) on ten functions, in F64 (1e-10) and F32
        (1e-5 relative to each tensor's largest magnitude, at least 1);
     2. consistency in F64: Jacobian rows = vjps with one-hot v, jvp = J u, vjp = v^T J,
        Hessian symmetric, hvp = H v; create_graph results equal the plain ones and
        differentiate to the next order with respect to the caller's inputs;
     3. the caller's tensors are untouched and the grad mode is restored;
     4. per-example gradients against a loop of backward calls (PyTorch's and ours);
     5. bad inputs: -1 and a message naming the function; the context stays usable.

   cc -std=c99 -O2 -I. tests/test_functional.c -o build/test_functional -lm      (from the repository root) */
#include "autograd.h"
#include "tests/harness.h"
#include "tests/refdata.h"

#include <stdlib.h>

/* ---- reference file ---- */
#define MAXT 16
typedef struct {
    char name[64];
    int nin, scalar;
    rtensor in[MAXT], cst[4], v, u[MAXT], out, vjp[MAXT], jvp, jac[MAXT], hess[MAXT * MAXT], hvp[MAXT], pe[MAXT];
    int ncst, nu, nvjp, njac, nhess, nhvp, npe, nints;
    int32_t ints[64];
} rcase;

static void free_r(rtensor *t) { free(t->v); t->v = NULL; }
static void free_case(rcase *c) {
    int i;
    for (i = 0; i < MAXT; i++) { free_r(&c->in[i]); free_r(&c->u[i]); free_r(&c->vjp[i]); free_r(&c->jac[i]); free_r(&c->hvp[i]); free_r(&c->pe[i]); }
    for (i = 0; i < MAXT * MAXT; i++) free_r(&c->hess[i]);
    for (i = 0; i < 4; i++) free_r(&c->cst[i]);
    free_r(&c->v); free_r(&c->out); free_r(&c->jvp);
}
static int read_case(FILE *f, rcase *c) {
    static char line[1 << 20];
    memset(c, 0, sizeof *c);
    while (fgets(line, sizeof line, f)) {
        char *p = line, *kw = next_tok(&p);
        int i;
        if (!kw || kw[0] == '#') continue;
        if (!strcmp(kw, "case")) { snprintf(c->name, sizeof c->name, "%s", next_tok(&p)); next_tok(&p); c->scalar = atoi(next_tok(&p)); }
        else if (!strcmp(kw, "in")) read_tensor(&p, &c->in[c->nin++], true);
        else if (!strcmp(kw, "const")) read_tensor(&p, &c->cst[c->ncst++], true);
        else if (!strcmp(kw, "ints")) { c->nints = atoi(next_tok(&p)); for (i = 0; i < c->nints; i++) c->ints[i] = (int32_t)atol(next_tok(&p)); }
        else if (!strcmp(kw, "v")) read_tensor(&p, &c->v, true);
        else if (!strcmp(kw, "u")) read_tensor(&p, &c->u[c->nu++], true);
        else if (!strcmp(kw, "out")) read_tensor(&p, &c->out, false);
        else if (!strcmp(kw, "vjp")) read_tensor(&p, &c->vjp[c->nvjp++], false);
        else if (!strcmp(kw, "jvp")) read_tensor(&p, &c->jvp, false);
        else if (!strcmp(kw, "jac")) read_tensor(&p, &c->jac[c->njac++], false);
        else if (!strcmp(kw, "hess")) read_tensor(&p, &c->hess[c->nhess++], false);
        else if (!strcmp(kw, "hvp")) read_tensor(&p, &c->hvp[c->nhvp++], false);
        else if (!strcmp(kw, "pe")) read_tensor(&p, &c->pe[c->npe++], false);
        else if (!strcmp(kw, "end")) return 1;
    }
    return 0;
}

/* inputs are float32 numbers: F32 tensors hold them exactly */
static ag_tensor *make(ag_ctx *ctx, ag_dtype dt, const rtensor *r) {
    ag_tensor *t;
    if (dt == AG_F64) return ag_from(ctx, AG_F64, r->ndim, r->shape, r->v);
    {
        float *tmp = (float *)malloc(sizeof(float) * (size_t)(r->n ? r->n : 1));
        int64_t i;
        for (i = 0; i < r->n; i++) tmp[i] = (float)r->v[i];
        t = ag_from(ctx, AG_F32, r->ndim, r->shape, tmp);
        free(tmp);
    }
    return t;
}

static double *values(const ag_tensor *t) {   /* row-major doubles; caller frees */
    double *v = (double *)malloc(sizeof(double) * (size_t)(ag_numel(t) ? ag_numel(t) : 1));
    ag_copy_out(t, AG_F64, v);
    return v;
}

/* worst |got - ref| / max(1, max |ref|); 1e300 on a shape mismatch or NULL */
static double max_err(const ag_tensor *t, const rtensor *r) {
    double *v, scale = 1, worst = 0;
    int64_t i;
    if (!t || ag_numel(t) != r->n || ag_ndim(t) != r->ndim) return 1e300;
    for (i = 0; i < r->ndim; i++) if (ag_dim(t, (int)i) != r->shape[i]) return 1e300;
    v = values(t);
    for (i = 0; i < r->n; i++) if (fabs(r->v[i]) > scale) scale = fabs(r->v[i]);
    for (i = 0; i < r->n; i++) {
        double e = fabs(v[i] - r->v[i]) / scale;
        if (!(e <= worst)) worst = e != e ? 1e300 : e;
    }
    free(v);
    return worst;
}
/* the same between two tensors of one shape */
static double max_diff(const ag_tensor *a, const ag_tensor *b) {
    rtensor r;
    double e;
    int i;
    if (!a || !b) return 1e300;
    r.ndim = ag_ndim(b); r.n = ag_numel(b);
    for (i = 0; i < r.ndim; i++) r.shape[i] = ag_dim(b, i);
    r.v = values(b);
    e = max_err(a, &r);
    free(r.v);
    return e;
}

enum { K_OUT, K_VJP, K_JVP, K_JAC, K_HESS, K_HVP, K_PE, K_N };
static const char *kind_names[K_N] = { "output", "vjp", "jvp", "jacobian", "hessian", "hvp", "per-example" };
static double worst[K_N][2];   /* [kind][F32, F64] */

static void check_ref(const char *cname, int kind, int idx, ag_dtype dt, const ag_tensor *t, const rtensor *r) {
    double e = max_err(t, r), tol = dt == AG_F32 ? 1e-5 : 1e-10;
    if (e > worst[kind][dt == AG_F64]) worst[kind][dt == AG_F64] = e;
    CHECK(e <= tol, "%s %s %s[%d]: error %.3g > %.0e", cname, dt == AG_F32 ? "F32" : "F64", kind_names[kind], idx, e, tol);
}

/* ---- the functions, as the generator writes them ---- */
typedef struct { ag_tensor *c[4]; const int32_t *ints; } fnuser;

static ag_tensor *fn_tanh_xy(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_sum(ag_tanh(ag_mul(x[0], x[1]))); }
static ag_tensor *fn_softmax_xW(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_softmax(ag_matmul(x[0], x[1]), -1); }
static ag_tensor *fn_logsumexp(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_log(ag_sum(ag_exp(x[0]))); }
static ag_tensor *fn_mlp_mse(ag_ctx *ctx, ag_tensor **x, void *u) {
    fnuser *U = (fnuser *)u;
    (void)ctx;
    return ag_mse_loss(ag_linear(ag_tanh(ag_linear(U->c[0], x[0], x[1])), x[2], x[3]), U->c[1]);
}
static ag_tensor *fn_cube(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_pow(x[0], 3.0); }
static ag_tensor *fn_layer_norm(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_layer_norm(x[0], x[1], x[2], 1e-5); }
static ag_tensor *fn_cross_entropy(ag_ctx *ctx, ag_tensor **x, void *u) {
    fnuser *U = (fnuser *)u;
    (void)ctx;
    return ag_cross_entropy(ag_linear(U->c[0], x[0], x[1]), U->ints);
}
static ag_tensor *fn_mixed(ag_ctx *ctx, ag_tensor **x, void *u) {
    (void)ctx; (void)u;
    return ag_mean(ag_add(ag_exp(ag_neg(ag_mul(x[0], x[1]))), ag_pow(ag_sub(x[0], x[1]), 2.0)));
}
static ag_tensor *fn_sigmoid_0d(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_sum(ag_sigmoid(ag_mul(x[0], x[1]))); }
static ag_tensor *fn_layer_norm_loss(ag_ctx *ctx, ag_tensor **x, void *u) {
    fnuser *U = (fnuser *)u;
    (void)ctx;
    return ag_sum(ag_mul(ag_layer_norm(x[0], NULL, NULL, 1e-5), U->c[0]));
}

static const struct { const char *name; ag_fn f; } fns[] = {
    { "tanh_xy", fn_tanh_xy }, { "softmax_xW", fn_softmax_xW }, { "logsumexp", fn_logsumexp },
    { "mlp_mse", fn_mlp_mse }, { "cube", fn_cube }, { "layer_norm", fn_layer_norm },
    { "cross_entropy", fn_cross_entropy }, { "mixed", fn_mixed }, { "sigmoid_0d", fn_sigmoid_0d },
    { "layer_norm_loss", fn_layer_norm_loss },
};
static int ncases_run;

/* sum over the elements of a of a[k] * b[k] in doubles */
static double dot_d(const double *a, const double *b, int64_t n) { double s = 0; int64_t k; for (k = 0; k < n; k++) s += a[k] * b[k]; return s; }

static void consistency(const rcase *c, ag_ctx *ctx, ag_fn f, fnuser *U, ag_tensor **in, ag_tensor **u, ag_tensor *v,
                        ag_tensor **jac, ag_tensor **hess) {
    int n = c->nin, i, j;
    int64_t m = 1, k, a;
    ag_tensor *out = NULL, *vj[MAXT];
    double e, worst_c = 0;
    double *vv, *jd[MAXT], *ud[MAXT];
    char what[128];
    CHECK(ag_vjp(ctx, f, U, n, in, v, &out, vj, false) == 0, "%s vjp: %s", c->name, ag_error(ctx));
    if (!out) return;
    m = ag_numel(out);
    vv = values(v);
    for (i = 0; i < n; i++) { jd[i] = values(jac[i]); ud[i] = values(u[i]); }
    /* Jacobian row k = vjp with v = e_k; vjp = v^T J */
    for (k = 0; k < m; k++) {
        ag_tensor *ek = ag_zeros(ctx, AG_F64, ag_ndim(out), ag_shape(out)), *g[MAXT];
        ((double *)ag_data(ek))[k] = 1.0;
        if (ag_vjp(ctx, f, U, n, in, ek, NULL, g, false) != 0) { CHECK(0, "%s: one-hot vjp: %s", c->name, ag_error(ctx)); break; }
        for (i = 0; i < n; i++) {
            double *gd = values(g[i]);
            int64_t ni = ag_numel(in[i]);
            for (a = 0; a < ni; a++) { e = fabs(gd[a] - jd[i][k * ni + a]); if (e > worst_c) worst_c = e; }
            free(gd);
        }
    }
    CHECK(worst_c <= 1e-12, "%s: Jacobian rows differ from one-hot vjps by %.3g", c->name, worst_c);
    worst_c = 0;
    for (i = 0; i < n; i++) {
        int64_t ni = ag_numel(in[i]);
        double *vjd = values(vj[i]);
        for (a = 0; a < ni; a++) {
            double s = 0;
            for (k = 0; k < m; k++) s += vv[k] * jd[i][k * ni + a];
            e = fabs(s - vjd[a]); if (e > worst_c) worst_c = e;
        }
        free(vjd);
    }
    CHECK(worst_c <= 1e-12, "%s: vjp differs from v^T J by %.3g", c->name, worst_c);
    {   /* jvp = sum_i J_i u_i */
        ag_tensor *jv = NULL;
        double *jvd;
        worst_c = 0;
        CHECK(ag_jvp(ctx, f, U, n, in, u, NULL, &jv, false) == 0, "%s jvp: %s", c->name, ag_error(ctx));
        if (jv) {
            jvd = values(jv);
            for (k = 0; k < m; k++) {
                double s = 0;
                for (i = 0; i < n; i++) s += dot_d(jd[i] + k * ag_numel(in[i]), ud[i], ag_numel(in[i]));
                e = fabs(s - jvd[k]); if (e > worst_c) worst_c = e;
            }
            free(jvd);
            CHECK(worst_c <= 1e-12, "%s: jvp differs from J u by %.3g", c->name, worst_c);
        }
    }
    if (hess) {   /* symmetric; hvp = H u */
        ag_tensor *hv[MAXT];
        worst_c = 0;
        for (i = 0; i < n; i++) for (j = 0; j < n; j++) {
            int64_t ni = ag_numel(in[i]), nj = ag_numel(in[j]), b;
            double *hij = values(hess[i * n + j]), *hji = values(hess[j * n + i]);
            for (a = 0; a < ni; a++) for (b = 0; b < nj; b++) { e = fabs(hij[a * nj + b] - hji[b * ni + a]); if (e > worst_c) worst_c = e; }
            free(hij); free(hji);
        }
        CHECK(worst_c <= 1e-12, "%s: Hessian is not symmetric: %.3g", c->name, worst_c);
        worst_c = 0;
        CHECK(ag_hvp(ctx, f, U, n, in, u, NULL, hv, false) == 0, "%s hvp: %s", c->name, ag_error(ctx));
        for (i = 0; i < n && hv[i]; i++) {
            int64_t ni = ag_numel(in[i]);
            double *hvd = values(hv[i]);
            for (a = 0; a < ni; a++) {
                double s = 0;
                for (j = 0; j < n; j++) {
                    double *hij = values(hess[i * n + j]);
                    s += dot_d(hij + a * ag_numel(in[j]), ud[j], ag_numel(in[j]));
                    free(hij);
                }
                e = fabs(s - hvd[a]); if (e > worst_c) worst_c = e;
            }
            free(hvd);
        }
        CHECK(worst_c <= 1e-12, "%s: hvp differs from H v by %.3g", c->name, worst_c);
    }
    snprintf(what, sizeof what, "%s", c->name);
    free(vv);
    for (i = 0; i < n; i++) { free(jd[i]); free(ud[i]); }
}

/* create_graph: the same values, and differentiable with respect to the caller's inputs */
static void check_create_graph(const rcase *c, ag_ctx *ctx, ag_fn f, fnuser *U, ag_tensor **in, ag_tensor **u, ag_tensor *v,
                               ag_tensor **jac, ag_tensor **hess) {
    int n = c->nin, i;
    ag_tensor *jc[MAXT], *vj[MAXT], *vjc[MAXT], *out = NULL, *outc = NULL, *jv = NULL, *jvc = NULL, *h[MAXT * MAXT];
    double e = 0;
    for (i = 0; i < n; i++) ag_set_requires_grad(in[i], true);
    CHECK(ag_jacobian(ctx, f, U, n, in, jc, true) == 0, "%s jacobian(create_graph): %s", c->name, ag_error(ctx));
    for (i = 0; i < n; i++) { double d = max_diff(jc[i], jac[i]); if (d > e) e = d; }
    CHECK(e <= 1e-13, "%s: jacobian with create_graph differs by %.3g", c->name, e);
    CHECK(ag_vjp(ctx, f, U, n, in, v, &out, vj, false) == 0 && ag_vjp(ctx, f, U, n, in, v, &outc, vjc, true) == 0,
          "%s vjp: %s", c->name, ag_error(ctx));
    e = max_diff(outc, out);
    for (i = 0; i < n; i++) { double d = max_diff(vjc[i], vj[i]); if (d > e) e = d; }
    CHECK(e <= 1e-13, "%s: vjp with create_graph differs by %.3g", c->name, e);
    CHECK(ag_requires_grad(outc) && !ag_requires_grad(out) && ag_is_leaf(out), "%s: output's graph state with and without create_graph", c->name);
    CHECK(ag_jvp(ctx, f, U, n, in, u, NULL, &jv, false) == 0 && ag_jvp(ctx, f, U, n, in, u, NULL, &jvc, true) == 0,
          "%s jvp: %s", c->name, ag_error(ctx));
    CHECK(max_diff(jvc, jv) <= 1e-13, "%s: jvp with create_graph differs", c->name);
    if (c->scalar) {
        /* the gradient from jacobian(create_graph) differentiates to H u = the reference hvp */
        ag_tensor *s = NULL, *g[MAXT], *hv[MAXT], *hvc[MAXT];
        for (i = 0; i < n; i++) { ag_tensor *t = ag_sum(ag_mul(jc[i], u[i])); s = s ? ag_add(s, t) : t; }
        CHECK(ag_grad_of(s, NULL, n, in, g) == 0, "%s: grad of the recorded gradient: %s", c->name, ag_error(ctx));
        for (i = 0; i < n; i++) check_ref(c->name, K_HVP, i, AG_F64, g[i], &c->hvp[i]);
        CHECK(ag_hessian(ctx, f, U, n, in, h, true) == 0, "%s hessian(create_graph): %s", c->name, ag_error(ctx));
        e = 0;
        for (i = 0; i < n * n; i++) { double d = max_diff(h[i], hess[i]); if (d > e) e = d; }
        CHECK(e <= 1e-13, "%s: hessian with create_graph differs by %.3g", c->name, e);
        CHECK(ag_hvp(ctx, f, U, n, in, u, NULL, hv, false) == 0 && ag_hvp(ctx, f, U, n, in, u, NULL, hvc, true) == 0,
              "%s hvp: %s", c->name, ag_error(ctx));
        e = 0;
        for (i = 0; i < n; i++) { double d = max_diff(hvc[i], hv[i]); if (d > e) e = d; }
        CHECK(e <= 1e-13, "%s: hvp with create_graph differs by %.3g", c->name, e);
    }
    for (i = 0; i < n; i++) {
        CHECK(ag_grad(in[i]) == NULL, "%s: input %d got a .grad", c->name, i);
        ag_set_requires_grad(in[i], false);
    }
}

static void run_case(const rcase *c, ag_dtype dt) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *in[MAXT], *u[MAXT], *v, *out = NULL, *vj[MAXT], *jv = NULL, *jac[MAXT], *hess[MAXT * MAXT], *hv[MAXT];
    double *before[MAXT];
    fnuser U;
    ag_fn f = NULL;
    int i, n = c->nin;
    for (i = 0; i < (int)(sizeof fns / sizeof fns[0]); i++) if (!strcmp(fns[i].name, c->name)) f = fns[i].f;
    CHECK(f != NULL, "no C function for case %s", c->name);
    if (!f) { ag_ctx_free(ctx); return; }
    memset(&U, 0, sizeof U);
    for (i = 0; i < c->ncst; i++) U.c[i] = make(ctx, dt, &c->cst[i]);
    U.ints = c->ints;
    for (i = 0; i < n; i++) { in[i] = make(ctx, dt, &c->in[i]); u[i] = make(ctx, dt, &c->u[i]); before[i] = values(in[i]); }
    v = make(ctx, dt, &c->v);
    CHECK(ag_vjp(ctx, f, &U, n, in, v, &out, vj, false) == 0, "%s vjp: %s", c->name, ag_error(ctx));
    check_ref(c->name, K_OUT, 0, dt, out, &c->out);
    for (i = 0; i < n; i++) check_ref(c->name, K_VJP, i, dt, vj[i], &c->vjp[i]);
    CHECK(ag_jvp(ctx, f, &U, n, in, u, NULL, &jv, false) == 0, "%s jvp: %s", c->name, ag_error(ctx));
    check_ref(c->name, K_JVP, 0, dt, jv, &c->jvp);
    CHECK(ag_jacobian(ctx, f, &U, n, in, jac, false) == 0, "%s jacobian: %s", c->name, ag_error(ctx));
    for (i = 0; i < n; i++) check_ref(c->name, K_JAC, i, dt, jac[i], &c->jac[i]);
    if (c->scalar) {
        CHECK(ag_hessian(ctx, f, &U, n, in, hess, false) == 0, "%s hessian: %s", c->name, ag_error(ctx));
        for (i = 0; i < n * n; i++) check_ref(c->name, K_HESS, i, dt, hess[i], &c->hess[i]);
        CHECK(ag_hvp(ctx, f, &U, n, in, u, NULL, hv, false) == 0, "%s hvp: %s", c->name, ag_error(ctx));
        for (i = 0; i < n; i++) check_ref(c->name, K_HVP, i, dt, hv[i], &c->hvp[i]);
    }
    if (dt == AG_F64 && !ag_error(ctx)) {
        consistency(c, ctx, f, &U, in, u, v, jac, c->scalar ? hess : NULL);
        check_create_graph(c, ctx, f, &U, in, u, v, jac, c->scalar ? hess : NULL);
    }
    for (i = 0; i < n; i++) {   /* the caller's tensors are untouched */
        double *now = values(in[i]);
        CHECK(!memcmp(now, before[i], sizeof(double) * (size_t)ag_numel(in[i])) && ag_grad(in[i]) == NULL && ag_is_leaf(in[i]),
              "%s: input %d was changed", c->name, i);
        free(now); free(before[i]);
    }
    CHECK(ag_error(ctx) == NULL, "%s %s: error left on the context: %s", c->name, dt == AG_F32 ? "F32" : "F64", ag_error(ctx));
    ag_ctx_free(ctx);
    ncases_run++;
}

/* ---- per-example gradients ---- */
static void per_example_reference(const rcase *c, ag_dtype dt) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *P[4], *X = make(ctx, dt, &c->cst[0]), *T = make(ctx, dt, &c->cst[1]), *h1, *a1, *y, *loss, *dW[2], *db[2];
    ag_tensor *xs[2], *ys[2], *sumg[4];
    int i;
    for (i = 0; i < 4; i++) P[i] = ag_set_requires_grad(make(ctx, dt, &c->in[i]), true);
    h1 = ag_linear(X, P[0], P[1]); a1 = ag_tanh(h1); y = ag_linear(a1, P[2], P[3]);
    loss = ag_sum_dim(ag_pow(ag_sub(y, T), 2.0), 1, false);   /* [B] */
    xs[0] = X; xs[1] = a1; ys[0] = h1; ys[1] = y;
    CHECK(ag_per_example_linear_grads(loss, 2, xs, ys, dW, db) == 0, "per_example_linear_grads: %s", ag_error(ctx));
    check_ref("perex", K_PE, 0, dt, dW[0], &c->pe[0]);
    check_ref("perex", K_PE, 1, dt, db[0], &c->pe[1]);
    check_ref("perex", K_PE, 2, dt, dW[1], &c->pe[2]);
    check_ref("perex", K_PE, 3, dt, db[1], &c->pe[3]);
    for (i = 0; i < 4; i++) CHECK(ag_grad(P[i]) == NULL, "per-example: parameter %d got a .grad", i);
    /* the batch gradient is their sum; the graph was kept for this backward */
    CHECK(ag_backward(ag_sum(loss), NULL) == 0, "backward after per-example: %s", ag_error(ctx));
    sumg[0] = ag_sum_dim(dW[0], 0, false); sumg[1] = ag_sum_dim(db[0], 0, false);
    sumg[2] = ag_sum_dim(dW[1], 0, false); sumg[3] = ag_sum_dim(db[1], 0, false);
    for (i = 0; i < 4; i++) CHECK(max_diff(sumg[i], ag_grad(P[i])) <= (dt == AG_F32 ? 1e-5 : 1e-12), "per-example: sum %d != batch gradient", i);
    CHECK(ag_error(ctx) == NULL, "per-example: %s", ag_error(ctx));
    ag_ctx_free(ctx);
}

/* sequence inputs [B, T, in], no bias on the second layer: against a loop of ag_grad_of over examples */
static void per_example_sequence(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t sx[3] = { 3, 2, 4 }, sw1[2] = { 5, 4 }, sb1[1] = { 5 }, sw2[2] = { 2, 5 };
    ag_tensor *X = ag_randn(ctx, AG_F64, 3, sx), *W1 = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, sw1), true);
    ag_tensor *b1 = ag_set_requires_grad(ag_randn(ctx, AG_F64, 1, sb1), true), *W2 = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, sw2), true);
    ag_tensor *h1 = ag_linear(X, W1, b1), *a1 = ag_gelu(h1), *y = ag_linear(a1, W2, NULL), *loss, *dW[2], *xs[2], *ys[2];
    int64_t b;
    double e = 0;
    loss = ag_sum_dim(ag_sum_dim(ag_mul(y, y), 2, false), 1, false);   /* [B] */
    xs[0] = X; xs[1] = a1; ys[0] = h1; ys[1] = y;
    CHECK(ag_per_example_linear_grads(loss, 2, xs, ys, dW, NULL) == 0, "per-example (sequence): %s", ag_error(ctx));
    CHECK(dW[0] && ag_ndim(dW[0]) == 3 && ag_dim(dW[0], 0) == 3 && ag_dim(dW[0], 1) == 5 && ag_dim(dW[0], 2) == 4, "per-example dW shape");
    for (b = 0; b < 3 && dW[0] && dW[1]; b++) {
        ag_tensor *xb = ag_narrow(X, 0, b, 1), *yb = ag_linear(ag_gelu(ag_linear(xb, W1, b1)), W2, NULL), *p[3], *g[3];
        p[0] = W1; p[1] = b1; p[2] = W2;
        CHECK(ag_grad_of(ag_sum(ag_mul(yb, yb)), NULL, 3, p, g) == 0, "loop: %s", ag_error(ctx));
        e = fmax(e, max_diff(ag_squeeze(ag_narrow(dW[0], 0, b, 1), 0), g[0]));
        e = fmax(e, max_diff(ag_squeeze(ag_narrow(dW[1], 0, b, 1), 0), g[2]));
    }
    CHECK(e <= 1e-12, "per-example (sequence) differs from the loop by %.3g", e);
    ag_ctx_free(ctx);
}

/* the design note's generic shape: per-example views of W (expand), batched ops, ag_grad_of w.r.t. the views */
static void per_example_expand(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t sx[2] = { 4, 3 }, sw[2] = { 2, 3 }, se[3] = { 4, 2, 3 }, sx3[3] = { 4, 1, 3 };
    ag_tensor *X = ag_randn(ctx, AG_F64, 2, sx), *W = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, sw), true);
    ag_tensor *We = ag_expand(ag_unsqueeze(W, 0), 3, se), *y3, *gE, *y, *dW[1], *xs[1], *ys[1];
    y3 = ag_matmul(ag_reshape(X, 3, sx3), ag_transpose(We, 1, 2));   /* [4, 1, 2] */
    CHECK(ag_grad_of(ag_sum(ag_tanh(y3)), NULL, 1, &We, &gE) == 0, "expand shape: %s", ag_error(ctx));
    y = ag_linear(X, W, NULL);
    xs[0] = X; ys[0] = y;
    CHECK(ag_per_example_linear_grads(ag_sum(ag_tanh(y)), 1, xs, ys, dW, NULL) == 0, "per-example: %s", ag_error(ctx));
    CHECK(max_diff(gE, dW[0]) <= 1e-13, "per-example: the expand shape and the layer shape differ by %.3g", max_diff(gE, dW[0]));
    ag_ctx_free(ctx);
}

/* ---- bad input ---- */
static ag_tensor *fn_null(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)x; (void)u; return NULL; }
static ag_tensor *fn_bad_op(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_matmul(x[0], x[0]); }   /* [3] @ [3]: fine; [2,3] @ [2,3] fails */
static ag_tensor *fn_const(ag_ctx *ctx, ag_tensor **x, void *u) { (void)x; (void)u; return ag_ones(ctx, AG_F64, 0, NULL); }
static ag_tensor *fn_linear_sum(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return ag_sum(ag_mul_scalar(x[0], 2.0)); }
static ag_tensor *fn_identity(ag_ctx *ctx, ag_tensor **x, void *u) { (void)ctx; (void)u; return x[0]; }
static ag_tensor *fn_big(ag_ctx *ctx, ag_tensor **x, void *u) {
    int64_t s[5] = { 1, 1, 1, 1, 2 };
    (void)u;
    return ag_mul(ag_ones(ctx, AG_F64, 5, s), ag_sum(x[0]));
}

static void expect_error(ag_ctx *ctx, int rc, const char *name, const char *part, const char *what) {
    const char *e = ag_error(ctx);
    CHECK(rc == -1, "%s: returned %d, expected -1", what, rc);
    CHECK(e && strstr(e, name) && (!part || strstr(e, part)), "%s: error '%s' should name %s%s%s", what, e ? e : "(none)", name,
          part ? " and say " : "", part ? part : "");
    ag_clear_error(ctx);
}

static void bad_inputs(void) {
    ag_ctx *ctx = ag_ctx_new(NULL), *other = ag_ctx_new(NULL);
    int64_t s23[2] = { 2, 3 }, s33[2] = { 3, 3 }, s3[1] = { 3 }, s4[1] = { 4 }, s2222[4] = { 2, 2, 2, 2 };
    ag_tensor *x = ag_randn(ctx, AG_F64, 2, s23), *y3 = ag_randn(ctx, AG_F64, 1, s3), *y4 = ag_randn(ctx, AG_F64, 1, s4);
    ag_tensor *foreign = ag_randn(other, AG_F64, 1, s3), *in2[2], *r[4] = { 0, 0, 0, 0 }, *out = NULL, *h[4] = { 0, 0, 0, 0 };
    ag_tensor *nulls[2] = { NULL, NULL }, *vbad;
    in2[0] = y3; in2[1] = y4;
    /* NULL function, input counts, NULL inputs */
    expect_error(ctx, ag_vjp(ctx, NULL, NULL, 1, &x, NULL, &out, r, false), "vjp", "function is NULL", "NULL f");
    expect_error(ctx, ag_jvp(ctx, fn_cube, NULL, 0, &x, NULL, &out, r, false), "jvp", "1 to 16 inputs, got 0", "n = 0");
    expect_error(ctx, ag_jacobian(ctx, fn_cube, NULL, 17, &x, r, false), "jacobian", "got 17", "n = 17");
    expect_error(ctx, ag_hessian(ctx, fn_cube, NULL, 1, NULL, r, false), "hessian", "inputs is NULL", "NULL inputs");
    expect_error(ctx, ag_hvp(ctx, fn_tanh_xy, NULL, 2, nulls, NULL, NULL, r, false), "hvp", "input 0 is NULL", "NULL input");
    expect_error(ctx, ag_vjp(ctx, fn_cube, NULL, 1, &foreign, NULL, NULL, r, false), "vjp", "another context", "foreign input");
    expect_error(ctx, ag_vjp(ctx, fn_cube, NULL, 1, &x, NULL, NULL, NULL, false), "vjp", "vjps is NULL", "NULL result array");
    /* the function returns NULL, with and without an error of its own */
    r[0] = x;
    expect_error(ctx, ag_vjp(ctx, fn_null, NULL, 1, &x, NULL, &out, r, false), "vjp", "returned NULL", "f returns NULL");
    CHECK(r[0] == NULL && out == NULL, "results are NULL after an error");
    expect_error(ctx, ag_jacobian(ctx, fn_null, NULL, 1, &x, r, false), "jacobian", "returned NULL", "f returns NULL");
    expect_error(ctx, ag_hessian(ctx, fn_bad_op, NULL, 1, &x, h, false), "matmul", NULL, "an op inside f fails");
    CHECK(h[0] == NULL, "hessian results NULL after an error");
    /* tangent and cotangent shapes */
    vbad = ag_randn(ctx, AG_F64, 1, s3);
    expect_error(ctx, ag_vjp(ctx, fn_cube, NULL, 1, &x, vbad, NULL, r, false), "vjp", "v has shape [3] but the function's output has shape [2, 3]", "v wrong shape");
    expect_error(ctx, ag_vjp(ctx, fn_cube, NULL, 1, &x, NULL, NULL, r, false), "vjp", "single-element output", "NULL v, non-scalar output");
    {
        ag_tensor *ub[2];
        ub[0] = y3; ub[1] = y3;
        expect_error(ctx, ag_jvp(ctx, fn_tanh_xy, NULL, 2, in2, ub, NULL, r, false), "jvp", "u[1] has shape [3] but input 1 has shape [4]", "u wrong shape");
        expect_error(ctx, ag_jvp(ctx, fn_tanh_xy, NULL, 2, in2, NULL, NULL, r, false), "jvp", "u may be NULL only", "NULL u");
        expect_error(ctx, ag_hvp(ctx, fn_tanh_xy, NULL, 2, in2, ub, NULL, r, false), "hvp", "v[1] has shape [3] but input 1 has shape [4]", "hvp v wrong shape");
        ub[1] = NULL;
        expect_error(ctx, ag_jvp(ctx, fn_tanh_xy, NULL, 2, in2, ub, NULL, r, false), "jvp", "u[1] is NULL", "u[1] NULL");
    }
    /* scalar functions only */
    expect_error(ctx, ag_hessian(ctx, fn_cube, NULL, 1, &x, h, false), "hessian", "must return a single element (a scalar), got shape [2, 3]", "hessian of non-scalar");
    r[0] = ag_ones(ctx, AG_F64, 2, s23);
    expect_error(ctx, ag_hvp(ctx, fn_cube, NULL, 1, &x, r, NULL, h, false), "hvp", "single element", "hvp of non-scalar");
    /* results with too many dims */
    {
        ag_tensor *big = ag_randn(ctx, AG_F64, 4, s2222);
        expect_error(ctx, ag_jacobian(ctx, fn_big, NULL, 1, &big, r, false), "jacobian", "more than 8 dims", "jacobian dims");
    }
    /* per-example */
    {
        ag_tensor *W = ag_set_requires_grad(ag_randn(ctx, AG_F64, 2, s23), true), *xb = ag_randn(ctx, AG_F64, 2, s23), *yb, *dW[1], *xs[1], *ys[1];
        int64_t s43[2] = { 4, 3 };
        ag_tensor *x43 = ag_randn(ctx, AG_F64, 2, s43);
        yb = ag_linear(x43, W, NULL);   /* [4, 2] */
        xs[0] = x43; ys[0] = yb;
        expect_error(ctx, ag_per_example_linear_grads(ag_sum(yb), 0, xs, ys, dW, NULL), "per_example_linear_grads", "got 0", "no layers");
        xs[0] = xb;
        expect_error(ctx, ag_per_example_linear_grads(ag_sum(yb), 1, xs, ys, dW, NULL), "per_example_linear_grads", "must be [B, ..., in]", "batch mismatch");
        xs[0] = x43; ys[0] = x43;
        expect_error(ctx, ag_per_example_linear_grads(ag_sum(yb), 1, xs, ys, dW, NULL), "per_example_linear_grads", "does not require grad", "y not in graph");
        ys[0] = NULL;
        expect_error(ctx, ag_per_example_linear_grads(ag_sum(yb), 1, xs, ys, dW, NULL), "per_example_linear_grads", "ys[0] is NULL", "NULL y");
    }
    /* still usable, grad mode restored, outputs that do not depend on the input give zeros */
    {
        ag_tensor *g[1], *j[1], *hh[1], *jv = NULL, *o = NULL;
        bool prev = ag_set_grad_enabled(ctx, false);
        CHECK(ag_vjp(ctx, fn_linear_sum, NULL, 1, &x, NULL, &o, g, false) == 0 && g[0] && fabs(ag_item(ag_sum(g[0])) - 12.0) < 1e-12,
              "vjp inside a no-grad scope: %s", ag_error(ctx));
        CHECK(!ag_is_grad_enabled(ctx), "grad mode restored");
        ag_set_grad_enabled(ctx, prev);
        CHECK(ag_hessian(ctx, fn_linear_sum, NULL, 1, &x, hh, false) == 0 && hh[0] && ag_numel(hh[0]) == 36 && ag_item(ag_sum(ag_abs(hh[0]))) == 0,
              "hessian of a linear function is zero: %s", ag_error(ctx));
        CHECK(ag_jacobian(ctx, fn_const, NULL, 1, &x, j, false) == 0 && j[0] && ag_ndim(j[0]) == 2 && ag_item(ag_sum(ag_abs(j[0]))) == 0,
              "jacobian of a constant is zero: %s", ag_error(ctx));
        r[0] = ag_ones(ctx, AG_F64, 2, s23);
        CHECK(ag_jvp(ctx, fn_const, NULL, 1, &x, r, NULL, &jv, false) == 0 && jv && ag_item(jv) == 0, "jvp of a constant: %s", ag_error(ctx));
        CHECK(ag_jacobian(ctx, fn_identity, NULL, 1, &y3, j, false) == 0 && j[0] && fabs(ag_item(ag_sum(j[0])) - 3.0) < 1e-15,
              "jacobian of the identity: %s", ag_error(ctx));
        {   /* the identity's vjp is a fresh tensor, not v itself */
            ag_tensor *vv = ag_ones(ctx, AG_F64, 1, s3);
            CHECK(ag_vjp(ctx, fn_identity, NULL, 1, &y3, vv, &o, g, false) == 0 && g[0] != vv && o != y3 && ag_data(o) != ag_data(y3),
                  "identity vjp results are fresh: %s", ag_error(ctx));
        }
        {   /* a 0-d input with NULL u / v means 1 */
            ag_tensor *a = ag_scalar_f64(ctx, 0.5), *hv[1];
            CHECK(ag_jvp(ctx, fn_cube, NULL, 1, &a, NULL, NULL, &jv, false) == 0 && jv && fabs(ag_item(jv) - 0.75) < 1e-15, "jvp NULL u: %s", ag_error(ctx));
            CHECK(ag_hvp(ctx, fn_cube, NULL, 1, &a, NULL, NULL, hv, false) == 0 && hv[0] && fabs(ag_item(hv[0]) - 3.0) < 1e-15, "hvp NULL v: %s", ag_error(ctx));
        }
        {   /* third order: d/dx sum(J .* W) for J = diag(3 x^2) is 6 x W_kk */
            ag_tensor *xr = ag_set_requires_grad(ag_randn(ctx, AG_F64, 1, s3), true), *Wt = ag_randn(ctx, AG_F64, 2, s33), *gg[1];
            double *xd, *wd, *gd, err = 0;
            int k;
            CHECK(ag_jacobian(ctx, fn_cube, NULL, 1, &xr, j, true) == 0 && ag_grad_of(ag_sum(ag_mul(j[0], Wt)), NULL, 1, &xr, gg) == 0,
                  "third order: %s", ag_error(ctx));
            xd = values(xr); wd = values(Wt); gd = values(gg[0]);
            for (k = 0; k < 3; k++) err = fmax(err, fabs(gd[k] - 6 * xd[k] * wd[k * 3 + k]));
            CHECK(err < 1e-12, "third order through jacobian(create_graph): %.3g", err);
            free(xd); free(wd); free(gd);
        }
    }
    CHECK(ag_error(ctx) == NULL, "bad_inputs: error left: %s", ag_error(ctx));
    ag_ctx_free(ctx);
    ag_ctx_free(other);
}

int main(void) {
    FILE *f = fopen("tests/data/functional_reference.txt", "r");
    rcase *c = (rcase *)malloc(sizeof(rcase));
    int k;
    CHECK(f != NULL, "cannot open tests/data/functional_reference.txt (run from the repository root)");
    while (f && read_case(f, c)) {
        if (!strcmp(c->name, "perex")) { per_example_reference(c, AG_F64); per_example_reference(c, AG_F32); }
        else { run_case(c, AG_F64); run_case(c, AG_F32); }
        free_case(c);
    }
    if (f) fclose(f);
    free(c);
    CHECK(ncases_run == 20, "ran %d of 20 function cases", ncases_run);
    per_example_sequence();
    per_example_expand();
    bad_inputs();
    printf("max error vs PyTorch (relative to each tensor's largest magnitude, at least 1):\n");
    for (k = 0; k < K_N; k++) printf("  %-12s F64 %.2e   F32 %.2e\n", kind_names[k], worst[k][1], worst[k][0]);
    return harness_finish("test_functional");
}
