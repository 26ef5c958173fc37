/* half_lab.c - the course lab of shared/seeds 004, parts D and E, in F64, F32, F16 and BF16.

   The lab: x [2, 64], W [600, 64], b [600], target [2, 600];
       y = linear(x, W, b)                         (x W^T + b, one node)
       loss = 0.5 * ((y - target)^2).sum()
   and autograd's dx, dW, db against the hand-derived formulas
       dy = y - target,  dx = dy @ W,  dW = dy^T @ x,  db = dy.sum(0).

   20 runs. Each run draws its inputs once, in F32, from the library's generator (a context
   with seed 123; ag_randn in the order x, W, b, target, so run r takes the r-th 40,328 draws),
   then runs the lab on those numbers converted (ag_to: round to nearest even) to F64, F32, F16
   and BF16. F16 and BF16 are computed in F32 and rounded once per op, as PyTorch does on the
   CPU; linear accumulates in F32.

   Two tables, median and max over the 20 runs:
   1. each dtype's y, dx, dW and db against the F64 run (the reference; F64 inputs are the
      same F32 numbers, so only the arithmetic differs):
          abs = max_i |a_i - r_i|,   rel = max_i |a_i - r_i| / max_i |r_i|
      (rel is relative to the tensor's largest entry, not per element: an entry of dx that
      sums 600 terms of size ~10 to nearly 0 has no meaningful per-element relative error);
   2. the seed's own part D/E check: max_i |autograd_i - manual_i|, both in the same dtype.

   The F16 loss is inf in 18 of the 20 runs: the sum of squares (69,081 in run 0) passes F16's largest
   value, 65,504, before the 0.5 (the seed's Pitfalls warn of it); the gradients do not depend
   on the loss's value and stay finite.

   usage: half_lab [--save FILE]
     --save FILE  also write the 20 runs' F32 inputs to FILE (safetensors, names x.R, W.R,
                  b.R, target.R for R = 0..19) for examples/half_lab_torch.py

   Build: cc -std=c99 -O2 -I. examples/half_lab.c -o build/half_lab -lm -lpthread */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 2
#define IN 64
#define OUT 600
#define RUNS 20
#define SEED 123
#define NDT 4   /* dtypes, the first (F64) the reference */

enum { Q_Y, Q_DX, Q_DW, Q_DB, NQ };
static const char *const qname[NQ] = {"y", "dx", "dW", "db"};
static const int64_t qsize[NQ] = {ROWS * OUT, ROWS * IN, OUT * IN, OUT};
static const ag_dtype dts[NDT] = {AG_F64, AG_F32, AG_F16, AG_BF16};

typedef struct { float x[ROWS * IN], W[OUT * IN], b[OUT], t[ROWS * OUT]; } inputs;

static const int64_t sx[2] = {ROWS, IN}, sW[2] = {OUT, IN}, sb[1] = {OUT}, st[2] = {ROWS, OUT};

/* an F32 array converted to dtype dt; requires grad if grad */
static ag_tensor *input(ag_ctx *ctx, ag_dtype dt, int ndim, const int64_t *shape, const float *v, int grad) {
    ag_tensor *t = ag_to(ag_from(ctx, AG_F32, ndim, shape, v), dt);
    return grad ? ag_set_requires_grad(t, true) : t;
}

/* max_i |a_i - b_i| */
static double max_diff(const double *a, const double *b, int64_t n) {
    double m = 0;
    int64_t i;
    for (i = 0; i < n; i++) if (!(fabs(a[i] - b[i]) <= m)) m = fabs(a[i] - b[i]);   /* NaN wins */
    return m;
}

/* one run of the lab in dtype dt: y, dx, dW, db into out[q] (as doubles), the part D/E
   errors (autograd against the manual formulas, same dtype) into manual[q] (manual[Q_Y] = 0),
   the loss into *loss. 0 ok. */
