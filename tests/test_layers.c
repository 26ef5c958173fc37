/* test_layers.c - conv2d, max/avg pool2d, batch_norm, embedding and causal
   self-attention (autograd.h, >>layers):
     1. against PyTorch (tests/data/layers_reference.txt, made by
        tests/gen_layers_reference.py): outputs, input gradients for a seed
        gradient, and batch norm's running statistics, in F32 and F64;
     2. gradient checks in F64 against central differences, first and second order;
     3. bad inputs: NULL with a message naming the op, and the context stays usable;
     4. empty batches, and no heap allocation after the first training step.

   cc -std=c99 -O2 -I. tests/test_layers.c -o build/test_layers -lm      (from the repository root) */
#include "autograd.h"
#include "tests/harness.h"
#include "tests/refdata.h"

#include <stdlib.h>

/* ---- reference file ---- */
#define MAXT 8
typedef struct {
    char name[64], op[32];
    int nints; long ints[256];
    int nreals; double reals[8];
    int nin; rtensor in[MAXT];
    rtensor out, seed;
    int ngrad; rtensor grad[MAXT];
    int nstat; rtensor stat[2];
} rcase;

static void free_case(rcase *c) {
    int i;
    for (i = 0; i < c->nin; i++) free(c->in[i].v);
    for (i = 0; i < c->ngrad; i++) free(c->grad[i].v);
    for (i = 0; i < c->nstat; i++) free(c->stat[i].v);
    free(c->out.v); free(c->seed.v);
}
/* reads the next case from the line iterator; 0 at the end */
static int read_case(FILE *f, rcase *c) {
    static char line[1 << 20];
    memset(c, 0, sizeof *c);
    while (fgets(line, sizeof line, f)) {
        char *p = line, *kw = next_tok(&p);
        int i;
        if (!kw || kw[0] == '#') continue;
        if (!strcmp(kw, "case")) { snprintf(c->name, sizeof c->name, "%s", next_tok(&p)); snprintf(c->op, sizeof c->op, "%s", next_tok(&p)); }
        else if (!strcmp(kw, "ints")) { c->nints = atoi(next_tok(&p)); for (i = 0; i < c->nints; i++) c->ints[i] = atol(next_tok(&p)); }
        else if (!strcmp(kw, "reals")) { c->nreals = atoi(next_tok(&p)); for (i = 0; i < c->nreals; i++) c->reals[i] = strtod(next_tok(&p), NULL); }
        else if (!strcmp(kw, "in")) { rtensor *t = &c->in[c->nin++]; t->rg = atoi(next_tok(&p)); read_tensor(&p, t, true); }
        else if (!strcmp(kw, "out")) read_tensor(&p, &c->out, false);
        else if (!strcmp(kw, "seed")) read_tensor(&p, &c->seed, true);
        else if (!strcmp(kw, "grad")) read_tensor(&p, &c->grad[c->ngrad++], false);
        else if (!strcmp(kw, "stat")) read_tensor(&p, &c->stat[c->nstat++], false);
        else if (!strcmp(kw, "end")) return 1;
    }
    return 0;
}

static ag_tensor *make(ag_ctx *ctx, ag_dtype dt, const rtensor *r, bool persistent) {
    ag_tensor *t;
    if (persistent) {
        t = ag_persistent(ctx, AG_F64, r->ndim, r->shape, r->v);
        if (t && dt == AG_F32) {   /* a persistent F32 copy */
            float *tmp = (float *)malloc(sizeof(float) * (size_t)(r->n ? r->n : 1));
            int64_t i;
            for (i = 0; i < r->n; i++) tmp[i] = (float)r->v[i];
            t = ag_persistent(ctx, AG_F32, r->ndim, r->shape, tmp);
            free(tmp);
        }
        return t;
    }
    t = ag_from(ctx, AG_F64, r->ndim, r->shape, r->v);
    if (dt == AG_F32) t = ag_to(t, AG_F32);
    if (t && r->rg) t = ag_set_requires_grad(t, true);
    return t;
}

/* the worst |got - ref| over the tensor, divided by max(1, max |ref|): an error relative to the tensor's scale */
static double max_err(const ag_tensor *t, const rtensor *r, double *scale_out) {
    double *v, scale = 0, worst = 0;
    int64_t i;
    if (!t || ag_numel(t) != r->n || ag_ndim(t) != r->ndim) return 1e300;
    for (i = 0; i < r->ndim; i++) if (ag_dim(t, (int)i) != r->shape[i]) return 1e300;
    v = (double *)malloc(sizeof(double) * (size_t)(r->n ? r->n : 1));
    ag_copy_out(t, AG_F64, v);
    for (i = 0; i < r->n; i++) if (fabs(r->v[i]) > scale) scale = fabs(r->v[i]);
    if (scale < 1) scale = 1;
    for (i = 0; i < r->n; i++) {
        double e = fabs(v[i] - r->v[i]) / scale;
        if (!(e <= worst)) worst = e != e ? 1e300 : e;
    }
    free(v);
    if (scale_out) *scale_out = scale;
    return worst;
}

static double worst_f32, worst_f64;
static const char *op_names[] = { "conv2d", "max_pool2d", "avg_pool2d", "batch_norm", "embedding", "attention" };
static double op_worst[6][2];   /* [op][F32, F64] */
static void note_err(const char *op, ag_dtype dt, double e) {
    int i;
    if (dt == AG_F32) { if (e > worst_f32) worst_f32 = e; } else if (e > worst_f64) worst_f64 = e;
    for (i = 0; i < 6; i++) if (!strcmp(op, op_names[i]) && e > op_worst[i][dt == AG_F64]) op_worst[i][dt == AG_F64] = e;
}

static ag_tensor *opt(ag_tensor **ts, int i, int have) { return have ? ts[i] : NULL; }

