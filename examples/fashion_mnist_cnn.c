/* fashion_mnist_cnn.c - a small convolutional network on Fashion-MNIST.

       conv 1->16 3x3 pad 1, relu, max pool 2     [N, 16, 14, 14]
       conv 16->32 3x3 pad 1, relu, max pool 2    [N, 32, 7, 7]
       linear 1568 -> 10, cross-entropy

   trained with the library's Adam and a cosine learning-rate decay.
   Reads the IDX files of Debian's dataset-fashion-mnist package.

   Build (from the repository root):
       cc -std=c99 -O2 -I. examples/fashion_mnist_cnn.c -o fashion_mnist_cnn -lz -lm -lpthread
   Run:
       ./fashion_mnist_cnn [--save-init FILE] [epochs (default 5)] [training samples (default 60000)] [threads (default 1)]
   --save-init FILE writes, before training, the initial parameters (named as PyTorch's state_dict
   of the same model: conv1.weight, conv1.bias, conv2.weight, conv2.bias, fc.weight, fc.bias) and
   "order", I32 [epochs, samples used per epoch]: the training images of every epoch in the order
   the run feeds them, as safetensors; bench/torch_fashion_cnn.py trains PyTorch from that start. */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>   /* isatty: progress redraws in place on a terminal only */
#include <zlib.h>

#define DATA_DIR "/usr/share/datasets/fashion-mnist"

/* ---- data: IDX files (big-endian header, then bytes), gzip-compressed ---- */
static unsigned char *read_idx(const char *name, int want_dims, int *count) {
    char path[512];
    unsigned char hdr[16];
    unsigned char *data;
    long n, i, size = 1;
    gzFile f;
    snprintf(path, sizeof path, "%s/%s", DATA_DIR, name);
    f = gzopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: install the Fashion-MNIST data (Debian: apt install dataset-fashion-mnist)\n", path);
        exit(1);
    }
    if (gzread(f, hdr, 4 + 4 * want_dims) != 4 + 4 * want_dims || hdr[2] != 8 || hdr[3] != want_dims) {
        fprintf(stderr, "%s: not an IDX file of unsigned bytes with %d dims\n", path, want_dims);
        exit(1);
    }
    for (i = 0; i < want_dims; i++) size *= ((long)hdr[4 + 4 * i] << 24) | (hdr[5 + 4 * i] << 16) | (hdr[6 + 4 * i] << 8) | hdr[7 + 4 * i];
    n = ((long)hdr[4] << 24) | (hdr[5] << 16) | (hdr[6] << 8) | hdr[7];
    data = (unsigned char *)malloc((size_t)size);
    if (!data || gzread(f, data, (unsigned)size) != (int)size) { fprintf(stderr, "%s: truncated\n", path); exit(1); }
    gzclose(f);
    *count = (int)n;
    return data;
}

typedef struct { int n; unsigned char *x; int32_t *y; } dataset;   /* x: n images of 28x28 bytes */
static dataset load(const char *images, const char *labels) {
    dataset d;
    int n2, i;
    unsigned char *lb;
    d.x = read_idx(images, 3, &d.n);
    lb = read_idx(labels, 1, &n2);
    if (n2 != d.n) { fprintf(stderr, "%s and %s disagree on the count\n", images, labels); exit(1); }
    d.y = (int32_t *)malloc(sizeof(int32_t) * (size_t)d.n);
    for (i = 0; i < d.n; i++) d.y[i] = lb[i];
    free(lb);
    return d;
}
/* image i of d into dst as 784 floats, normalised with the training set's mean and std */
static void pixels(const dataset *d, int i, float *dst) {
    int k;
    for (k = 0; k < 784; k++) dst[k] = ((float)d->x[(size_t)i * 784 + k] / 255.0f - 0.2860f) / 0.3530f;
}

/* ---- model ---- */
enum { NPARAM = 6 };
static ag_tensor *P[NPARAM];   /* conv1 W, b, conv2 W, b, fc W, b */

