/* test_threads.c - contexts on different threads are independent.

   Three threads train the same small classifier at the same time, each with its
   own context: two with the same seed, one with another. The two must end with
   bit-identical parameters, identical to a run on the main thread alone; the
   third must differ (the seed matters). Everything random - initial weights,
   the data of each step, dropout masks - comes from the context's RNG.
   make check runs this under ThreadSanitizer. Valid C99 and C++11. */
#define _POSIX_C_SOURCE 200809L
#include "autograd.h"
#include "harness.h"

#include <pthread.h>
#include <stdlib.h>

#define T_IN 12
#define T_HID 48
#define T_OUT 5
#define T_BATCH 32
#define T_STEPS 300
#define T_NPARAM (T_HID * T_IN + T_HID + T_HID + T_HID + T_OUT * T_HID + T_OUT)

typedef struct {
    uint64_t seed;
    int steps;
    pthread_barrier_t *start;   /* NULL: start at once */
    /* results */
    float params[T_NPARAM];
    double first_loss, last_loss;
    int failed_step;            /* -1 if every step ran */
    char error[256];
} job;

/* a persistent parameter initialized from the context's RNG: randn * scale (+ offset) */
static ag_tensor *init_param(ag_ctx *ctx, int ndim, const int64_t *shape, double scale, double offset) {
    ag_tensor *r = ag_add_scalar(ag_mul_scalar(ag_randn(ctx, AG_F32, ndim, shape), scale), offset);
    float buf[T_HID * T_IN];
    if (!r || ag_numel(r) > (int64_t)(sizeof buf / sizeof buf[0]) || ag_copy_out(r, AG_F32, buf) != 0) return NULL;
    return ag_param(ctx, AG_F32, ndim, shape, buf);
}

static void *train(void *arg) {
    job *jb = (job *)arg;
    ag_desc desc;
    ag_ctx *ctx;
    ag_tensor *ps[6];
    float mom[T_NPARAM];
    int64_t sW1[2] = {T_HID, T_IN}, sh[1] = {T_HID}, sW2[2] = {T_OUT, T_HID}, so[1] = {T_OUT},
            sx[2] = {T_BATCH, T_IN};
    int step, i;

    memset(&desc, 0, sizeof desc);
    desc.seed = jb->seed;
    desc.arena_bytes = 64 * 1024;
    jb->failed_step = -1;
    jb->error[0] = '\0';
    jb->first_loss = jb->last_loss = NAN;
    memset(jb->params, 0, sizeof jb->params);
    memset(mom, 0, sizeof mom);
    if (jb->start) pthread_barrier_wait(jb->start);

    ctx = ag_ctx_new(&desc);
    if (!ctx) { jb->failed_step = 0; strcpy(jb->error, "ag_ctx_new failed"); return NULL; }
    ps[0] = init_param(ctx, 2, sW1, 0.3, 0.0);     /* W1 */
    ps[1] = init_param(ctx, 1, sh, 0.1, 0.0);      /* b1 */
    ps[2] = init_param(ctx, 1, sh, 0.1, 1.0);      /* layer-norm weight */
    ps[3] = init_param(ctx, 1, sh, 0.1, 0.0);      /* layer-norm bias */
    ps[4] = init_param(ctx, 2, sW2, 0.15, 0.0);    /* W2 */
    ps[5] = init_param(ctx, 1, so, 0.1, 0.0);      /* b2 */
    ag_ctx_reset(ctx);

    for (step = 0; step < jb->steps; step++) {
        ag_tensor *x, *h, *logits, *loss;
        float xs[T_BATCH * T_IN];
        int32_t target[T_BATCH];
        int b, j, off = 0;
        /* data from the context's RNG; the label is the argmax of a fixed mix of the inputs */
        x = ag_randn(ctx, AG_F32, 2, sx);
        if (!x || ag_copy_out(x, AG_F32, xs) != 0) break;
        for (b = 0; b < T_BATCH; b++) {
            float best = -1e30f;
            target[b] = 0;
            for (j = 0; j < T_OUT; j++) {
                float v = xs[b * T_IN + j] + 0.5f * xs[b * T_IN + T_OUT + j] - 0.25f * xs[b * T_IN + (j + 3) % T_IN];
                if (v > best) { best = v; target[b] = j; }
            }
        }
        h = ag_linear(x, ps[0], ps[1]);
        h = ag_layer_norm(h, ps[2], ps[3], 1e-5);
        h = ag_dropout(ag_gelu(h), 0.1, true);
        logits = ag_matmul(h, ag_transpose(ps[4], 0, 1));
        logits = ag_add(logits, ps[5]);
        loss = ag_cross_entropy(logits, target);
        for (i = 0; i < 6; i++) ag_zero_grad(ps[i]);
        if (!loss || ag_backward(loss, NULL) != 0) break;
        if (step == 0) jb->first_loss = ag_item(loss);
        jb->last_loss = ag_item(loss);
        /* SGD with momentum 0.9, lr 0.05 */
        for (i = 0; i < 6; i++) {
            ag_tensor *g = ag_grad(ps[i]);
            float *w = (float *)ag_data(ps[i]);
            float gb[T_HID * T_IN];
            int64_t k, n = ag_numel(ps[i]);
            if (!g || ag_copy_out(g, AG_F32, gb) != 0) { off = -1; break; }
            for (k = 0; k < n; k++) {
                mom[off + k] = 0.9f * mom[off + k] + gb[k];
                w[k] -= 0.05f * mom[off + k];
            }
            off += (int)n;
        }
        if (off < 0) break;
        ag_ctx_reset(ctx);
    }
    if (step < jb->steps) {
        jb->failed_step = step;
        snprintf(jb->error, sizeof jb->error, "%.200s", ag_error(ctx) ? ag_error(ctx) : "(no error set)");
    } else {
        int off = 0;
        for (i = 0; i < 6; i++) {
            ag_copy_out(ps[i], AG_F32, jb->params + off);
            off += (int)ag_numel(ps[i]);
        }
    }
    ag_ctx_free(ctx);
    return NULL;
}