static void run_case(const rcase *c, ag_dtype dt) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *in[MAXT], *y = NULL, *rg[MAXT];
    int i, nrg = 0;
    double tol = dt == AG_F32 ? 1e-5 : 1e-10, e;   /* |got - want| <= tol * max(1, max |want|) */
    const char *dn = dt == AG_F32 ? "F32" : "F64";
    bool bn = !strcmp(c->op, "batch_norm");
    for (i = 0; i < c->nin; i++) {
        /* batch norm's running statistics are persistent buffers */
        bool pers = bn && c->ints[2] && i >= c->nin - 2;
        in[i] = make(ctx, dt, &c->in[i], pers);
        if (c->in[i].rg) rg[nrg++] = in[i];
    }
    if (!strcmp(c->op, "conv2d")) {
        ag_conv2d_opts o;
        memset(&o, 0, sizeof o);
        o.stride_h = (int)c->ints[0]; o.stride_w = (int)c->ints[1]; o.pad_h = (int)c->ints[2]; o.pad_w = (int)c->ints[3];
        o.dil_h = (int)c->ints[4]; o.dil_w = (int)c->ints[5]; o.groups = (int)c->ints[6];
        y = ag_conv2d(in[0], in[1], opt(in, 2, (int)c->ints[7]), &o);
    } else if (!strcmp(c->op, "max_pool2d") || !strcmp(c->op, "avg_pool2d")) {
        y = (c->op[0] == 'm' ? ag_max_pool2d : ag_avg_pool2d)(in[0], (int)c->ints[0], (int)c->ints[1], (int)c->ints[2],
                                                             (int)c->ints[3], (int)c->ints[4], (int)c->ints[5]);
    } else if (bn) {
        int affine = (int)c->ints[1], running = (int)c->ints[2];
        y = ag_batch_norm(in[0], opt(in, 1, affine), opt(in, 2, affine), running ? in[c->nin - 2] : NULL,
                          running ? in[c->nin - 1] : NULL, c->ints[0] != 0, c->reals[0], c->reals[1]);
    } else if (!strcmp(c->op, "embedding")) {
        int nd = (int)c->ints[0], k;
        int64_t sh[AG_MAX_DIMS], n = 1;
        int32_t idx[256];
        for (k = 0; k < nd; k++) { sh[k] = c->ints[1 + k]; n *= sh[k]; }
        for (k = 0; k < n; k++) idx[k] = (int32_t)c->ints[1 + nd + k];
        y = ag_embedding(in[0], nd, sh, idx);
    } else if (!strcmp(c->op, "attention")) {
        int bias = (int)c->ints[1];
        y = bias ? ag_causal_self_attention(in[0], in[1], in[2], in[3], in[4], (int)c->ints[0])
                 : ag_causal_self_attention(in[0], in[1], NULL, in[2], NULL, (int)c->ints[0]);
    }
    CHECK(y != NULL, "%s %s: %s", c->name, dn, ag_error(ctx) ? ag_error(ctx) : "NULL");
    if (y) {
        ag_backward_opts bo;
        ag_tensor *seed = make(ctx, dt, &c->seed, false);
        e = max_err(y, &c->out, NULL);
        note_err(c->op, dt, e);
        CHECK(e <= tol, "%s %s: output differs from PyTorch by %.3g (scaled)", c->name, dn, e);
        memset(&bo, 0, sizeof bo);
        bo.grad = seed;
        CHECK(ag_backward(y, &bo) == 0, "%s %s: backward: %s", c->name, dn, ag_error(ctx));
        CHECK(nrg == c->ngrad, "%s: %d inputs need grad, %d reference gradients", c->name, nrg, c->ngrad);
        for (i = 0; i < nrg && i < c->ngrad; i++) {
            e = max_err(ag_grad(rg[i]), &c->grad[i], NULL);
            note_err(c->op, dt, e);
            CHECK(e <= tol, "%s %s: gradient of input %d differs from PyTorch by %.3g (scaled)", c->name, dn, i, e);
        }
        for (i = 0; i < c->nstat; i++) {   /* running_mean, running_var after the step */
            e = max_err(in[c->nin - 2 + i], &c->stat[i], NULL);
            note_err(c->op, dt, e);
            CHECK(e <= tol, "%s %s: running %s differs from PyTorch by %.3g", c->name, dn, i ? "var" : "mean", e);
        }
    }
    ag_ctx_free(ctx);
}

static void test_reference(void) {
    FILE *f = fopen("tests/data/layers_reference.txt", "r");
    rcase c;
    int n = 0;
    CHECK(f != NULL, "cannot open tests/data/layers_reference.txt (run from the repository root)");
    if (!f) return;
    while (read_case(f, &c)) {
        run_case(&c, AG_F32);
        run_case(&c, AG_F64);
        free_case(&c);
        n++;
    }
    fclose(f);
    CHECK(n >= 20, "only %d reference cases", n);
    printf("test_layers: %d PyTorch cases; worst error (scaled by the tensor's largest value) F32 %.3g, F64 %.3g\n", n, worst_f32, worst_f64);
    for (n = 0; n < 6; n++) printf("  %-12s F32 %.3g  F64 %.3g\n", op_names[n], op_worst[n][0], op_worst[n][1]);
}

/* ---- gradient checks ---- */
typedef struct { int kind; ag_conv2d_opts co; int k[6]; bool training; int n_head; int nidx; int32_t idx[8]; } gc_args;
enum { GC_CONV, GC_CONV_NOBIAS, GC_MAXPOOL, GC_AVGPOOL, GC_BN_TRAIN, GC_BN_EVAL, GC_EMB, GC_ATTN, GC_ATTN_NOBIAS };

static ag_tensor *gc_fn(ag_ctx *ctx, ag_tensor **in, void *user) {
    gc_args *a = (gc_args *)user;
    (void)ctx;
    switch (a->kind) {
    case GC_CONV: return ag_conv2d(in[0], in[1], in[2], &a->co);
    case GC_CONV_NOBIAS: return ag_conv2d(in[0], in[1], NULL, &a->co);
    case GC_MAXPOOL: return ag_max_pool2d(in[0], a->k[0], a->k[1], a->k[2], a->k[3], a->k[4], a->k[5]);
    case GC_AVGPOOL: return ag_avg_pool2d(in[0], a->k[0], a->k[1], a->k[2], a->k[3], a->k[4], a->k[5]);
    case GC_BN_TRAIN: return ag_batch_norm(in[0], in[1], in[2], NULL, NULL, true, 0.1, 1e-5);
    case GC_BN_EVAL: {
        int64_t C = ag_dim(in[0], 1);
        ag_tensor *rm = ag_full(ctx, AG_F64, 1, &C, 0.3), *rv = ag_full(ctx, AG_F64, 1, &C, 1.7);
        return ag_batch_norm(in[0], in[1], in[2], rm, rv, false, 0.1, 1e-5);
    }
    case GC_EMB: { int64_t sh[2] = { 2, 4 }; return ag_tanh(ag_embedding(in[0], 2, sh, a->idx)); }
    case GC_ATTN: return ag_causal_self_attention(in[0], in[1], in[2], in[3], in[4], a->n_head);
    case GC_ATTN_NOBIAS: return ag_causal_self_attention(in[0], in[1], NULL, in[2], NULL, a->n_head);
    }
    return NULL;
}

static ag_tensor *rnd(ag_ctx *ctx, int nd, int64_t a, int64_t b, int64_t c, int64_t d, double scale) {
    int64_t sh[4];
    sh[0] = a; sh[1] = b; sh[2] = c; sh[3] = d;
    return ag_set_requires_grad(ag_mul_scalar(ag_randn(ctx, AG_F64, nd, sh), scale), true);
}