/* PyTorch's default init for conv and linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
static ag_tensor *param(ag_ctx *ctx, int ndim, const int64_t *shape, int64_t fan_in) {
    ag_tensor *t = ag_param(ctx, AG_F32, ndim, shape, NULL);
    double bound = 1.0 / sqrt((double)fan_in);
    if (!t || ag_init_uniform(t, -bound, bound) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); exit(1); }
    return t;
}

static ag_tensor *forward(ag_tensor *x) {   /* x [N, 1, 28, 28] -> logits [N, 10] */
    ag_conv2d_opts pad1;
    int64_t flat[2];
    memset(&pad1, 0, sizeof pad1);
    pad1.pad_h = pad1.pad_w = 1;
    x = ag_max_pool2d(ag_relu(ag_conv2d(x, P[0], P[1], &pad1)), 2, 2, 0, 0, 0, 0);
    x = ag_max_pool2d(ag_relu(ag_conv2d(x, P[2], P[3], &pad1)), 2, 2, 0, 0, 0, 0);
    flat[0] = x ? ag_dim(x, 0) : 0; flat[1] = 32 * 7 * 7;
    return ag_linear(ag_reshape(x, 2, flat), P[4], P[5]);
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double accuracy(ag_ctx *ctx, const dataset *d, float *buf) {   /* buf: room for 100 images */
    int correct = 0, i, j, k;
    const int B = 100;   /* no graph is recorded, but the arena holds every intermediate of a batch */
    bool prev = ag_set_grad_enabled(ctx, false);
    for (i = 0; i < d->n; i += B) {
        int n = d->n - i < B ? d->n - i : B;
        int64_t sh[4];
        ag_tensor *logits;
        sh[0] = n; sh[1] = 1; sh[2] = 28; sh[3] = 28;
        for (j = 0; j < n; j++) pixels(d, i + j, buf + j * 784);
        logits = forward(ag_from(ctx, AG_F32, 4, sh, buf));
        if (!logits) { fprintf(stderr, "%s\n", ag_error(ctx)); exit(1); }
        for (j = 0; j < n; j++) {
            const float *row = (const float *)ag_data(logits) + j * 10;
            int best = 0;
            for (k = 1; k < 10; k++) if (row[k] > row[best]) best = k;
            correct += best == d->y[i + j];
        }
        ag_ctx_reset(ctx);
    }
    ag_set_grad_enabled(ctx, prev);
    return 100.0 * correct / d->n;
}

static int usage(const char *prog) {
    printf("usage: %s [--save-init FILE] [epochs (default 5)] [training samples (default 60000)] [threads (default 1)]\n"
           "trains a small CNN on " DATA_DIR " (apt-get install dataset-fashion-mnist)\n"
           "  --save-init FILE  write the initial parameters and every epoch's order of the training images\n"
           "                    (safetensors) for bench/torch_fashion_cnn.py, then train\n", prog);
    return 0;
}

/* one epoch's shuffle of the whole training set (Fisher-Yates with rand(): srand(1) at the start) */
static void shuffle(int *order, int n) {
    int i;
    for (i = n - 1; i > 0; i--) { int j = rand() % (i + 1), t = order[i]; order[i] = order[j]; order[j] = t; }
}

/* --save-init: P[] as they start, and the order of the images each epoch will use (the shuffles
   replayed on a copy from srand(1), as the training loop will do them) */
static void save_init(ag_ctx *ctx, const char *path, int epochs, int n, int used) {
    static const char *const names[NPARAM + 1] = { "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc.weight", "fc.bias", "order" };
    ag_tensor *t[NPARAM + 1];
    int64_t sh[2];
    int *o = (int *)malloc(sizeof(int) * (size_t)n), e, i;
    int32_t *all = (int32_t *)malloc(sizeof(int32_t) * ((size_t)epochs * (size_t)used + 1));
    if (!o || !all) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (i = 0; i < n; i++) o[i] = i;
    srand(1);
    for (e = 0; e < epochs; e++) {
        shuffle(o, n);
        for (i = 0; i < used; i++) all[(size_t)e * (size_t)used + (size_t)i] = o[i];
    }
    for (i = 0; i < NPARAM; i++) t[i] = P[i];
    sh[0] = epochs; sh[1] = used;
    t[NPARAM] = ag_from(ctx, AG_I32, 2, sh, all);
    if (ag_save_safetensors(ctx, path, NPARAM + 1, names, t) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); exit(1); }
    ag_ctx_reset(ctx);
    printf("wrote %s: the initial parameters and %d epoch(s) x %d images in training order\n", path, epochs, used);
    free(o); free(all);
}

