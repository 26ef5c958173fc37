/* test_optim.c - optimizers, gradient clipping, learning-rate schedules and
   initialisation (autograd.h, >>optim) against PyTorch.
   tests/data/optim_reference.txt comes from tests/gen_optim_reference.py (python3-torch):
   each optimizer's 20-step trajectory must match within 1e-5 (F32) and 1e-12 (F64).

   cc -std=c99 -O2 -Wall -Wextra -pedantic -I. tests/test_optim.c -o build/test_optim -lm
   (run from the repository root) */
#include "autograd.h"
#include "harness.h"
#include <stdlib.h>

#define REF "tests/data/optim_reference.txt"
#define MAXV 64

static double data_x[32], data_y[24], data_p[5][20];
static const int64_t shp_W1[2] = {5, 4}, shp_b1[1] = {5}, shp_W2[2] = {3, 5}, shp_b2[1] = {3}, shp_u[1] = {2};
static const int64_t *const pshape[5] = {shp_W1, shp_b1, shp_W2, shp_b2, shp_u};
static const int pndim[5] = {2, 1, 2, 1, 1}, pnumel[5] = {20, 5, 15, 3, 2};
static double worst[2][3];   /* [F32/F64][sgd/adam/adamw] max |C - PyTorch| over trajectories */

static int parse_doubles(char *s, double *v, int max) {
    int n = 0;
    char *end;
    while (n < max) {
        double d = strtod(s, &end);
        if (end == s) break;
        v[n++] = d;
        s = end;
    }
    return n;
}
static double key(const char *line, const char *k) {   /* " k=value" */
    char pat[64];
    const char *p;
    snprintf(pat, sizeof pat, " %s=", k);
    p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}
static const char *skey(const char *line, const char *k, char *buf, size_t n) {
    char pat[64];
    const char *p;
    size_t i = 0;
    snprintf(pat, sizeof pat, " %s=", k);
    p = strstr(line, pat);
    if (!p) return "";
    p += strlen(pat);
    while (p[i] && p[i] != ' ' && p[i] != '\n' && i + 1 < n) { buf[i] = p[i]; i++; }
    buf[i] = 0;
    return buf;
}

static ag_tensor *tensor_from(ag_ctx *ctx, ag_dtype dt, int ndim, const int64_t *shape, const double *v, int n, bool param) {
    float f[64];
    int i;
    for (i = 0; i < n; i++) f[i] = (float)v[i];
    if (param) return ag_param(ctx, dt, ndim, shape, dt == AG_F32 ? (const void *)f : (const void *)v);
    return ag_from(ctx, dt, ndim, shape, dt == AG_F32 ? (const void *)f : (const void *)v);
}

/* one "case" line and its 20 "step" lines */
static void run_case(const char *caseline, char lines[][4096], int nsteps) {
    char name[64], dts[8], opt_s[16], sched[16];
    ag_dtype dt;
    ag_ctx *ctx;
    ag_tensor *P[5];
    ag_optim *opt = NULL;
    int i, k, kind;
    double lr = key(caseline, "lr"), wd = key(caseline, "weight_decay"), maxerr = 0;
    uint64_t allocs_after_first = 0;
    sscanf(caseline, "case %63s %7s", name, dts);
    dt = strcmp(dts, "F64") ? AG_F32 : AG_F64;
    skey(caseline, "opt", opt_s, sizeof opt_s);
    skey(caseline, "sched", sched, sizeof sched);
    ctx = ag_ctx_new(NULL);
    for (k = 0; k < 5; k++) P[k] = tensor_from(ctx, dt, pndim[k], pshape[k], data_p[k], pnumel[k], true);
    kind = !strcmp(opt_s, "sgd") ? 0 : !strcmp(opt_s, "adam") ? 1 : 2;
    if (kind == 0) {
        ag_sgd_opts o = ag_sgd_defaults();
        o.lr = lr; o.momentum = key(caseline, "momentum"); o.dampening = key(caseline, "dampening");
        o.weight_decay = wd < 0 ? 0 : wd; o.nesterov = key(caseline, "nesterov") != 0; o.maximize = key(caseline, "maximize") != 0;
        opt = ag_sgd_new(ctx, P, 5, &o);
    } else {
        ag_adam_opts o = kind == 1 ? ag_adam_defaults() : ag_adamw_defaults();
        o.lr = lr; o.beta1 = key(caseline, "beta1"); o.beta2 = key(caseline, "beta2"); o.eps = key(caseline, "eps");
        if (wd >= 0) o.weight_decay = wd;   /* otherwise the optimizer's default */
        o.amsgrad = key(caseline, "amsgrad") != 0; o.maximize = key(caseline, "maximize") != 0;
        opt = kind == 1 ? ag_adam_new(ctx, P, 5, &o) : ag_adamw_new(ctx, P, 5, &o);
    }
    CHECK(opt != NULL, "%s %s: optimizer: %s", name, dts, ag_error(ctx) ? ag_error(ctx) : "?");
    if (opt) for (i = 0; i < nsteps; i++) {
        int64_t sx[2] = {8, 4}, sy[2] = {8, 3};
        double ref[MAXV], got, norm = NAN;
        int nref, idx = 0;
        ag_tensor *x = tensor_from(ctx, dt, 2, sx, data_x, 32, false), *y = tensor_from(ctx, dt, 2, sy, data_y, 24, false);
        ag_tensor *h, *out, *loss;
        ag_optim_zero_grad(opt);
        h = ag_tanh(ag_linear(x, P[0], P[1]));
        out = ag_linear(h, P[2], P[3]);
        loss = ag_mse_loss(out, y);
        if (ag_backward(loss, NULL) != 0) { CHECK(0, "%s: backward: %s", name, ag_error(ctx)); break; }
        if (key(caseline, "clip_norm") > 0) norm = ag_clip_grad_norm(P, 5, key(caseline, "clip_norm"), 2.0);
        if (key(caseline, "clip_value") > 0) CHECK(ag_clip_grad_value(P, 5, key(caseline, "clip_value")) == 0, "clip_value");
        if (!strcmp(sched, "cosine")) ag_optim_set_lr(opt, ag_lr_cosine(i, 3, 20, lr, lr * 0.1));
        if (!strcmp(sched, "step")) ag_optim_set_lr(opt, ag_lr_step(i, 5, 0.5, lr));
        nref = parse_doubles(lines[i] + 5, ref, MAXV);   /* step, lr, norm, loss, values */
        CHECK(nref == 4 + 45 && (int)ref[0] == i, "%s: step line %d has %d numbers", name, i, nref);
        if (nref != 49) break;
        CHECK_CLOSE(ag_optim_get_lr(opt), ref[1], 1e-15, 1e-12, "lr");
        if (ref[2] == ref[2]) CHECK_CLOSE(norm, ref[2], 1e-12, dt == AG_F32 ? 1e-5 : 1e-12, "clip norm");
        CHECK_CLOSE(ag_item(loss), ref[3], 1e-12, dt == AG_F32 ? 1e-5 : 1e-9, "loss");
        CHECK(ag_optim_step(opt) == 0, "%s: step %d: %s", name, i, ag_error(ctx) ? ag_error(ctx) : "?");
        ag_ctx_reset(ctx);
        for (k = 0; k < 5; k++) {
            int e;
            for (e = 0; e < pnumel[k]; e++, idx++) {
                got = dt == AG_F32 ? (double)((float *)ag_data(P[k]))[e] : ((double *)ag_data(P[k]))[e];
                if (fabs(got - ref[4 + idx]) > maxerr) maxerr = fabs(got - ref[4 + idx]);
            }
        }
        if (i == 0) allocs_after_first = ag_get_stats(ctx).heap_allocs;
    }
    CHECK(maxerr <= (dt == AG_F32 ? 1e-5 : 1e-12), "%s %s: max error %.3g vs PyTorch", name, dts, maxerr);
    CHECK(ag_get_stats(ctx).heap_allocs == allocs_after_first, "%s %s: %llu heap allocations after step 1", name, dts,
          (unsigned long long)(ag_get_stats(ctx).heap_allocs - allocs_after_first));
    CHECK(ag_optim_steps(opt, 0) == nsteps && ag_optim_steps(opt, 4) == 0, "%s: steps %lld / unused %lld", name,
          (long long)ag_optim_steps(opt, 0), (long long)ag_optim_steps(opt, 4));
    CHECK((dt == AG_F32 ? ((float *)ag_data(P[4]))[0] == 0.25f : ((double *)ag_data(P[4]))[0] == 0.25),
          "%s: the parameter without a gradient moved", name);
    if (maxerr > worst[dt == AG_F64][kind]) worst[dt == AG_F64][kind] = maxerr;
    printf("  %-16s %s  max |C - PyTorch| over 20 steps: %.2e\n", name, dts, maxerr);
    ag_ctx_free(ctx);
}

