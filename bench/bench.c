/* bench/bench.c - `make bench`: autograd.h side by side with the reference a user would
   pick instead, measured in one run, printed as one table and written to bench/RESULTS.md.

     1. sgemm C = A@B (F32, row-major): ag_matmul vs OpenBLAS cblas_sgemm, 1 thread
     2. MLP 784-256-128-10 training step (batch 64, ReLU, cross-entropy, SGD):
        vs PyTorch (1 thread) and vs the step's matrix products alone in cblas_sgemm
     3. per-op overhead on a 1-element tensor: 100 x (x = tanh(x*1.01 + 0.1)), fwd + bwd
     4. the seeds' lab: y = linear(x[2,64], W[600,64], b[600]), L = 0.5 sum((y-t)^2), fwd + bwd
     5. heap allocations and arena bytes per MLP step after warm-up
     6. 2 threads (ag_desc.threads = 2): 1024 sgemm and the MLP step, vs OpenBLAS / PyTorch on 2
     7. forward mode (a jvp) and graph replay (the game agent's step; batch-1 MLPs 16-h-4, h = 32, 64, 128; an MLP with
        gelu and layer_norm at batch 64, replayed and rebuilt), vs PyTorch
     8. 16-bit products: BF16 and F16 [n x n] @ [n x n] (converted to F32 and accumulated in F32)
        vs our F32 product and PyTorch's bfloat16 one, n = 256 and 1024
     9. per-example gradients of the 784-256-128-10 MLP at batch 64: ag_vmap of ag_grad_of vs a
        loop of ag_grad_of and vs PyTorch's functorch.vmap(grad(loss)); a 128 x 128 Jacobian by
        ag_jacobian (batched through ag_vmap) vs row by row and vs functorch.jacrev
    10. convolutions: conv2d 16->16 and 1->16 3x3 and a 2x2 max pool, fwd + bwd, and one Adam step
        of examples/fashion_mnist_cnn.c's CNN at batch 64, vs PyTorch (oneDNN), 1 and 2 threads

   Timing: CLOCK_MONOTONIC; one warm-up call, then the number of calls is calibrated so that
   one batch lasts at least BENCH_SAMPLE_TIME seconds (default 0.002), and the figure is the
   best (smallest) time per call over BENCH_SAMPLES batches (default 101; fewer, but 3 at least,
   when that would take over a second): 0.2 s or more of measurement per figure. Many short
   batches rather than a few long ones: on a busy machine some of them still run undisturbed,
   and each batch's CPU time / wall time tells which (see CLEAN_SHARE). Ours and the C reference (OpenBLAS)
   alternate batch by batch, so a disturbance from elsewhere on the machine falls on both;
   PyTorch runs in a child process (bench/torch_bench.py --serve, over two pipes) that times
   one batch of its own whenever asked, so its batches alternate with ours too. Ratios hold
   better than absolute times on a shared machine; the report gives the load average and the
   CPU share of the best batches, to tell a disturbed run.

   usage: bench [--out FILE] [--python PATH] [--torch-script PATH] [--only LIST] [--quick]
     --only   comma-separated sections: gemm,mlp,tiny,lab,mem,threads,advanced,half,vmap,conv (default: all)
     --quick  few samples (3 of 0.01 s): a smoke test, not a measurement
   bench --profile mlp|mlp2|tiny|lab|gemm1024|agent|agent_rebuild|lng|conv|pool|cnn|cnn2 SECONDS
     runs our side of one case in a loop and nothing else, for perf record:
         OPENBLAS_NUM_THREADS=1 perf record --call-graph dwarf build/bench/bench --profile mlp 3 && perf report
   environment: OPENBLAS_NUM_THREADS=1 (the make target sets it; the bench also calls
   openblas_set_num_threads(1) itself), BENCH_SAMPLE_TIME, BENCH_SAMPLES. */
#define _POSIX_C_SOURCE 200809L
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"

#include <cblas.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_CFLAGS
#define BENCH_CFLAGS "?"
#endif

/* ==== timing ==== */
static double g_sample_time = 0.002;
static int g_samples = 101;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}


/* ==== PyTorch: bench/torch_bench.py --serve in a child process ====
   The child answers "calibrate CASE" and "batch CASE" with "ok SECONDS_PER_CALL", so its
   batches can alternate with ours like OpenBLAS's do. */
static struct {
    int ok;                 /* the child is up and answering */
    pid_t pid;
    FILE *to, *from;
    char version[64], skip[400];
} g_torch;

static void torch_fail(const char *fmt, const char *arg) {
    if (!g_torch.skip[0]) snprintf(g_torch.skip, sizeof g_torch.skip, fmt, arg);
    g_torch.ok = 0;
}

static void torch_start(const char *python, const char *script) {
    int in[2], out[2];
    char line[1024], st[32];
    if (access(python, X_OK) != 0) { torch_fail("%s not found", python); return; }
    if (access(script, R_OK) != 0) { torch_fail("%s not found", script); return; }
    if (pipe(in) != 0 || pipe(out) != 0) { torch_fail("pipe failed%s", ""); return; }
    snprintf(st, sizeof st, "%g", g_sample_time);
    fflush(stdout); fflush(stderr);
    g_torch.pid = fork();
    if (g_torch.pid < 0) { torch_fail("fork failed%s", ""); return; }
    if (g_torch.pid == 0) {   /* child: stdin from in[0], stdout to out[1]; stderr stays ours */
        dup2(in[0], 0); dup2(out[1], 1);
        close(in[0]); close(in[1]); close(out[0]); close(out[1]);
        setenv("OPENBLAS_NUM_THREADS", "1", 1);
        setenv("OMP_NUM_THREADS", "1", 1);
        execl(python, python, script, "--serve", "--sample-time", st, (char *)NULL);
        printf("skip cannot run %s: exec failed\n", python);
        fflush(stdout);
        _exit(0);
    }
    close(in[0]); close(out[1]);
    g_torch.to = fdopen(in[1], "w");
    g_torch.from = fdopen(out[0], "r");
    if (!g_torch.to || !g_torch.from) { torch_fail("fdopen failed%s", ""); return; }
    fprintf(stderr, "started %s %s --serve --sample-time %s\n", python, script, st);
    while (fgets(line, sizeof line, g_torch.from)) {
        line[strcspn(line, "\n")] = 0;
        if (!strncmp(line, "skip ", 5)) { torch_fail("%.399s", line + 5); return; }
        if (!strncmp(line, "torch_version ", 14)) snprintf(g_torch.version, sizeof g_torch.version, "%.63s", line + 14);
        else if (!strcmp(line, "ready")) { g_torch.ok = 1; return; }
        else fprintf(stderr, "torch_bench.py: %s\n", line);
    }
    torch_fail("torch_bench.py stopped before it was ready%s", "");
}

/* sends "CMD CASE", returns seconds per call (and *share: the child's CPU time / wall time),
   or -1 (and the PyTorch rows are skipped from then on) */
static double torch_cmd(const char *cmd, const char *kase, double *share) {
    char line[1024];
    double v;
    if (!g_torch.ok) return -1;
    if (fprintf(g_torch.to, "%s %s\n", cmd, kase) < 0 || fflush(g_torch.to) != 0) { torch_fail("torch_bench.py went away%s", ""); return -1; }
    if (!fgets(line, sizeof line, g_torch.from)) { torch_fail("torch_bench.py went away%s", ""); return -1; }
    line[strcspn(line, "\n")] = 0;
    *share = 1;
    if (sscanf(line, "ok %lf %lf", &v, share) >= 1) return v;
    torch_fail("torch_bench.py: %.380s", line);
    return -1;
}

static void torch_stop(void) {
    int status;
    if (g_torch.to) { fclose(g_torch.to); g_torch.to = NULL; }
    if (g_torch.from) { fclose(g_torch.from); g_torch.from = NULL; }
    if (g_torch.pid > 0) { waitpid(g_torch.pid, &status, 0); g_torch.pid = 0; }
    g_torch.ok = 0;
}

/* Times several functions side by side: each is warmed up and calibrated (calls per batch so
   that a batch lasts >= g_sample_time), then their batches alternate, g_samples rounds, so that
   a disturbance from elsewhere on the machine falls on all of them alike. Each gets the best
   (smallest) seconds per call over its batches: a disturbance only ever adds time. */
typedef struct {
    void (*f)(void *); void *arg;   /* ours or OpenBLAS: f(arg) */
    const char *torch;              /* or a case of torch_bench.py */
    long iters;
    double best;                    /* seconds per call; < 0: not measured (no PyTorch) */
    double share;                   /* CPU time / wall time of the batch that gave best */
    double any, any_share, clean;   /* best of all batches, its share; best of the undisturbed ones (or 1e300) */
} timed;

/* A batch whose process had at least this share of a CPU (CPU time / wall time) ran undisturbed
   by other work on the machine; a figure comes from the best undisturbed batch if there is one,
   else from the best batch, and is flagged (only 1-thread figures: with 2 threads the share
   says nothing). */
#define CLEAN_SHARE 0.95
static double g_min_share = 1e9;    /* the smallest share among the batches the 1-thread figures come from */
static int g_meas_disturbed;        /* the last measure_n had a figure without an undisturbed batch */
static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* one batch: seconds per call (-1 if PyTorch failed); *share gets CPU time / wall time */
static double batch(const timed *t, double *share) {
    double t0, c0, w;
    long i;
    if (t->torch) return torch_cmd("batch", t->torch, share);
    c0 = cpu_s();
    t0 = now_s();
    for (i = 0; i < t->iters; i++) t->f(t->arg);
    w = now_s() - t0;
    *share = w > 0 ? (cpu_s() - c0) / w : 1;
    return w / (double)t->iters;
}

static void note_batch(timed *t, double per, double share) {
    if (per < 0) { t->best = -1; return; }
    if (per < t->any) { t->any = per; t->any_share = share; }
    if (share >= CLEAN_SHARE && per < t->clean) t->clean = per;
}

/* gap > 0: sleep that long before each batch, so that the spinning worker threads of the
   previous party (OpenBLAS's spin ~0.1 s after a call before they sleep) are asleep */
