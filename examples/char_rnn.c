/* char_rnn.c - a character-level LSTM (or GRU) that invents words, step by step beside PyTorch.

   The words of /usr/share/dict/words (Debian package wamerican; lowercase a-z only) are joined
   into one stream, each ended by '.'. Each step takes 32 windows of 16 characters at random
   offsets; per time step the current character is looked up in an embedding [27, 16], fed to
   an LSTM cell (hidden size 64, PyTorch's gate layout: ag_lstm_cell) and a linear layer
   predicts the next character. Adam (lr 0.01) minimises the mean cross-entropy over the 16 x 32
   predictions. Then it samples a few words.

   Against PyTorch: examples/char_rnn_torch.py builds the same model in PyTorch (nn.Embedding,
   nn.LSTMCell, nn.Linear), writes its initial weights to a safetensors file and the losses of its
   first 100 steps on the same windows (the same xorshift random numbers). `make check` runs

       build/examples/char_rnn --init tests/data/char_rnn_init.safetensors --compare tests/data/char_rnn_losses.txt

   which loads those weights, trains 100 steps and fails if any loss differs from PyTorch's by
   more than 1e-4.

   Build (from the repository root):
       cc -std=c99 -O2 -I. examples/char_rnn.c -o char_rnn -lm
   Run:
       ./char_rnn [--steps N] [--gru] [--init weights.safetensors] [--compare losses.txt] */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WORDS "/usr/share/dict/words"
enum { V = 27, E = 16, H = 64, B = 32, T = 16 };

static uint64_t rng = 0x2545F4914F6CDD1Dull;   /* xorshift64*, seeded: the same windows every run */
static double uniform(void) {
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (double)((rng * 0x2545F4914F6CDD1Dull) >> 11) * (1.0 / 9007199254740992.0);
}

/* the stream: '.' then every word followed by '.', as 0 ('.') and 1..26 ('a'..'z') */
static int32_t *text;
static int64_t ntext;
static void load_words(void) {
    char line[256];
    int64_t cap = 1 << 22;
    FILE *f = fopen(WORDS, "r");
    if (!f) { fprintf(stderr, "cannot open %s: install a word list (Debian: apt install wamerican)\n", WORDS); exit(1); }
    text = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    text[ntext++] = 0;
    while (fgets(line, sizeof line, f)) {
        size_t i, n = strcspn(line, "\r\n");
        for (i = 0; i < n; i++) if (line[i] < 'a' || line[i] > 'z') break;
        if (i < n || n < 2) continue;   /* lowercase a-z only, as names.c */
        if (ntext + (int64_t)n + 1 > cap) { cap *= 2; text = (int32_t *)realloc(text, sizeof(int32_t) * (size_t)cap); }
        for (i = 0; i < n; i++) text[ntext++] = line[i] - 'a' + 1;
        text[ntext++] = 0;
    }
    fclose(f);
}

static ag_tensor *emb, *w_ih, *w_hh, *b_ih, *b_hh, *out_w, *out_b;
static int gru;

/* one time step: the hidden state (and the LSTM's cell state) after input ids [n] */
static void cell(ag_tensor *x, ag_tensor **h, ag_tensor **c) {
    if (gru) { *h = ag_gru_cell(x, *h, w_ih, w_hh, b_ih, b_hh); return; }
    ag_lstm_cell(x, *h, *c, w_ih, w_hh, b_ih, b_hh, h, c);
}

/* mean cross-entropy of predicting win[b][t + 1] from win[b][0..t], for B windows of T + 1 */
static ag_tensor *loss_of(ag_ctx *ctx, const int32_t *win) {
    int64_t hs[2] = {B, H}, bs[1] = {B};
    int32_t ids[B], tg[T * B];
    ag_tensor *h = ag_zeros(ctx, AG_F32, 2, hs), *c = ag_zeros(ctx, AG_F32, 2, hs), *logits[T];
    int t, b;
    for (t = 0; t < T; t++) {
        for (b = 0; b < B; b++) { ids[b] = win[b * (T + 1) + t]; tg[t * B + b] = win[b * (T + 1) + t + 1]; }
        cell(ag_embedding(emb, 1, bs, ids), &h, &c);               /* [B, E] -> h [B, H] */
        logits[t] = ag_linear(h, out_w, out_b);                     /* [B, V] */
    }
    return ag_cross_entropy(ag_cat(logits, T, 0), tg);             /* [T B, V], time-major */
}

static ag_tensor *param(ag_ctx *ctx, int64_t rows, int64_t cols, double bound) {   /* U(-bound, bound), like PyTorch's */
    int64_t sh[2];
    ag_tensor *t;
    sh[0] = rows; sh[1] = cols;
    t = ag_param(ctx, AG_F32, cols ? 2 : 1, sh, NULL);
    if (!t || ag_init_uniform(t, -bound, bound) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); exit(1); }
    return t;
}

