/* target_hash.c - one training run, its losses hashed, to compare targets bit for bit.

   make check-targets builds this for every target it can run (x86-64 with each kernel set,
   aarch64 under qemu, WebAssembly under node, armhf under qemu, Windows under wine; i386 in
   check-m32, Cortex-M in check-cortex-m) and compares the hashes:

   small  an MLP 2-8-8-3 (tanh, silu), cross-entropy, Adam, batch 8: its products are at most
          512 multiply-adds, which every kernel set computes with the same portable loop, so
          the hash must be the same on EVERY target and kernel set.
   large  an MLP 64-96-64-10 (gelu_tanh, sigmoid), batch 32: its products go through the
          GEMM micro-kernels. Kernel sets with an FMA instruction (AVX2, AVX-512, NEON) round
          each step once, the others (scalar, SIMD128) twice, and AVX-512 sums K in blocks of
          128 instead of 256, so the hash is the same within each of these groups:
          {scalar on every target, simd128}, {avx2, neon}, {avx512}.

   Data and initial weights come from an integer generator (no libm), so every target starts
   from the same bits. The hash is FNV-1a over the bits of every step's loss.

   usage: target_hash [--simd scalar|avx2|avx512|neon|simd128] [--bench]
   prints: kernels <set> small <hash> <final loss> large <hash> <final loss>
   --bench adds the time of a 256x256 matmul forward and backward, and of the large step.

   cc -std=c99 -O2 -I. tests/target_hash.c -lm -o build/target_hash */
#define _POSIX_C_SOURCE 200809L
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t rng_state = 12345u;
static float urand(void) {   /* uniform in [-1, 1), a multiple of 2^-23: exact on every target */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(int32_t)(rng_state >> 8 & 0xffffffu) / 8388608.0f - 1.0f;
}
static uint64_t fnv(uint64_t h, float v) {
    uint32_t b;
    int i;
    memcpy(&b, &v, 4);
    for (i = 0; i < 4; i++) { h ^= (b >> (8 * i)) & 0xffu; h *= 1099511628211ull; }
    return h;
}

typedef struct { int in, hid1, hid2, out, batch, steps, act; } run_cfg;

/* trains cfg's MLP; returns the hash of its losses, *last the final loss; -1 on an error */
static int run(ag_ctx *ctx, const run_cfg *c, uint64_t *hash, float *last) {
    int64_t s1[2] = {c->hid1, c->in}, s2[2] = {c->hid2, c->hid1}, s3[2] = {c->out, c->hid2};
    int64_t b1[1] = {c->hid1}, b2[1] = {c->hid2}, b3[1] = {c->out}, sx[2] = {c->batch, c->in};
    int64_t shapes_n[3] = {c->hid1 * c->in, c->hid2 * c->hid1, c->out * c->hid2};
    float *w = (float *)malloc(sizeof(float) * (size_t)(shapes_n[0] + shapes_n[1] + shapes_n[2]));
    float *x = (float *)malloc(sizeof(float) * (size_t)(c->batch * c->in));
    int32_t *y = (int32_t *)malloc(sizeof(int32_t) * (size_t)c->batch);
    ag_tensor *p[6];
    ag_optim *opt;
    ag_adam_opts ao;
    int64_t i, k;
    int step, ok = 0;
    uint64_t h = 14695981039346656037ull;
    if (!w || !x || !y) goto done;
    for (i = 0; i < shapes_n[0] + shapes_n[1] + shapes_n[2]; i++) w[i] = urand() * 0.5f;
    p[0] = ag_param(ctx, AG_F32, 2, s1, w);
    p[1] = ag_param(ctx, AG_F32, 1, b1, NULL);
    p[2] = ag_param(ctx, AG_F32, 2, s2, w + shapes_n[0]);
    p[3] = ag_param(ctx, AG_F32, 1, b2, NULL);
    p[4] = ag_param(ctx, AG_F32, 2, s3, w + shapes_n[0] + shapes_n[1]);
    p[5] = ag_param(ctx, AG_F32, 1, b3, NULL);
    memset(&ao, 0, sizeof ao);
    ao.lr = 0.01;
    opt = ag_adam_new(ctx, p, 6, &ao);
    if (!opt) goto done;
    for (step = 0; step < c->steps; step++) {
        ag_tensor *h1, *h2, *loss;
        for (i = 0; i < c->batch; i++) {   /* the class is the sign pattern of two of the inputs */
            for (k = 0; k < c->in; k++) x[i * c->in + k] = urand();
            y[i] = (x[i * c->in] > 0) + (x[i * c->in + 1] > 0.25f);
        }
        h1 = ag_linear(ag_from_f32(ctx, 2, sx, x), p[0], p[1]);
        h1 = c->act ? ag_gelu_tanh(h1) : ag_tanh(h1);
        h2 = ag_linear(h1, p[2], p[3]);
        h2 = c->act ? ag_sigmoid(h2) : ag_silu(h2);
        loss = ag_cross_entropy(ag_linear(h2, p[4], p[5]), y);
        ag_optim_zero_grad(opt);
        if (!loss || ag_backward(loss, NULL) != 0 || ag_optim_step(opt) != 0) goto done;
        *last = (float)ag_item(loss);
        h = fnv(h, *last);
        ag_ctx_reset(ctx);
    }
    *hash = h;
    ok = 1;
done:
    if (!ok) fprintf(stderr, "target_hash: %s\n", ag_error(ctx) ? ag_error(ctx) : "out of memory");
    free(w); free(x); free(y);
    return ok ? 0 : -1;
}

