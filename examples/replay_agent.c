/* replay_agent.c - per-frame training in a game loop with graph replay.

   A ball bounces in a box under gravity. Every frame, a small network learns, from that
   frame alone, to predict where the ball will be next frame from where it is now
   (online regression: batch 1, Adam). The training step is captured once with
   ag_capture_begin / ag_capture_end and replayed every frame after writing the frame's
   data into the step's input tensors: no graph is built and nothing is allocated per
   frame. At the end the same frames are trained again by building the step each frame,
   to show that the two give the same network, bit for bit, and what replay saves.

   cc -std=c99 -O2 -I. examples/replay_agent.c -lm -lpthread -o replay_agent && ./replay_agent [frames] */
#define _POSIX_C_SOURCE 199309L
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct { float x, y, vx, vy; } ball;
static void simulate(ball *b) {   /* one frame: gravity, walls of the unit box */
    const float dt = 1.0f / 60.0f;
    b->vy -= 9.8f * dt * 0.1f;
    b->x += b->vx * dt; b->y += b->vy * dt;
    if (b->x < 0 || b->x > 1) { b->vx = -b->vx; b->x = b->x < 0 ? -b->x : 2 - b->x; }
    if (b->y < 0) { b->vy = -b->vy * 0.95f; b->y = -b->y; }
    if (b->y > 1) { b->vy = -b->vy; b->y = 2 - b->y; }
}

typedef struct { ag_ctx *ctx; ag_tensor *p[4], *in, *target; ag_optim *opt; } agent;
static void agent_init(agent *a) {
    int64_t w1[2] = {32, 4}, w2[2] = {2, 32}, b1 = 32, b2 = 2, si[2] = {1, 4}, st[2] = {1, 2};
    ag_desc d;
    ag_adam_opts o = ag_adam_defaults();
    memset(&d, 0, sizeof d);
    d.seed = 7;
    a->ctx = ag_ctx_new(&d);
    a->p[0] = ag_param(a->ctx, AG_F32, 2, w1, NULL); a->p[1] = ag_param(a->ctx, AG_F32, 1, &b1, NULL);
    a->p[2] = ag_param(a->ctx, AG_F32, 2, w2, NULL); a->p[3] = ag_param(a->ctx, AG_F32, 1, &b2, NULL);
    ag_init_linear(a->p[0], a->p[1]); ag_init_linear(a->p[2], a->p[3]);
    o.lr = 3e-3;
    a->opt = ag_adam_new(a->ctx, a->p, 4, &o);
    a->in = ag_persistent(a->ctx, AG_F32, 2, si, NULL);       /* the step's inputs: written every frame */
    a->target = ag_persistent(a->ctx, AG_F32, 2, st, NULL);
}
/* the step: predict the displacement to the next frame (scaled), mean squared error */
static ag_tensor *agent_loss(agent *a) {
    ag_tensor *h = ag_tanh(ag_linear(a->in, a->p[0], a->p[1]));
    return ag_mse_loss(ag_linear(h, a->p[2], a->p[3]), a->target);
}
static void write_frame(agent *a, const ball *now_b, const ball *next) {
    float *in = (float *)ag_data(a->in), *t = (float *)ag_data(a->target);
    in[0] = now_b->x; in[1] = now_b->y; in[2] = now_b->vx; in[3] = now_b->vy;
    t[0] = (next->x - now_b->x) * 60.0f; t[1] = (next->y - now_b->y) * 60.0f;
}

int main(int argc, char **argv) {
    int frames = argc > 1 ? atoi(argv[1]) : 20000, f, i;
    agent A, B;
    ag_capture *step = NULL;
    ag_tensor *loss = NULL;
    ball b0 = { 0.2f, 0.8f, 0.7f, 0.0f }, b, next;
    double t0, t_replay, t_rebuild, avg = 0;
    bool same = true;
    if (argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || frames < 1)) {
        printf("usage: %s [frames (default 20000)]\ntrains a ball predictor online: one captured step, replayed every frame\n", argv[0]);
        return frames < 1 && strcmp(argv[1], "-h") && strcmp(argv[1], "--help");
    }
    agent_init(&A);
    agent_init(&B);

    /* A: capture the first frame's step, replay it every later frame */
    b = b0;
    t0 = now();
    for (f = 0; f < frames; f++) {
        next = b; simulate(&next);
        write_frame(&A, &b, &next);
        ag_optim_zero_grad(A.opt);
        if (f == 0) {
            ag_capture_begin(A.ctx);
            loss = agent_loss(&A);
            if (!loss || ag_backward(loss, NULL) != 0 || !(step = ag_capture_end(A.ctx))) {
                fprintf(stderr, "capture failed: %s\n", ag_error(A.ctx));
                return 1;
            }
        } else if (ag_replay(step) != 0) {
            fprintf(stderr, "replay failed: %s\n", ag_error(A.ctx));
            return 1;
        }
        ag_optim_step(A.opt);
        avg = f ? 0.999 * avg + 0.001 * ag_item(loss) : ag_item(loss);   /* the loss tensor is recomputed by each replay */
        if ((f + 1) % (frames / 5 > 0 ? frames / 5 : 1) == 0) printf("frame %6d: loss (running mean) %.5f\n", f + 1, avg);
        b = next;
    }
    t_replay = now() - t0;

    /* B: the same frames, the step built every frame */
    b = b0;
    t0 = now();
    for (f = 0; f < frames; f++) {
        next = b; simulate(&next);
        write_frame(&B, &b, &next);
        ag_optim_zero_grad(B.opt);
        if (ag_backward(agent_loss(&B), NULL) != 0) { fprintf(stderr, "step failed: %s\n", ag_error(B.ctx)); return 1; }
        ag_optim_step(B.opt);
        ag_ctx_reset(B.ctx);
        b = next;
    }
    t_rebuild = now() - t0;

    for (i = 0; i < 4; i++)
        same = same && memcmp(ag_data(A.p[i]), ag_data(B.p[i]), (size_t)ag_numel(A.p[i]) * sizeof(float)) == 0;
    printf("captured step: %zu kernels; %d frames: replayed %.2f us/frame, rebuilt %.2f us/frame (%.2fx); "
           "the two networks are %s\n", ag_capture_steps(step), frames, t_replay / frames * 1e6, t_rebuild / frames * 1e6,
           t_rebuild / t_replay, same ? "bit-identical" : "DIFFERENT");
    ag_capture_free(step);
    ag_ctx_free(A.ctx);
    ag_ctx_free(B.ctx);
    return same ? 0 : 1;
}