static void run_clip(const char *line, const double *g0, const double *g1) {
    char dts[8];
    double nt, mx, ref[40], got;
    int n, k, e;
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_dtype dt;
    int64_t s0[2] = {3, 4}, s1[1] = {5}, s2[1] = {2};
    ag_tensor *P[3], *loss;
    double total;
    char *rest;
    sscanf(line, "clip %7s", dts);
    dt = strcmp(dts, "F64") ? AG_F32 : AG_F64;
    rest = (char *)line + 5 + strlen(dts);
    nt = strtod(rest, &rest);
    if (!strncmp(rest, " inf", 4)) { nt = INFINITY; rest += 4; }
    mx = strtod(rest, &rest);
    n = parse_doubles(rest, ref, 40);
    CHECK(n == 18, "clip line has %d numbers", n);
    P[0] = ag_param(ctx, dt, 2, s0, NULL); P[1] = ag_param(ctx, dt, 1, s1, NULL); P[2] = ag_param(ctx, dt, 1, s2, NULL);
    /* d/dp sum(p * c) = c */
    loss = ag_add(ag_sum(ag_mul(P[0], tensor_from(ctx, dt, 2, s0, g0, 12, false))),
                  ag_sum(ag_mul(P[1], tensor_from(ctx, dt, 1, s1, g1, 5, false))));
    CHECK(ag_backward(loss, NULL) == 0, "clip backward");
    if (nt == 0) { CHECK(ag_clip_grad_value(P, 3, mx) == 0, "clip_grad_value"); total = NAN; }
    else total = ag_clip_grad_norm(P, 3, mx, nt);
    if (ref[0] == ref[0]) CHECK_CLOSE(total, ref[0], 1e-14, dt == AG_F32 ? 1e-6 : 1e-13, "total norm");
    for (k = 0; k < 2; k++)
        for (e = 0; e < (k ? 5 : 12); e++) {
            got = dt == AG_F32 ? (double)((float *)ag_data(ag_grad(P[k])))[e] : ((double *)ag_data(ag_grad(P[k])))[e];
            CHECK_CLOSE(got, ref[1 + (k ? 12 : 0) + e], 1e-14, dt == AG_F32 ? 2e-6 : 1e-13, "clipped grad");
        }
    CHECK(ag_grad(P[2]) == NULL, "clip created a gradient");
    ag_ctx_free(ctx);
}

static void run_sched(const char *line) {
    double ref[64];
    int n, i;
    const char *p = strrchr(line, '=');
    char *vals;
    strtod(p + 1, &vals);
    n = parse_doubles(vals, ref, 64);
    if (!strncmp(line, "sched step", 10)) {
        for (i = 0; i < n; i++) CHECK_CLOSE(ag_lr_step(i, (int)key(line, "step_size"), key(line, "gamma"), key(line, "base")), ref[i], 1e-16, 1e-14, "StepLR");
    } else {
        for (i = 0; i < n; i++)
            CHECK_CLOSE(ag_lr_cosine(i, (int)key(line, "warmup"), (int)key(line, "total"), key(line, "base"), key(line, "min")), ref[i],
                        1e-16, 1e-12, "cosine lr");
    }
    CHECK(n >= 20, "schedule line with %d values", n);
}

