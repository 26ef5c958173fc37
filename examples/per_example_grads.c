/* per_example_grads.c - per-example gradients with ag_vmap, used for DP-SGD: each example's
   gradient is clipped to a norm of at most C before the batch's gradients are averaged, and
   Gaussian noise is added (Abadi et al. 2016). This is torch.func's vmap(grad(loss)).

   The loss is written for ONE example; ag_vmap runs it over the batch as one batched
   computation (the layers' products are one product each) and returns every example's
   gradient of every parameter, [B, ...]. The program checks example 0 against a plain
   ag_grad_of on that example, then trains a 2-32-32-2 tanh MLP on two interleaved half-moons
   with DP-SGD and, from the same start, with plain SGD, and prints both accuracies and the
   time of a step by vmap against a loop over the examples.

   cc -std=c99 -O2 -I. examples/per_example_grads.c -o per_example_grads -lm -lpthread
   ./per_example_grads [--steps N] [--clip C] [--noise SIGMA] [--batch B]    (--help: usage) */
#define _POSIX_C_SOURCE 199309L
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NDATA 512
#define NPARAM 6

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec; }

/* one example: x [2], y a 0-d I64 label; p = W1 [32, 2], b1, W2 [32, 32], b2, W3 [2, 32], b3 */
static ag_tensor *loss_one(ag_tensor *const *p, ag_tensor *x, ag_tensor *y) {
    ag_tensor *h = ag_tanh(ag_linear(x, p[0], p[1]));
    h = ag_tanh(ag_linear(h, p[2], p[3]));
    return ag_cross_entropy_t(ag_linear(h, p[4], p[5]), y);
}
/* f for ag_vmap: in = {x, y, the parameters}, out = d loss / d each parameter, for one example */
static int grads_one(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag_tensor *L = loss_one(in + 2, in[0], in[1]);
    (void)ctx; (void)user;
    return L ? ag_grad_of(L, NULL, NPARAM, in + 2, out) : -1;
}
/* every example's gradient of every parameter: g[i] is [B, shape of p[i]] */
static int per_example(ag_ctx *ctx, ag_tensor *x, ag_tensor *y, ag_tensor *const *p, ag_tensor **g) {
    ag_tensor *in[2 + NPARAM];
    int dims[2 + NPARAM], i;
    in[0] = x; in[1] = y; dims[0] = dims[1] = 0;   /* x and y: one example per row */
    for (i = 0; i < NPARAM; i++) { in[2 + i] = p[i]; dims[2 + i] = AG_UNBATCHED; }   /* shared by every example */
    return ag_vmap(ctx, grads_one, NULL, 2 + NPARAM, in, dims, NPARAM, g, NULL);
}

/* the same numbers on every platform: a 64-bit LCG, its top 31 bits */
static uint64_t lcg = 7;
static int next_int(void) { lcg = lcg * 6364136223846793005ull + 1442695040888963407ull; return (int)(lcg >> 33); }
static double next_unit(void) { return (double)next_int() / 2147483648.0; }

/* two interleaved half-moons with a little noise, labels 0 and 1 */
static void make_moons(float *X, int64_t *Y) {
    int i;
    for (i = 0; i < NDATA; i++) {
        double t = 3.14159265358979323846 * next_unit(), nx = (next_unit() - 0.5) * 0.3, ny = (next_unit() - 0.5) * 0.3;
        Y[i] = i % 2;
        X[2 * i] = (float)(Y[i] ? 1.0 - cos(t) + nx : cos(t) + nx);
        X[2 * i + 1] = (float)(Y[i] ? 0.5 - sin(t) + ny : sin(t) + ny);
    }
}
static double accuracy(ag_ctx *ctx, ag_tensor *const *p, const float *X, const int64_t *Y) {
    int64_t sx[2] = {NDATA, 2};
    ag_tensor *x = ag_from_f32(ctx, 2, sx, X), *h = ag_tanh(ag_linear(ag_tanh(ag_linear(x, p[0], p[1])), p[2], p[3]));
    ag_tensor *pred = ag_argmax(ag_linear(h, p[4], p[5]), 1, false);
    int i, right = 0;
    for (i = 0; i < NDATA; i++) { int64_t k = i; right += (int64_t)ag_get(pred, &k) == Y[i]; }
    ag_ctx_reset(ctx);
    return (double)right / NDATA;
}

