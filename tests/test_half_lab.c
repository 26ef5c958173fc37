/* test_half_lab.c - seed 004 part E: the Linear(64->600) lab in F16 and BF16 against PyTorch's bfloat16.

   The lab of examples/half_lab.c (shared/seeds 004, parts D and E): x [2, 64], W [600, 64],
   b [600], target [2, 600]; y = linear(x, W, b), loss = 0.5 * ((y - target)^2).sum(); 20 runs,
   inputs drawn in F32 by ag_randn (a context with seed 123, in the order x, W, b, target) and
   converted to F64 (the reference), F32, F16 and BF16. tests/data/half_lab_torch.txt holds
   PyTorch's errors on the same inputs (tests/gen_half_lab_reference.py; PyTorch 1.13 does not
   run float16 addmm on the CPU, so its float16 is absent) and the F64 sums of each run's inputs.

   Checks:
   - the inputs: this build's draws sum to the file's numbers within 1e-5 (so PyTorch measured
     these inputs; ag_randn's Box-Muller calls the C library's log and cos, and another libm's
     last bit could move a few draws by 1e-7 each, while other draws differ by whole units);
   - issue #13's Done-when: the median and the max over the runs of max|a - r| (error against
     F64) of y, dx, dW and db, in F16 and in BF16, are no worse than PyTorch bfloat16's. BF16 must
     be within 2% of PyTorch's (the same rounding of the same F32 sums gives the same numbers:
     measured ratio 1.000 with every x86 kernel set; the 2% is room for a sum of 600 terms in
     another order on another target rounding one entry the other way). F16 must do better by
     the ratio of the formats' unit roundoffs, 2^-11 / 2^-8 = 1/8, within 25% (measured
     0.109-0.139 of PyTorch's bfloat16, i.e. 0.87-1.11 x 1/8). A worse rounding fails: with
     F32 -> BF16 by truncation the BF16 errors are 2.8-4.9x PyTorch's; with F32 -> F16 by
     truncation the F16 errors are 0.37-0.72x PyTorch bfloat16's, which the bare Done-when
     (<= 1x) would pass and the 1/8 bound fails.
     F32 must be within 1.5x of PyTorch's float32: the scalar and SIMD128 kernel sets have no
     FMA and round each multiply-add twice (measured 1.06-1.34x; AVX2 and AVX-512 0.41-1.00x);
   - part D: in F64 and F32, autograd's dx, dW, db are within 1e-5 of the manual formulas (the
     seed's acceptance); part E: in F16 and BF16 they are within the dtype's own error against
     F64 (the manual formulas may round differently, but by no more than the dtype's precision).

   REF_VERBOSE=1 prints every comparison. */
#include "autograd.h"
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#define ROWS 2
#define IN 64
#define OUT 600
#define RUNS 20
#define SEED 123
#define SLACK_BF16 1.02          /* ours <= PyTorch bfloat16 x this */
#define SLACK_F16 (1.25 / 8.0)   /* ours <= PyTorch bfloat16 x this */
#define SLACK_F32 1.5            /* ours <= PyTorch float32 x this */
#define NDT 4

enum { Q_Y, Q_DX, Q_DW, Q_DB, NQ };
static const char *const qname[NQ] = {"y", "dx", "dW", "db"};
static const int64_t qsize[NQ] = {ROWS * OUT, ROWS * IN, OUT * IN, OUT};
static const ag_dtype dts[NDT] = {AG_F64, AG_F32, AG_F16, AG_BF16};
static const int64_t sx[2] = {ROWS, IN}, sW[2] = {OUT, IN}, sb[1] = {OUT}, st[2] = {ROWS, OUT};

typedef struct { float x[ROWS * IN], W[OUT * IN], b[OUT], t[ROWS * OUT]; } inputs;

/* ours[d][q][r] and PyTorch's (torch_*[q][r], float32 and bfloat16) */
static double err_abs[NDT][NQ][RUNS], err_man[NDT][NQ][RUNS];
static double torch_f32[NQ][RUNS], torch_bf16[NQ][RUNS], torch_sums[RUNS][4];
static int have_f32[NQ], have_bf16[NQ], have_sums[RUNS];