static void test_reference(void) {
    static char lines[24][4096];
    static char line[1 << 16];
    double g0[12], g1[5];
    int ncases = 0;
    FILE *f = fopen(REF, "r");
    CHECK(f != NULL, "cannot open %s (run from the repository root)", REF);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "data ", 5)) {
            char nm[16];
            int cnt, off;
            double v[40];
            sscanf(line, "data %15s %d%n", nm, &cnt, &off);
            CHECK(parse_doubles(line + off, v, 40) == cnt, "data line %s", nm);
            if (!strcmp(nm, "x")) memcpy(data_x, v, sizeof data_x);
            else if (!strcmp(nm, "y")) memcpy(data_y, v, sizeof data_y);
            else if (!strcmp(nm, "W1")) memcpy(data_p[0], v, 20 * sizeof(double));
            else if (!strcmp(nm, "b1")) memcpy(data_p[1], v, 5 * sizeof(double));
            else if (!strcmp(nm, "W2")) memcpy(data_p[2], v, 15 * sizeof(double));
            else if (!strcmp(nm, "b2")) memcpy(data_p[3], v, 3 * sizeof(double));
            else if (!strcmp(nm, "unused")) memcpy(data_p[4], v, 2 * sizeof(double));
        } else if (!strncmp(line, "case ", 5)) {
            static char caseline[4096];
            int i;
            size_t len = strlen(line) < sizeof caseline - 1 ? strlen(line) : sizeof caseline - 1;
            memcpy(caseline, line, len);
            caseline[len] = 0;
            for (i = 0; i < 20; i++) if (!fgets(lines[i], sizeof lines[i], f) || strncmp(lines[i], "step ", 5)) break;
            CHECK(i == 20, "case with %d step lines", i);
            run_case(caseline, lines, i);
            ncases++;
        } else if (!strncmp(line, "clipdata ", 9)) {
            char *bar = strchr(line, '|');
            CHECK(bar && parse_doubles(line + 9, g0, 12) == 12 && parse_doubles(bar + 1, g1, 5) == 5, "clipdata");
        } else if (!strncmp(line, "clip ", 5)) run_clip(line, g0, g1);
        else if (!strncmp(line, "sched ", 6)) run_sched(line);
    }
    fclose(f);
    CHECK(ncases == 30, "%d optimizer cases (want 30)", ncases);
    printf("  worst trajectory error vs PyTorch: F32 sgd %.2e adam %.2e adamw %.2e; F64 sgd %.2e adam %.2e adamw %.2e\n",
           worst[0][0], worst[0][1], worst[0][2], worst[1][0], worst[1][1], worst[1][2]);
}

/* ---- dynamic loss scaling against tests/data/scaler_reference.txt (tests/gen_scaler_reference.py:
   torch.cuda.amp.GradScaler's rules on CPU tensors). Each step: the scale before, whether an inf or
   NaN was found (gradients with one injected at chosen steps, or overflowing by themselves), whether
   the optimizer stepped, the growth tracker and the scale after the update (all exact), the loss
   and the parameters (as the optimizer trajectories: 1e-5 in F32, 1e-12 in F64). ---- */
#define SREF "tests/data/scaler_reference.txt"
static double sdata_x[32], sdata_y[24], sdata_p[4][20];
static int scaler_cases;

static void run_scaler_case(const char *caseline, char lines[][4096], int nsteps) {
    char name[64], dts[8], opt_s[16];
    ag_dtype dt;
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *P[4];
    ag_optim *opt;
    ag_grad_scaler *sc;
    ag_grad_scaler_opts so;
    double lr = key(caseline, "lr"), clip = key(caseline, "clip"), mult = key(caseline, "loss_mult"), maxerr = 0;
    int i, k, skipped = 0, mismatch = 0;
    uint64_t allocs_after_first = 0;
    sscanf(caseline, "scase %63s %7s", name, dts);
    dt = strcmp(dts, "F64") ? AG_F32 : AG_F64;
    skey(caseline, "opt", opt_s, sizeof opt_s);
    for (k = 0; k < 4; k++) P[k] = tensor_from(ctx, dt, pndim[k], pshape[k], sdata_p[k], pnumel[k], true);
    if (!strcmp(opt_s, "sgd")) {
        ag_sgd_opts o = ag_sgd_defaults();
        o.lr = lr; o.momentum = 0.9;
        opt = ag_sgd_new(ctx, P, 4, &o);
    } else {
        ag_adam_opts o = strcmp(opt_s, "adamw") ? ag_adam_defaults() : ag_adamw_defaults();
        o.lr = lr;
        opt = strcmp(opt_s, "adamw") ? ag_adam_new(ctx, P, 4, &o) : ag_adamw_new(ctx, P, 4, &o);
    }
    memset(&so, 0, sizeof so);
    so.init_scale = key(caseline, "init"); so.growth_factor = key(caseline, "growth");
    so.backoff_factor = key(caseline, "backoff"); so.growth_interval = (int)key(caseline, "interval");
    sc = ag_grad_scaler_new(ctx, &so);
    CHECK(opt && sc, "%s %s: optimizer or scaler: %s", name, dts, ag_error(ctx) ? ag_error(ctx) : "?");
    for (i = 0; opt && sc && i < nsteps; i++) {
        int64_t sx[2] = {8, 4}, sy[2] = {8, 3};
        double ref[64], before = ag_scaler_get_scale(sc);
        int nref = parse_doubles(lines[i] + 6, ref, 64), idx = 0, stepped, ip, ie, kind;
        ag_tensor *x = tensor_from(ctx, dt, 2, sx, sdata_x, 32, false), *y = tensor_from(ctx, dt, 2, sy, sdata_y, 24, false);
        ag_tensor *loss;
        CHECK(nref == 10 + 43 && (int)ref[0] == i, "%s: sstep line %d has %d numbers", name, i, nref);
        if (nref != 53) break;
        ip = (int)ref[1]; ie = (int)ref[2]; kind = (int)ref[3];
        ag_optim_zero_grad(opt);
        loss = ag_mse_loss(ag_linear(ag_tanh(ag_linear(x, P[0], P[1])), P[2], P[3]), y);
        if (mult != 1) loss = ag_mul_scalar(loss, mult);
        if (ag_backward(ag_scaler_scale(sc, loss), NULL) != 0) { CHECK(0, "%s: backward: %s", name, ag_error(ctx)); break; }
        if (kind) {   /* what an overflow in a 16-bit backward leaves */
            double v = kind == 1 ? INFINITY : kind == 2 ? -INFINITY : NAN;
            if (dt == AG_F32) ((float *)ag_data(ag_grad(P[ip])))[ie] = (float)v;
            else ((double *)ag_data(ag_grad(P[ip])))[ie] = v;
        }
        if (clip > 0) {
            CHECK(ag_scaler_unscale(sc, opt) == 0, "%s: unscale: %s", name, ag_error(ctx) ? ag_error(ctx) : "?");
            ag_clip_grad_norm(P, 4, clip, 2.0);
        }
        stepped = ag_scaler_step(sc, opt);
        CHECK(ag_scaler_update(sc) == 0, "%s: update: %s", name, ag_error(ctx) ? ag_error(ctx) : "?");
        /* the scale, the skip decision and the tracker: exactly torch's */
        if ((float)before != (float)ref[4] || stepped != (int)ref[6] || (stepped == 0) != ((int)ref[5] != 0) ||
            ag_scaler_growth_tracker(sc) != (int)ref[7] || (float)ag_scaler_get_scale(sc) != (float)ref[8]) {
            CHECK(0, "%s %s step %d: scale %.9g -> %.9g, stepped %d, tracker %d; torch: %.9g -> %.9g, stepped %d (found inf %d), tracker %d",
                  name, dts, i, before, ag_scaler_get_scale(sc), stepped, ag_scaler_growth_tracker(sc), ref[4], ref[8], (int)ref[6],
                  (int)ref[5], (int)ref[7]);
            mismatch++;
        }
        skipped += stepped == 0;
        CHECK_CLOSE(ag_item(loss), ref[9], 1e-12, dt == AG_F32 ? 1e-5 : 1e-9, "loss");
        ag_ctx_reset(ctx);
        for (k = 0; k < 4; k++) {
            int e;
            for (e = 0; e < pnumel[k]; e++, idx++) {
                double got = dt == AG_F32 ? (double)((float *)ag_data(P[k]))[e] : ((double *)ag_data(P[k]))[e];
                if (!(fabs(got - ref[10 + idx]) <= maxerr)) maxerr = fabs(got - ref[10 + idx]);
            }
        }
        if (i == 0) allocs_after_first = ag_get_stats(ctx).heap_allocs;
    }
    CHECK(maxerr <= (dt == AG_F32 ? 1e-5 : 1e-12), "%s %s: max error %.3g vs PyTorch", name, dts, maxerr);
    CHECK(ag_get_stats(ctx).heap_allocs == allocs_after_first, "%s %s: %llu heap allocations after step 1", name, dts,
          (unsigned long long)(ag_get_stats(ctx).heap_allocs - allocs_after_first));
    printf("  scaler %-17s %s  %d steps, %d skipped, final scale %g, max |C - PyTorch| %.2e\n", name, dts, nsteps, skipped,
           ag_scaler_get_scale(sc), maxerr);
    CHECK(mismatch == 0, "%s %s: %d steps differ from torch's scaler", name, dts, mismatch);
    scaler_cases++;
    ag_ctx_free(ctx);
}

