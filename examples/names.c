/* names.c - a character-level language model that invents words.

   Bengio et al. (2003) style: the previous 3 characters are looked up in an
   embedding table, concatenated, passed through a tanh hidden layer, and a
   softmax over 27 symbols ('.' marks the start and the end of a word) predicts
   the next one. Trained with the library's minibatch SGD on the lowercase words of
   /usr/share/dict/words (Debian package wamerican), then sampled.

   Build (from the repository root):
       cc -std=c99 -O2 -I. examples/names.c -o names -lm
   Run:
       ./names [steps (default 30000)] */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS "/usr/share/dict/words"
enum { CTX = 3, V = 27, EMB = 10, HID = 200, BATCH = 64 };

static uint64_t rng = 0x2545F4914F6CDD1Dull;   /* xorshift64*, seeded: the same words every run */
static double uniform(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

/* the examples: every position of every word, as (3 previous symbols, next symbol) */
static int32_t *X, *Y;
static int64_t nex;
static void load_words(void) {
    char line[256];
    int64_t cap = 1 << 20;
    int nwords = 0;
    FILE *f = fopen(WORDS, "r");
    if (!f) { fprintf(stderr, "cannot open %s: install a word list (Debian: apt install wamerican)\n", WORDS); exit(1); }
    X = (int32_t *)malloc(sizeof(int32_t) * CTX * (size_t)cap);
    Y = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    while (fgets(line, sizeof line, f)) {
        int32_t c[CTX] = { 0, 0, 0 };
        size_t i, n = strcspn(line, "\r\n");
        for (i = 0; i < n; i++) if (line[i] < 'a' || line[i] > 'z') break;
        if (i < n || n < 2) continue;   /* lowercase a-z only: no names, no "'s" */
        nwords++;
        for (i = 0; i <= n; i++) {
            int32_t next = i < n ? line[i] - 'a' + 1 : 0;
            if (nex == cap) {
                cap *= 2;
                X = (int32_t *)realloc(X, sizeof(int32_t) * CTX * (size_t)cap);
                Y = (int32_t *)realloc(Y, sizeof(int32_t) * (size_t)cap);
            }
            memcpy(X + CTX * nex, c, sizeof c);
            Y[nex++] = next;
            c[0] = c[1]; c[1] = c[2]; c[2] = next;
        }
    }
    fclose(f);
    printf("%d words, %lld examples\n", nwords, (long long)nex);
}

static ag_tensor *Ct, *W1, *b1, *W2, *b2;   /* embedding [27, 10], hidden [200, 30], output [27, 200] */

static ag_tensor *logits(int64_t n, const int32_t *ctx3) {   /* [n, 27] */
    int64_t sh[2];
    ag_tensor *e;
    sh[0] = n; sh[1] = CTX;
    e = ag_embedding(Ct, 2, sh, ctx3);                       /* [n, 3, 10] */
    sh[1] = CTX * EMB;
    return ag_linear(ag_tanh(ag_linear(ag_reshape(e, 2, sh), W1, b1)), W2, b2);
}

static ag_tensor *init(ag_ctx *ctx, int64_t rows, int64_t cols, double scale) {   /* U(-scale, scale) */
    int64_t sh[2];
    ag_tensor *t;
    sh[0] = rows; sh[1] = cols;
    t = ag_param(ctx, AG_F32, cols ? 2 : 1, sh, NULL);
    if (!t || ag_init_uniform(t, -scale, scale) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); exit(1); }
    return t;
}

static double eval_loss(ag_ctx *ctx, int64_t from, int64_t to) {   /* mean cross-entropy over examples [from, to) */
    double sum = 0;
    int64_t i, n;
    bool prev = ag_set_grad_enabled(ctx, false);
    for (i = from; i < to; i += n) {
        n = to - i < 10000 ? to - i : 10000;
        sum += ag_item(ag_cross_entropy(logits(n, X + CTX * i), Y + i)) * (double)n;
        ag_ctx_reset(ctx);
    }
    ag_set_grad_enabled(ctx, prev);
    return sum / (double)(to - from);
}