static void gradcheck(const char *what, gc_args *a, int n, ag_tensor **in, bool second) {
    ag_ctx *ctx = ag_context(in[0]);
    ag_gradcheck_opts o;
    ag_gradcheck_result r;
    int rc;
    memset(&o, 0, sizeof o);
    memset(&r, 0, sizeof r);
    o.second_order = second;
    rc = ag_gradcheck(ctx, gc_fn, a, n, in, &o, &r);
    CHECK(rc == 1, "gradcheck %s: rc %d, worst abs err %.3g (order %d, input %d, element %lld: analytic %.9g numeric %.9g) %s",
          what, rc, r.max_abs_err, r.order, r.worst_input, (long long)r.worst_index, r.analytic, r.numeric,
          ag_error(ctx) ? ag_error(ctx) : "");
}

static void test_gradcheck(void) {
    ag_desc d;
    ag_ctx *ctx;
    gc_args a;
    ag_tensor *in[5];
    memset(&d, 0, sizeof d);
    d.seed = 7;
    ctx = ag_ctx_new(&d);
    /* conv: stride 2, padding, dilation (first and second order) */
    memset(&a, 0, sizeof a);
    a.kind = GC_CONV;
    a.co.stride_h = 2; a.co.stride_w = 1; a.co.pad_h = 1; a.co.pad_w = 2; a.co.dil_h = 1; a.co.dil_w = 2;
    in[0] = rnd(ctx, 4, 2, 2, 5, 5, 1.0); in[1] = rnd(ctx, 4, 3, 2, 3, 2, 0.5); in[2] = rnd(ctx, 1, 3, 1, 1, 1, 1.0);
    gradcheck("conv2d stride/pad/dil", &a, 3, in, true);
    ag_ctx_reset(ctx);
    /* conv: groups 2, no bias */
    memset(&a, 0, sizeof a);
    a.kind = GC_CONV_NOBIAS; a.co.groups = 2; a.co.pad_h = a.co.pad_w = 1;
    in[0] = rnd(ctx, 4, 1, 4, 4, 3, 1.0); in[1] = rnd(ctx, 4, 4, 2, 2, 2, 0.5);
    gradcheck("conv2d groups", &a, 2, in, true);
    ag_ctx_reset(ctx);
    /* pools */
    memset(&a, 0, sizeof a);
    a.kind = GC_MAXPOOL; a.k[0] = 3; a.k[1] = 2; a.k[2] = 2; a.k[3] = 1; a.k[4] = 1; a.k[5] = 1;
    in[0] = rnd(ctx, 4, 2, 2, 5, 4, 1.0);
    gradcheck("max_pool2d", &a, 1, in, true);
    a.kind = GC_AVGPOOL;
    gradcheck("avg_pool2d", &a, 1, in, true);
    a.k[0] = 2; a.k[1] = 3; a.k[2] = 2; a.k[3] = 3; a.k[4] = 0; a.k[5] = 0;   /* non-overlapping windows, cropped */
    in[0] = rnd(ctx, 4, 2, 2, 5, 7, 1.0);
    gradcheck("avg_pool2d 2x3 stride 2x3", &a, 1, in, true);
    a.kind = GC_MAXPOOL;
    gradcheck("max_pool2d 2x3 stride 2x3", &a, 1, in, true);
    ag_ctx_reset(ctx);
    /* batch norm, training ([N, C, H, W]) and eval ([N, C]) */
    memset(&a, 0, sizeof a);
    a.kind = GC_BN_TRAIN;
    in[0] = rnd(ctx, 4, 3, 2, 2, 2, 1.0); in[1] = rnd(ctx, 1, 2, 1, 1, 1, 1.0); in[2] = rnd(ctx, 1, 2, 1, 1, 1, 1.0);
    gradcheck("batch_norm training", &a, 3, in, true);
    a.kind = GC_BN_EVAL;
    in[0] = rnd(ctx, 2, 4, 2, 1, 1, 1.0);
    gradcheck("batch_norm eval", &a, 3, in, true);
    ag_ctx_reset(ctx);
    /* embedding (through tanh, so the second order is not trivially zero) */
    memset(&a, 0, sizeof a);
    a.kind = GC_EMB;
    a.idx[0] = 1; a.idx[1] = 1; a.idx[2] = 4; a.idx[3] = 0; a.idx[4] = 2; a.idx[5] = 4; a.idx[6] = 1; a.idx[7] = 3;
    in[0] = rnd(ctx, 2, 5, 3, 1, 1, 1.0);
    gradcheck("embedding", &a, 1, in, true);
    ag_ctx_reset(ctx);
    /* attention: 2 heads with biases; 1 head without */
    memset(&a, 0, sizeof a);
    a.kind = GC_ATTN; a.n_head = 2;
    in[0] = rnd(ctx, 3, 2, 3, 4, 1, 1.0); in[1] = rnd(ctx, 2, 12, 4, 1, 1, 0.5); in[2] = rnd(ctx, 1, 12, 1, 1, 1, 0.2);
    in[3] = rnd(ctx, 2, 4, 4, 1, 1, 0.5); in[4] = rnd(ctx, 1, 4, 1, 1, 1, 0.2);
    gradcheck("causal_self_attention", &a, 5, in, true);
    a.kind = GC_ATTN_NOBIAS; a.n_head = 1;
    in[2] = in[3];
    gradcheck("causal_self_attention no bias", &a, 3, in, true);
    ag_ctx_free(ctx);
}

/* ---- running statistics over several steps, then eval ---- */
static void test_running_stats(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t C = 3, sh[2] = { 8, 3 };
    ag_tensor *rm = ag_persistent(ctx, AG_F32, 1, &C, NULL), *rv = ag_persistent(ctx, AG_F32, 1, &C, NULL), *y;
    float one[3] = { 1, 1, 1 };
    int step;
    double m0 = 0;
    memcpy(ag_data(rv), one, sizeof one);
    for (step = 0; step < 50; step++) {   /* x ~ 2 + 3 N(0, 1): running stats approach mean 2, var 9 */
        ag_tensor *x = ag_add_scalar(ag_mul_scalar(ag_randn(ctx, AG_F32, 2, sh), 3.0), 2.0);
        y = ag_batch_norm(x, NULL, NULL, rm, rv, true, 0.1, 1e-5);
        CHECK(y != NULL, "batch_norm step %d: %s", step, ag_error(ctx));
        ag_ctx_reset(ctx);
    }
    m0 = ((float *)ag_data(rm))[0];
    CHECK(fabs(m0 - 2.0) < 1.5 && fabs(((float *)ag_data(rv))[0] - 9.0) < 5.0, "running stats after 50 steps: mean %g var %g", m0,
          ((float *)ag_data(rv))[0]);
    {   /* eval: (x - rm) / sqrt(rv + eps), and the buffers do not move */
        float xs[3] = { 5, 5, 5 };
        int64_t s1[2] = { 1, 3 };
        ag_tensor *x = ag_from(ctx, AG_F32, 2, s1, xs);
        double want = (5.0 - m0) / sqrt(((float *)ag_data(rv))[0] + 1e-5);
        int64_t idx[2] = { 0, 0 };
        y = ag_batch_norm(x, NULL, NULL, rm, rv, false, 0.1, 1e-5);
        CHECK(y && fabs(ag_get(y, idx) - want) < 1e-5, "batch_norm eval: %g vs %g", y ? ag_get(y, idx) : 0.0, want);
        CHECK(((float *)ag_data(rm))[0] == (float)m0, "eval moved the running mean");
    }
    ag_ctx_free(ctx);
}