static int lab(ag_ctx *ctx, ag_dtype dt, const inputs *in, double *const out[NQ], double manual[NQ], double *loss_out) {
    ag_tensor *x = input(ctx, dt, 2, sx, in->x, 1), *W = input(ctx, dt, 2, sW, in->W, 1);
    ag_tensor *b = input(ctx, dt, 1, sb, in->b, 1), *t = input(ctx, dt, 2, st, in->t, 0);
    ag_tensor *y = ag_linear(x, W, b);
    ag_tensor *loss = ag_mul_scalar(ag_sum(ag_pow(ag_sub(y, t), 2.0)), 0.5);
    ag_tensor *got[NQ], *man[NQ], *dy;
    double *buf;
    int q, rc = -1;
    bool prev;
    if (ag_backward(loss, NULL) != 0) goto done;
    *loss_out = ag_item(loss);
    prev = ag_set_grad_enabled(ctx, false);   /* the manual formulas, as the seed's torch.no_grad() */
    dy = ag_sub(y, t);
    man[Q_Y] = y;
    man[Q_DX] = ag_matmul(dy, W);
    man[Q_DW] = ag_matmul(ag_transpose(dy, 0, 1), x);
    man[Q_DB] = ag_sum_dim(dy, 0, false);
    ag_set_grad_enabled(ctx, prev);
    got[Q_Y] = y; got[Q_DX] = ag_grad(x); got[Q_DW] = ag_grad(W); got[Q_DB] = ag_grad(b);
    buf = (double *)malloc(sizeof(double) * OUT * IN);
    if (!buf) goto done;
    for (q = 0; q < NQ; q++) {
        if (ag_type(got[q]) != dt || ag_copy_out(got[q], AG_F64, out[q]) != 0 || ag_copy_out(man[q], AG_F64, buf) != 0) break;
        manual[q] = max_diff(out[q], buf, qsize[q]);
    }
    free(buf);
    if (q == NQ) rc = 0;
done:
    if (rc) fprintf(stderr, "half_lab: %s run failed: %s\n", ag_dtype_name(dt), ag_error(ctx) ? ag_error(ctx) : "wrong dtype or out of memory");
    ag_ctx_reset(ctx);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
/* the median (the mean of the middle two for an even count, as numpy.median) */
static double median(const double *v, int n) {
    double s[RUNS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof s[0], cmp_double);
    return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}
static double maximum(const double *v, int n) {
    double m = v[0];
    int i;
    for (i = 1; i < n; i++) if (!(v[i] <= m)) m = v[i];
    return m;
}

/* the inputs of all runs as named F32 tensors in one safetensors file */
static int save_inputs(ag_ctx *ctx, const char *path, const inputs *in) {
    static char names[RUNS * 4][16];
    const char *np[RUNS * 4];
    ag_tensor *ts[RUNS * 4];
    int r, rc;
    for (r = 0; r < RUNS; r++) {
        sprintf(names[4 * r], "x.%d", r); sprintf(names[4 * r + 1], "W.%d", r);
        sprintf(names[4 * r + 2], "b.%d", r); sprintf(names[4 * r + 3], "target.%d", r);
        ts[4 * r] = ag_from(ctx, AG_F32, 2, sx, in[r].x); ts[4 * r + 1] = ag_from(ctx, AG_F32, 2, sW, in[r].W);
        ts[4 * r + 2] = ag_from(ctx, AG_F32, 1, sb, in[r].b); ts[4 * r + 3] = ag_from(ctx, AG_F32, 2, st, in[r].t);
    }
    for (r = 0; r < RUNS * 4; r++) np[r] = names[r];
    rc = ag_save_safetensors(ctx, path, RUNS * 4, np, ts);
    if (rc) fprintf(stderr, "half_lab: %s\n", ag_error(ctx));
    else printf("wrote the inputs of the %d runs to %s\n", RUNS, path);
    ag_ctx_reset(ctx);
    return rc;
}

int main(int argc, char **argv) {
    static double err_abs[NDT][NQ][RUNS], err_rel[NDT][NQ][RUNS], err_man[NDT][NQ][RUNS], loss[NDT][RUNS];
    double *val[NDT][NQ];
    const char *save = NULL;
    inputs *in;
    ag_desc desc;
    ag_ctx *ctx;
    int r, d, q, i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--save") && i + 1 < argc) save = argv[++i];
        else {
            printf("usage: %s [--save FILE]\n"
                   "  the Linear(64->600) lab of shared/seeds 004 (parts D, E) in F64, F32, F16 and BF16, 20 runs;\n"
                   "  --save FILE writes the runs' F32 inputs (safetensors) for examples/half_lab_torch.py\n", argv[0]);
            return strcmp(argv[i], "--help") && strcmp(argv[i], "-h") ? 2 : 0;
        }
    }
    memset(&desc, 0, sizeof desc);
    desc.seed = SEED;
    ctx = ag_ctx_new(&desc);
    in = (inputs *)malloc(sizeof(inputs) * RUNS);
    if (!ctx || !in) return 1;
    for (d = 0; d < NDT; d++)
        for (q = 0; q < NQ; q++)
            if (!(val[d][q] = (double *)malloc(sizeof(double) * (size_t)qsize[q]))) return 1;

    for (r = 0; r < RUNS; r++) {   /* draw x, W, b, target in F32 */
        if (ag_copy_out(ag_randn(ctx, AG_F32, 2, sx), AG_F32, in[r].x) || ag_copy_out(ag_randn(ctx, AG_F32, 2, sW), AG_F32, in[r].W) ||
            ag_copy_out(ag_randn(ctx, AG_F32, 1, sb), AG_F32, in[r].b) || ag_copy_out(ag_randn(ctx, AG_F32, 2, st), AG_F32, in[r].t)) {
            fprintf(stderr, "half_lab: %s\n", ag_error(ctx));
            return 1;
        }
        ag_ctx_reset(ctx);
    }
    if (save && save_inputs(ctx, save, in)) return 1;

    for (r = 0; r < RUNS; r++) {
        for (d = 0; d < NDT; d++) {   /* F64 first: the reference the others are measured against */
            double man[NQ], big;
            if (lab(ctx, dts[d], &in[r], val[d], man, &loss[d][r]) != 0) return 1;
            for (q = 0; q < NQ; q++) {
                big = 0;
                for (i = 0; i < qsize[q]; i++) if (fabs(val[0][q][i]) > big) big = fabs(val[0][q][i]);
                err_abs[d][q][r] = max_diff(val[d][q], val[0][q], qsize[q]);
                err_rel[d][q][r] = err_abs[d][q][r] / big;
                err_man[d][q][r] = man[q];
            }
        }
    }

    printf("seed 004 part E: the Linear(64->600) lab, %d runs, inputs ag_randn in F32 (seed %d), kernels %s\n"
           "error against the F64 run: abs = max|a - r|, rel = max|a - r| / max|r|; autograd vs manual: max|autograd - manual|,\n"
           "both in the row's dtype (part D/E); each cell: median / max over the %d runs\n\n", RUNS, SEED, ag_simd_name(ctx), RUNS);
    printf("%-9s %-3s %-21s %-21s %s\n", "dtype", "", "abs error vs F64", "rel error vs F64", "autograd vs manual");
    for (d = 0; d < NDT; d++)
        for (q = 0; q < NQ; q++) {
            char man[32];
            if (q == Q_Y) strcpy(man, "-");
            else sprintf(man, "%.2e / %.2e", median(err_man[d][q], RUNS), maximum(err_man[d][q], RUNS));
            printf("%-9s %-3s %.2e / %.2e   %.2e / %.2e   %s\n", ag_dtype_name(dts[d]), qname[q], median(err_abs[d][q], RUNS),
                   maximum(err_abs[d][q], RUNS), median(err_rel[d][q], RUNS), maximum(err_rel[d][q], RUNS), man);
        }
    printf("\nloss, run 0:");
    for (d = 0; d < NDT; d++) printf("  %s %.9g", ag_dtype_name(dts[d]), loss[d][0]);
    for (d = 0, i = 0; d < NDT; d++)
        for (r = 0; r < RUNS; r++) i += !isfinite(loss[d][r]);
    printf("\n%d of the %d x %d losses are not finite (float16's largest value is 65504: its sum of squares overflows before\n"
           "the 0.5; its gradients do not)\n", (int)i, NDT, RUNS);
    for (d = 0; d < NDT; d++)
        for (q = 0; q < NQ; q++) free(val[d][q]);
    free(in);
    ag_ctx_free(ctx);
    return 0;
}