static void test_scaler_reference(void) {
    static char lines[32][4096];
    static char line[1 << 16];
    FILE *f = fopen(SREF, "r");
    CHECK(f != NULL, "cannot open %s (run from the repository root)", SREF);
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "sdata ", 6)) {
            static const char *const nm[6] = {"x", "y", "W1", "b1", "W2", "b2"};
            double *dst[6];
            char name[16];
            int cnt, off, j;
            double v[40];
            dst[0] = sdata_x; dst[1] = sdata_y; dst[2] = sdata_p[0]; dst[3] = sdata_p[1]; dst[4] = sdata_p[2]; dst[5] = sdata_p[3];
            sscanf(line, "sdata %15s %d%n", name, &cnt, &off);
            CHECK(cnt <= 40 && parse_doubles(line + off, v, 40) == cnt, "sdata line %s", name);
            for (j = 0; j < 6; j++) if (!strcmp(name, nm[j])) memcpy(dst[j], v, (size_t)cnt * sizeof(double));
        } else if (!strncmp(line, "scase ", 6)) {
            static char caseline[4096];
            int i, n = (int)key(line, "steps");
            size_t len = strlen(line) < sizeof caseline - 1 ? strlen(line) : sizeof caseline - 1;
            memcpy(caseline, line, len);
            caseline[len] = 0;
            for (i = 0; i < n && i < 32; i++) if (!fgets(lines[i], sizeof lines[i], f) || strncmp(lines[i], "sstep ", 6)) break;
            CHECK(i == n, "scaler case with %d step lines, want %d", i, n);
            run_scaler_case(caseline, lines, i);
        }
    }
    fclose(f);
    CHECK(scaler_cases == 10, "%d scaler cases (want 10)", scaler_cases);
}