/* ---- bad inputs ---- */
static void expect_fail(ag_ctx *ctx, ag_tensor *y, const char *op, const char *what) {
    const char *e = ag_error(ctx);
    CHECK(y == NULL, "%s: expected NULL", what);
    CHECK(e && strstr(e, op), "%s: error '%s' should name %s", what, e ? e : "(none)", op);
    if (e) printf("  %-44s -> %s\n", what, e);
    ag_clear_error(ctx);
    {   /* the context is still usable */
        ag_tensor *t = ag_add_scalar(ag_scalar(ctx, 1.0), 1.0);
        CHECK(t && ag_item(t) == 2.0 && !ag_error(ctx), "%s: context unusable afterwards", what);
    }
}

static ag_tensor *zeros(ag_ctx *ctx, int nd, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t sh[4];
    sh[0] = a; sh[1] = b; sh[2] = c; sh[3] = d;
    return ag_zeros(ctx, AG_F32, nd, sh);
}

static void test_errors(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_conv2d_opts o;
    ag_tensor *x = zeros(ctx, 4, 2, 3, 5, 5), *W = zeros(ctx, 4, 4, 3, 3, 3), *rg;
    int64_t C = 3, one = 1, sh2[2] = { 2, 3 };
    int32_t idx[2] = { 0, 9 };
    memset(&o, 0, sizeof o);
    printf("test_layers: bad inputs\n");
    expect_fail(ctx, ag_conv2d(zeros(ctx, 3, 3, 5, 5, 1), W, NULL, NULL), "conv2d", "conv2d 3-D input");
    expect_fail(ctx, ag_conv2d(x, zeros(ctx, 4, 4, 2, 3, 3), NULL, NULL), "conv2d", "conv2d wrong channel count");
    o.groups = 2;
    expect_fail(ctx, ag_conv2d(x, W, NULL, &o), "conv2d", "conv2d groups not dividing channels");
    o.groups = 0;
    expect_fail(ctx, ag_conv2d(x, zeros(ctx, 4, 4, 3, 7, 3), NULL, NULL), "conv2d", "conv2d kernel bigger than input");
    o.pad_h = 1; o.dil_h = 4;
    expect_fail(ctx, ag_conv2d(x, W, NULL, &o), "conv2d", "conv2d dilated kernel bigger than padded");
    o.pad_h = -1; o.dil_h = 0;
    expect_fail(ctx, ag_conv2d(x, W, NULL, &o), "conv2d", "conv2d negative padding");
    o.pad_h = 0; o.stride_w = -2;
    expect_fail(ctx, ag_conv2d(x, W, NULL, &o), "conv2d", "conv2d negative stride");
    expect_fail(ctx, ag_conv2d(x, W, zeros(ctx, 1, 3, 1, 1, 1), NULL), "conv2d", "conv2d bias wrong size");
    expect_fail(ctx, ag_conv2d(x, NULL, NULL, NULL), "conv2d", "conv2d NULL weight");
    expect_fail(ctx, ag_max_pool2d(x, 6, 6, 0, 0, 0, 0), "max_pool2d", "max_pool2d kernel bigger than input");
    expect_fail(ctx, ag_max_pool2d(x, 2, 2, 0, 0, 2, 0), "max_pool2d", "max_pool2d padding more than half kernel");
    expect_fail(ctx, ag_avg_pool2d(zeros(ctx, 2, 5, 5, 1, 1), 2, 2, 0, 0, 0, 0), "avg_pool2d", "avg_pool2d 2-D input");
    expect_fail(ctx, ag_avg_pool2d(x, 0, 2, 0, 0, 0, 0), "avg_pool2d", "avg_pool2d zero kernel");
    expect_fail(ctx, ag_batch_norm(x, zeros(ctx, 1, 4, 1, 1, 1), NULL, NULL, NULL, true, 0.1, 1e-5), "batch_norm", "batch_norm weight wrong size");
    expect_fail(ctx, ag_batch_norm(x, NULL, NULL, NULL, NULL, false, 0.1, 1e-5), "batch_norm", "batch_norm eval without running stats");
    expect_fail(ctx, ag_batch_norm(zeros(ctx, 2, 1, 3, 1, 1), NULL, NULL, NULL, NULL, true, 0.1, 1e-5), "batch_norm", "batch_norm one value per channel");
    rg = ag_param(ctx, AG_F32, 1, &C, NULL);
    expect_fail(ctx, ag_batch_norm(x, NULL, NULL, rg, rg, true, 0.1, 1e-5), "batch_norm", "batch_norm running stats need grad");
    expect_fail(ctx, ag_batch_norm(zeros(ctx, 1, 3, 1, 1, 1), NULL, NULL, NULL, NULL, true, 0.1, 1e-5), "batch_norm", "batch_norm 1-D input");
    expect_fail(ctx, ag_batch_norm(x, NULL, NULL, NULL, NULL, true, -1, 1e-5), "batch_norm", "batch_norm negative momentum");
    expect_fail(ctx, ag_embedding(zeros(ctx, 2, 5, 3, 1, 1), 1, sh2, idx), "embedding", "embedding index out of range");
    expect_fail(ctx, ag_embedding(zeros(ctx, 1, 5, 1, 1, 1), 1, &one, idx), "embedding", "embedding 1-D weight");
    expect_fail(ctx, ag_embedding(zeros(ctx, 2, 5, 3, 1, 1), 1, &one, NULL), "embedding", "embedding NULL index");
    {
        ag_tensor *ax = zeros(ctx, 3, 2, 4, 6, 1), *wqkv = zeros(ctx, 2, 18, 6, 1, 1), *wo = zeros(ctx, 2, 6, 6, 1, 1);
        expect_fail(ctx, ag_causal_self_attention(ax, wqkv, NULL, wo, NULL, 4), "causal_self_attention", "attention n_head not dividing C");
        expect_fail(ctx, ag_causal_self_attention(ax, wqkv, NULL, wo, NULL, 0), "causal_self_attention", "attention n_head 0");
        expect_fail(ctx, ag_causal_self_attention(ax, zeros(ctx, 2, 12, 6, 1, 1), NULL, wo, NULL, 2), "causal_self_attention", "attention Wqkv wrong shape");
        expect_fail(ctx, ag_causal_self_attention(ax, wqkv, zeros(ctx, 1, 6, 1, 1, 1), wo, NULL, 2), "causal_self_attention", "attention bqkv wrong shape");
        expect_fail(ctx, ag_causal_self_attention(ax, wqkv, NULL, zeros(ctx, 2, 6, 5, 1, 1), NULL, 2), "causal_self_attention", "attention Wo wrong shape");
        expect_fail(ctx, ag_causal_self_attention(zeros(ctx, 2, 4, 6, 1, 1), wqkv, NULL, wo, NULL, 2), "causal_self_attention", "attention 2-D x");
        expect_fail(ctx, ag_causal_self_attention(NULL, wqkv, NULL, wo, NULL, 2), "causal_self_attention", "attention NULL x");
        CHECK(ag_causal_self_attention(ax, wqkv, NULL, wo, NULL, 3) != NULL, "attention valid call after errors: %s", ag_error(ctx));
    }
    /* a NULL from an earlier failure flows through without a new message */
    CHECK(ag_conv2d(NULL, NULL, NULL, NULL) == NULL && ag_max_pool2d(NULL, 2, 2, 0, 0, 0, 0) == NULL &&
          ag_batch_norm(NULL, NULL, NULL, NULL, NULL, true, 0.1, 1e-5) == NULL && ag_embedding(NULL, 0, NULL, NULL) == NULL &&
          !ag_error(ctx), "NULL inputs");
    ag_ctx_free(ctx);
}