static double now(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) return (double)clock() / CLOCKS_PER_SEC;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* best of 5 of the average time of `reps` 256x256 products, forward and backward */
static double bench_matmul(ag_ctx *ctx) {
    int64_t s[2] = {256, 256};
    float *d = (float *)malloc(sizeof(float) * 256 * 256);
    ag_tensor *A, *B;
    double best = 1e30;
    int r, k;
    if (!d) return -1;
    for (k = 0; k < 256 * 256; k++) d[k] = urand();
    A = ag_param(ctx, AG_F32, 2, s, d);
    B = ag_param(ctx, AG_F32, 2, s, d);
    free(d);
    for (r = 0; r < 5; r++) {
        double t0 = now(), t;
        for (k = 0; k < 10; k++) {
            if (ag_backward(ag_sum(ag_matmul(A, B)), NULL) != 0) return -1;
            ag_ctx_reset(ctx);
        }
        t = (now() - t0) / 10;
        if (t < best) best = t;
    }
    return best;
}

int main(int argc, char **argv) {
    static const run_cfg small = {2, 8, 8, 3, 8, 300, 0}, large = {64, 96, 64, 10, 32, 60, 1};
    ag_desc d;
    ag_ctx *ctx;
    uint64_t hs = 0, hl = 0;
    float ls = 0, ll = 0;
    int i, bench = 0;
    memset(&d, 0, sizeof d);
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--simd") && i + 1 < argc) d.simd = argv[++i];
        else if (!strcmp(argv[i], "--bench")) bench = 1;
        else { fprintf(stderr, "usage: target_hash [--simd scalar|avx2|avx512|neon|simd128] [--bench]\n"); return 2; }
    }
    ctx = ag_ctx_new(&d);
    if (!ctx) { fprintf(stderr, "target_hash: no context\n"); return 1; }
    if (d.simd && strcmp(ag_simd_name(ctx), d.simd) != 0) {
        printf("kernels %s not available (runs %s)\n", d.simd, ag_simd_name(ctx));
        ag_ctx_free(ctx);
        return 3;
    }
    if (run(ctx, &small, &hs, &ls) != 0 || run(ctx, &large, &hl, &ll) != 0) { ag_ctx_free(ctx); return 1; }
    printf("kernels %s small %016llx %.9g large %016llx %.9g\n", ag_simd_name(ctx), (unsigned long long)hs, ls,
           (unsigned long long)hl, ll);
    if (bench) {
        double tm = bench_matmul(ctx), t0, tl;
        rng_state = 12345u;
        t0 = now();
        run(ctx, &large, &hl, &ll);
        tl = (now() - t0) / large.steps;
        printf("bench %s matmul256 fwd+bwd %.1f us, mlp step %.1f us\n", ag_simd_name(ctx), tm * 1e6, tl * 1e6);
    }
    ag_ctx_free(ctx);
    return 0;
}