static ag_tensor *input(ag_ctx *ctx, ag_dtype dt, int ndim, const int64_t *shape, const float *v, int grad) {
    ag_tensor *t = ag_to(ag_from(ctx, AG_F32, ndim, shape, v), dt);
    return grad ? ag_set_requires_grad(t, true) : t;
}
static double max_diff(const double *a, const double *b, int64_t n) {
    double m = 0;
    int64_t i;
    for (i = 0; i < n; i++) if (!(fabs(a[i] - b[i]) <= m)) m = fabs(a[i] - b[i]);
    return m;
}
/* the lab in dt: y, dx, dW, db into out[q]; max|autograd - manual| into manual[q] */
static int lab(ag_ctx *ctx, ag_dtype dt, const inputs *in, double *const out[NQ], double manual[NQ], double *buf) {
    ag_tensor *x = input(ctx, dt, 2, sx, in->x, 1), *W = input(ctx, dt, 2, sW, in->W, 1);
    ag_tensor *b = input(ctx, dt, 1, sb, in->b, 1), *t = input(ctx, dt, 2, st, in->t, 0);
    ag_tensor *y = ag_linear(x, W, b), *got[NQ], *man[NQ], *dy;
    int q, rc = -1;
    if (ag_backward(ag_mul_scalar(ag_sum(ag_pow(ag_sub(y, t), 2.0)), 0.5), NULL) != 0) goto done;
    ag_set_grad_enabled(ctx, false);
    dy = ag_sub(y, t);
    man[Q_Y] = y; man[Q_DX] = ag_matmul(dy, W); man[Q_DW] = ag_matmul(ag_transpose(dy, 0, 1), x); man[Q_DB] = ag_sum_dim(dy, 0, false);
    ag_set_grad_enabled(ctx, true);
    got[Q_Y] = y; got[Q_DX] = ag_grad(x); got[Q_DW] = ag_grad(W); got[Q_DB] = ag_grad(b);
    for (q = 0; q < NQ; q++) {
        if (ag_type(got[q]) != dt || ag_type(man[q]) != dt || ag_copy_out(got[q], AG_F64, out[q]) != 0 ||
            ag_copy_out(man[q], AG_F64, buf) != 0) break;
        manual[q] = max_diff(out[q], buf, qsize[q]);
    }
    if (q == NQ) rc = 0;
done:
    CHECK(rc == 0, "%s lab: %s", ag_dtype_name(dt), ag_error(ctx) ? ag_error(ctx) : "a result of the wrong dtype");
    ag_ctx_reset(ctx);
    return rc;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}
static double median(const double *v) {
    double s[RUNS];
    memcpy(s, v, sizeof s);
    qsort(s, RUNS, sizeof s[0], cmp_double);
    return RUNS % 2 ? s[RUNS / 2] : 0.5 * (s[RUNS / 2 - 1] + s[RUNS / 2]);
}
static double maximum(const double *v) {
    double m = v[0];
    int i;
    for (i = 1; i < RUNS; i++) if (!(v[i] <= m)) m = v[i];
    return m;
}

/* tests/data/half_lab_torch.txt: `inputs R SX SW SB ST` and `err DTYPE Q KIND E0 ... E19` lines */
static int read_torch(const char *path) {
    FILE *f = fopen(path, "r");
    char line[8192];
    if (!f) { CHECK(0, "cannot open %s", path); return -1; }
    while (fgets(line, sizeof line, f)) {
        char dt[16], qn[8], kind[8];
        int r, q, n, off;
        double *dst = NULL;
        double sums[4];
        if (sscanf(line, "inputs %d %lf %lf %lf %lf", &r, &sums[0], &sums[1], &sums[2], &sums[3]) == 5) {
            if (r >= 0 && r < RUNS) { memcpy(torch_sums[r], sums, sizeof sums); have_sums[r] = 1; }
            continue;
        }
        if (sscanf(line, "err %15s %7s %7s %n", dt, qn, kind, &off) != 3 || strcmp(kind, "abs")) continue;
        for (q = 0; q < NQ && strcmp(qn, qname[q]); q++) {}
        if (q == NQ) continue;
        if (!strcmp(dt, "float32")) { dst = torch_f32[q]; have_f32[q] = 1; }
        else if (!strcmp(dt, "bfloat16")) { dst = torch_bf16[q]; have_bf16[q] = 1; }
        else continue;
        for (r = 0; r < RUNS; r++) {
            if (sscanf(line + off, "%lf %n", &dst[r], &n) != 1) { CHECK(0, "%s: a short err line: %s", path, line); break; }
            off += n;
        }
    }
    fclose(f);
    return 0;
}