/* ---- empty batches; a training step of conv + batch norm + pool + attention allocates nothing after the first ---- */
static void test_misc(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t xs[4] = { 0, 2, 5, 5 }, ws[4] = { 3, 2, 3, 3 }, C = 3, s3[3] = { 2, 4, 6 }, q[2] = { 18, 6 }, o[2] = { 6, 6 };
    ag_tensor *W = ag_param(ctx, AG_F32, 4, ws, NULL), *g = ag_param(ctx, AG_F32, 1, &C, NULL), *bb = ag_param(ctx, AG_F32, 1, &C, NULL);
    ag_tensor *rm = ag_persistent(ctx, AG_F32, 1, &C, NULL), *rv = ag_persistent(ctx, AG_F32, 1, &C, NULL);
    ag_tensor *Wq = ag_param(ctx, AG_F32, 2, q, NULL), *Wo = ag_param(ctx, AG_F32, 2, o, NULL), *y;
    ag_conv2d_opts co;
    uint64_t heap[4];
    int step;
    memset(&co, 0, sizeof co);
    co.pad_h = co.pad_w = 1;
    y = ag_conv2d(ag_zeros(ctx, AG_F32, 4, xs), W, NULL, &co);
    CHECK(y && ag_dim(y, 0) == 0 && ag_dim(y, 1) == 3 && ag_dim(y, 2) == 5, "conv2d of an empty batch: %s", ag_error(ctx));
    y = ag_max_pool2d(ag_zeros(ctx, AG_F32, 4, xs), 2, 2, 0, 0, 0, 0);
    CHECK(y && ag_numel(y) == 0 && ag_dim(y, 2) == 2, "max_pool2d of an empty batch: %s", ag_error(ctx));
    ag_ctx_reset(ctx);
    for (step = 0; step < 4; step++) {
        int64_t s4[4] = { 4, 2, 6, 6 };
        ag_tensor *x = ag_randn(ctx, AG_F32, 4, s4), *a, *loss;
        x = ag_max_pool2d(ag_relu(ag_batch_norm(ag_conv2d(x, W, NULL, &co), g, bb, rm, rv, true, 0.1, 1e-5)), 2, 2, 0, 0, 0, 0);
        a = ag_causal_self_attention(ag_randn(ctx, AG_F32, 3, s3), Wq, NULL, Wo, NULL, 2);
        loss = ag_add(ag_sum(x), ag_sum(a));
        ag_zero_grad(W); ag_zero_grad(g); ag_zero_grad(bb); ag_zero_grad(Wq); ag_zero_grad(Wo);
        CHECK(loss && ag_backward(loss, NULL) == 0, "training step %d: %s", step, ag_error(ctx));
        heap[step] = ag_get_stats(ctx).heap_allocs;
        ag_ctx_reset(ctx);
    }
    CHECK(heap[1] == heap[3], "heap allocations after the first step: %llu then %llu", (unsigned long long)heap[1], (unsigned long long)heap[3]);
    ag_ctx_free(ctx);
}

/* max_pool2d's gradient goes where PyTorch's goes: the first of equal maxima, the last NaN, a
   window of -inf to its first element inside the input, and the first of +0 and -0 or of two
   infinities (a window holding both infinities is one the kernel walks twice). The expected gradients are PyTorch 1.13's
   (F.max_pool2d(x, 2, 2[, padding=1]).sum().backward()), in F64 and F32 */
static void test_max_pool_ties(void) {
    static const double nan_ = NAN, ninf = -INFINITY;
    const double x1[16] = { 1, 5, 2, 2, 3, 4, 2, 2, -1, 0, 7, 7, 0, 0, 7, 7 };
    const double g1[16] = { 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0 };
    double x2[16] = { 0, 1, 0, 2, 3, 0, 2, 2, -1, 0, 7, 7, 0, 0, 7, 7 };
    const double g2[16] = { 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0 };
    const double g3[9] = { 1, 1, 0, 1, 1, 0, 0, 0, 0 };
    const double x4[16] = { -0.0, 0.0, -HUGE_VAL, HUGE_VAL, 0.0, -0.0, HUGE_VAL, 3, HUGE_VAL, -HUGE_VAL, 2, 2, 1, HUGE_VAL, 2, 2 };
    const double g4[16] = { 1, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0 };
    double x3[9], got[16];
    int64_t s4[4] = { 1, 1, 4, 4 }, s3[4] = { 1, 1, 3, 3 };
    int dt, i, k;
    ag_ctx *ctx = ag_ctx_new(NULL);
    x2[0] = x2[2] = x2[5] = nan_;
    for (i = 0; i < 9; i++) x3[i] = ninf;
    for (dt = 0; dt < 2; dt++)
        for (k = 0; k < 4; k++) {
            const double *xv = k == 0 ? x1 : k == 1 ? x2 : k == 2 ? x3 : x4, *want = k == 0 ? g1 : k == 1 ? g2 : k == 2 ? g3 : g4;
            int n = k == 2 ? 9 : 16, bad = 0;
            ag_tensor *x = ag_set_requires_grad(ag_to(ag_from_f64(ctx, 4, k == 2 ? s3 : s4, xv), dt ? AG_F32 : AG_F64), true);
            ag_tensor *y = ag_max_pool2d(x, 2, 2, 2, 2, k == 2, k == 2);
            CHECK(y && ag_backward(ag_sum(y), NULL) == 0 && ag_grad(x), "max_pool2d case %d: %s", k, ag_error(ctx) ? ag_error(ctx) : "");
            if (!ag_grad(x)) continue;
            ag_copy_out(ag_grad(x), AG_F64, got);
            for (i = 0; i < n; i++) bad += got[i] != want[i];
            CHECK(bad == 0, "max_pool2d %s (%s): the gradient differs from PyTorch's in %d of %d", k == 0 ? "ties" : k == 1 ? "NaN" : k == 2 ? "-inf with padding" : "signed zeros and infinities",
                  dt ? "f32" : "f64", bad, n);
            ag_ctx_reset(ctx);
        }
    ag_ctx_free(ctx);
}