static void sample_words(ag_ctx *ctx, int count) {
    int64_t one[1] = {1}, hs[2] = {1, H};
    bool prev = ag_set_grad_enabled(ctx, false);
    int w;
    for (w = 0; w < count; w++) {
        ag_tensor *h = ag_zeros(ctx, AG_F32, 2, hs), *c = ag_zeros(ctx, AG_F32, 2, hs);
        int32_t ch = 0;
        int len = 0;
        printf("  ");
        do {
            float p[V];
            double u = uniform(), acc = 0;
            int k;
            cell(ag_embedding(emb, 1, one, &ch), &h, &c);
            ag_copy_out(ag_softmax(ag_linear(h, out_w, out_b), -1), AG_F32, p);
            for (k = 0; k < V - 1 && (acc += p[k]) < u; k++) {}
            ch = k;
            if (ch) putchar('a' + ch - 1);
        } while (ch && ++len < 24);
        putchar('\n');
        ag_ctx_reset(ctx);
    }
    ag_set_grad_enabled(ctx, prev);
}

int main(int argc, char **argv) {
    const char *init = NULL, *compare = NULL;
    int steps = 0, step, b, i, bad = 0, G;
    double want[1000], worst = 0;
    int nwant = 0;
    int32_t win[B * (T + 1)];
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *params[7];
    ag_adam_opts ao = ag_adam_defaults();
    ag_optim *opt;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--gru")) gru = 1;
        else if (!strcmp(argv[i], "--init") && i + 1 < argc) init = argv[++i];
        else if (!strcmp(argv[i], "--compare") && i + 1 < argc) compare = argv[++i];
        else {
            printf("usage: %s [--steps N] [--gru] [--init weights.safetensors] [--compare losses.txt]\n"
                   "trains a character-level LSTM (or GRU) on " WORDS " (apt-get install wamerican), then samples words;\n"
                   "--init loads emb, w_ih, w_hh, b_ih, b_hh, out_w, out_b (examples/char_rnn_torch.py writes them),\n"
                   "--compare checks each step's loss against PyTorch's (one per line) to 1e-4\n", argv[0]);
            return strcmp(argv[i], "-h") && strcmp(argv[i], "--help");
        }
    }
    if (compare) {   /* PyTorch's losses, one per line */
        FILE *f = fopen(compare, "r");
        if (!f) { fprintf(stderr, "cannot open %s\n", compare); return 1; }
        while (nwant < 1000 && fscanf(f, "%lf", &want[nwant]) == 1) nwant++;
        fclose(f);
        if (!steps) steps = nwant;
    }
    if (!steps) steps = 3000;
    load_words();
    printf("%lld characters, %s with hidden size %d\n", (long long)ntext, gru ? "GRU" : "LSTM", H);
    G = gru ? 3 : 4;
    params[0] = emb = param(ctx, V, E, 1.0);
    params[1] = w_ih = param(ctx, G * H, E, 1.0 / sqrt((double)H));
    params[2] = w_hh = param(ctx, G * H, H, 1.0 / sqrt((double)H));
    params[3] = b_ih = param(ctx, G * H, 0, 1.0 / sqrt((double)H));
    params[4] = b_hh = param(ctx, G * H, 0, 1.0 / sqrt((double)H));
    params[5] = out_w = param(ctx, V, H, 1.0 / sqrt((double)H));
    params[6] = out_b = param(ctx, V, 0, 1.0 / sqrt((double)H));
    if (init) {
        static const char *const names[7] = {"emb", "w_ih", "w_hh", "b_ih", "b_hh", "out_w", "out_b"};
        if (ag_load_safetensors(ctx, init, 7, names, params) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
    }
    ao.lr = 0.01;
    opt = ag_adam_new(ctx, params, 7, &ao);
    for (step = 1; step <= steps; step++) {
        ag_tensor *loss;
        double l;
        for (b = 0; b < B; b++) {
            int64_t at = (int64_t)(uniform() * (double)(ntext - T - 1));
            memcpy(win + b * (T + 1), text + at, sizeof(int32_t) * (T + 1));
        }
        loss = loss_of(ctx, win);
        ag_optim_zero_grad(opt);
        if (!loss || ag_backward(loss, NULL) != 0 || ag_optim_step(opt) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
        l = ag_item(loss);
        if (compare && step <= nwant) {
            double d = fabs(l - want[step - 1]);
            if (d > worst) worst = d;
            if (d > 1e-4) { printf("step %4d loss %.6f, PyTorch %.6f: differs by %.2g\n", step, l, want[step - 1], d); bad++; }
        }
        if (step == 1 || step % (compare ? 10 : 250) == 0) printf("step %4d loss %.6f\n", step, l);
        ag_ctx_reset(ctx);
    }
    if (compare) {
        printf("%d steps beside PyTorch: largest loss difference %.2g (%s)\n", nwant < steps ? nwant : steps, worst,
               bad ? "more than 1e-4: FAIL" : "within 1e-4");
        return bad != 0;
    }
    printf("samples:\n");
    sample_words(ctx, 10);
    ag_optim_free(opt);
    ag_ctx_free(ctx);
    return 0;
}