static void check_job(const job *jb, const char *name) {
    CHECK(jb->failed_step < 0, "%s: failed at step %d: %s", name, jb->failed_step, jb->error);
    CHECK(jb->last_loss == jb->last_loss && jb->last_loss < 0.8 * jb->first_loss,
          "%s: did not learn: loss %g -> %g", name, jb->first_loss, jb->last_loss);
}

static int count_diff(const float *a, const float *b) {
    int i, n = 0;
    for (i = 0; i < T_NPARAM; i++) n += memcmp(&a[i], &b[i], sizeof a[i]) != 0;
    return n;
}

int main(void) {
    job *ref = (job *)calloc(4, sizeof(job));
    job *a, *b, *other;
    pthread_t th[3];
    pthread_barrier_t start;
    int i, started[3];

    if (!ref) { CHECK(0, "out of memory"); return harness_finish("test_threads"); }
    a = ref + 1; b = ref + 2; other = ref + 3;

    /* alone, on the main thread */
    ref->seed = 42; ref->steps = T_STEPS; ref->start = NULL;
    train(ref);
    check_job(ref, "main-thread run");
    printf("  info: %d steps, loss %.4f -> %.4f\n", T_STEPS, ref->first_loss, ref->last_loss);
#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
    printf("  info: WebAssembly without -pthread has no threads: the main-thread run only\n");
    return harness_finish("test_threads");
#endif

    /* three at once */
    a->seed = 42; b->seed = 42; other->seed = 7;
    a->steps = b->steps = other->steps = T_STEPS;
    CHECK(pthread_barrier_init(&start, NULL, 3) == 0, "pthread_barrier_init");
    a->start = b->start = other->start = &start;
    started[0] = pthread_create(&th[0], NULL, train, a) == 0;
    started[1] = pthread_create(&th[1], NULL, train, b) == 0;
    started[2] = pthread_create(&th[2], NULL, train, other) == 0;
    CHECK(started[0] && started[1] && started[2], "pthread_create");
    if (!(started[0] && started[1] && started[2])) {
        /* the barrier would never open */
        return harness_finish("test_threads");
    }
    for (i = 0; i < 3; i++) pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);

    check_job(a, "thread A (seed 42)");
    check_job(b, "thread B (seed 42)");
    check_job(other, "thread C (seed 7)");
    CHECK(count_diff(a->params, b->params) == 0, "threads A and B (same seed) differ in %d of %d parameters",
          count_diff(a->params, b->params), T_NPARAM);
    CHECK(count_diff(a->params, ref->params) == 0, "thread A and the main-thread run differ in %d of %d parameters",
          count_diff(a->params, ref->params), T_NPARAM);
    CHECK(memcmp(&a->last_loss, &ref->last_loss, sizeof(double)) == 0 && memcmp(&a->last_loss, &b->last_loss, sizeof(double)) == 0,
          "final losses differ: %.17g %.17g %.17g", ref->last_loss, a->last_loss, b->last_loss);
    CHECK(count_diff(a->params, other->params) > T_NPARAM / 2, "seed 7 and seed 42 gave (nearly) the same parameters");
    free(ref);
    return harness_finish("test_threads");
}
