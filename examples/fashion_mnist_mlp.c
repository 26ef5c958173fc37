/* fashion_mnist_mlp.c - a 784-256-128-10 ReLU network learns Fashion-MNIST with Adam.

   The data is Debian's dataset-fashion-mnist (the four IDX .gz files in
   /usr/share/datasets/fashion-mnist), read with zlib. Five epochs of batch 64, with
   the learning rate warmed up over 100 steps and then decayed on a cosine, reach
   about 88.5-89% test accuracy; the weights are saved as a safetensors checkpoint that
   PyTorch can load (bench/torch_fashion_mlp.py --eval-checkpoint FILE does).

   --bf16 or --f16 trains in mixed precision, as torch.autocast does: the weights and Adam stay
   F32 (the master copy), each step computes the layers on 16-bit copies of them and of the
   batch, the loss in F32, and a dynamic loss scaler (ag_grad_scaler, GradScaler's rules)
   unscales the F32 gradients and skips a step whose gradients overflowed.

   cc -std=c99 -O2 -I. examples/fashion_mnist_mlp.c -o build/examples/fashion_mnist_mlp -lz -lm -lpthread
   ./build/examples/fashion_mnist_mlp [--bf16 | --f16] [epochs, default 5] [checkpoint, default fashion_mnist_mlp.safetensors] [threads, default 1]

   Exit status: 0 trained, 1 an error, 2 the data is not installed. */
#define _POSIX_C_SOURCE 199309L   /* clock_gettime */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>   /* isatty: the progress bar redraws in place on a terminal only */
#include <zlib.h>

#define DATA "/usr/share/datasets/fashion-mnist/"
#define BATCH 64

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec; }

/* an IDX file: big-endian magic (0x0801 labels, 0x0803 images) and sizes, then bytes */
static unsigned char *read_idx(const char *name, int ndim, int *count) {
    char path[256];
    unsigned char head[16];
    unsigned char *buf = NULL;
    size_t size = 1;
    int i;
    gzFile f;
    snprintf(path, sizeof path, DATA "%s", name);
    f = gzopen(path, "rb");
    if (!f) return NULL;
    if (gzread(f, head, (unsigned)(4 + 4 * ndim)) == 4 + 4 * ndim && head[2] == 8 && head[3] == ndim) {
        for (i = 0; i < ndim; i++) size *= (size_t)head[4 + 4 * i] << 24 | head[5 + 4 * i] << 16 | head[6 + 4 * i] << 8 | head[7 + 4 * i];
        *count = head[4] << 24 | head[5] << 16 | head[6] << 8 | head[7];
        buf = (unsigned char *)malloc(size);
        if (buf && gzread(f, buf, (unsigned)size) != (int)size) { free(buf); buf = NULL; }
    }
    gzclose(f);
    return buf;
}

/* images as floats normalised with the training set's mean and std */
static float *to_float(const unsigned char *px, int n) {
    float *x = (float *)malloc((size_t)n * 784 * sizeof(float));
    size_t i;
    for (i = 0; x && i < (size_t)n * 784; i++) x[i] = ((float)px[i] / 255.0f - 0.2860f) / 0.3530f;
    return x;
}

typedef struct { ag_tensor *W1, *b1, *W2, *b2, *W3, *b3; } mlp;

/* dt: the dtype the layers compute in; ag_to is the identity for F32, and for 16 bits a copy
   whose backward gives the F32 weights F32 gradients */
static ag_tensor *forward(const mlp *m, ag_tensor *x, ag_dtype dt) {
    ag_tensor *h = ag_relu(ag_linear(ag_to(x, dt), ag_to(m->W1, dt), ag_to(m->b1, dt)));
    h = ag_relu(ag_linear(h, ag_to(m->W2, dt), ag_to(m->b2, dt)));
    return ag_linear(h, ag_to(m->W3, dt), ag_to(m->b3, dt));   /* logits [B, 10] */
}

static int count_correct(ag_tensor *logits, const int32_t *y, int n) {   /* (logits.argmax(1) == y).sum() */
    int64_t len = n;
    ag_tensor *labels = ag_from(ag_context(logits), AG_I32, 1, &len, y);
    ag_tensor *hits = ag_sum(ag_eq(ag_argmax(logits, 1, false), labels));   /* I64 */
    return hits ? (int)ag_item(hits) : 0;
}