/* the scaler's rules that the trajectories cannot see within their tolerance, and its uses */
static void test_scaler_rules(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t n[1] = {1000}, one[1] = {1};
    float c[1000], want[1000], init[1] = {0.5f};
    ag_tensor *p = ag_param(ctx, AG_F32, 1, n, NULL), *q = ag_param(ctx, AG_F32, 1, one, init), *loss, *x, *sl;
    ag_tensor *pq[2];
    ag_grad_scaler_opts so;
    ag_grad_scaler *s, *d;
    ag_optim *opt, *oq;
    ag_sgd_opts sg = ag_sgd_defaults();
    ag_capture *g;
    int i, differs = 0, rc;
    uint64_t live;
    float inv = (float)(1.0 / 3000.0), before[1000];
    for (i = 0; i < 1000; i++) c[i] = (float)sin(0.37 * i + 1) * 3.0f;
    /* unscaling multiplies by the F32 reciprocal of the scale (torch's inv_scale), not divides */
    memset(&so, 0, sizeof so);
    so.init_scale = 3000;
    s = ag_grad_scaler_new(ctx, &so);
    sg.lr = 0.1;
    pq[0] = p; pq[1] = q;
    opt = ag_sgd_new(ctx, pq, 1, &sg);
    loss = ag_sum(ag_mul(p, ag_from(ctx, AG_F32, 1, n, c)));
    CHECK(ag_backward(ag_scaler_scale(s, loss), NULL) == 0 && ag_scaler_unscale(s, opt) == 0, "unscale: %s", ag_error(ctx));
    for (i = 0; i < 1000; i++) {
        float scaled = 3000.0f * c[i];
        want[i] = scaled * inv;
        differs += want[i] != scaled / 3000.0f;
    }
    CHECK(ag_grad(p) && !memcmp(ag_data(ag_grad(p)), want, sizeof want), "unscaled gradients are not g x float(1 / scale)");
    CHECK(differs > 0, "the test cannot tell multiplying by 1/scale from dividing by scale");
    memcpy(before, ag_data(p), sizeof before);
    CHECK(ag_scaler_step(s, opt) == 1 && ag_optim_steps(opt, 0) == 1, "step after unscale");
    CHECK(ag_scaler_update(s) == 0 && ag_scaler_get_scale(s) == 3000 && ag_scaler_growth_tracker(s) == 1, "update: %g %d",
          ag_scaler_get_scale(s), ag_scaler_growth_tracker(s));
    ag_ctx_reset(ctx);
    /* a NaN gradient: the step is skipped, the parameters keep their bits, the scale backs off */
    ag_optim_zero_grad(opt);
    memcpy(before, ag_data(p), sizeof before);
    ag_backward(ag_scaler_scale(s, ag_sum(ag_mul(p, ag_from(ctx, AG_F32, 1, n, c)))), NULL);
    ((float *)ag_data(ag_grad(p)))[999] = NAN;
    CHECK(ag_scaler_step(s, opt) == 0 && ag_optim_steps(opt, 0) == 1 && !memcmp(before, ag_data(p), sizeof before), "skipped step");
    CHECK(ag_scaler_update(s) == 0 && ag_scaler_get_scale(s) == 1500 && ag_scaler_growth_tracker(s) == 0, "backoff");
    ag_ctx_reset(ctx);
    /* a 16-bit loss is scaled in F32 (F16 tops at 65504: 65536 x anything would be inf) */
    d = ag_grad_scaler_new(ctx, NULL);
    x = ag_to(ag_full(ctx, AG_F32, 1, one, 2.0), AG_F16);
    sl = ag_scaler_scale(d, ag_sum(x));
    CHECK(sl && ag_type(sl) == AG_F32 && ag_item(sl) == 131072 && ag_scaler_get_scale(d) == 65536, "F16 loss scaled in F32");
    CHECK(ag_scaler_get_scale(NULL) != ag_scaler_get_scale(NULL) && ag_scaler_growth_tracker(NULL) == -1, "NULL scaler getters");
    ag_ctx_reset(ctx);
    /* the defaults: growth after 2000 good steps; two optimizers, one update */
    oq = ag_sgd_new(ctx, pq + 1, 1, &sg);
    for (i = 0; i < 2000; i++) {
        ag_optim_zero_grad(opt); ag_optim_zero_grad(oq);
        ag_backward(ag_scaler_scale(d, ag_add(ag_sum(p), ag_sum(q))), NULL);
        rc = ag_scaler_step(d, opt) + ag_scaler_step(d, oq);
        if (rc != 2 || ag_scaler_update(d) != 0) break;
        ag_ctx_reset(ctx);
        if (i == 1998) CHECK(ag_scaler_get_scale(d) == 65536 && ag_scaler_growth_tracker(d) == 1999, "1999 steps");
    }
    CHECK(i == 2000 && ag_scaler_get_scale(d) == 131072 && ag_scaler_growth_tracker(d) == 0, "2000 steps: scale %g (%s)",
          ag_scaler_get_scale(d), ag_error(ctx) ? ag_error(ctx) : "");
    /* a captured step replays with the scale of the moment: the scale node reads the scaler */
    ag_ctx_reset(ctx);
    ag_optim_zero_grad(oq);
    ag_capture_begin(ctx);
    ag_backward(ag_scaler_scale(s, ag_mul_scalar(ag_sum(q), 3.0)), NULL);
    g = ag_capture_end(ctx);
    CHECK(g && ag_scaler_step(s, oq) == 1 && ag_scaler_update(s) == 0, "captured step: %s", ag_error(ctx) ? ag_error(ctx) : "");
    {
        float q0 = ((float *)ag_data(q))[0];
        ag_optim_zero_grad(oq);
        ag_scaler_update(s);   /* no step since the last update: an error, the scale stays */
        CHECK(ag_error(ctx) && strstr(ag_error(ctx), "scaler_update") && ag_scaler_get_scale(s) == 1500, "update twice");
        ag_clear_error(ctx);
        CHECK(ag_grad(q) == NULL && ag_replay(g) == 0 && ag_grad(q) && ((float *)ag_data(ag_grad(q)))[0] == 4500.0f,
              "replay at scale 1500: gradient %g", ag_grad(q) ? ((float *)ag_data(ag_grad(q)))[0] : -1.0);
        ((float *)ag_data(ag_grad(q)))[0] = INFINITY;
        CHECK(ag_scaler_step(s, oq) == 0 && ((float *)ag_data(q))[0] == q0 && ag_scaler_update(s) == 0 && ag_scaler_get_scale(s) == 750,
              "inf after a replay: skipped, scale 750");
        ag_optim_zero_grad(oq);
        CHECK(ag_replay(g) == 0 && ((float *)ag_data(ag_grad(q)))[0] == 2250.0f, "replay at scale 750: gradient %g",
              ((float *)ag_data(ag_grad(q)))[0]);
    }
    ag_capture_free(g);
    CHECK(!ag_error(ctx), "scaler rules: %s", ag_error(ctx));
    ag_ctx_reset(ctx);
    live = ag_get_stats(ctx).persistent_tensors;
    ag_grad_scaler_free(d);   /* its scale tensor goes with it */
    CHECK(!ag_error(ctx) && ag_get_stats(ctx).persistent_tensors == live - 1, "scaler freed: %llu persistent tensors, %llu before",
          (unsigned long long)ag_get_stats(ctx).persistent_tensors, (unsigned long long)live);
    ag_ctx_free(ctx);
}

/* ---- initialisation: bounds, mean and std on large tensors ---- */
static void stats(ag_tensor *t, double *mn, double *mx, double *mean, double *sd) {
    int64_t i, n = ag_numel(t);
    double s = 0, s2 = 0;
    *mn = INFINITY; *mx = -INFINITY;
    for (i = 0; i < n; i++) {
        double v = ag_type(t) == AG_F32 ? (double)((float *)ag_data(t))[i] : ((double *)ag_data(t))[i];
        s += v; s2 += v * v;
        if (v < *mn) *mn = v;
        if (v > *mx) *mx = v;
    }
    *mean = s / (double)n;
    *sd = sqrt(s2 / (double)n - *mean * *mean);
}
static void check_uniform(ag_tensor *t, double bound, const char *what) {
    double mn, mx, mean, sd;
    stats(t, &mn, &mx, &mean, &sd);
    CHECK(mn >= -bound && mx <= bound, "%s: values in [%g, %g], bound %g", what, mn, mx, bound);
    CHECK(mn < -0.99 * bound && mx > 0.99 * bound, "%s: range [%g, %g] does not reach the bound %g", what, mn, mx, bound);
    CHECK(fabs(mean) < 0.02 * bound, "%s: mean %g", what, mean);
    CHECK(fabs(sd / (bound / sqrt(3.0)) - 1) < 0.015, "%s: std %g, want %g", what, sd, bound / sqrt(3.0));
}
static void check_normal(ag_tensor *t, double std, const char *what) {
    double mn, mx, mean, sd;
    stats(t, &mn, &mx, &mean, &sd);
    CHECK(fabs(mean) < 0.02 * std, "%s: mean %g", what, mean);
    CHECK(fabs(sd / std - 1) < 0.015, "%s: std %g, want %g", what, sd, std);
    CHECK(mx > 3 * std && mn < -3 * std && mx < 7 * std && mn > -7 * std, "%s: range [%g, %g] for std %g", what, mn, mx, std);
}