int main(int argc, char **argv) {
    static const int64_t shapes[NPARAM][2] = {{32, 2}, {32, 0}, {32, 32}, {32, 0}, {2, 32}, {2, 0}};
    int steps = 600, B = 64, i, s, run;
    double clip = 1.0, noise = 0.5, lr = 0.5, acc[2] = {0, 0};
    float X[NDATA * 2];
    int64_t Y[NDATA];
    ag_ctx *ctx;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--clip") && i + 1 < argc) clip = atof(argv[++i]);
        else if (!strcmp(argv[i], "--noise") && i + 1 < argc) noise = atof(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = atoi(argv[++i]);
        else {
            printf("usage: %s [--steps N (600)] [--clip C (1.0)] [--noise SIGMA (0.5)] [--batch B (64)]\n"
                   "DP-SGD on two half-moons with per-example gradients from ag_vmap, beside plain SGD.\n", argv[0]);
            return strcmp(argv[i], "--help") ? 1 : 0;
        }
    }
    if (steps < 1 || B < 1 || B > NDATA || !(clip > 0) || !(noise >= 0)) { printf("bad arguments (--help)\n"); return 1; }
    ctx = ag_ctx_new(NULL);
    if (!ctx) return 1;
    make_moons(X, Y);

    for (run = 0; run < 2; run++) {   /* run 0: DP-SGD; run 1: plain SGD from the same start */
        ag_tensor *p[NPARAM];
        ag_manual_seed(ctx, 42);
        for (i = 0; i < NPARAM; i++) {
            p[i] = ag_param(ctx, AG_F32, shapes[i][1] ? 2 : 1, shapes[i], NULL);
            ag_init_uniform(p[i], -0.5, 0.5);
        }
        for (s = 0; s < steps; s++) {
            int64_t sx[2] = {B, 2}, sy[1] = {B};
            float xb[NDATA * 2];
            int64_t yb[NDATA];
            ag_tensor *x, *y, *g[NPARAM];
            int b;
            for (b = 0; b < B; b++) {   /* a batch drawn with replacement */
                int k = next_int() % NDATA;
                xb[2 * b] = X[2 * k]; xb[2 * b + 1] = X[2 * k + 1]; yb[b] = Y[k];
            }
            x = ag_from_f32(ctx, 2, sx, xb);
            y = ag_from(ctx, AG_I64, 1, sy, yb);
            if (run == 0) {
                ag_tensor *sq = NULL, *scale;
                if (per_example(ctx, x, y, p, g) != 0) { printf("error: %s\n", ag_error(ctx)); return 1; }
                if (s == 0) {   /* example 0 against a plain gradient of that example alone */
                    ag_tensor *g0[NPARAM];
                    double worst = 0;
                    if (ag_grad_of(loss_one(p, ag_select(x, 0, 0), ag_select(y, 0, 0)), NULL, NPARAM, p, g0) != 0) { printf("error: %s\n", ag_error(ctx)); return 1; }
                    for (i = 0; i < NPARAM; i++) {
                        ag_tensor *d = ag_max(ag_abs(ag_sub(ag_select(g[i], 0, 0), g0[i])));
                        if (ag_item(d) > worst) worst = ag_item(d);
                    }
                    printf("example 0: per-example gradient from ag_vmap vs ag_grad_of on it alone: max difference %.3g\n", worst);
                }
                /* each example's gradient norm over all parameters, [B] */
                for (i = 0; i < NPARAM; i++) {
                    int dims[2] = {1, 2};
                    ag_tensor *t = ag_sum_dims(ag_square(g[i]), ag_ndim(g[i]) - 1, dims, false);
                    sq = sq ? ag_add(sq, t) : t;
                }
                /* clip: scale_b = min(1, C / |g_b|) */
                scale = ag_minimum(ag_rdiv_scalar(ag_sqrt(ag_add_scalar(sq, 1e-12)), clip), ag_ones(ctx, AG_F32, 0, NULL));
                for (i = 0; i < NPARAM; i++) {
                    int64_t bshape[3] = {B, 1, 1};
                    ag_tensor *sc = ag_reshape(scale, ag_ndim(g[i]), bshape);
                    ag_tensor *mean = ag_mul_scalar(ag_sum_dim(ag_mul(g[i], sc), 0, false), 1.0 / B);   /* the clipped average */
                    ag_tensor *nz = ag_mul_scalar(ag_randn(ctx, AG_F32, ag_ndim(mean), ag_shape(mean)), noise * clip / B);
                    g[i] = ag_add(mean, nz);
                }
            } else {
                ag_tensor *L = loss_one(p, x, y);   /* the same loss over the batch: cross_entropy_t averages */
                if (!L || ag_grad_of(L, NULL, NPARAM, p, g) != 0) { printf("error: %s\n", ag_error(ctx)); return 1; }
            }
            for (i = 0; i < NPARAM; i++) {   /* SGD */
                float *w = (float *)ag_data(p[i]);
                const float *d = (const float *)ag_data(ag_contiguous(g[i]));
                int64_t k;
                for (k = 0; k < ag_numel(p[i]); k++) w[k] -= (float)lr * d[k];
            }
            ag_ctx_reset(ctx);
            if ((s + 1) % (steps / 4 > 0 ? steps / 4 : 1) == 0)
                printf("%s step %4d  accuracy %.3f\n", run == 0 ? "DP-SGD" : "SGD   ", s + 1, accuracy(ctx, p, X, Y));
        }
        acc[run] = accuracy(ctx, p, X, Y);
        if (run == 0) {   /* time a step's per-example gradients: vmap against a loop */
            int64_t sx[2] = {B, 2}, sy[1] = {B};
            double t0, tv = 1e9, tl = 1e9;
            int r, b;
            for (r = 0; r < 20; r++) {
                ag_tensor *x = ag_from_f32(ctx, 2, sx, X), *y = ag_from(ctx, AG_I64, 1, sy, Y), *g[NPARAM];
                t0 = now();
                if (per_example(ctx, x, y, p, g) != 0) return 1;
                tv = fmin(tv, now() - t0);
                t0 = now();
                for (b = 0; b < B; b++) ag_grad_of(loss_one(p, ag_select(x, 0, b), ag_select(y, 0, b)), NULL, NPARAM, p, g);
                tl = fmin(tl, now() - t0);
                ag_ctx_reset(ctx);
            }
            printf("per-example gradients of a batch of %d: ag_vmap %.0f us, a loop of ag_grad_of %.0f us\n", B, tv * 1e6, tl * 1e6);
        }
        for (i = 0; i < NPARAM; i++) ag_free_persistent(p[i]);
    }
    printf("final accuracy: DP-SGD (clip %.2f, noise %.2f) %.3f, plain SGD %.3f\n", clip, noise, acc[0], acc[1]);
    ag_ctx_free(ctx);
    return 0;
}