int main(int argc, char **argv) {
    int steps = argc > 1 ? atoi(argv[1]) : 30000, step, k, w;
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *params[5];
    ag_sgd_opts so = ag_sgd_defaults();
    ag_optim *sgd;
    int32_t bx[BATCH * CTX], by[BATCH];
    int64_t ntrain, i;
    double loss_sum = 0;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || steps < 1)) {
        printf("usage: %s [steps (default 30000)]\nlearns to invent words from " WORDS " (apt-get install wamerican)\n", argv[0]);
        return steps < 1 && strcmp(argv[1], "-h") && strcmp(argv[1], "--help");
    }
    load_words();
    for (i = nex - 1; i > 0; i--) {   /* shuffle the examples, then hold out 10% */
        int64_t j = (int64_t)(uniform() * (double)(i + 1));
        int32_t t[CTX + 1];
        memcpy(t, X + CTX * i, sizeof(int32_t) * CTX); t[CTX] = Y[i];
        memcpy(X + CTX * i, X + CTX * j, sizeof(int32_t) * CTX); Y[i] = Y[j];
        memcpy(X + CTX * j, t, sizeof(int32_t) * CTX); Y[j] = t[CTX];
    }
    ntrain = nex * 9 / 10;
    params[0] = Ct = init(ctx, V, EMB, 1.0);
    params[1] = W1 = init(ctx, HID, CTX * EMB, 1.0 / 5.5);   /* ~ 1/sqrt(fan_in) */
    params[2] = b1 = init(ctx, HID, 0, 0.01);
    params[3] = W2 = init(ctx, V, HID, 0.01);                 /* small: start near uniform predictions */
    params[4] = b2 = init(ctx, V, 0, 0.0);
    so.lr = 0.1;
    sgd = ag_sgd_new(ctx, params, 5, &so);
    for (step = 1; step <= steps; step++) {
        ag_tensor *loss;
        for (k = 0; k < BATCH; k++) {
            int64_t j = (int64_t)(uniform() * (double)ntrain);
            memcpy(bx + CTX * k, X + CTX * j, sizeof(int32_t) * CTX);
            by[k] = Y[j];
        }
        loss = ag_cross_entropy(logits(BATCH, bx), by);
        ag_optim_zero_grad(sgd);
        if (ag_backward(loss, NULL) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
        ag_optim_set_lr(sgd, step < steps * 2 / 3 ? 0.1 : 0.01);   /* a tenth for the last third */
        ag_optim_step(sgd);
        loss_sum += ag_item(loss);
        if (step % 5000 == 0) { printf("step %6d  loss %.4f (mean over the last 5000 batches)\n", step, loss_sum / 5000); loss_sum = 0; }
        ag_ctx_reset(ctx);
    }
    printf("train loss %.4f, held-out loss %.4f (uniform guessing: %.4f)\n", eval_loss(ctx, 0, ntrain), eval_loss(ctx, ntrain, nex),
           log((double)V));
    printf("20 new words:\n");
    ag_set_grad_enabled(ctx, false);
    for (w = 0; w < 20; w++) {
        int32_t c[CTX] = { 0, 0, 0 };
        char out[64];
        int len = 0;
        for (;;) {
            ag_tensor *p = ag_softmax(logits(1, c), -1);
            double u = uniform(), acc = 0;
            int next = V - 1;
            for (k = 0; k < V; k++) { acc += ((float *)ag_data(p))[k]; if (u < acc) { next = k; break; } }
            ag_ctx_reset(ctx);
            if (next == 0 || len == (int)sizeof out - 1) break;
            out[len++] = (char)('a' + next - 1);
            c[0] = c[1]; c[1] = c[2]; c[2] = next;
        }
        out[len] = 0;
        printf("  %s\n", out);
    }
    ag_ctx_free(ctx);
    free(X); free(Y);
    return 0;
}