static void test_init(void) {
    ag_desc d;
    ag_ctx *ctx, *ctx2;
    int64_t s[2] = {400, 300}, s4[4] = {64, 32, 3, 3}, sl[2] = {300, 784}, sb[1] = {300}, s1[1] = {10};
    ag_tensor *W, *W64, *C4, *L, *Lb, *v, *a, *b;
    double mn, mx, mean, sd;
    int dt;
    memset(&d, 0, sizeof d);
    d.seed = 1234;
    ctx = ag_ctx_new(&d);
    for (dt = 0; dt < 2; dt++) {
        ag_dtype ty = dt ? AG_F64 : AG_F32;
        W = ag_param(ctx, ty, 2, s, NULL);
        CHECK(ag_init_uniform(W, -2, 3) == 0, "uniform");
        stats(W, &mn, &mx, &mean, &sd);
        CHECK(mn >= -2 && mx < 3 && mn < -1.99 && mx > 2.99, "uniform range [%g, %g]", mn, mx);
        CHECK(fabs(mean - 0.5) < 0.02 && fabs(sd / (5 / sqrt(12.0)) - 1) < 0.01, "uniform mean %g std %g", mean, sd);
        CHECK(ag_init_normal(W, 1, 2) == 0, "normal");
        stats(W, &mn, &mx, &mean, &sd);
        CHECK(fabs(mean - 1) < 0.03 && fabs(sd / 2 - 1) < 0.01, "normal mean %g std %g", mean, sd);
        CHECK(ag_init_xavier_uniform(W, 1.0) == 0, "xavier_uniform");
        check_uniform(W, sqrt(6.0 / 700), "xavier_uniform");
        CHECK(ag_init_xavier_uniform(W, ag_init_gain(AG_NL_TANH, 0)) == 0, "xavier_uniform tanh");
        check_uniform(W, 5.0 / 3.0 * sqrt(6.0 / 700), "xavier_uniform tanh gain");
        CHECK(ag_init_xavier_normal(W, 2.0) == 0, "xavier_normal");
        check_normal(W, 2 * sqrt(2.0 / 700), "xavier_normal");
        CHECK(ag_init_kaiming_uniform(W, 0, AG_FAN_IN, AG_NL_RELU) == 0, "kaiming_uniform");
        check_uniform(W, sqrt(2.0) * sqrt(3.0 / 300), "kaiming_uniform relu fan_in");
        CHECK(ag_init_kaiming_uniform(W, 0.2, AG_FAN_OUT, AG_NL_LEAKY_RELU) == 0, "kaiming_uniform leaky");
        check_uniform(W, sqrt(2.0 / 1.04) * sqrt(3.0 / 400), "kaiming_uniform leaky_relu fan_out");
        CHECK(ag_init_kaiming_normal(W, 0, AG_FAN_OUT, AG_NL_RELU) == 0, "kaiming_normal");
        check_normal(W, sqrt(2.0) / sqrt(400.0), "kaiming_normal relu fan_out");
        CHECK(ag_init_kaiming_normal(W, 0, AG_FAN_IN, AG_NL_LINEAR) == 0, "kaiming_normal linear");
        check_normal(W, 1 / sqrt(300.0), "kaiming_normal linear fan_in");
        C4 = ag_param(ctx, ty, 4, s4, NULL);   /* conv weight: fan_in 32*9, fan_out 64*9 */
        CHECK(ag_init_kaiming_uniform(C4, 0, AG_FAN_IN, AG_NL_RELU) == 0, "kaiming conv");
        check_uniform(C4, sqrt(2.0) * sqrt(3.0 / 288), "kaiming_uniform 4-d fan_in");
        CHECK(ag_init_xavier_normal(C4, 1) == 0, "xavier conv");
        check_normal(C4, sqrt(2.0 / (288 + 576)), "xavier_normal 4-d");
        L = ag_param(ctx, ty, 2, sl, NULL); Lb = ag_param(ctx, ty, 1, sb, NULL);
        CHECK(ag_init_linear(L, Lb) == 0, "init_linear");
        check_uniform(L, 1 / sqrt(784.0), "nn.Linear weight");
        stats(Lb, &mn, &mx, &mean, &sd);
        CHECK(mn >= -1 / sqrt(784.0) && mx <= 1 / sqrt(784.0) && sd > 0.4 / sqrt(784.0 * 3), "nn.Linear bias in [%g, %g]", mn, mx);
        CHECK(ag_init_constant(Lb, 0.5) == 0 && ((ty == AG_F32 && ((float *)ag_data(Lb))[299] == 0.5f) ||
              (ty == AG_F64 && ((double *)ag_data(Lb))[299] == 0.5)), "init_constant");
    }
    CHECK(fabs(ag_init_gain(AG_NL_TANH, 0) - 5.0 / 3) < 1e-15 && fabs(ag_init_gain(AG_NL_RELU, 0) - sqrt(2.0)) < 1e-15 &&
          ag_init_gain(AG_NL_LINEAR, 0) == 1 && ag_init_gain(AG_NL_SIGMOID, 0) == 1 && ag_init_gain(AG_NL_SELU, 0) == 0.75 &&
          fabs(ag_init_gain(AG_NL_LEAKY_RELU, 0.01) - sqrt(2 / 1.0001)) < 1e-15, "gains");
    /* errors: fewer than 2 dims, a non-leaf; through a transposed view (strided writes) */
    v = ag_param(ctx, AG_F32, 1, s1, NULL);
    CHECK(ag_init_xavier_uniform(v, 1) == -1 && ag_error(ctx) && strstr(ag_error(ctx), "init_xavier_uniform"), "1-d xavier: %s",
          ag_error(ctx) ? ag_error(ctx) : "no error");
    ag_clear_error(ctx);
    CHECK(ag_init_uniform(ag_mul_scalar(v, 2), 0, 1) == -1 && ag_error(ctx), "init of a non-leaf");
    ag_clear_error(ctx);
    W64 = ag_persistent(ctx, AG_F64, 2, s, NULL);
    CHECK(ag_init_uniform(ag_transpose(W64, 0, 1), 1, 2) == 0, "init through a view");
    stats(W64, &mn, &mx, &mean, &sd);
    CHECK(mn >= 1 && mx < 2, "view init reached every element: [%g, %g]", mn, mx);
    /* the same seed gives the same values */
    ctx2 = ag_ctx_new(&d);
    a = ag_param(ctx2, AG_F32, 2, sl, NULL);
    b = ag_param(ctx2, AG_F32, 2, sl, NULL);
    ag_manual_seed(ctx2, 7); ag_init_kaiming_normal(a, 0, AG_FAN_IN, AG_NL_RELU);
    ag_manual_seed(ctx2, 7); ag_init_kaiming_normal(b, 0, AG_FAN_IN, AG_NL_RELU);
    CHECK(!memcmp(ag_data(a), ag_data(b), 300 * 784 * sizeof(float)), "same seed, same init");
    ag_ctx_free(ctx2);
    ag_ctx_free(ctx);
}