int main(int argc, char **argv) {
    static inputs in[RUNS];
    static double val[NDT][NQ][OUT * IN], buf[OUT * IN];
    const char *path = argc > 1 ? argv[1] : "tests/data/half_lab_torch.txt";
    int verbose = getenv("REF_VERBOSE") != NULL;
    ag_desc desc;
    ag_ctx *ctx;
    int r, d, q, k;
    int64_t i;
    memset(&desc, 0, sizeof desc);
    desc.seed = SEED;
    ctx = ag_ctx_new(&desc);
    if (!ctx) return 1;
    if (read_torch(path) != 0) return harness_finish("test_half_lab");

    for (r = 0; r < RUNS; r++) {
        double s[4] = {0, 0, 0, 0};
        CHECK(ag_copy_out(ag_randn(ctx, AG_F32, 2, sx), AG_F32, in[r].x) == 0 && ag_copy_out(ag_randn(ctx, AG_F32, 2, sW), AG_F32, in[r].W) == 0 &&
              ag_copy_out(ag_randn(ctx, AG_F32, 1, sb), AG_F32, in[r].b) == 0 && ag_copy_out(ag_randn(ctx, AG_F32, 2, st), AG_F32, in[r].t) == 0,
              "drawing the inputs: %s", ag_error(ctx));
        ag_ctx_reset(ctx);
        for (i = 0; i < ROWS * IN; i++) s[0] += in[r].x[i];
        for (i = 0; i < OUT * IN; i++) s[1] += in[r].W[i];
        for (i = 0; i < OUT; i++) s[2] += in[r].b[i];
        for (i = 0; i < ROWS * OUT; i++) s[3] += in[r].t[i];
        for (k = 0; k < 4; k++)
            CHECK(have_sums[r] && fabs(s[k] - torch_sums[r][k]) <= 1e-5, "run %d input %d: sum %.17g, PyTorch's inputs %.17g (not the same draws)",
                  r, k, s[k], torch_sums[r][k]);
    }

    for (r = 0; r < RUNS; r++)
        for (d = 0; d < NDT; d++) {
            double *out[NQ], man[NQ];
            for (q = 0; q < NQ; q++) out[q] = val[d][q];
            if (lab(ctx, dts[d], &in[r], out, man, buf) != 0) return harness_finish("test_half_lab");
            for (q = 0; q < NQ; q++) {
                err_abs[d][q][r] = max_diff(val[d][q], val[0][q], qsize[q]);
                err_man[d][q][r] = man[q];
            }
        }

    printf("kernels %s; error against F64 max|a - r|, median and max over %d runs; ours <= PyTorch x limit\n", ag_simd_name(ctx), RUNS);
    for (q = 0; q < NQ; q++) {
        CHECK(have_f32[q] && have_bf16[q], "%s: no float32 or bfloat16 line for %s", path, qname[q]);
        for (d = 1; d < NDT; d++) {
            const double *theirs = dts[d] == AG_F32 ? torch_f32[q] : torch_bf16[q];
            const char *tname = dts[d] == AG_F32 ? "float32" : "bfloat16";
            double om = median(err_abs[d][q]), oM = maximum(err_abs[d][q]), tm = median(theirs), tM = maximum(theirs);
            double lim = dts[d] == AG_F32 ? SLACK_F32 : dts[d] == AG_F16 ? SLACK_F16 : SLACK_BF16;
            int ok = om <= tm * lim && oM <= tM * lim;
            CHECK(ok, "%s %s: ours %.4g / %.4g (median / max), PyTorch %s %.4g / %.4g, limit x %.4g", ag_dtype_name(dts[d]), qname[q],
                  om, oM, tname, tm, tM, lim);
            if (verbose || !ok)
                printf("  %-8s %-2s  ours %.4e / %.4e   PyTorch %-8s %.4e / %.4e   ratio %.3f / %.3f  limit %.4g\n", ag_dtype_name(dts[d]),
                       qname[q], om, oM, tname, tm, tM, tm > 0 ? om / tm : 0.0, tM > 0 ? oM / tM : 0.0, lim);
        }
    }
    for (q = Q_DX; q < NQ; q++)
        for (d = 0; d < NDT; d++) {
            double m = maximum(err_man[d][q]);
            double bound = dts[d] == AG_F64 || dts[d] == AG_F32 ? 1e-5 : maximum(err_abs[d][q]);
            CHECK(m <= bound, "part D/E, %s %s: autograd against the manual formula %.4g, bound %.4g", ag_dtype_name(dts[d]), qname[q], m, bound);
            if (verbose) printf("  part D/E %-8s %-2s  max|autograd - manual| %.4g (bound %.4g)\n", ag_dtype_name(dts[d]), qname[q], m, bound);
        }
    ag_ctx_free(ctx);
    return harness_finish("test_half_lab");
}