int main(int argc_all, char **argv_all) {
    char *argv[4];
    const char *init_path = NULL;
    int argc = 0, epochs, limit, threads, tty = isatty(1);
    const int B = 64;
    const float lr0 = 2e-3f;
    int64_t s_c1[4] = { 16, 1, 3, 3 }, s_c2[4] = { 32, 16, 3, 3 }, s_fc[2] = { 10, 32 * 7 * 7 }, s16 = 16, s32 = 32, s10 = 10;
    dataset train, test;
    ag_desc desc;
    ag_ctx *ctx;
    int *order, epoch, i, k, step = 0, total_steps;
    ag_optim *adam;
    ag_adam_opts ao = ag_adam_defaults();
    float *xb = (float *)malloc(sizeof(float) * 100 * 784);
    int32_t yb[64];
    for (i = 0; i < argc_all; i++) {   /* --save-init FILE anywhere; the rest by position */
        if (i > 0 && !strcmp(argv_all[i], "--save-init") && i + 1 < argc_all) init_path = argv_all[++i];
        else if (argc < 4) argv[argc++] = argv_all[i];
        else { usage(argv_all[0]); return 1; }
    }
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) return usage(argv[0]);
    epochs = argc > 1 ? atoi(argv[1]) : 5;
    limit = argc > 2 ? atoi(argv[2]) : 60000;
    threads = argc > 3 ? atoi(argv[3]) : 1;
    if (epochs < 1 || threads < 1) { usage(argv[0]); return 1; }
    train = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz");
    test = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz");
    memset(&desc, 0, sizeof desc);
    desc.seed = 1;
    desc.threads = threads;
    ctx = ag_ctx_new(&desc);
    if (limit <= 0 || limit > train.n) limit = train.n;
    total_steps = epochs * (limit / B);
    P[0] = param(ctx, 4, s_c1, 1 * 9);   P[1] = param(ctx, 1, &s16, 1 * 9);
    P[2] = param(ctx, 4, s_c2, 16 * 9);  P[3] = param(ctx, 1, &s32, 16 * 9);
    P[4] = param(ctx, 2, s_fc, 32 * 49); P[5] = param(ctx, 1, &s10, 32 * 49);
    ag_ctx_reset(ctx);
    if (init_path) save_init(ctx, init_path, epochs, train.n, limit / B * B);
    ao.lr = lr0;
    adam = ag_adam_new(ctx, P, NPARAM, &ao);   /* persistent moments; a step allocates nothing */
    if (!adam) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
    order = (int *)malloc(sizeof(int) * (size_t)train.n);
    for (i = 0; i < train.n; i++) order[i] = i;
    srand(1);
    printf("Fashion-MNIST CNN: %d training images (of %d), %d test, batch %d, Adam lr %g with cosine decay, %d thread%s\n", limit,
           train.n, test.n, B, (double)lr0, ag_get_stats(ctx).threads, ag_get_stats(ctx).threads == 1 ? "" : "s");
    for (epoch = 1; epoch <= epochs; epoch++) {
        double t0 = now(), loss_sum = 0, secs;
        int batches = 0;
        shuffle(order, train.n);
        for (i = 0; i + B <= limit; i += B) {
            int64_t sh[4];
            ag_tensor *loss;
            for (k = 0; k < B; k++) {
                pixels(&train, order[i + k], xb + k * 784);
                yb[k] = train.y[order[i + k]];
            }
            sh[0] = B; sh[1] = 1; sh[2] = 28; sh[3] = 28;
            loss = ag_cross_entropy(forward(ag_from(ctx, AG_F32, 4, sh, xb)), yb);
            ag_optim_zero_grad(adam);
            if (!loss || ag_backward(loss, NULL) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
            loss_sum += ag_item(loss);
            batches++;
            ag_optim_set_lr(adam, ag_lr_cosine(step++, 0, total_steps, lr0, 0.0));
            ag_optim_step(adam);
            ag_ctx_reset(ctx);
            if (batches % 50 == 0 && tty) {   /* redrawn in place on a terminal; a log gets the epoch lines */
                double el = now() - t0, left = el / i * (limit - i);
                printf("\repoch %d  %5d/%d  loss %.4f  %.0f samples/s  %.0f s left   ", epoch, i + B, limit, loss_sum / batches,
                       (i + B) / el, left);
                fflush(stdout);
            }
        }
        secs = now() - t0;
        printf("%sepoch %d/%d  loss %.4f  test accuracy %.2f%%  %.1f s (%.0f samples/s)%s\n", tty ? "\r" : "", epoch, epochs,
               loss_sum / (batches ? batches : 1), accuracy(ctx, &test, xb), secs, batches * B / secs, tty ? "                " : "");
    }
    printf("arena peak %.1f MB (one training step's graph), %llu heap allocations in all\n",
           (double)ag_get_stats(ctx).arena_peak / 1048576.0, (unsigned long long)ag_get_stats(ctx).heap_allocs);
    ag_ctx_free(ctx);
    free(order); free(xb); free(train.x); free(train.y); free(test.x); free(test.y);
    return 0;
}