/* ---- bad calls: NULL and an error message, never a crash ---- */
static void test_errors(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[1] = {3};
    ag_tensor *p = ag_param(ctx, AG_F32, 1, s, NULL), *q = ag_persistent(ctx, AG_F32, 1, s, NULL);
    ag_tensor *two[2], *list[1];
    ag_sgd_opts so = ag_sgd_defaults();
    ag_adam_opts ao = ag_adam_defaults();
    ag_optim *o;
    uint64_t before;
    two[0] = p; two[1] = p; list[0] = p;
#define EXPECT_ERR(call, word) do { ag_clear_error(ctx); CHECK(!(call) && ag_error(ctx) && strstr(ag_error(ctx), word), \
    "%s: %s", #call, ag_error(ctx) ? ag_error(ctx) : "no error"); } while (0)
    EXPECT_ERR(ag_sgd_new(ctx, two, 0, NULL), "empty");
    EXPECT_ERR(ag_sgd_new(ctx, two, 2, NULL), "twice");
    list[0] = q;
    EXPECT_ERR(ag_adam_new(ctx, list, 1, NULL), "require grad");
    list[0] = NULL;
    EXPECT_ERR(ag_adamw_new(ctx, list, 1, NULL), "NULL");
    list[0] = p;
    so.nesterov = true;
    EXPECT_ERR(ag_sgd_new(ctx, list, 1, &so), "nesterov");
    so = ag_sgd_defaults(); so.lr = -1;
    EXPECT_ERR(ag_sgd_new(ctx, list, 1, &so), "lr");
    ao.beta1 = 1.0;
    EXPECT_ERR(ag_adam_new(ctx, list, 1, &ao), "betas");
    ao = ag_adam_defaults(); ao.eps = NAN;
    EXPECT_ERR(ag_adam_new(ctx, list, 1, &ao), "eps");
    memset(&so, 0, sizeof so);   /* zero-filled options: lr 0 would silently never train */
    EXPECT_ERR(ag_sgd_new(ctx, list, 1, &so), "ag_sgd_defaults");
    memset(&ao, 0, sizeof ao);
    EXPECT_ERR(ag_adam_new(ctx, list, 1, &ao), "ag_adam_defaults");
    EXPECT_ERR(ag_adamw_new(ctx, list, 1, &ao), "ag_adamw_defaults");
    ag_clear_error(ctx);
    CHECK(ag_optim_step(NULL) == -1 && ag_optim_steps(NULL, 0) == -1 && ag_optim_get_lr(NULL) != ag_optim_get_lr(NULL), "NULL optimizer");
    ag_optim_zero_grad(NULL); ag_optim_set_lr(NULL, 1);
    o = ag_adam_new(ctx, list, 1, NULL);
    CHECK(o && ag_optim_get_lr(o) == 1e-3 && !ag_error(ctx), "adam defaults");
    ag_optim_set_lr(o, -0.5);
    CHECK(ag_error(ctx) && ag_optim_get_lr(o) == 1e-3, "negative lr refused");
    ag_clear_error(ctx);
    /* a step with no gradients is a no-op and allocates nothing */
    before = ag_get_stats(ctx).heap_allocs;
    CHECK(ag_optim_step(o) == 0 && ag_optim_steps(o, 0) == 0 && ag_get_stats(ctx).heap_allocs == before, "step without grads");
    CHECK(ag_clip_grad_norm(list, 1, -1, 2) != ag_clip_grad_norm(list, 1, -1, 2) && ag_error(ctx), "clip: negative max_norm");
    ag_clear_error(ctx);
    CHECK(ag_clip_grad_norm(list, 1, 1, 2) == 0, "clip with no grads: norm 0");
    CHECK(ag_clip_grad_value(list, 1, NAN) == -1, "clip_value NaN");
    CHECK(ag_clip_grad_value(NULL, 1, 1) == -1 && ag_clip_grad_norm(NULL, 1, 1, 2) != ag_clip_grad_norm(NULL, 1, 1, 2), "clip NULL");
    CHECK(ag_init_uniform(NULL, 0, 1) == -1 && ag_init_linear(NULL, NULL) == -1, "init NULL");
    CHECK(ag_lr_cosine(100, 5, 30, 0.1, 0.01) == 0.01 && ag_lr_cosine(0, 0, 0, 0.1, 0.01) == 0.01 && ag_lr_step(7, 0, 0.5, 0.1) == 0.1,
          "schedule edges");
    ag_ctx_free(ctx);
#undef EXPECT_ERR
}

/* SGD + Adam on a mixed F32/F64 parameter list; zero heap allocations per step over 1000 steps */
static void test_no_alloc(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s[2] = {16, 8};
    ag_tensor *P[2];
    ag_optim *o;
    uint64_t a1 = 0;
    int i;
    P[0] = ag_param(ctx, AG_F32, 2, s, NULL); P[1] = ag_param(ctx, AG_F64, 2, s, NULL);
    ag_init_normal(P[0], 0, 1); ag_init_normal(P[1], 0, 1);
    o = ag_adamw_new(ctx, P, 2, NULL);
    for (i = 0; i < 1000; i++) {
        ag_tensor *loss = ag_add(ag_sum(ag_pow(P[0], 2)), ag_sum(ag_pow(P[1], 2)));
        ag_optim_zero_grad(o);
        ag_backward(loss, NULL);
        ag_clip_grad_norm(P, 2, 1.0, 2);
        ag_optim_step(o);
        ag_ctx_reset(ctx);
        if (i == 0) a1 = ag_get_stats(ctx).heap_allocs;
    }
    CHECK(!ag_error(ctx) && ag_get_stats(ctx).heap_allocs == a1, "1000 AdamW steps: %llu heap allocations after step 1 (%s)",
          (unsigned long long)(ag_get_stats(ctx).heap_allocs - a1), ag_error(ctx) ? ag_error(ctx) : "");
    CHECK(fabs(((float *)ag_data(P[0]))[5]) < 0.5 && fabs(((double *)ag_data(P[1]))[5]) < 0.5, "AdamW shrank the weights");
    ag_ctx_free(ctx);
}