/* ---- conv2d's products read x's windows in place (implicit im2col): every path against direct loops ----
   y, d x and d W (for a seed gradient g) against the defining sums in double, on geometries that take
   each path of the packing from x: stride 1 "same" (whole planes shifted, with dilation too), the
   general line (stride 2, a "valid" width, a non-contiguous input), d x through fold (stride 2) and as
   a cropping conv (padding beyond dilation (k - 1)), groups, C kh kw past a k-block of the GEMM and
   ragged panels; then the same conv on 1 and 2 threads, bit for bit */
typedef struct { int64_t N, C, H, W, O, kh, kw; int sh, sw, ph, pw, dh, dw, G; bool transposed_x; } conv_geo;
static void conv_direct(const conv_geo *c, int64_t OH, int64_t OW, const double *x, const double *w, const double *g,
                        double *y, double *dx, double *dw) {
    int64_t n, o, ci, i, j, oh, ow, Cg = c->C / c->G, Og = c->O / c->G;
    for (n = 0; n < c->N; n++) for (o = 0; o < c->O; o++) for (oh = 0; oh < OH; oh++) for (ow = 0; ow < OW; ow++) {
        double s = 0, gv = g[((n * c->O + o) * OH + oh) * OW + ow];
        for (ci = 0; ci < Cg; ci++) for (i = 0; i < c->kh; i++) for (j = 0; j < c->kw; j++) {
            int64_t ih = oh * c->sh + i * c->dh - c->ph, iw = ow * c->sw + j * c->dw - c->pw, xc = o / Og * Cg + ci;
            int64_t xi = ((n * c->C + xc) * c->H + ih) * c->W + iw, wi = ((o * Cg + ci) * c->kh + i) * c->kw + j;
            if (ih < 0 || ih >= c->H || iw < 0 || iw >= c->W) continue;
            s += w[wi] * x[xi];
            dx[xi] += w[wi] * gv;
            dw[wi] += x[xi] * gv;
        }
        y[((n * c->O + o) * OH + oh) * OW + ow] = s;
    }
}
static double rel_diff(const double *a, const double *b, int64_t n) {
    double e = 0, m = 1e-300;
    int64_t i;
    for (i = 0; i < n; i++) { double d = fabs(a[i] - b[i]); if (d > e) e = d; if (fabs(b[i]) > m) m = fabs(b[i]); }
    return e / m;
}
/* The CNN example's convolutions in F32 on every kernel set, 1 and 2 threads, against direct
   loops in double. 16 channels make 144 rows of cols, so k-blocks of cols (and blocks of A's
   rows for d W) end on a top kernel row, and some column blocks end a few columns into a plane's
   top padding rows: the plane-shift line once padded such a piece to the end of the padding row,
   past its buffer (a wrong d W on 1 thread, a race between slabs on 2). */
static void test_conv_cnn_f32(void) {
    static const conv_geo geos[] = {
        { 64, 16, 14, 14, 32, 3, 3, 1, 1, 1, 1, 1, 1, 1, false },   /* the example's second conv */
        { 32, 16, 28, 28, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, false },   /* the bench's conv layer, 32 images */
    };
    static const char *sets[] = { "scalar", "avx2", "avx512", "neon", "simd128" };
    size_t t, k;
    int threads;
    for (t = 0; t < sizeof geos / sizeof geos[0]; t++) {
        const conv_geo *c = &geos[t];
        int64_t OH = c->H, OW = c->W, xs[4], ws[4], gs[4], i;
        int64_t nx = c->N * c->C * c->H * c->W, nw = c->O * c->C * 9, ny = c->N * c->O * OH * OW;
        float *xf = (float *)malloc(sizeof(float) * (size_t)nx), *wf = (float *)malloc(sizeof(float) * (size_t)nw);
        float *gf = (float *)malloc(sizeof(float) * (size_t)ny), *got = (float *)malloc(sizeof(float) * (size_t)(nx + nw + ny));
        double *x = (double *)malloc(sizeof(double) * (size_t)nx), *w = (double *)malloc(sizeof(double) * (size_t)nw);
        double *g = (double *)malloc(sizeof(double) * (size_t)ny), *y = (double *)calloc((size_t)ny, sizeof(double));
        double *dx = (double *)calloc((size_t)nx, sizeof(double)), *dw = (double *)calloc((size_t)nw, sizeof(double));
        double *gd = (double *)malloc(sizeof(double) * (size_t)(nx + nw + ny));
        for (i = 0; i < nx; i++) x[i] = xf[i] = (float)sin(0.37 * (double)i + 1.0);
        for (i = 0; i < nw; i++) w[i] = wf[i] = (float)cos(0.53 * (double)i);
        for (i = 0; i < ny; i++) g[i] = gf[i] = (float)sin(0.11 * (double)i - 2.0);
        conv_direct(c, OH, OW, x, w, g, y, dx, dw);
        xs[0] = c->N; xs[1] = c->C; xs[2] = c->H; xs[3] = c->W;
        ws[0] = c->O; ws[1] = c->C; ws[2] = 3; ws[3] = 3;
        gs[0] = c->N; gs[1] = c->O; gs[2] = OH; gs[3] = OW;
        for (k = 0; k < sizeof sets / sizeof sets[0]; k++)
            for (threads = 1; threads <= 2; threads++) {
                ag_desc d;
                ag_ctx *ctx;
                ag_tensor *X, *Wt, *Y, *wrt[2], *grads[2];
                ag_conv2d_opts co;
                memset(&d, 0, sizeof d);
                d.simd = sets[k]; d.threads = threads;
                ctx = ag_ctx_new(&d);
                if (!ctx || strcmp(ag_simd_name(ctx), sets[k]) != 0) { ag_ctx_free(ctx); continue; }
                X = ag_set_requires_grad(ag_from_f32(ctx, 4, xs, xf), true);
                Wt = ag_set_requires_grad(ag_from_f32(ctx, 4, ws, wf), true);
                memset(&co, 0, sizeof co);
                co.pad_h = co.pad_w = 1;
                Y = ag_conv2d(X, Wt, NULL, &co);
                wrt[0] = X; wrt[1] = Wt;
                CHECK(Y && ag_grad_of(ag_sum(ag_mul(Y, ag_from_f32(ctx, 4, gs, gf))), NULL, 2, wrt, grads) == 0, "F32 conv case %d on %s: %s",
                      (int)t, sets[k], ag_error(ctx) ? ag_error(ctx) : "");
                if (Y && grads[0] && grads[1]) {
                    ag_copy_out(Y, AG_F32, got); ag_copy_out(grads[0], AG_F32, got + ny); ag_copy_out(grads[1], AG_F32, got + ny + nx);
                    for (i = 0; i < nx + nw + ny; i++) gd[i] = got[i];
                    CHECK(rel_diff(gd, y, ny) < 1e-5, "F32 conv case %d on %s, %d threads: y differs from the direct sum by %g", (int)t, sets[k], threads, rel_diff(gd, y, ny));
                    CHECK(rel_diff(gd + ny, dx, nx) < 1e-5, "F32 conv case %d on %s, %d threads: d x differs by %g", (int)t, sets[k], threads, rel_diff(gd + ny, dx, nx));
                    CHECK(rel_diff(gd + ny + nx, dw, nw) < 1e-5, "F32 conv case %d on %s, %d threads: d W differs by %g", (int)t, sets[k], threads,
                          rel_diff(gd + ny + nx, dw, nw));
                }
                ag_ctx_free(ctx);
            }
        free(xf); free(wf); free(gf); free(got); free(x); free(w); free(g); free(y); free(dx); free(dw); free(gd);
    }
}