int main(int argc_all, char **argv_all) {
    char *argv[8];
    int argc = 0, epochs, ntrain = 0, ntest = 0, n, i, e, step = 0, total_steps, tty = isatty(1), threads, skipped = 0;
    ag_dtype dt = AG_F32;   /* --bf16, --f16: what the layers compute in */
    const char *ckpt;
    size_t arena_peak = 0;
    ag_grad_scaler *scaler = NULL;
    unsigned char *tr_img, *tr_lbl, *te_img, *te_lbl;
    float *xtrain, *xtest, *xb;
    int32_t *ytrain, *ytest, yb[BATCH];
    int *perm;
    double train_time = 0, test_acc = 0;
    int64_t s1[2] = {256, 784}, s2[2] = {128, 256}, s3[2] = {10, 128}, shape[2];
    ag_desc d;
    ag_ctx *ctx;
    mlp m;
    ag_optim *opt;
    ag_tensor *params[6];
    const char *names[6] = {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias"};
    for (i = 0; i < argc_all && argc < 8; i++) {   /* the options anywhere; the rest are positional */
        if (i > 0 && !strcmp(argv_all[i], "--bf16")) dt = AG_BF16;
        else if (i > 0 && !strcmp(argv_all[i], "--f16")) dt = AG_F16;
        else argv[argc++] = argv_all[i];
    }
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || atoi(argv[1]) < 1)) {
        printf("usage: %s [--bf16 | --f16] [epochs, default 5] [checkpoint, default fashion_mnist_mlp.safetensors] [threads, default 1]\n"
               "trains a 784-256-128-10 network on " DATA " (apt-get install dataset-fashion-mnist)\n"
               "  --bf16, --f16  mixed precision: F32 weights and Adam, layers computed on bfloat16 / float16 copies,\n"
               "                 the loss in F32, scaled by a dynamic loss scaler (PyTorch's GradScaler rules)\n", argv[0]);
        return argc > 1 && atoi(argv[1]) < 1 && strcmp(argv[1], "-h") && strcmp(argv[1], "--help") ? 1 : 0;
    }
    epochs = argc > 1 ? atoi(argv[1]) : 5;
    ckpt = argc > 2 ? argv[2] : "fashion_mnist_mlp.safetensors";
    threads = argc > 3 ? atoi(argv[3]) : 1;
    tr_img = read_idx("train-images-idx3-ubyte.gz", 3, &ntrain); tr_lbl = read_idx("train-labels-idx1-ubyte.gz", 1, &n);
    te_img = read_idx("t10k-images-idx3-ubyte.gz", 3, &ntest); te_lbl = read_idx("t10k-labels-idx1-ubyte.gz", 1, &n);
    if (!tr_img || !tr_lbl || !te_img || !te_lbl) {
        fprintf(stderr, "fashion_mnist_mlp: cannot read the Fashion-MNIST files in " DATA "\n"
                        "install them with: apt-get install dataset-fashion-mnist\n");
        return 2;
    }
    if (epochs < 1) epochs = 1;
    total_steps = epochs * ((ntrain + BATCH - 1) / BATCH);
    xtrain = to_float(tr_img, ntrain); xtest = to_float(te_img, ntest);
    ytrain = (int32_t *)malloc((size_t)ntrain * sizeof(int32_t)); ytest = (int32_t *)malloc((size_t)ntest * sizeof(int32_t));
    perm = (int *)malloc((size_t)ntrain * sizeof(int)); xb = (float *)malloc(BATCH * 784 * sizeof(float));
    if (!xtrain || !xtest || !ytrain || !ytest || !perm || !xb) { fprintf(stderr, "fashion_mnist_mlp: out of memory\n"); return 1; }
    for (i = 0; i < ntrain; i++) { ytrain[i] = tr_lbl[i]; perm[i] = i; }
    for (i = 0; i < ntest; i++) ytest[i] = te_lbl[i];

    /* the model: W [out, in] and b [out] (ndim 1 takes the first size), nn.Linear's default
       initialisation; Adam with PyTorch's defaults, lr 1e-3 on a cosine schedule */
    memset(&d, 0, sizeof d);
    d.seed = 1;
    d.threads = threads > 0 ? threads : 1;   /* the same bits on any number */
    ctx = ag_ctx_new(&d);
    m.W1 = ag_param(ctx, AG_F32, 2, s1, NULL); m.b1 = ag_param(ctx, AG_F32, 1, s1, NULL);
    m.W2 = ag_param(ctx, AG_F32, 2, s2, NULL); m.b2 = ag_param(ctx, AG_F32, 1, s2, NULL);
    m.W3 = ag_param(ctx, AG_F32, 2, s3, NULL); m.b3 = ag_param(ctx, AG_F32, 1, s3, NULL);
    ag_init_linear(m.W1, m.b1); ag_init_linear(m.W2, m.b2); ag_init_linear(m.W3, m.b3);
    params[0] = m.W1; params[1] = m.b1; params[2] = m.W2; params[3] = m.b2; params[4] = m.W3; params[5] = m.b3;
    opt = ag_adam_new(ctx, params, 6, NULL);
    if (dt != AG_F32) scaler = ag_grad_scaler_new(ctx, NULL);   /* init scale 65536, x2 after 2000 good steps, /2 on overflow */
    if (!opt || (dt != AG_F32 && !scaler)) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
    printf("Fashion-MNIST: %d training, %d test images; 784-256-128-10 ReLU, Adam, batch %d, %s kernels, %d thread%s, %s\n",
           ntrain, ntest, BATCH, ag_simd_name(ctx), ag_get_stats(ctx).threads, ag_get_stats(ctx).threads == 1 ? "" : "s",
           dt == AG_F32 ? "float32" : dt == AG_BF16 ? "mixed precision (bfloat16 layers, float32 weights)"
                                                    : "mixed precision (float16 layers, float32 weights)");

    for (e = 0; e < epochs; e++) {
        double t0 = now(), loss_sum = 0;
        int seen = 0, correct = 0, b;
        uint32_t r = 2463534242u + (uint32_t)e;
        for (i = ntrain - 1; i > 0; i--) {   /* shuffle (xorshift32) */
            int j, tmp;
            r ^= r << 13; r ^= r >> 17; r ^= r << 5;
            j = (int)(r % (uint32_t)(i + 1)); tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
        }
        for (b = 0; b < ntrain; b += BATCH) {
            int bs = ntrain - b < BATCH ? ntrain - b : BATCH;
            ag_tensor *logits, *loss;
            for (i = 0; i < bs; i++) {
                memcpy(xb + i * 784, xtrain + (size_t)perm[b + i] * 784, 784 * sizeof(float));
                yb[i] = ytrain[perm[b + i]];
            }
            shape[0] = bs; shape[1] = 784;
            logits = forward(&m, ag_from(ctx, AG_F32, 2, shape, xb), dt);
            loss = ag_cross_entropy(logits, yb);   /* F32 also for 16-bit logits */
            ag_optim_zero_grad(opt);
            ag_optim_set_lr(opt, ag_lr_cosine(step++, 100, total_steps, 1e-3, 0));   /* warm-up, then cosine decay */
            if (!scaler) {
                if (ag_backward(loss, NULL) != 0 || ag_optim_step(opt) != 0) { fprintf(stderr, "\n%s\n", ag_error(ctx)); return 1; }
            } else {   /* backward of loss x scale; step on the unscaled gradients unless one is inf or NaN */
                int stepped = ag_backward(ag_scaler_scale(scaler, loss), NULL) == 0 ? ag_scaler_step(scaler, opt) : -1;
                if (stepped < 0 || ag_scaler_update(scaler) != 0) { fprintf(stderr, "\n%s\n", ag_error(ctx)); return 1; }
                skipped += !stepped;
            }
            loss_sum += ag_item(loss) * bs;
            correct += count_correct(logits, yb, bs);
            seen += bs;
            if (ag_get_stats(ctx).arena_step_peak > arena_peak) arena_peak = ag_get_stats(ctx).arena_step_peak;
            ag_ctx_reset(ctx);   /* drop this step's graph */
            if (seen == ntrain) train_time += now() - t0;
            if (((b / BATCH) % 50 == 0 && tty) || seen == ntrain) {   /* the progress bar, redrawn in place on a terminal */
                double dt = now() - t0, rate = seen / (dt > 0 ? dt : 1e-9);
                int k, w = 30 * seen / ntrain;
                printf("%sepoch %d/%d [", tty ? "\r" : "", e + 1, epochs);
                for (k = 0; k < 30; k++) putchar(k < w ? '=' : k == w ? '>' : ' ');
                printf("] %5d/%d  loss %.4f  acc %5.2f%%  %6.0f samples/s  %s %3.0fs ",
                       seen, ntrain, loss_sum / seen, 100.0 * correct / seen, rate,
                       seen == ntrain ? "took" : "left", seen == ntrain ? dt : (ntrain - seen) / rate);
                fflush(stdout);
            }
        }
        {   /* test accuracy, without recording a graph */
            bool prev = ag_set_grad_enabled(ctx, false);
            int c = 0;
            for (b = 0; b < ntest; b += 1000) {
                int bs = ntest - b < 1000 ? ntest - b : 1000;
                shape[0] = bs; shape[1] = 784;
                c += count_correct(forward(&m, ag_from(ctx, AG_F32, 2, shape, xtest + (size_t)b * 784), dt), ytest + b, bs);
                ag_ctx_reset(ctx);
            }
            ag_set_grad_enabled(ctx, prev);
            printf(" test acc %.2f%%\n", 100.0 * c / ntest);
            test_acc = 100.0 * c / ntest;
        }
    }
    printf("%d epochs: %.0f samples/s (training, %d thread%s), test accuracy %.2f%%, arena peak per step %.0f KiB\n", epochs,
           epochs * ntrain / train_time, ag_get_stats(ctx).threads, ag_get_stats(ctx).threads == 1 ? "" : "s", test_acc,
           arena_peak / 1024.0);
    if (scaler) printf("loss scaler: %d of %d steps skipped (inf or NaN gradients), final scale %g\n", skipped, step, ag_scaler_get_scale(scaler));
    if (ag_save_safetensors(ctx, ckpt, 6, names, params) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
    printf("saved %s (PyTorch names: fc1.weight ... fc3.bias)\n", ckpt);
    ag_ctx_free(ctx);
    free(tr_img); free(tr_lbl); free(te_img); free(te_lbl); free(xtrain); free(xtest); free(ytrain); free(ytest); free(perm); free(xb);
    return 0;
}