/* the SIMD update kernels of every set this CPU runs give the same bits as the scalar ones
   (gradients set exactly: d/dp sum(p * c) = c), for SGD (momentum, Nesterov) and Adam/AdamW
   (amsgrad), F32 and F64 */
static void test_simd_bits(void) {
    static const char *const sets[] = { "avx512", "avx2", "neon", "simd128" };
    int kind, dt, set, ran = 0;
    for (set = 0; set < 4; set++) for (kind = 0; kind < 4; kind++) for (dt = 0; dt < 2; dt++) {
        ag_tensor *P[2][1];
        ag_ctx *ctx[2];
        int c, i, step;
        int64_t s[2] = {37, 29};   /* 1073 elements: vector body and scalar tail */
        for (c = 0; c < 2; c++) {
            ag_desc d;
            ag_sgd_opts so = ag_sgd_defaults();
            ag_adam_opts ao = kind == 2 ? ag_adam_defaults() : ag_adamw_defaults();
            ag_optim *o;
            memset(&d, 0, sizeof d);
            d.seed = 5;
            d.simd = c ? "scalar" : sets[set];
            ctx[c] = ag_ctx_new(&d);
            P[c][0] = ag_param(ctx[c], dt ? AG_F64 : AG_F32, 2, s, NULL);
            ag_init_normal(P[c][0], 0, 1);
            so.lr = 0.05; so.momentum = 0.9; so.nesterov = kind == 1; so.weight_decay = 0.01; so.maximize = kind == 0;
            ao.lr = 0.01; ao.amsgrad = kind == 3; ao.weight_decay = 0.02;
            o = kind < 2 ? ag_sgd_new(ctx[c], P[c], 1, &so) : kind == 2 ? ag_adam_new(ctx[c], P[c], 1, &ao) : ag_adamw_new(ctx[c], P[c], 1, &ao);
            for (step = 0; step < 30; step++) {
                double g[37 * 29];
                for (i = 0; i < 37 * 29; i++) g[i] = sin(0.37 * i + step) * (i % 7 == 0 ? 1e-3 : 1);
                ag_optim_zero_grad(o);
                ag_backward(ag_sum(ag_mul(P[c][0], ag_to(ag_from(ctx[c], AG_F64, 2, s, g), dt ? AG_F64 : AG_F32))), NULL);
                ag_optim_step(o);
                ag_ctx_reset(ctx[c]);
            }
        }
        if (!strcmp(ag_simd_name(ctx[0]), sets[set])) {   /* a set this CPU does not have falls back to another */
            ran++;
            CHECK(!ag_error(ctx[0]) && !ag_error(ctx[1]) && !memcmp(ag_data(P[0][0]), ag_data(P[1][0]), (size_t)(37 * 29) * (dt ? 8 : 4)),
                  "optimizer %d %s: %s kernels differ from scalar", kind, dt ? "F64" : "F32", ag_simd_name(ctx[0]));
        }
        ag_ctx_free(ctx[0]); ag_ctx_free(ctx[1]);
    }
    printf("  info: optimizer bits compared with scalar on %d set/kind/dtype combinations\n", ran);
}

/* the update is shared out in chunks of 16,384 elements on the pool: over 50,001 elements (a ragged
   last chunk), 1 and 3 threads give the bits of the same elements updated as four parameters of
   one chunk each, for SGD with momentum and Adam with amsgrad */
static void test_thread_bits(void) {
    enum { N = 50001 };
    static const int64_t part[4] = {16384, 16384, 16384, N - 3 * 16384};
    int kind, c, step, i, k;
    double *g = (double *)malloc(sizeof(double) * N);
    float *got[3];
    for (kind = 0; kind < 2 && g; kind++) {
        for (c = 0; c < 3; c++) {   /* c = 0, 1: one parameter on 1 and 3 threads; 2: four parameters */
            ag_desc d;
            ag_sgd_opts so = ag_sgd_defaults();
            ag_adam_opts ao = ag_adam_defaults();
            ag_tensor *P[4];
            ag_optim *o;
            ag_ctx *ctx;
            int64_t s[1] = {N};
            int np = c == 2 ? 4 : 1;
            float *init = (float *)malloc(sizeof(float) * N);
            got[c] = (float *)malloc(sizeof(float) * N);
            for (i = 0; init && i < N; i++) init[i] = (float)cos(0.11 * i);
            memset(&d, 0, sizeof d);
            d.threads = c == 1 ? 3 : 1;
            ctx = ag_ctx_new(&d);
            for (k = 0, i = 0; k < np; i += (int)(c == 2 ? part[k] : (int64_t)N), k++)
                P[k] = ag_param(ctx, AG_F32, 1, c == 2 ? &part[k] : s, init ? init + i : NULL);
            so.lr = 0.05; so.momentum = 0.9;
            ao.lr = 0.01; ao.amsgrad = true;
            o = kind ? ag_adam_new(ctx, P, np, &ao) : ag_sgd_new(ctx, P, np, &so);
            for (step = 0; step < 5; step++) {
                for (i = 0; i < N; i++) g[i] = sin(0.37 * i + step);
                ag_optim_zero_grad(o);
                for (k = 0, i = 0; k < np; i += (int)ag_numel(P[k]), k++)
                    ag_backward(ag_sum(ag_mul(P[k], ag_to(ag_from(ctx, AG_F64, 1, ag_shape(P[k]), g + i), AG_F32))), NULL);
                ag_optim_step(o);
                ag_ctx_reset(ctx);
            }
            for (k = 0, i = 0; got[c] && k < np; i += (int)ag_numel(P[k]), k++) memcpy(got[c] + i, ag_data(P[k]), (size_t)ag_numel(P[k]) * 4);
            CHECK(!ag_error(ctx) && init && got[c], "thread bits run %d: %s", c, ag_error(ctx) ? ag_error(ctx) : "out of memory");
            free(init);
            ag_ctx_free(ctx);
        }
        CHECK(got[0] && got[1] && got[2] && !memcmp(got[0], got[2], N * 4) && !memcmp(got[1], got[2], N * 4),
              "%s over 50,001 elements on 1 and 3 threads gives the bits of four one-chunk parameters", kind ? "Adam" : "SGD");
        for (c = 0; c < 3; c++) free(got[c]);
    }
    free(g);
}

int main(void) {
    test_reference();
    test_scaler_reference();
    test_scaler_rules();
    test_simd_bits();
    test_thread_bits();
    test_init();
    test_errors();
    test_no_alloc();
    return harness_finish("test_optim");
}