static void pause_s(double gap) {
    struct timespec ts;
    if (gap <= 0) return;
    ts.tv_sec = (time_t)gap;
    ts.tv_nsec = (long)((gap - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

static double g_gap;   /* set around the 2-thread measurements */

static void measure_n(timed *ts, int n) {
    int k, s, rounds = g_samples;
    for (k = 0; k < n; k++) {
        timed *t = &ts[k];
        double d = 0, share = 1, per;
        t->any = t->clean = 1e300; t->any_share = 1; t->best = 0;
        pause_s(g_gap);
        if (t->torch) {   /* the child warms up and calibrates itself */
            t->iters = 1;
            per = torch_cmd("calibrate", t->torch, &share);
            note_batch(t, per, share);
            if (per > 0) while (rounds > 3 && (double)rounds * per > 1.0) rounds--;
            continue;
        }
        t->f(t->arg);   /* warm-up: first touch of buffers, arena blocks, caches */
        t->iters = 1;
        for (;;) {
            d = batch(t, &share) * (double)t->iters;
            if (d >= g_sample_time) break;
            if (d <= 0) t->iters *= 10;
            else {
                long want = (long)(t->iters * g_sample_time / d * 1.2) + 1;
                t->iters = want > 2 * t->iters ? want : 2 * t->iters;
            }
        }
        note_batch(t, d / (double)t->iters, share);
        /* slow calls: about a second per figure at most (but 3 batches at least) */
        while (rounds > 3 && (double)rounds * d > 1.0) rounds--;
    }
    for (s = 1; s < rounds; s++)
        for (k = 0; k < n; k++) {
            double per, share = 1;
            if (ts[k].best < 0) continue;
            pause_s(g_gap);
            per = batch(&ts[k], &share);
            note_batch(&ts[k], per, share);
        }
    g_meas_disturbed = 0;
    for (k = 0; k < n; k++) {
        timed *t = &ts[k];
        if (t->best < 0) continue;
        if (g_gap == 0 && t->clean < 1e300) { t->best = t->clean; t->share = 1; }
        else {
            t->best = t->any; t->share = t->any_share;
            if (g_gap == 0) g_meas_disturbed = 1;
        }
        if (g_gap == 0 && t->share < g_min_share) g_min_share = t->share;
    }
}

static timed T(void (*f)(void *), void *arg) { timed t; memset(&t, 0, sizeof t); t.f = f; t.arg = arg; return t; }
static timed TT(const char *torch_case) { timed t = T(NULL, NULL); t.torch = torch_case; return t; }

/* two side by side */
static void measure2(timed a, double *ta, timed b, double *tb) {
    timed t[2];
    t[0] = a; t[1] = b;
    measure_n(t, 2);
    *ta = t[0].best; *tb = t[1].best;
}
/* three side by side */
static void measure3(timed a, double *ta, timed b, double *tb, timed c, double *tc) {
    timed t[3];
    t[0] = a; t[1] = b; t[2] = c;
    measure_n(t, 3);
    *ta = t[0].best; *tb = t[1].best; *tc = t[2].best;
}

/* ==== the table ==== */
enum { ROW_SECTION, ROW_HIGHER, ROW_LOWER, ROW_NORATIO, ROW_NOTE };
typedef struct {
    int kind, disturbed;
    char kase[96], unit[16], ref_name[48], note[64];
    double ours, ref;   /* < 0: missing */
} row;
static row g_rows[128];
static int g_ndisturbed;
static int g_nrows;
static char g_notes[16][512];
static int g_nnotes;

static row *add_row(int kind, const char *kase, const char *unit, double ours, const char *ref_name, double ref) {
    row *r;
    if (g_nrows >= (int)(sizeof g_rows / sizeof g_rows[0])) { fprintf(stderr, "bench: too many rows\n"); exit(1); }
    r = &g_rows[g_nrows++];
    memset(r, 0, sizeof *r);
    r->kind = kind;
    snprintf(r->kase, sizeof r->kase, "%s", kase);
    snprintf(r->unit, sizeof r->unit, "%s", unit ? unit : "");
    snprintf(r->ref_name, sizeof r->ref_name, "%s", ref_name ? ref_name : "");
    r->ours = ours; r->ref = ref;
    r->disturbed = (kind == ROW_HIGHER || kind == ROW_LOWER) && g_meas_disturbed;
    if (r->disturbed) g_ndisturbed++;
    fflush(stdout);
    if (kind == ROW_SECTION) fprintf(stderr, "%s\n", kase);   /* progress on stderr: the table comes at the end */
    else if (ref_name) fprintf(stderr, "  %-46s %12.4g %-8s  %-28s %12.4g\n", kase, ours, unit ? unit : "", ref_name, ref);
    else fprintf(stderr, "  %-46s %12.4g %s\n", kase, ours, unit ? unit : "");
    return r;
}
static void add_note(const char *fmt, ...) {
    va_list ap;
    if (g_nnotes >= 16) return;
    va_start(ap, fmt);
    vsnprintf(g_notes[g_nnotes++], sizeof g_notes[0], fmt, ap);
    va_end(ap);
}

static void fmt_val(char *buf, size_t n, double v) {
    if (v < 0 || v != v) snprintf(buf, n, "n/a");
    else if (v >= 10000 || (v == floor(v) && v < 1e15)) snprintf(buf, n, "%.0f", v);
    else if (v >= 100) snprintf(buf, n, "%.1f", v);
    else if (v >= 10) snprintf(buf, n, "%.2f", v);
    else snprintf(buf, n, "%.3f", v);
}

#define NCOL 6
static void cells_of(const row *r, char c[NCOL][128]) {
    int i;
    for (i = 0; i < NCOL; i++) c[i][0] = 0;
    if (r->kind == ROW_SECTION) { snprintf(c[0], 128, "**%s**", r->kase); return; }
    snprintf(c[0], 128, "%s", r->kase);
    snprintf(c[1], 128, "%s", r->unit);
    fmt_val(c[2], 128, r->ours);
    snprintf(c[3], 128, "%s", r->ref_name);
    if (r->ref_name[0]) fmt_val(c[4], 128, r->ref);
    if (r->note[0]) snprintf(c[5], 128, "%s", r->note);
    else if ((r->kind == ROW_HIGHER || r->kind == ROW_LOWER) && r->ours > 0 && r->ref > 0)
        snprintf(c[5], 128, "%.2f%s", r->kind == ROW_HIGHER ? r->ours / r->ref : r->ref / r->ours, r->disturbed ? " *" : "");
    else if (r->kind == ROW_HIGHER || r->kind == ROW_LOWER) snprintf(c[5], 128, "n/a");
}

static void print_table(FILE *f) {
    static const char *head[NCOL] = {"case", "unit", "autograd.h", "reference", "ref", "ratio"};
    static const int right[NCOL] = {0, 0, 1, 0, 1, 1};
    size_t w[NCOL];
    char c[NCOL][128];
    int i, j;
    for (j = 0; j < NCOL; j++) w[j] = strlen(head[j]);
    for (i = 0; i < g_nrows; i++) {
        cells_of(&g_rows[i], c);
        for (j = 0; j < NCOL; j++)
            if (strlen(c[j]) > w[j]) w[j] = strlen(c[j]);
    }
    for (j = 0; j < NCOL; j++) fprintf(f, "| %-*s ", (int)w[j], head[j]);
    fprintf(f, "|\n");
    for (j = 0; j < NCOL; j++) {
        size_t k;
        fputs(right[j] ? "|-" : "|:", f);
        for (k = 0; k < w[j]; k++) fputc('-', f);
        fputs(right[j] ? ":" : "-", f);
    }
    fprintf(f, "|\n");
    for (i = 0; i < g_nrows; i++) {
        cells_of(&g_rows[i], c);
        for (j = 0; j < NCOL; j++)
            fprintf(f, right[j] ? "| %*s " : "| %-*s ", (int)w[j], c[j]);
        fprintf(f, "|\n");
    }
}

/* ==== helpers ==== */
static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static float frand(void) {   /* U[-1, 1) */
    g_rng ^= g_rng << 13; g_rng ^= g_rng >> 7; g_rng ^= g_rng << 17;
    return (float)((g_rng >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}
static float *frand_buf(size_t n, float scale) {
    float *p = (float *)malloc(n * sizeof *p);
    size_t i;
    if (!p) { fprintf(stderr, "bench: out of memory\n"); exit(1); }
    for (i = 0; i < n; i++) p[i] = frand() * scale;
    return p;
}
static void *xmalloc(size_t n) {
    void *p = calloc(1, n);
    if (!p) { fprintf(stderr, "bench: out of memory\n"); exit(1); }
    return p;
}
static void die_ag(ag_ctx *ctx, const char *what) {
    fprintf(stderr, "bench: %s: %s\n", what, ag_error(ctx) ? ag_error(ctx) : "(no message)");
    exit(1);
}
static ag_ctx *new_ctx(int threads, ag_allocator *alloc) {
    ag_desc d;
    ag_ctx *ctx;
    memset(&d, 0, sizeof d);
    d.threads = threads;
    if (alloc) d.allocator = *alloc;
    ctx = ag_ctx_new(&d);
    if (!ctx) { fprintf(stderr, "bench: ag_ctx_new failed\n"); exit(1); }
    return ctx;
}

/* ==== 1. sgemm ==== */
typedef struct {
    ag_ctx *ctx;
    ag_tensor *A, *B;       /* persistent: A [M,K] (or [K,M] if ta), B [K,N] (or [N,K] if tb) */
    const float *a, *b;     /* the same data for cblas */
    float *c;
    int M, K, N, ta, tb;
    ag_tensor *last;
} gemm_case;

static void gemm_ours(void *p) {
    gemm_case *g = (gemm_case *)p;
    ag_tensor *a, *b;
    ag_ctx_reset(g->ctx);
    a = g->ta ? ag_transpose(g->A, 0, 1) : g->A;
    b = g->tb ? ag_transpose(g->B, 0, 1) : g->B;
    g->last = ag_matmul(a, b);
    if (!g->last) die_ag(g->ctx, "ag_matmul");
}
static void gemm_blas(void *p) {
    gemm_case *g = (gemm_case *)p;
    cblas_sgemm(CblasRowMajor, g->ta ? CblasTrans : CblasNoTrans, g->tb ? CblasTrans : CblasNoTrans,
                g->M, g->N, g->K, 1.0f, g->a, g->ta ? g->M : g->K, g->b, g->tb ? g->K : g->N, 0.0f, g->c, g->N);
}

static double g_gemm_maxerr;
static char g_gemm_worst[96];

/* returns our GFLOPS; *ref_gflops gets OpenBLAS's */
static double run_gemm(ag_ctx *ctx, const char *name, int M, int K, int N, int ta, int tb, int blas_threads,
                       double *ref_gflops, int add) {
    gemm_case g;
    int64_t ash[2], bsh[2];
    float *a = frand_buf((size_t)M * K, 1.0f), *b = frand_buf((size_t)K * N, 1.0f);
    double flop = 2.0 * M * N * K, t_ours, t_ref, err = 0, mx = 0;
    int64_t i;
    memset(&g, 0, sizeof g);
    g.ctx = ctx; g.M = M; g.K = K; g.N = N; g.ta = ta; g.tb = tb; g.a = a; g.b = b;
    g.c = (float *)xmalloc((size_t)M * N * sizeof(float));
    ash[0] = ta ? K : M; ash[1] = ta ? M : K;
    bsh[0] = tb ? N : K; bsh[1] = tb ? K : N;
    g.A = ag_persistent(ctx, AG_F32, 2, ash, a);
    g.B = ag_persistent(ctx, AG_F32, 2, bsh, b);
    if (!g.A || !g.B) die_ag(ctx, "ag_persistent");
    openblas_set_num_threads(blas_threads);
    /* check: our product against OpenBLAS's (before timing, once) */
    gemm_ours(&g);
    gemm_blas(&g);
    {
        const float *y = (const float *)ag_data(g.last);
        for (i = 0; i < (int64_t)M * N; i++) {
            double d = fabs((double)y[i] - g.c[i]);
            if (d > err) err = d;
            if (fabs(g.c[i]) > mx) mx = fabs(g.c[i]);
        }
        err = mx > 0 ? err / mx : err;
        if (err > g_gemm_maxerr) { g_gemm_maxerr = err; snprintf(g_gemm_worst, sizeof g_gemm_worst, "%s", name); }
    }
    measure2(T(gemm_ours, &g), &t_ours, T(gemm_blas, &g), &t_ref);
    openblas_set_num_threads(1);
    ag_ctx_reset(ctx);
    *ref_gflops = flop / t_ref * 1e-9;
    if (add) {
        char refname[48];
        row *r;
        snprintf(refname, sizeof refname, "OpenBLAS, %d thread%s", blas_threads, blas_threads > 1 ? "s" : "");
        r = add_row(ROW_HIGHER, name, "GFLOPS", flop / t_ours * 1e-9, refname, *ref_gflops);
        if (err > 1e-4) snprintf(r->note, sizeof r->note, "WRONG (rel err %.1e)", err);
    }
    free(a); free(b); free(g.c);
    /* the persistent A and B stay until ag_ctx_free: each case gets its own context */
    return flop / t_ours * 1e-9;
}

/* ==== 8. 16-bit products ==== */
typedef struct { ag_ctx *ctx; ag_tensor *A, *B; } mm16_case;
static void mm16_ours(void *p) {
    mm16_case *g = (mm16_case *)p;
    ag_ctx_reset(g->ctx);
    if (!ag_matmul(g->A, g->B)) die_ag(g->ctx, "ag_matmul (16-bit)");
}

/* ==== 2. the MLP step ==== */
enum { MLP_B = 64, MLP_IN = 784, MLP_H1 = 256, MLP_H2 = 128, MLP_OUT = 10 };
static const int mlp_sizes[4] = {MLP_IN, MLP_H1, MLP_H2, MLP_OUT};

typedef struct {
    ag_ctx *ctx;
    ag_tensor *p[6];        /* W1 b1 W2 b2 W3 b3 */
    ag_tensor *x;
    ag_optim *opt;          /* plain SGD (no momentum), lr 0.01 */
    int32_t tgt[MLP_B];
    double loss;
    ag_stats before_reset;  /* filled by every step */
} mlp;

static void mlp_init(mlp *m, ag_ctx *ctx) {
    int l;
    int64_t xs[2] = {MLP_B, MLP_IN};
    float *xd = frand_buf(MLP_B * MLP_IN, 0.5f);
    memset(m, 0, sizeof *m);
    m->ctx = ctx;
    for (l = 0; l < 3; l++) {
        int64_t ws[2], bs[1];
        float bound = 1.0f / sqrtf((float)mlp_sizes[l]);
        float *w = frand_buf((size_t)mlp_sizes[l + 1] * mlp_sizes[l], bound), *b = frand_buf((size_t)mlp_sizes[l + 1], bound);
        ws[0] = mlp_sizes[l + 1]; ws[1] = mlp_sizes[l]; bs[0] = mlp_sizes[l + 1];
        m->p[2 * l] = ag_param(ctx, AG_F32, 2, ws, w);
        m->p[2 * l + 1] = ag_param(ctx, AG_F32, 1, bs, b);
        free(w); free(b);
    }
    for (l = 0; l < MLP_B * MLP_IN; l++) xd[l] += 0.5f;   /* [0, 1), like pixels */
    m->x = ag_persistent(ctx, AG_F32, 2, xs, xd);
    free(xd);
    for (l = 0; l < MLP_B; l++) m->tgt[l] = (int32_t)((frand() + 1.0f) * 5.0f) % 10;
    {
        ag_sgd_opts o = ag_sgd_defaults();
        o.lr = 0.01;
        m->opt = ag_sgd_new(ctx, m->p, 6, &o);
    }
    if (!m->x || !m->p[5] || !m->opt) die_ag(ctx, "mlp init");
}

static void mlp_step(void *arg) {
    mlp *m = (mlp *)arg;
    ag_tensor *h1, *h2, *logits, *loss;
    h1 = ag_relu(ag_linear(m->x, m->p[0], m->p[1]));
    h2 = ag_relu(ag_linear(h1, m->p[2], m->p[3]));
    logits = ag_linear(h2, m->p[4], m->p[5]);
    loss = ag_cross_entropy(logits, m->tgt);
    ag_optim_zero_grad(m->opt);
    if (!loss || ag_backward(loss, NULL) != 0 || ag_optim_step(m->opt) != 0) die_ag(m->ctx, "mlp step");
    m->loss = ag_item(loss);
    m->before_reset = ag_get_stats(m->ctx);
    ag_ctx_reset(m->ctx);
}

/* the limit: the step's matrix products alone, in cblas_sgemm. Forward y = x W^T (3);
   backward dW = g^T h (3) and dh = g W (2: the input x needs no gradient). */
typedef struct {
    float *w[3], *h[4], *g[3], *dw[3], *dh[3];
} mlp_blas;
static void mlp_blas_init(mlp_blas *m) {
    int l;
    for (l = 0; l < 3; l++) {
        m->w[l] = frand_buf((size_t)mlp_sizes[l + 1] * mlp_sizes[l], 0.05f);
        m->dw[l] = frand_buf((size_t)mlp_sizes[l + 1] * mlp_sizes[l], 0.0f);
        m->g[l] = frand_buf((size_t)MLP_B * mlp_sizes[l + 1], 0.05f);
        m->dh[l] = frand_buf((size_t)MLP_B * mlp_sizes[l], 0.0f);
    }
    for (l = 0; l < 4; l++) m->h[l] = frand_buf((size_t)MLP_B * mlp_sizes[l], 0.5f);
}
static void mlp_blas_free(mlp_blas *m) {
    int l;
    for (l = 0; l < 3; l++) { free(m->w[l]); free(m->dw[l]); free(m->g[l]); free(m->dh[l]); }
    for (l = 0; l < 4; l++) free(m->h[l]);
}
static void mlp_blas_step(void *arg) {
    mlp_blas *m = (mlp_blas *)arg;
    int l;
    for (l = 0; l < 3; l++) {   /* h[l+1] = h[l] @ W[l]^T: [B, in] @ [in, out] */
        int in = mlp_sizes[l], out = mlp_sizes[l + 1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, MLP_B, out, in, 1.0f, m->h[l], in, m->w[l], in, 0.0f, m->h[l + 1], out);
    }
    for (l = 2; l >= 0; l--) {
        int in = mlp_sizes[l], out = mlp_sizes[l + 1];
        /* dW = g^T @ h: [out, B] @ [B, in] */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, MLP_B, 1.0f, m->g[l], out, m->h[l], in, 0.0f, m->dw[l], in);
        /* dh = g @ W: [B, out] @ [out, in] */
        if (l > 0)
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, MLP_B, in, out, 1.0f, m->g[l], out, m->w[l], in, 0.0f, m->dh[l], in);
    }
}

/* ==== 3. per-op overhead ==== */
typedef struct { ag_ctx *ctx; ag_tensor *x0; } tiny_case;
static void tiny_step(void *arg) {
    tiny_case *t = (tiny_case *)arg;
    ag_tensor *x = t->x0;
    int i;
    for (i = 0; i < 100; i++) x = ag_tanh(ag_add_scalar(ag_mul_scalar(x, 1.01), 0.1));
    ag_zero_grad(t->x0);
    if (!x || ag_backward(x, NULL) != 0) die_ag(t->ctx, "tiny step");
    ag_ctx_reset(t->ctx);
}

/* exp of x^T (a view: strided rows), softmax along dim 0 (strided columns) and along dim 1, x [256, 256] */
typedef struct { ag_ctx *ctx; ag_tensor *x; int kind; } view_case;
static void view_step(void *arg) {
    view_case *v = (view_case *)arg;
    ag_tensor *y = v->kind ? ag_softmax(v->x, v->kind - 1) : ag_exp(ag_transpose(v->x, 0, 1));
    if (!y) die_ag(v->ctx, "view step");
    ag_ctx_reset(v->ctx);
}

/* ==== 4. the seeds' lab ==== */
typedef struct { ag_ctx *ctx; ag_tensor *x, *W, *b, *t; } lab_case;
static void lab_step(void *arg) {
    lab_case *c = (lab_case *)arg;
    ag_tensor *y = ag_linear(c->x, c->W, c->b);
    ag_tensor *L = ag_mul_scalar(ag_sum(ag_pow(ag_sub(y, c->t), 2.0)), 0.5);
    ag_zero_grad(c->W); ag_zero_grad(c->b);
    if (!L || ag_backward(L, NULL) != 0) die_ag(c->ctx, "lab step");
    ag_ctx_reset(c->ctx);
}

/* ==== 9. per-example gradients ==== */
typedef struct { ag_ctx *ctx; ag_tensor *p[6], *x, *y; } pe_case;
static ag_tensor *pe_loss(ag_tensor *const *p, ag_tensor *x, ag_tensor *y) {   /* one example: x [784], y 0-d */
    ag_tensor *h = ag_relu(ag_linear(x, p[0], p[1]));
    h = ag_relu(ag_linear(h, p[2], p[3]));
    return ag_cross_entropy_t(ag_linear(h, p[4], p[5]), y);
}
static int pe_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    ag_tensor *L = pe_loss(in + 2, in[0], in[1]);
    (void)ctx; (void)user;
    return L ? ag_grad_of(L, NULL, 6, in + 2, out) : -1;
}
static void pe_vmap(void *arg) {
    pe_case *c = (pe_case *)arg;
    ag_tensor *in[8], *out[6];
    int dims[8], i;
    in[0] = c->x; in[1] = c->y; dims[0] = dims[1] = 0;
    for (i = 0; i < 6; i++) { in[2 + i] = c->p[i]; dims[2 + i] = AG_UNBATCHED; }
    if (ag_vmap(c->ctx, pe_fn, NULL, 8, in, dims, 6, out, NULL) != 0) die_ag(c->ctx, "vmap");
    ag_ctx_reset(c->ctx);
}
static void pe_loop(void *arg) {
    pe_case *c = (pe_case *)arg;
    ag_tensor *g[6];
    int b;
    for (b = 0; b < 64; b++)
        if (ag_grad_of(pe_loss(c->p, ag_select(c->x, 0, b), ag_select(c->y, 0, b)), NULL, 6, c->p, g) != 0) die_ag(c->ctx, "grad_of");
    ag_ctx_reset(c->ctx);
}

/* a Jacobian, f: R^128 -> R^128, tanh(x W1^T) W2^T in F64 */
typedef struct { ag_ctx *ctx; ag_tensor *W1, *W2, *x; } jac_case;
static ag_tensor *jac_f(ag_ctx *ctx, ag_tensor **x, void *user) {
    jac_case *c = (jac_case *)user;
    (void)ctx;
    return ag_linear(ag_tanh(ag_linear(x[0], c->W1, NULL)), c->W2, NULL);
}
static void jac_ours(void *arg) {
    jac_case *c = (jac_case *)arg;
    ag_tensor *jac;
    if (ag_jacobian(c->ctx, jac_f, c, 1, &c->x, &jac, false) != 0) die_ag(c->ctx, "jacobian");
    ag_ctx_reset(c->ctx);
}
static void jac_rows(void *arg) {   /* what ag_jacobian did before ag_vmap: one vjp per row, the graph built once */
    jac_case *c = (jac_case *)arg;
    ag_tensor *x = ag_set_requires_grad(ag_detach(c->x), true), *y = jac_f(c->ctx, &x, c), *g;
    ag_backward_opts o;
    int64_t k;
    memset(&o, 0, sizeof o);
    o.retain_graph = true;
    for (k = 0; k < 128; k++) {
        ag_tensor *e = ag_zeros(c->ctx, AG_F64, 1, ag_shape(y));
        ((double *)ag_data(e))[k] = 1.0;
        o.grad = e;
        if (ag_grad_of(y, &o, 1, &x, &g) != 0) die_ag(c->ctx, "grad_of");
    }
    ag_ctx_reset(c->ctx);
}

/* ==== 10. convolutions ==== */
/* one layer alone: y = conv2d(x, W, b) 3x3 pad 1 (or, W NULL, y = max_pool2d(x) 2x2), then
   backward from a fixed seed g = dL/dy: dx (when x requires grad), dW, db */
typedef struct { ag_ctx *ctx; ag_tensor *x, *W, *b, *g; } conv_case;
static void conv_step(void *arg) {
    conv_case *c = (conv_case *)arg;
    ag_backward_opts o;
    ag_conv2d_opts pad1;
    ag_tensor *y;
    memset(&o, 0, sizeof o);
    memset(&pad1, 0, sizeof pad1);
    pad1.pad_h = pad1.pad_w = 1;
    y = c->W ? ag_conv2d(c->x, c->W, c->b, &pad1) : ag_max_pool2d(c->x, 2, 2, 0, 0, 0, 0);
    ag_zero_grad(c->x);
    if (c->W) { ag_zero_grad(c->W); ag_zero_grad(c->b); }
    o.grad = c->g;
    if (!y || ag_backward(y, &o) != 0) die_ag(c->ctx, "conv step");
    ag_ctx_reset(c->ctx);
}
/* x [64, cin, 28, 28] in [-1, 1) (a parameter when it needs a gradient); cout > 0: W [cout, cin, 3, 3]
   and b [cout] as PyTorch's default init, U(-1/sqrt(cin 9), 1/sqrt(cin 9)); cout 0: the pool */
static void conv_init(conv_case *c, int threads, int64_t cin, int64_t cout, bool x_grad) {
    int64_t xs[4], ws[4], ys[4];
    ag_tensor *t;
    double bound = 1.0 / sqrt((double)cin * 9);
    memset(c, 0, sizeof *c);
    c->ctx = new_ctx(threads, NULL);
    xs[0] = 64; xs[1] = cin; xs[2] = xs[3] = 28;
    t = ag_add_scalar(ag_mul_scalar(ag_rand(c->ctx, AG_F32, 4, xs), 2.0), -1.0);
    c->x = x_grad ? ag_param(c->ctx, AG_F32, 4, xs, ag_data(t)) : ag_persistent(c->ctx, AG_F32, 4, xs, ag_data(t));
    ys[0] = 64; ys[1] = cout ? cout : cin; ys[2] = ys[3] = cout ? 28 : 14;
    t = ag_add_scalar(ag_mul_scalar(ag_rand(c->ctx, AG_F32, 4, ys), 2.0), -1.0);
    c->g = ag_persistent(c->ctx, AG_F32, 4, ys, ag_data(t));
    if (cout) {
        ws[0] = cout; ws[1] = cin; ws[2] = ws[3] = 3;
        c->W = ag_param(c->ctx, AG_F32, 4, ws, NULL);
        c->b = ag_param(c->ctx, AG_F32, 1, &cout, NULL);
        if (!c->W || !c->b || ag_init_uniform(c->W, -bound, bound) != 0 || ag_init_uniform(c->b, -bound, bound) != 0) die_ag(c->ctx, "conv init");
    }
    if (!c->x || !c->g) die_ag(c->ctx, "conv init");
    ag_ctx_reset(c->ctx);
}

/* examples/fashion_mnist_cnn.c's model: conv 1->16 3x3 pad 1, relu, max pool 2 -> [N,16,14,14];
   conv 16->32, relu, max pool 2 -> [N,32,7,7]; linear 1568 -> 10; cross-entropy; Adam lr 2e-3 */
typedef struct { ag_ctx *ctx; ag_tensor *p[6], *x; ag_optim *opt; int32_t tgt[64]; double loss; } cnn_case;
static void cnn_step(void *arg) {
    cnn_case *c = (cnn_case *)arg;
    ag_conv2d_opts pad1;
    int64_t flat[2] = {64, 32 * 7 * 7};
    ag_tensor *h, *loss;
    memset(&pad1, 0, sizeof pad1);
    pad1.pad_h = pad1.pad_w = 1;
    h = ag_max_pool2d(ag_relu(ag_conv2d(c->x, c->p[0], c->p[1], &pad1)), 2, 2, 0, 0, 0, 0);
    h = ag_max_pool2d(ag_relu(ag_conv2d(h, c->p[2], c->p[3], &pad1)), 2, 2, 0, 0, 0, 0);
    loss = ag_cross_entropy(ag_linear(ag_reshape(h, 2, flat), c->p[4], c->p[5]), c->tgt);
    ag_optim_zero_grad(c->opt);
    if (!loss || ag_backward(loss, NULL) != 0 || ag_optim_step(c->opt) != 0) die_ag(c->ctx, "cnn step");
    c->loss = ag_item(loss);
    ag_ctx_reset(c->ctx);
}
static void cnn_init(cnn_case *c, int threads) {
    static const int64_t shapes[6][4] = {{16, 1, 3, 3}, {16}, {32, 16, 3, 3}, {32}, {10, 32 * 7 * 7}, {10}};
    static const int ndims[6] = {4, 1, 4, 1, 2, 1}, fan_in[6] = {9, 9, 144, 144, 1568, 1568};
    int64_t xs[4] = {64, 1, 28, 28};
    ag_adam_opts ao = ag_adam_defaults();
    int i;
    memset(c, 0, sizeof *c);
    c->ctx = new_ctx(threads, NULL);
    for (i = 0; i < 6; i++) {   /* PyTorch's default init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) */
        double bound = 1.0 / sqrt((double)fan_in[i]);
        c->p[i] = ag_param(c->ctx, AG_F32, ndims[i], shapes[i], NULL);
        if (!c->p[i] || ag_init_uniform(c->p[i], -bound, bound) != 0) die_ag(c->ctx, "cnn init");
    }
    /* pixels in [0, 1) normalised as the example does: (v - 0.2860) / 0.3530 */
    c->x = ag_persistent(c->ctx, AG_F32, 4, xs, ag_data(ag_mul_scalar(ag_add_scalar(ag_rand(c->ctx, AG_F32, 4, xs), -0.2860), 1 / 0.3530)));
    for (i = 0; i < 64; i++) c->tgt[i] = (int32_t)((frand() + 1.0f) * 5.0f) % 10;
    ao.lr = 2e-3;
    c->opt = ag_adam_new(c->ctx, c->p, 6, &ao);
    if (!c->x || !c->opt) die_ag(c->ctx, "cnn init");
    ag_ctx_reset(c->ctx);
}

/* ==== 7. forward mode and replay ==== */
typedef struct { ag_ctx *ctx; ag_tensor *in[3], *u[3]; } jvp_case;
static ag_tensor *jvp_fn(ag_ctx *ctx, ag_tensor **in, void *user) {   /* tanh(x W1^T) W2^T */
    (void)ctx; (void)user;
    return ag_linear(ag_tanh(ag_linear(in[0], in[1], NULL)), in[2], NULL);
}
static void jvp_forward(void *arg) {   /* one forward pass with tangents */
    jvp_case *c = (jvp_case *)arg;
    ag_tensor *out;
    if (ag_jvp(c->ctx, jvp_fn, NULL, 3, c->in, c->u, NULL, &out, false) != 0) die_ag(c->ctx, "jvp");
    ag_ctx_reset(c->ctx);
}
static void jvp_double_vjp(void *arg) {   /* J u = d/dw <w^T J, u>: two reverse passes, what ag_jvp did before */
    jvp_case *c = (jvp_case *)arg;
    ag_tensor *x[3], *out, *w, *g[3], *s = NULL, *r;
    ag_backward_opts o;
    int i;
    for (i = 0; i < 3; i++) x[i] = ag_set_requires_grad(ag_detach(c->in[i]), true);
    out = jvp_fn(c->ctx, x, NULL);
    w = ag_set_requires_grad(ag_zeros(c->ctx, AG_F32, ag_ndim(out), ag_shape(out)), true);
    memset(&o, 0, sizeof o);
    o.grad = w; o.create_graph = true;
    if (ag_grad_of(out, &o, 3, x, g) != 0) die_ag(c->ctx, "double vjp");
    for (i = 0; i < 3; i++) { ag_tensor *t = ag_sum(ag_mul(g[i], c->u[i])); s = s ? ag_add(s, t) : t; }
    if (ag_grad_of(s, NULL, 1, &w, &r) != 0) die_ag(c->ctx, "double vjp");
    ag_ctx_reset(c->ctx);
}
typedef struct { ag_ctx *ctx; ag_tensor *p[4], *x, *y; ag_optim *opt; ag_capture *g; } agent_case;
static ag_tensor *agent_loss(agent_case *a) {
    return ag_mse_loss(ag_linear(ag_relu(ag_linear(a->x, a->p[0], a->p[1])), a->p[2], a->p[3]), a->y);
}
static void agent_rebuild(void *arg) {   /* the step built each frame */
    agent_case *a = (agent_case *)arg;
    ag_optim_zero_grad(a->opt);
    if (ag_backward(agent_loss(a), NULL) != 0 || ag_optim_step(a->opt) != 0) die_ag(a->ctx, "agent step");
    ag_ctx_reset(a->ctx);
}
static size_t step_bytes(ag_ctx *ctx, ag_tensor *loss) {   /* the arena bytes of a step built up to loss, after its backward */
    size_t b;
    if (ag_backward(loss, NULL) != 0) die_ag(ctx, "step");
    b = ag_get_stats(ctx).arena_used;
    ag_ctx_reset(ctx);
    return b;
}
static void agent_replay(void *arg) {   /* the same step, captured once */
    agent_case *a = (agent_case *)arg;
    ag_optim_zero_grad(a->opt);
    if (ag_replay(a->g) != 0 || ag_optim_step(a->opt) != 0) die_ag(a->ctx, "agent replay");
}
static void agent_init(agent_case *a, bool replay, int64_t h) {   /* MLP 16-h-4 */
    int64_t s1[2], s2[2], b1 = h, b2 = 4, sx[2] = {1, 16}, sy[2] = {1, 4};
    float *xd = frand_buf(16, 1.0f), *yd = frand_buf(4, 1.0f);
    s1[0] = h; s1[1] = 16; s2[0] = 4; s2[1] = h;
    a->ctx = new_ctx(0, NULL);
    a->p[0] = ag_param(a->ctx, AG_F32, 2, s1, NULL); a->p[1] = ag_param(a->ctx, AG_F32, 1, &b1, NULL);
    a->p[2] = ag_param(a->ctx, AG_F32, 2, s2, NULL); a->p[3] = ag_param(a->ctx, AG_F32, 1, &b2, NULL);
    ag_init_linear(a->p[0], a->p[1]); ag_init_linear(a->p[2], a->p[3]);
    a->opt = ag_adam_new(a->ctx, a->p, 4, NULL);
    a->x = ag_persistent(a->ctx, AG_F32, 2, sx, xd); a->y = ag_persistent(a->ctx, AG_F32, 2, sy, yd);
    a->g = NULL;
    if (replay) {
        ag_capture_begin(a->ctx);
        if (ag_backward(agent_loss(a), NULL) != 0) die_ag(a->ctx, "agent capture");
        if (!(a->g = ag_capture_end(a->ctx))) die_ag(a->ctx, "agent capture");
    }
    free(xd); free(yd);
}

/* an elementwise-heavy step: MLP 784-256-10 with gelu and layer_norm, batch 64, cross-entropy, SGD
   (its backward is mostly elementwise steps over [64, 256]: gelu's and layer_norm's, built from ops) */
typedef struct { ag_ctx *ctx; ag_tensor *p[6], *x; int32_t t[64]; ag_optim *opt; ag_capture *g; } lng_case;
static ag_tensor *lng_loss(lng_case *c) {
    ag_tensor *h = ag_layer_norm(ag_gelu(ag_linear(c->x, c->p[0], c->p[1])), c->p[4], c->p[5], 1e-5);
    return ag_cross_entropy(ag_linear(h, c->p[2], c->p[3]), c->t);
}
static void lng_rebuild(void *arg) {
    lng_case *c = (lng_case *)arg;
    ag_optim_zero_grad(c->opt);
    if (ag_backward(lng_loss(c), NULL) != 0 || ag_optim_step(c->opt) != 0) die_ag(c->ctx, "gelu step");
    ag_ctx_reset(c->ctx);
}
static void lng_replay(void *arg) {
    lng_case *c = (lng_case *)arg;
    ag_optim_zero_grad(c->opt);
    if (ag_replay(c->g) != 0 || ag_optim_step(c->opt) != 0) die_ag(c->ctx, "gelu replay");
}
static void lng_init(lng_case *c, bool replay) {
    int64_t sx[2] = {64, 784}, s1[2] = {256, 784}, b1 = 256, s2[2] = {10, 256}, b2 = 10;
    float *xd = frand_buf(64 * 784, 1.0f);
    ag_sgd_opts o = ag_sgd_defaults();
    int i;
    c->ctx = new_ctx(0, NULL);
    c->p[0] = ag_param(c->ctx, AG_F32, 2, s1, NULL); c->p[1] = ag_param(c->ctx, AG_F32, 1, &b1, NULL);
    c->p[2] = ag_param(c->ctx, AG_F32, 2, s2, NULL); c->p[3] = ag_param(c->ctx, AG_F32, 1, &b2, NULL);
    c->p[4] = ag_param(c->ctx, AG_F32, 1, &b1, NULL); c->p[5] = ag_param(c->ctx, AG_F32, 1, &b1, NULL);
    ag_init_linear(c->p[0], c->p[1]); ag_init_linear(c->p[2], c->p[3]);
    ag_fill_(c->p[4], 1.0); ag_fill_(c->p[5], 0.0);
    o.lr = 0.01;
    c->opt = ag_sgd_new(c->ctx, c->p, 6, &o);
    c->x = ag_persistent(c->ctx, AG_F32, 2, sx, xd);
    for (i = 0; i < 64; i++) c->t[i] = i % 10;
    c->g = NULL;
    if (replay) {
        ag_capture_begin(c->ctx);
        if (ag_backward(lng_loss(c), NULL) != 0) die_ag(c->ctx, "gelu capture");
        if (!(c->g = ag_capture_end(c->ctx))) die_ag(c->ctx, "gelu capture");
    }
    free(xd);
}

/* ==== 5. counting allocator ==== */
typedef struct { uint64_t allocs, frees, bytes; } counter;
static void *count_alloc(size_t n, void *user) { counter *c = (counter *)user; c->allocs++; c->bytes += n; return malloc(n); }
static void count_free(void *p, void *user) { counter *c = (counter *)user; if (p) c->frees++; free(p); }

/* ==== machine description ==== */
static void lscpu_field(const char *field, char *out, size_t n) {
    char line[512];
    FILE *p = popen("LC_ALL=C lscpu 2>/dev/null", "r");
    out[0] = 0;
    if (p) {
        size_t fl = strlen(field);
        while (fgets(line, sizeof line, p)) {
            if (strncmp(line, field, fl) == 0 && line[fl] == ':') {
                char *v = line + fl + 1;
                while (*v == ' ' || *v == '\t') v++;
                v[strcspn(v, "\n")] = 0;
                snprintf(out, n, "%s", v);
            }
        }
        pclose(p);
    }
    if (!out[0]) snprintf(out, n, "?");
}

/* --profile CASE SECONDS: our side of one case in a loop, nothing else (perf record -g ...) */
static int profile(const char *kase, double seconds) {
    ag_ctx *ctx = new_ctx(!strcmp(kase, "mlp2") ? 2 : 0, NULL);
    static conv_case cv;
    static cnn_case cn;
    double t0 = now_s();
    long n = 0;
    void (*f)(void *) = NULL;
    void *arg = NULL;
    mlp m;
    tiny_case tc;
    lab_case lc;
    gemm_case gc;
    if (!strcmp(kase, "mlp") || !strcmp(kase, "mlp2")) { mlp_init(&m, ctx); f = mlp_step; arg = &m; }
    else if (!strcmp(kase, "tiny")) {
        int64_t one = 1;
        float v = 0.5f;
        tc.ctx = ctx; tc.x0 = ag_param(ctx, AG_F32, 1, &one, &v);
        f = tiny_step; arg = &tc;
    } else if (!strcmp(kase, "lab")) {
        int64_t xs[2] = {2, 64}, ws[2] = {600, 64}, bs[1] = {600}, ts[2] = {2, 600};
        lc.ctx = ctx;
        lc.x = ag_persistent(ctx, AG_F32, 2, xs, NULL); lc.t = ag_persistent(ctx, AG_F32, 2, ts, NULL);
        lc.W = ag_param(ctx, AG_F32, 2, ws, NULL); lc.b = ag_param(ctx, AG_F32, 1, bs, NULL);
        f = lab_step; arg = &lc;
    } else if (!strcmp(kase, "gemm1024")) {
        int64_t sh[2] = {1024, 1024};
        memset(&gc, 0, sizeof gc);
        gc.ctx = ctx; gc.M = gc.N = gc.K = 1024;
        gc.A = ag_persistent(ctx, AG_F32, 2, sh, NULL); gc.B = ag_persistent(ctx, AG_F32, 2, sh, NULL);
        f = gemm_ours; arg = &gc;
    } else if (!strcmp(kase, "agent")) {   /* the replayed game step, on a context of its own */
        static agent_case ac;
        agent_init(&ac, true, 64);
        f = agent_replay; arg = &ac;
    } else if (!strcmp(kase, "agent_rebuild")) {   /* the same step built again each time: the graph-building cost */
        static agent_case ac;
        agent_init(&ac, false, 64);
        f = agent_rebuild; arg = &ac;
    } else if (!strcmp(kase, "lng")) {   /* the replayed gelu + layer_norm step, on a context of its own */
        static lng_case lg;
        lng_init(&lg, true);
        f = lng_replay; arg = &lg;
    } else if (!strcmp(kase, "conv")) { conv_init(&cv, 0, 16, 16, true); f = conv_step; arg = &cv; }   /* 16->16 on [64,16,28,28] */
    else if (!strcmp(kase, "pool")) { conv_init(&cv, 0, 16, 0, true); f = conv_step; arg = &cv; }      /* max_pool2d 2x2 on [64,16,28,28] */
    else if (!strcmp(kase, "cnn") || !strcmp(kase, "cnn2")) { cnn_init(&cn, !strcmp(kase, "cnn2") ? 2 : 0); f = cnn_step; arg = &cn; }
    else { fprintf(stderr, "bench: --profile: unknown case %s\n", kase); return 2; }
    do { f(arg); n++; } while (now_s() - t0 < seconds);
    fprintf(stderr, "%s: %ld calls, %.3f us per call\n", kase, n, (now_s() - t0) / (double)n * 1e6);
    ag_ctx_free(ctx);
    return 0;
}

static void read_loadavg(char *buf, size_t n) {   /* "1.19 0.76 0.57" */
    FILE *la = fopen("/proc/loadavg", "r");
    if (!la) return;
    if (fgets(buf, (int)n, la)) {
        char *sp = strchr(buf, ' ');
        if (sp) sp = strchr(sp + 1, ' ');
        if (sp) sp = strchr(sp + 1, ' ');
        if (sp) *sp = 0;
    }
    fclose(la);
}

static int want(const char *only, const char *sec) {
    const char *p = only;
    size_t n = strlen(sec);
    if (!only || !only[0]) return 1;
    while ((p = strstr(p, sec)) != NULL) {
        if ((p == only || p[-1] == ',') && (p[n] == 0 || p[n] == ',')) return 1;
        p += n;
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *out = NULL, *python = "/usr/bin/python3", *script = "bench/torch_bench.py", *only = "";
    double torch_mlp_t1 = -1, torch_mlp_t2 = -1;
    char loadavg[64] = "?", loadavg_end[64] = "?";
    double t0_all = now_s(), mlp_ours_t1 = -1, mlp_blas_t1 = -1, gemm1024_ours = -1, gemm1024_blas = -1;
    char simd[32] = "?";
    const char *prof = NULL;
    double prof_s = 0;
    int i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out") && i + 1 < argc) out = argv[++i];
        else if (!strcmp(argv[i], "--python") && i + 1 < argc) python = argv[++i];
        else if (!strcmp(argv[i], "--torch-script") && i + 1 < argc) script = argv[++i];
        else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
        else if (!strcmp(argv[i], "--quick")) { g_sample_time = 0.01; g_samples = 3; }
        else if (!strcmp(argv[i], "--profile") && i + 2 < argc) { prof = argv[++i]; prof_s = atof(argv[++i]); }
        else {
            fprintf(stderr, "usage: %s [--out FILE] [--python PATH] [--torch-script PATH] [--only gemm,mlp,tiny,lab,mem,threads,advanced,half,vmap,conv] [--quick]\n"
                            "       %s --profile mlp|mlp2|tiny|lab|gemm1024|agent|agent_rebuild|lng|conv|pool|cnn|cnn2 SECONDS   (our side alone, in a loop: for perf record)\n", argv[0], argv[0]);
            return 2;
        }
    }
    if (prof) return profile(prof, prof_s);
    if (getenv("BENCH_SAMPLE_TIME")) g_sample_time = atof(getenv("BENCH_SAMPLE_TIME"));
    if (getenv("BENCH_SAMPLES")) g_samples = atoi(getenv("BENCH_SAMPLES"));
    if (g_sample_time <= 0) g_sample_time = 0.002;
    if (g_samples < 1) g_samples = 1;
    openblas_set_num_threads(1);
    read_loadavg(loadavg, sizeof loadavg);   /* other work on the machine skews the figures (most of all with 2 threads) */
    {
        ag_ctx *c = new_ctx(0, NULL);
        snprintf(simd, sizeof simd, "%s", ag_simd_name(c));
        ag_ctx_free(c);
    }

    /* PyTorch: a child process that times its cases when we ask, between our batches */
    signal(SIGPIPE, SIG_IGN);   /* a child that dies must not take us with it */
    if (want(only, "mlp") || want(only, "tiny") || want(only, "lab") || want(only, "threads") || want(only, "advanced") || want(only, "half") ||
        want(only, "vmap") || want(only, "conv")) {
        torch_start(python, script);
        if (!g_torch.ok) fprintf(stderr, "PyTorch rows skipped: %s\n", g_torch.skip);
    } else snprintf(g_torch.skip, sizeof g_torch.skip, "not run (--only)");

    /* 1. sgemm */
    if (want(only, "gemm")) {
        static const int sq[] = {8, 16, 24, 32, 64, 128, 256, 512, 1024, 2048};   /* issue 16: 8 to 512, and 1024, 2048 */
        char name[96];
        double ref;
        size_t k;
        add_row(ROW_SECTION, "1. sgemm C = A@B, F32, 1 thread", NULL, 0, NULL, 0);
        for (k = 0; k < sizeof sq / sizeof sq[0]; k++) {
            ag_ctx *ctx = new_ctx(0, NULL);
            double ours;
            snprintf(name, sizeof name, "[%d x %d] @ [%d x %d]", sq[k], sq[k], sq[k], sq[k]);
            ours = run_gemm(ctx, name, sq[k], sq[k], sq[k], 0, 0, 1, &ref, 1);
            if (sq[k] == 1024) { gemm1024_ours = ours; gemm1024_blas = ref; }
            ag_ctx_free(ctx);
        }
        {
            ag_ctx *ctx = new_ctx(0, NULL);
            run_gemm(ctx, "tall-skinny [4096 x 256] @ [256 x 64]", 4096, 256, 64, 0, 0, 1, &ref, 1);
            ag_ctx_free(ctx);
            ctx = new_ctx(0, NULL);
            run_gemm(ctx, "A^T B: transpose([512 x 512]) @ [512 x 512]", 512, 512, 512, 1, 0, 1, &ref, 1);
            ag_ctx_free(ctx);
            ctx = new_ctx(0, NULL);
            run_gemm(ctx, "A B^T: [512 x 512] @ transpose([512 x 512])", 512, 512, 512, 0, 1, 1, &ref, 1);
            ag_ctx_free(ctx);
            /* the MLP step's two big products (80% of its flops) */
            ctx = new_ctx(0, NULL);
            run_gemm(ctx, "MLP fwd x W1^T: [64 x 784] @ transpose([256 x 784])", 64, 784, 256, 0, 1, 1, &ref, 1);
            ag_ctx_free(ctx);
            ctx = new_ctx(0, NULL);
            run_gemm(ctx, "MLP bwd g^T x: transpose([64 x 256]) @ [64 x 784]", 256, 64, 784, 1, 0, 1, &ref, 1);
            ag_ctx_free(ctx);
        }
        add_note("sgemm: every product was checked against OpenBLAS's before timing: worst relative error %.1e (%s).",
                 g_gemm_maxerr, g_gemm_worst[0] ? g_gemm_worst : "-");
    }

    /* 2. the MLP step */
    if (want(only, "mlp") || want(only, "threads")) {
        ag_ctx *ctx = new_ctx(0, NULL);
        mlp m;
        mlp_blas mb;
        double loss0;
        mlp_init(&m, ctx);
        mlp_step(&m);
        loss0 = m.loss;
        mlp_blas_init(&mb);
        openblas_set_num_threads(1);
        measure3(T(mlp_step, &m), &mlp_ours_t1, T(mlp_blas_step, &mb), &mlp_blas_t1, TT("mlp"), &torch_mlp_t1);
        mlp_ours_t1 *= 1e6; mlp_blas_t1 *= 1e6;
        if (torch_mlp_t1 > 0) torch_mlp_t1 *= 1e6;
        if (want(only, "mlp")) {
            row *r;
            add_row(ROW_SECTION, "2. MLP training step, 1 thread", NULL, 0, NULL, 0);
            r = add_row(ROW_LOWER, "MLP 784-256-128-10, batch 64: one step", "us/step", mlp_ours_t1, "PyTorch, 1 thread", torch_mlp_t1);
            if (torch_mlp_t1 < 0) snprintf(r->note, sizeof r->note, "skipped");
            add_row(ROW_LOWER, "MLP step vs its 8 products alone (the limit)", "us/step", mlp_ours_t1, "8 x cblas_sgemm, 1 thread", mlp_blas_t1);
            if (torch_mlp_t1 > 0)
                add_row(ROW_LOWER, "PyTorch's step vs the same 8 products alone", "us/step", torch_mlp_t1, "8 x cblas_sgemm, 1 thread", mlp_blas_t1);
        }
        add_note("MLP: loss %.4f after the first step, %.4f after %s (SGD, lr 0.01, same batch): the step trains.",
                 loss0, m.loss, "the timed steps");
        mlp_blas_free(&mb);
        ag_ctx_free(ctx);
    }

    /* 3. per-op overhead */
    if (want(only, "tiny")) {
        ag_ctx *ctx = new_ctx(0, NULL);
        tiny_case t;
        int64_t one = 1;
        float v = 0.5f;
        row *r;
        t.ctx = ctx;
        t.x0 = ag_param(ctx, AG_F32, 1, &one, &v);
        if (!t.x0) die_ag(ctx, "tiny init");
        add_row(ROW_SECTION, "3. per-op overhead on tiny tensors; ops on views", NULL, 0, NULL, 0);
        double ours, ref;
        measure2(T(tiny_step, &t), &ours, TT("tiny"), &ref);
        r = add_row(ROW_LOWER, "100 x tanh(x*1.01 + 0.1), 1 element, fwd+bwd", "ns/op", ours * 1e9 / 300, "PyTorch", ref < 0 ? -1 : ref * 1e9 / 300);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        {
            int64_t sh[2] = {256, 256};
            float *xd = frand_buf(256 * 256, 3.0f);
            view_case vc;
            int k;
            vc.ctx = ctx;
            vc.x = ag_persistent(ctx, AG_F32, 2, sh, xd);
            static const char *const keys[3] = { "expT", "softmax0", "softmax1" };
            static const char *const what[3] = { "exp of x^T, x [256,256] (a view: strided rows)", "softmax along dim 0 of x [256,256] (strided columns)",
                                                  "softmax along dim 1 of x [256,256] (rows)" };
            for (k = 0; k < 3; k++) {
                vc.kind = k;
                measure2(T(view_step, &vc), &ours, TT(keys[k]), &ref);
                r = add_row(ROW_LOWER, what[k], "us", ours * 1e6, "PyTorch", ref < 0 ? -1 : ref * 1e6);
                if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
            }
            free(xd);
        }
        ag_ctx_free(ctx);
    }

    /* 4. the seeds' lab */
    if (want(only, "lab")) {
        ag_ctx *ctx = new_ctx(0, NULL);
        lab_case c;
        int64_t xs[2] = {2, 64}, ws[2] = {600, 64}, bs[1] = {600}, ts[2] = {2, 600};
        float *x = frand_buf(2 * 64, 1.0f), *w = frand_buf(600 * 64, 0.125f), *b = frand_buf(600, 0.125f), *t = frand_buf(2 * 600, 1.0f);
        row *r;
        c.ctx = ctx;
        c.x = ag_persistent(ctx, AG_F32, 2, xs, x);
        c.t = ag_persistent(ctx, AG_F32, 2, ts, t);
        c.W = ag_param(ctx, AG_F32, 2, ws, w);
        c.b = ag_param(ctx, AG_F32, 1, bs, b);
        if (!c.x || !c.t || !c.W || !c.b) die_ag(ctx, "lab init");
        add_row(ROW_SECTION, "4. the seeds' lab", NULL, 0, NULL, 0);
        double ours, ref;
        measure2(T(lab_step, &c), &ours, TT("lab"), &ref);
        r = add_row(ROW_LOWER, "linear(x[2,64], W[600,64], b), fwd+bwd", "us", ours * 1e6, "PyTorch", ref < 0 ? -1 : ref * 1e6);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        free(x); free(w); free(b); free(t);
        ag_ctx_free(ctx);
    }

    /* 5. memory per MLP step */
    if (want(only, "mem")) {
        counter cnt = {0, 0, 0};
        ag_allocator al;
        ag_ctx *ctx;
        mlp m;
        ag_stats s0, s1;
        uint64_t a0, a_first, b0;
        int k, steps = 200;
        al.alloc = count_alloc; al.free = count_free; al.user = &cnt;
        ctx = new_ctx(0, &al);
        mlp_init(&m, ctx);
        a0 = cnt.allocs;
        mlp_step(&m);
        a_first = cnt.allocs - a0;
        for (k = 0; k < 4; k++) mlp_step(&m);   /* warm-up */
        s0 = ag_get_stats(ctx);
        a0 = cnt.allocs; b0 = cnt.bytes;
        for (k = 0; k < steps; k++) mlp_step(&m);
        s1 = ag_get_stats(ctx);
        add_row(ROW_SECTION, "5. memory per MLP step, after warm-up", NULL, 0, NULL, 0);
        add_row(ROW_NORATIO, "heap allocations / step (counting allocator)", "count", (double)(cnt.allocs - a0) / steps, NULL, 0);
        add_row(ROW_NORATIO, "heap bytes / step (counting allocator)", "bytes", (double)(cnt.bytes - b0) / steps, NULL, 0);
        add_row(ROW_NORATIO, "heap allocations / step (ag_get_stats)", "count", (double)(s1.heap_allocs - s0.heap_allocs) / steps, NULL, 0);
        add_row(ROW_NORATIO, "heap allocations in the first step", "count", (double)a_first, NULL, 0);
        add_row(ROW_NORATIO, "arena bytes used by one step (at its end)", "bytes", (double)m.before_reset.arena_used, NULL, 0);
        add_row(ROW_NORATIO, "arena peak / capacity", "bytes", (double)s1.arena_peak, NULL, 0);
        snprintf(g_rows[g_nrows - 1].kase, sizeof g_rows[0].kase, "arena peak (capacity %.0f)", (double)s1.arena_capacity);
        add_row(ROW_NORATIO, "graph nodes / step", "count", (double)m.before_reset.nodes, NULL, 0);
        add_row(ROW_NORATIO, "persistent bytes (params, grads, x)", "bytes", (double)s1.persistent_bytes, NULL, 0);
        ag_ctx_free(ctx);
    }

    /* 6. two threads */
    if (want(only, "threads")) {
        ag_ctx *ctx;
        mlp m;
        mlp_blas mb;
        double ref2, ours2, mlp2, blas2, save_st;
        int save_n;
        row *r;
        add_row(ROW_SECTION, "6. two threads (ag_desc.threads = 2)", NULL, 0, NULL, 0);
        if (gemm1024_ours < 0) {   /* --only threads: the 1-thread figures first */
            ctx = new_ctx(0, NULL);
            gemm1024_ours = run_gemm(ctx, "1024", 1024, 1024, 1024, 0, 0, 1, &gemm1024_blas, 0);
            ag_ctx_free(ctx);
        }
        /* fewer, longer batches here: each one waits g_gap first */
        save_st = g_sample_time; save_n = g_samples;
        g_sample_time = save_st * 10; g_samples = save_n / 8 > 3 ? save_n / 8 : 3;
        g_gap = 0.15;
        ctx = new_ctx(2, NULL);
        ours2 = run_gemm(ctx, "[1024 x 1024] @ [1024 x 1024], 2 threads", 1024, 1024, 1024, 0, 0, 2, &ref2, 1);
        ag_ctx_free(ctx);
        add_row(ROW_NORATIO, "sgemm 1024 speed-up, 2 threads / 1 thread", "x", ours2 / gemm1024_ours, "OpenBLAS", ref2 / gemm1024_blas);
        ctx = new_ctx(2, NULL);
        mlp_init(&m, ctx);
        mlp_blas_init(&mb);
        openblas_set_num_threads(2);
        measure3(T(mlp_step, &m), &mlp2, T(mlp_blas_step, &mb), &blas2, TT("mlp2"), &torch_mlp_t2);
        mlp2 *= 1e6; blas2 *= 1e6;
        if (torch_mlp_t2 > 0) torch_mlp_t2 *= 1e6;
        openblas_set_num_threads(1);
        g_gap = 0;
        g_sample_time = save_st; g_samples = save_n;
        mlp_blas_free(&mb);
        ag_ctx_free(ctx);
        r = add_row(ROW_LOWER, "MLP step, 2 threads", "us/step", mlp2, "PyTorch, BLAS on 2 threads", torch_mlp_t2);
        if (torch_mlp_t2 < 0) snprintf(r->note, sizeof r->note, "skipped");
        add_row(ROW_LOWER, "MLP step vs its 8 products alone, 2 threads", "us/step", mlp2, "8 x cblas_sgemm, 2 threads", blas2);
        r = add_row(ROW_NORATIO, "MLP step speed-up, 2 threads / 1 thread", "x", mlp_ours_t1 / mlp2, "PyTorch",
                    torch_mlp_t1 > 0 && torch_mlp_t2 > 0 ? torch_mlp_t1 / torch_mlp_t2 : -1);
        add_row(ROW_NORATIO, "8 x cblas_sgemm speed-up, 2 threads / 1 thread", "x", -1, "OpenBLAS", mlp_blas_t1 / blas2);
    }

    /* 7. forward mode and graph replay */
    if (want(only, "advanced")) {
        jvp_case jc;
        agent_case ar, ap;
        int64_t sx[2] = {64, 128}, s1[2] = {128, 128}, s2[2] = {10, 128};
        double fwd, dv, ref, reb, rep;
        row *r;
        int i;
        add_row(ROW_SECTION, "7. forward mode and graph replay, 1 thread", NULL, 0, NULL, 0);
        jc.ctx = new_ctx(0, NULL);
        jc.in[0] = ag_randn(jc.ctx, AG_F32, 2, sx);
        jc.in[1] = ag_mul_scalar(ag_randn(jc.ctx, AG_F32, 2, s1), 0.09);
        jc.in[2] = ag_mul_scalar(ag_randn(jc.ctx, AG_F32, 2, s2), 0.09);
        for (i = 0; i < 3; i++) {   /* persistent copies: the cases reset the arena */
            jc.in[i] = ag_persistent(jc.ctx, AG_F32, ag_ndim(jc.in[i]), ag_shape(jc.in[i]), ag_data(jc.in[i]));
            jc.u[i] = ag_randn(jc.ctx, AG_F32, ag_ndim(jc.in[i]), ag_shape(jc.in[i]));
            jc.u[i] = ag_persistent(jc.ctx, AG_F32, ag_ndim(jc.u[i]), ag_shape(jc.u[i]), ag_data(jc.u[i]));
        }
        ag_ctx_reset(jc.ctx);
        measure3(T(jvp_forward, &jc), &fwd, T(jvp_double_vjp, &jc), &dv, TT("jvp"), &ref);
        add_row(ROW_LOWER, "jvp of tanh(x W1^T) W2^T, x [64,128], forward mode", "us", fwd * 1e6, "the double-vjp trick, ours", dv * 1e6);
        r = add_row(ROW_LOWER, "the same jvp", "us", fwd * 1e6, "PyTorch forward_ad", ref < 0 ? -1 : ref * 1e6);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        ag_ctx_free(jc.ctx);
        agent_init(&ar, false, 64);
        agent_init(&ap, true, 64);
        measure3(T(agent_replay, &ap), &rep, T(agent_rebuild, &ar), &reb, TT("agent"), &ref);
        add_row(ROW_LOWER, "game agent MLP 16-64-4, batch 1, Adam: replayed step", "us/step", rep * 1e6, "the step rebuilt, ours", reb * 1e6);
        r = add_row(ROW_LOWER, "the same replayed step", "us/step", rep * 1e6, "PyTorch, 1 thread", ref < 0 ? -1 : ref * 1e6);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        add_note("replay: the captured agent step is %zu kernels; replayed and rebuilt steps give bit-identical parameters (tests/test_replay.c).",
                 ag_capture_steps(ap.g));
        add_row(ROW_NORATIO, "agent step: arena bytes, rebuilt (at the end of backward)", "bytes", (double)step_bytes(ar.ctx, agent_loss(&ar)), NULL, 0);
        add_row(ROW_NORATIO, "agent step: arena bytes, captured (its tensors < 4096: none fuse)", "bytes", (double)ag_get_stats(ap.ctx).arena_used, NULL, 0);
        ag_ctx_free(ar.ctx); ag_ctx_free(ap.ctx);
        {   /* an elementwise-heavy step: gelu and layer_norm */
            lng_case lr, lp, lu;
            timed tl[4];
            long nfused;
            double unf;
            lng_init(&lr, false);
            lng_init(&lp, true);
            lng_init(&lu, true);
            nfused = ag_capture_fuse(lp.g, true);
            ag_capture_fuse(lu.g, false);
            tl[0] = T(lng_replay, &lp); tl[1] = T(lng_replay, &lu); tl[2] = T(lng_rebuild, &lr); tl[3] = TT("lngelu");
            measure_n(tl, 4);
            rep = tl[0].best; unf = tl[1].best; reb = tl[2].best; ref = tl[3].best;
            add_row(ROW_LOWER, "MLP 784-256-10, gelu + layer_norm, batch 64, SGD: replayed step", "us/step", rep * 1e6, "the step rebuilt, ours", reb * 1e6);
            add_row(ROW_LOWER, "the same replayed step (its elementwise runs fused)", "us/step", rep * 1e6, "replayed unfused, ours", unf * 1e6);
            add_note("fusion: %ld of the gelu + layer_norm step's %zu replayed kernels run fused, in runs of elementwise kernels "
                     "a chunk of 1024 elements at a time (bit-identical to unfused: tests/test_replay.c).", nfused, ag_capture_steps(lp.g));
            r = add_row(ROW_LOWER, "the same replayed step", "us/step", rep * 1e6, "PyTorch, 1 thread", ref < 0 ? -1 : ref * 1e6);
            if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
            add_row(ROW_NORATIO, "gelu + layer_norm step: arena bytes, rebuilt (at the end of backward)", "bytes", (double)step_bytes(lr.ctx, lng_loss(&lr)), NULL, 0);
            add_row(ROW_NORATIO, "gelu + layer_norm step: arena bytes, captured and fused", "bytes", (double)ag_get_stats(lp.ctx).arena_used, NULL, 0);
            add_row(ROW_NORATIO, "gelu + layer_norm step: arena bytes, captured, unfused", "bytes", (double)ag_get_stats(lu.ctx).arena_used, NULL, 0);
            ag_ctx_free(lr.ctx); ag_ctx_free(lp.ctx); ag_ctx_free(lu.ctx);
        }
        {   /* batch-1 networks of game size: 16-h-4, replayed, against PyTorch */
            static const int64_t hs[3] = {32, 64, 128};
            for (i = 0; i < 3; i++) {
                char name[96], tc[16];
                agent_init(&ap, true, hs[i]);
                snprintf(tc, sizeof tc, "agent%d", (int)hs[i]);
                measure2(T(agent_replay, &ap), &rep, TT(tc), &ref);
                snprintf(name, sizeof name, "batch-1 MLP 16-%d-4, Adam: replayed step", (int)hs[i]);
                r = add_row(ROW_LOWER, name, "us/step", rep * 1e6, "PyTorch, 1 thread", ref < 0 ? -1 : ref * 1e6);
                if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
                ag_ctx_free(ap.ctx);
            }
        }
    }

    /* 8. 16-bit products */
    if (want(only, "half")) {
        static const int ns[2] = {256, 1024};
        int k;
        add_row(ROW_SECTION, "8. 16-bit products (F32 accumulation), 1 thread", NULL, 0, NULL, 0);
        for (k = 0; k < 2; k++) {
            int n = ns[k];
            int64_t sh[2];
            double flop = 2.0 * n * n * n, t32, tb, th, tt;
            mm16_case c32, cb, ch;
            char name[96];
            row *r;
            sh[0] = sh[1] = n;
            c32.ctx = new_ctx(0, NULL); cb.ctx = new_ctx(0, NULL); ch.ctx = new_ctx(0, NULL);
            c32.A = ag_persistent(c32.ctx, AG_F32, 2, sh, ag_data(ag_rand(c32.ctx, AG_F32, 2, sh)));
            c32.B = ag_persistent(c32.ctx, AG_F32, 2, sh, ag_data(ag_rand(c32.ctx, AG_F32, 2, sh)));
            cb.A = ag_persistent(cb.ctx, AG_BF16, 2, sh, ag_data(ag_to(c32.A, AG_BF16)));
            cb.B = ag_persistent(cb.ctx, AG_BF16, 2, sh, ag_data(ag_to(c32.B, AG_BF16)));
            ch.A = ag_persistent(ch.ctx, AG_F16, 2, sh, ag_data(ag_to(c32.A, AG_F16)));
            ch.B = ag_persistent(ch.ctx, AG_F16, 2, sh, ag_data(ag_to(c32.B, AG_F16)));
            if (!c32.A || !c32.B || !cb.A || !cb.B || !ch.A || !ch.B) die_ag(c32.ctx, "16-bit operands");
            snprintf(name, sizeof name, "TT:bf16mm%d", n);
            measure3(T(mm16_ours, &cb), &tb, T(mm16_ours, &c32), &t32, TT(name + 3), &tt);
            measure2(T(mm16_ours, &ch), &th, T(mm16_ours, &c32), &t32);
            snprintf(name, sizeof name, "BF16 [%d x %d] @ [%d x %d]", n, n, n, n);
            add_row(ROW_HIGHER, name, "GFLOPS", flop / tb * 1e-9, "ours, F32", flop / t32 * 1e-9);
            r = add_row(ROW_HIGHER, name, "GFLOPS", flop / tb * 1e-9, "PyTorch bfloat16, 1 thread", tt > 0 ? flop / tt * 1e-9 : -1);
            if (tt < 0) snprintf(r->note, sizeof r->note, "skipped");
            snprintf(name, sizeof name, "F16 [%d x %d] @ [%d x %d]", n, n, n, n);
            r = add_row(ROW_HIGHER, name, "GFLOPS", flop / th * 1e-9, "ours, F32", flop / t32 * 1e-9);
            ag_ctx_free(c32.ctx); ag_ctx_free(cb.ctx); ag_ctx_free(ch.ctx);
        }
        add_note("16-bit products: the operands are converted to F32 scratch (F16C / AVX-512 conversions) and multiplied by the F32 kernel, the result rounded once; PyTorch 1.13 has no float16 product on the CPU.");
    }

    /* 9. per-example gradients */
    if (want(only, "vmap")) {
        static const int64_t sh[6][2] = {{256, 784}, {256, 0}, {128, 256}, {128, 0}, {10, 128}, {10, 0}};
        int64_t xs[2] = {64, 784}, ls[1] = {64};
        pe_case pc;
        double tv, tl, tt;
        row *r;
        int i;
        add_row(ROW_SECTION, "9. per-example gradients (vmap of grad), 1 thread", NULL, 0, NULL, 0);
        pc.ctx = new_ctx(0, NULL);
        for (i = 0; i < 6; i++) {
            ag_tensor *t = ag_mul_scalar(ag_randn(pc.ctx, AG_F32, sh[i][1] ? 2 : 1, sh[i]), 0.05);
            pc.p[i] = ag_param(pc.ctx, AG_F32, ag_ndim(t), ag_shape(t), ag_data(t));
        }
        pc.x = ag_persistent(pc.ctx, AG_F32, 2, xs, ag_data(ag_rand(pc.ctx, AG_F32, 2, xs)));
        pc.y = ag_persistent(pc.ctx, AG_I64, 1, ls, ag_data(ag_to(ag_floor(ag_mul_scalar(ag_rand(pc.ctx, AG_F32, 1, ls), 9.999)), AG_I64)));
        ag_ctx_reset(pc.ctx);
        measure3(T(pe_vmap, &pc), &tv, T(pe_loop, &pc), &tl, TT("pegrad"), &tt);
        add_row(ROW_LOWER, "MLP 784-256-128-10, batch 64: per-example gradients", "ms", tv * 1e3, "a loop of grad_of, ours", tl * 1e3);
        r = add_row(ROW_LOWER, "MLP 784-256-128-10, batch 64: per-example gradients", "ms", tv * 1e3, "functorch vmap(grad)", tt < 0 ? -1 : tt * 1e3);
        if (tt < 0) snprintf(r->note, sizeof r->note, "skipped");
        ag_ctx_free(pc.ctx);
        {
            jac_case jc;
            int64_t s2[2] = {128, 128}, n = 128;
            double tj, tr, tp;
            jc.ctx = new_ctx(0, NULL);
            jc.W1 = ag_persistent(jc.ctx, AG_F64, 2, s2, ag_data(ag_mul_scalar(ag_randn(jc.ctx, AG_F64, 2, s2), 0.09)));
            jc.W2 = ag_persistent(jc.ctx, AG_F64, 2, s2, ag_data(ag_mul_scalar(ag_randn(jc.ctx, AG_F64, 2, s2), 0.09)));
            jc.x = ag_persistent(jc.ctx, AG_F64, 1, &n, ag_data(ag_randn(jc.ctx, AG_F64, 1, &n)));
            ag_ctx_reset(jc.ctx);
            measure3(T(jac_ours, &jc), &tj, T(jac_rows, &jc), &tr, TT("jacrev"), &tp);
            add_row(ROW_LOWER, "Jacobian 128 x 128 of tanh(x W1^T) W2^T, F64", "us", tj * 1e6, "row by row (the way before), ours", tr * 1e6);
            r = add_row(ROW_LOWER, "Jacobian 128 x 128 of tanh(x W1^T) W2^T, F64", "us", tj * 1e6, "functorch jacrev", tp < 0 ? -1 : tp * 1e6);
            if (tp < 0) snprintf(r->note, sizeof r->note, "skipped");
            ag_ctx_free(jc.ctx);
        }
    }

    /* 10. convolutions: the layers of examples/fashion_mnist_cnn.c alone, then its training step */
    if (want(only, "conv")) {
        conv_case cv;
        cnn_case cn;
        double ours, ref, cnn1, tcnn1, cnn2, tcnn2, loss0, save_st;
        int save_n;
        row *r;
        add_row(ROW_SECTION, "10. convolutions: the Fashion-MNIST CNN (examples/fashion_mnist_cnn.c), F32", NULL, 0, NULL, 0);
        conv_init(&cv, 0, 16, 16, true);
        measure2(T(conv_step, &cv), &ours, TT("conv16"), &ref);
        r = add_row(ROW_LOWER, "conv2d 16->16 3x3 pad 1, x [64,16,28,28], fwd+bwd", "ms", ours * 1e3, "PyTorch (oneDNN), 1 thread", ref < 0 ? -1 : ref * 1e3);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        ag_ctx_free(cv.ctx);
        conv_init(&cv, 0, 1, 16, false);
        measure2(T(conv_step, &cv), &ours, TT("conv1"), &ref);
        r = add_row(ROW_LOWER, "conv2d 1->16 3x3 pad 1, x [64,1,28,28], fwd+bwd (dW, db)", "ms", ours * 1e3, "PyTorch (oneDNN), 1 thread", ref < 0 ? -1 : ref * 1e3);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        ag_ctx_free(cv.ctx);
        conv_init(&cv, 0, 16, 0, true);
        measure2(T(conv_step, &cv), &ours, TT("pool"), &ref);
        r = add_row(ROW_LOWER, "max_pool2d 2x2, x [64,16,28,28], fwd+bwd", "ms", ours * 1e3, "PyTorch, 1 thread", ref < 0 ? -1 : ref * 1e3);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        ag_ctx_free(cv.ctx);
        cnn_init(&cn, 0);
        cnn_step(&cn);
        loss0 = cn.loss;
        measure2(T(cnn_step, &cn), &cnn1, TT("cnn"), &tcnn1);
        r = add_row(ROW_LOWER, "CNN training step, batch 64, Adam, 1 thread", "ms/step", cnn1 * 1e3, "PyTorch, 1 thread", tcnn1 < 0 ? -1 : tcnn1 * 1e3);
        if (tcnn1 < 0) snprintf(r->note, sizeof r->note, "skipped");
        add_note("CNN: loss %.4f after the first step, %.4f after the timed steps (Adam, lr 2e-3, same batch): the step trains.", loss0, cn.loss);
        ag_ctx_free(cn.ctx);
        /* 2 threads, as section 6: fewer, longer batches, each after a pause */
        save_st = g_sample_time; save_n = g_samples;
        g_sample_time = save_st * 10; g_samples = save_n / 8 > 3 ? save_n / 8 : 3;
        g_gap = 0.15;
        conv_init(&cv, 2, 16, 16, true);
        measure2(T(conv_step, &cv), &ours, TT("conv16_2"), &ref);
        ag_ctx_free(cv.ctx);
        cnn_init(&cn, 2);
        measure2(T(cnn_step, &cn), &cnn2, TT("cnn2"), &tcnn2);
        ag_ctx_free(cn.ctx);
        g_gap = 0;
        g_sample_time = save_st; g_samples = save_n;
        r = add_row(ROW_LOWER, "conv2d 16->16 3x3 pad 1, fwd+bwd, 2 threads", "ms", ours * 1e3, "PyTorch (oneDNN), 2 threads", ref < 0 ? -1 : ref * 1e3);
        if (ref < 0) snprintf(r->note, sizeof r->note, "skipped");
        r = add_row(ROW_LOWER, "CNN training step, 2 threads", "ms/step", cnn2 * 1e3, "PyTorch, 2 threads", tcnn2 < 0 ? -1 : tcnn2 * 1e3);
        if (tcnn2 < 0) snprintf(r->note, sizeof r->note, "skipped");
        add_row(ROW_NORATIO, "CNN step speed-up, 2 threads / 1 thread", "x", cnn1 / cnn2, "PyTorch", tcnn1 > 0 && tcnn2 > 0 ? tcnn1 / tcnn2 : -1);
    }

    torch_stop();
    read_loadavg(loadavg_end, sizeof loadavg_end);

    /* ---- report ---- */
    {
        struct utsname u;
        char model[256], cores[64], sockets[64], threads_pc[64], buf[512];
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        time_t now = time(NULL);
        char date[64];
        FILE *files[2];
        int nf = 0, fi, n;
        lscpu_field("Model name", model, sizeof model);
        lscpu_field("Core(s) per socket", cores, sizeof cores);
        lscpu_field("Socket(s)", sockets, sizeof sockets);
        lscpu_field("Thread(s) per core", threads_pc, sizeof threads_pc);
        if (uname(&u) != 0) { snprintf(u.sysname, sizeof u.sysname, "?"); u.release[0] = u.machine[0] = 0; }
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
        files[nf++] = stdout;
        if (out) {
            FILE *f = fopen(out, "w");
            if (!f) { fprintf(stderr, "bench: cannot write %s\n", out); return 1; }
            files[nf++] = f;
        }
        for (fi = 0; fi < nf; fi++) {
            FILE *f = files[fi];
            const char *cfg = openblas_get_config();
            if (f != stdout) fprintf(f, "# autograd.h benchmarks (`make bench`)\n\n");
            fprintf(f, "%s\n", f == stdout ? "" : "Machine:\n");
            fprintf(f, "- date: %s\n", date);
            fprintf(f, "- CPU: %s; %ld CPUs online (%s socket(s) x %s core(s) x %s thread(s))\n", model, online, sockets, cores, threads_pc);
            fprintf(f, "- OS: %s %s %s; load average at the start: %s\n", u.sysname, u.release, u.machine, loadavg);
            fprintf(f, "- compiler: %s `%s` (`%s`)\n",
#if defined(__clang__)
                    "clang",
#elif defined(__GNUC__)
                    "gcc",
#else
                    "cc",
#endif
                    __VERSION__, BENCH_CFLAGS);
            fprintf(f, "- OpenBLAS: %s (core %s)\n", cfg ? cfg : "?", openblas_get_corename() ? openblas_get_corename() : "?");
            if (g_torch.version[0] && !g_torch.skip[0]) fprintf(f, "- PyTorch: %s (%s)\n", g_torch.version, python);
            else if (g_torch.version[0]) fprintf(f, "- PyTorch: %s (%s); rows skipped from where it failed: %s\n", g_torch.version, python, g_torch.skip);
            else fprintf(f, "- PyTorch: rows skipped: %s\n", g_torch.skip);
            fprintf(f, "- autograd.h: %d.%d.%d, kernels: ag_simd_name = \"%s\"\n", AG_VERSION_MAJOR, AG_VERSION_MINOR, AG_VERSION_PATCH, simd);
            fprintf(f, "- timing: CLOCK_MONOTONIC; the best of %d batches of >= %.3g s each (fewer for slow calls: about 1 s per figure at most), after a\n"
                       "  warm-up call; ours, OpenBLAS and PyTorch alternate batch by batch. 2-thread rows: %d batches of >= %.3g s, 0.15 s pause before\n"
                       "  each, for the spinning worker threads of the previous one to sleep\n\n",
                    g_samples, g_sample_time, g_samples / 8 > 3 ? g_samples / 8 : 3, g_sample_time * 10);
            fprintf(f, "ratio = reference time / autograd.h time (for GFLOPS: ours / reference): > 1 means autograd.h is faster.\n\n");
            print_table(f);
            fprintf(f, "\n");
            fprintf(f, "What the rows measure:\n\n");
            fprintf(f, "1. C = A@B with ag_matmul on persistent F32 tensors (no grad; ag_ctx_reset before each call; the transposed\n"
                       "   operand is an ag_transpose view) against cblas_sgemm (CblasTrans for the transposed cases), row-major.\n"
                       "   Ours includes the op's own cost (a result tensor, shape checks, the reset): about 100 ns, most of [8 x 8].\n");
            fprintf(f, "2. One training step of an MLP 784-256-128-10 (ag_linear, ReLU, ag_cross_entropy; ag_param weights; ag_sgd,\n"
                       "   lr 0.01, no momentum; ag_optim_zero_grad, ag_backward, ag_optim_step, ag_ctx_reset), batch 64, F32. \"The limit\" is the\n"
                       "   step's 8 matrix products alone in cblas_sgemm: forward x W^T (3), backward dW = g^T h (3) and dh = g W\n"
                       "   (2; the input needs no gradient).\n");
            fprintf(f, "3. x = tanh(x*1.01 + 0.1) 100 times (ag_mul_scalar, ag_add_scalar, ag_tanh: 300 ops) on a 1-element tensor\n"
                       "   that requires grad, then backward: total time / 300.\n");
            fprintf(f, "4. y = linear(x, W, b), x [2,64], W [600,64], b [600]; L = 0.5 sum((y-t)^2); forward + backward.\n");
            fprintf(f, "5. The MLP step of 2 with a counting allocator in ag_desc; arena figures from ag_get_stats just before the reset.\n");
            fprintf(f, "6. The 1024 sgemm of 1 and the MLP step of 2 on a context with ag_desc.threads = 2; OpenBLAS via\n"
                       "   openblas_set_num_threads(2). A speed-up of 1.0 means the threads are not used (yet).\n");
            fprintf(f, "7. Forward mode: ag_jvp of tanh(x W1^T) W2^T (F32, x [64,128], W1 [128,128], W2 [10,128], tangents for all three)\n"
                       "   against the same J u by two reverse passes (the double-vjp trick) and PyTorch's forward_ad. Replay: a game\n"
                       "   agent's step (MLP 16-64-4, batch 1, MSE, Adam) captured once and replayed (ag_replay), against building the\n"
                       "   step each time (then ag_ctx_reset) and the same step in PyTorch; the same for an elementwise-heavy step:\n"
                       "   MLP 784-256-10 with gelu (exact) and layer_norm, batch 64, cross-entropy, SGD (its backward is some 40\n"
                       "   elementwise passes over [64, 256], gelu's and layer_norm's rules being built from ops).\n");
            fprintf(f, "8. BF16 and F16 [n x n] products (converted to F32 scratch, accumulated in F32, rounded once) against our F32\n"
                       "   product and PyTorch's bfloat16 matmul.\n");
            fprintf(f, "9. Per-example gradients (all six parameters, every example) of the MLP of 2 (F32, batch 64, cross_entropy_t\n"
                       "   on a label per example): ag_vmap of ag_grad_of written for one example, against a loop of ag_grad_of over\n"
                       "   the 64 examples, and PyTorch 1.13's functorch.vmap(grad(loss)) on the same model. The Jacobian of\n"
                       "   tanh(x W1^T) W2^T (x [128], F64) by ag_jacobian (vjps of 64 one-hot seeds at a time through ag_vmap)\n"
                       "   against one vjp per row on a graph built once (what ag_jacobian did before) and functorch.jacrev.\n");
            fprintf(f, "10. The layers of examples/fashion_mnist_cnn.c alone, forward + backward from a fixed random seed gradient of\n"
                       "    the output: conv2d 16->16 3x3 pad 1 on x [64,16,28,28] (gradients of x, W and b), conv2d 1->16 on [64,1,28,28]\n"
                       "    (W and b: the input is data), max_pool2d 2x2 on [64,16,28,28] (x); against F.conv2d (oneDNN: PyTorch 1.13\n"
                       "    runs a float32 batch of 64 in mkldnn_convolution) and F.max_pool2d. Then one training step of the example's\n"
                       "    CNN (conv 1->16, relu, pool, conv 16->32, relu, pool, linear 1568->10, cross-entropy, Adam lr 2e-3; a fixed\n"
                       "    batch of 64) against the same model in torch.nn, on 1 thread and on 2 (ours: ag_desc.threads = 2; the\n"
                       "    2-thread rows timed as in 6). bench/torch_fashion_cnn.py trains the example's epochs beside the example.\n\n");
            fprintf(f, "Notes:\n\n");
            for (n = 0; n < g_nnotes; n++) fprintf(f, "- %s\n", g_notes[n]);
            fprintf(f, "- PyTorch runs in a child process (bench/torch_bench.py --serve) whose batches alternate with ours, with\n"
                       "  torch.set_num_threads(1) and OpenBLAS on 1 thread. Its \"2 threads\" puts its products (Debian's torch does them in\n"
                       "  OpenBLAS) on 2 threads and keeps torch's own ops on 1: torch.set_num_threads(2) on top of that oversubscribes a\n"
                       "  2-core machine (the OpenMP and OpenBLAS pools spin against each other; 10-20x slower steps). The CNN rows of 10\n"
                       "  are the other way round: the convolutions (oneDNN), pools, relus and Adam run on torch's OpenMP threads, so its\n"
                       "  \"2 threads\" is torch.set_num_threads(2) with OpenBLAS (the one small product, linear 1568->10) on 1.\n");
            snprintf(buf, sizeof buf, "%.0f", now_s() - t0_all);
            fprintf(f, "- Disturbance: a batch counts as undisturbed when its process had >= %.0f%% of a CPU (CPU time / wall time);\n"
                       "  every 1-thread figure is its best undisturbed batch when there is one.",
                    100 * CLEAN_SHARE);
            if (g_ndisturbed)
                fprintf(f, " `*` after a ratio: %d row%s where a figure had no undisturbed\n"
                           "  batch (the machine was busy; the lowest share was %.0f%%): run again on a quiet machine.\n",
                        g_ndisturbed, g_ndisturbed > 1 ? "s" : "", 100 * (g_min_share > 1 ? 1 : g_min_share));
            else fprintf(f, " All had one.\n");
            if ((want(only, "threads") || want(only, "conv")) && atof(loadavg) > 0.5)
                fprintf(f, "- 2-thread rows: the load average was %s at the start on %ld CPUs; other work competing for the CPUs makes\n"
                           "  2-thread figures unreliable (a thread that waits for a descheduled partner), and there is no undisturbed-batch\n"
                           "  test for them.\n", loadavg, online);
            fprintf(f, "- whole run: %s s; load average at the end: %s\n", buf, loadavg_end);
            if (f != stdout) fclose(f);
        }
        fflush(stdout);
        if (out) fprintf(stderr, "wrote %s\n", out);
    }
    return 0;
}