/* max_pool2d 2 x 2 on rows long enough for every kernel set's vectors (its 2 x 2 fast pass), on
   values full of ties, signed zeros, infinities and NaNs: the gradient of sum(y) lands where the rule
   v > max || isnan(v) in row-major order puts it, on every set, F32 and F64, ceil mode too */
static void test_max_pool_sets(void) {
    static const char *sets[] = { "scalar", "avx2", "avx512", "neon", "simd128" };
    static const int64_t shapes[][4] = { { 2, 3, 7, 38 }, { 1, 2, 6, 20 }, { 1, 1, 4, 12 }, { 2, 2, 5, 9 }, { 1, 1, 2, 17 } };
    const double vals[9] = { -0.0, 0.0, 1, 1, 2, -1, HUGE_VAL, -HUGE_VAL, NAN };
    size_t k, t;
    int dt, ceil_mode;
    for (k = 0; k < sizeof sets / sizeof sets[0]; k++)
        for (t = 0; t < sizeof shapes / sizeof shapes[0]; t++)
            for (dt = 0; dt < 2; dt++)
                for (ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
                    const int64_t *sh = shapes[t];
                    int64_t n = sh[0] * sh[1] * sh[2] * sh[3], H = sh[2], W = sh[3], OH, OW, pl, oh, ow, i, j;
                    double *x = (double *)malloc(sizeof(double) * (size_t)n), *want = (double *)calloc((size_t)n, sizeof(double));
                    double *got = (double *)malloc(sizeof(double) * (size_t)n);
                    int bad = 0;
                    ag_desc d;
                    ag_ctx *ctx;
                    ag_tensor *X, *Y;
                    ag_pool2d_opts po;
                    memset(&d, 0, sizeof d);
                    d.simd = sets[k];
                    ctx = ag_ctx_new(&d);
                    if (!ctx || strcmp(ag_simd_name(ctx), sets[k]) != 0) { ag_ctx_free(ctx); free(x); free(want); free(got); continue; }
                    for (i = 0; i < n; i++) x[i] = vals[(i * 7 + (i * i) % 11 + (int64_t)t) % (i % 5 == 0 ? 9 : 8)];   /* NaN in some windows only */
                    OH = ceil_mode ? (H + 1) / 2 : H / 2; OW = ceil_mode ? (W + 1) / 2 : W / 2;
                    for (pl = 0; pl < sh[0] * sh[1]; pl++)
                        for (oh = 0; oh < OH; oh++)
                            for (ow = 0; ow < OW; ow++) {
                                int64_t best = -1;
                                double bv = 0;
                                for (i = 2 * oh; i < 2 * oh + 2 && i < H; i++)
                                    for (j = 2 * ow; j < 2 * ow + 2 && j < W; j++) {
                                        double v = x[(pl * H + i) * W + j];
                                        if (best < 0 || v > bv || v != v) { bv = v; best = (pl * H + i) * W + j; }
                                    }
                                want[best] += 1;
                            }
                    X = ag_set_requires_grad(ag_to(ag_from_f64(ctx, 4, sh, x), dt ? AG_F32 : AG_F64), true);
                    memset(&po, 0, sizeof po);
                    po.kh = po.kw = 2; po.ceil_mode = ceil_mode != 0;
                    Y = ag_max_pool2d_ex(X, &po);
                    CHECK(Y && ag_dim(Y, 2) == OH && ag_dim(Y, 3) == OW && ag_backward(ag_sum(Y), NULL) == 0 && ag_grad(X),
                          "max_pool2d on %s, case %d: %s", sets[k], (int)t, ag_error(ctx) ? ag_error(ctx) : "");
                    if (ag_grad(X)) {
                        ag_copy_out(ag_grad(X), AG_F64, got);
                        for (i = 0; i < n; i++) bad += got[i] != want[i];
                    }
                    CHECK(bad == 0, "max_pool2d on %s, [%d, %d, %d, %d] %s%s: the gradient is off the rule's maxima in %d of %d",
                          sets[k], (int)sh[0], (int)sh[1], (int)sh[2], (int)sh[3], dt ? "f32" : "f64", ceil_mode ? " ceil mode" : "", bad, (int)n);
                    ag_ctx_free(ctx);
                    free(x); free(want); free(got);
                }
}

static void test_conv_paths(void) {
    static const conv_geo geos[] = {
        { 2, 30, 9, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, false },    /* same: planes shifted; 270 rows of cols: k-blocks */
        { 3, 4, 7, 10, 5, 3, 5, 1, 1, 2, 4, 1, 2, 1, false },     /* same with dilation 2 in w, 3 x 5 */
        { 2, 6, 11, 9, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, false },     /* stride 2: lines; d x through fold */
        { 2, 5, 8, 9, 6, 2, 3, 1, 1, 0, 0, 1, 1, 1, false },      /* valid: rows shorter than x's */
        { 2, 6, 9, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 3, true },       /* groups 3, x a transposed view */
        { 1, 3, 5, 6, 4, 1, 1, 1, 1, 1, 1, 1, 1, 1, false },      /* 1 x 1, pad 1 > dilation (k - 1): d x a cropping conv */
        { 5, 3, 7, 7, 40, 3, 3, 1, 1, 1, 1, 2, 2, 1, false },     /* dilation 2 "same"; 40 outputs: ragged tiles */
    };
    size_t t;
    for (t = 0; t < sizeof geos / sizeof geos[0]; t++) {
        const conv_geo *c = &geos[t];
        int64_t OH = (c->H + 2 * c->ph - c->dh * (c->kh - 1) - 1) / c->sh + 1, OW = (c->W + 2 * c->pw - c->dw * (c->kw - 1) - 1) / c->sw + 1;
        int64_t xs[4], ws[4], gs[4], nx = c->N * c->C * c->H * c->W, nw = c->O * (c->C / c->G) * c->kh * c->kw, ny = c->N * c->O * OH * OW, i;
        double *x = (double *)malloc(sizeof(double) * (size_t)nx), *w = (double *)malloc(sizeof(double) * (size_t)nw);
        double *g = (double *)malloc(sizeof(double) * (size_t)ny), *y = (double *)calloc((size_t)ny, sizeof(double));
        double *dx = (double *)calloc((size_t)nx, sizeof(double)), *dw = (double *)calloc((size_t)nw, sizeof(double));
        double *got = (double *)malloc(sizeof(double) * (size_t)(nx + nw + ny));
        ag_ctx *ctx = ag_ctx_new(NULL);
        ag_tensor *X, *Wt, *Y, *G, *wrt[2], *grads[2];
        ag_conv2d_opts co;
        for (i = 0; i < nx; i++) x[i] = sin(0.37 * (double)i + 1.0);
        for (i = 0; i < nw; i++) w[i] = cos(0.53 * (double)i);
        for (i = 0; i < ny; i++) g[i] = sin(0.11 * (double)i - 2.0);
        conv_direct(c, OH, OW, x, w, g, y, dx, dw);
        xs[0] = c->N; xs[1] = c->C; xs[2] = c->H; xs[3] = c->W;
        ws[0] = c->O; ws[1] = c->C / c->G; ws[2] = c->kh; ws[3] = c->kw;
        gs[0] = c->N; gs[1] = c->O; gs[2] = OH; gs[3] = OW;
        X = ag_set_requires_grad(ag_from(ctx, AG_F64, 4, xs, x), true);
        Wt = ag_set_requires_grad(ag_from(ctx, AG_F64, 4, ws, w), true);
        G = ag_from(ctx, AG_F64, 4, gs, g);
        memset(&co, 0, sizeof co);
        co.stride_h = c->sh; co.stride_w = c->sw; co.pad_h = c->ph; co.pad_w = c->pw; co.dil_h = c->dh; co.dil_w = c->dw; co.groups = c->G;
        /* a transposed view: the same values, with H and W strides swapped (the planes are not dense) */
        Y = ag_conv2d(c->transposed_x ? ag_transpose(ag_contiguous(ag_transpose(X, 2, 3)), 2, 3) : X, Wt, NULL, &co);
        wrt[0] = X; wrt[1] = Wt;
        CHECK(Y && ag_grad_of(ag_sum(ag_mul(Y, G)), NULL, 2, wrt, grads) == 0, "conv paths case %d: %s", (int)t, ag_error(ctx) ? ag_error(ctx) : "");
        if (Y && grads[0] && grads[1]) {
            ag_copy_out(Y, AG_F64, got);
            ag_copy_out(grads[0], AG_F64, got + ny);
            ag_copy_out(grads[1], AG_F64, got + ny + nx);
            CHECK(rel_diff(got, y, ny) < 1e-13, "conv paths case %d: y differs from the direct sum by %g", (int)t, rel_diff(got, y, ny));
            CHECK(rel_diff(got + ny, dx, nx) < 1e-13, "conv paths case %d: d x differs by %g", (int)t, rel_diff(got + ny, dx, nx));
            CHECK(rel_diff(got + ny + nx, dw, nw) < 1e-13, "conv paths case %d: d W differs by %g", (int)t, rel_diff(got + ny + nx, dw, nw));
        }
        ag_ctx_free(ctx);
        free(x); free(w); free(g); free(y); free(dx); free(dw); free(got);
    }
    {   /* 1 and 2 threads: the same bits (F32, 180 rows of cols, 2304 columns: two k-blocks, column slabs) */
        int64_t xs[4] = { 4, 20, 24, 24 }, ws[4] = { 24, 20, 3, 3 };
        float *first = NULL;
        int threads;
        for (threads = 1; threads <= 2; threads++) {
            ag_desc d;
            ag_ctx *ctx;
            ag_tensor *X, *Wt, *Y, *wrt[2], *grads[2];
            ag_conv2d_opts co;
            int64_t n;
            memset(&d, 0, sizeof d);
            d.seed = 11; d.threads = threads;
            ctx = ag_ctx_new(&d);
            memset(&co, 0, sizeof co);
            co.pad_h = co.pad_w = 1;
            X = ag_set_requires_grad(ag_randn(ctx, AG_F32, 4, xs), true);
            Wt = ag_set_requires_grad(ag_randn(ctx, AG_F32, 4, ws), true);
            Y = ag_conv2d(X, Wt, NULL, &co);
            wrt[0] = X; wrt[1] = Wt;
            CHECK(Y && ag_grad_of(ag_sum(ag_mul(Y, Y)), NULL, 2, wrt, grads) == 0, "conv on %d threads: %s", threads, ag_error(ctx) ? ag_error(ctx) : "");
            if (Y && grads[0] && grads[1]) {
                int64_t ny = ag_numel(Y), nx = ag_numel(X);
                float *v;
                n = ny + nx + ag_numel(Wt);
                v = (float *)malloc(sizeof(float) * (size_t)n);
                ag_copy_out(Y, AG_F32, v); ag_copy_out(grads[0], AG_F32, v + ny); ag_copy_out(grads[1], AG_F32, v + ny + nx);
                if (!first) first = v;
                else { CHECK(memcmp(v, first, sizeof(float) * (size_t)n) == 0, "conv y, d x, d W on 2 threads differ from 1 thread"); free(v); }
            }
            ag_ctx_free(ctx);
        }
        free(first);
    }
}

int main(void) {
    test_reference();
    test_gradcheck();
    test_running_stats();
    test_errors();
    test_misc();
    test_max_pool_ties();
    test_conv_paths();
    test_conv_cnn_f32();
    test_max_pool_sets();
    return harness_finish("test_layers");
}
