/* xor.c - learn XOR with a 2-8-1 network: h = tanh(x W1^T + b1), y = h W2^T + b2.

   Full-batch training on the four XOR points with mean squared error and plain
   SGD, written out by hand over the parameters' data and gradients. Also writes
   the loss's graph to xor_graph.dot; view it with
       dot -Tpng xor_graph.dot -o xor_graph.png

   Build: cc -std=c99 -O2 -I. examples/xor.c -lm -o build/xor */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <math.h>
#include <stdio.h>
#include <string.h>

#define HIDDEN 8
#define STEPS 500

/* a parameter of the given shape, initialised N(0, 1) * scale:
   draw the numbers with ag_randn in the arena, then copy them into a persistent tensor */
static ag_tensor *init_param(ag_ctx *ctx, int ndim, const int64_t *shape, double scale) {
    float buf[HIDDEN * 2];
    ag_tensor *r = ag_mul_scalar(ag_randn(ctx, AG_F32, ndim, shape), scale);
    if (!r || ag_copy_out(r, AG_F32, buf) != 0) return NULL;
    return ag_param(ctx, AG_F32, ndim, shape, buf);
}

/* the network: [4, 2] -> [4, 1] */
static ag_tensor *forward(ag_tensor *x, ag_tensor *const *p) {
    ag_tensor *h = ag_tanh(ag_linear(x, p[0], p[1]));
    return ag_linear(h, p[2], p[3]);
}

int main(void) {
    static const float X[4 * 2] = {0, 0, 0, 1, 1, 0, 1, 1};
    static const float Y[4] = {0, 1, 1, 0};
    const int64_t sx[2] = {4, 2}, sy[2] = {4, 1};
    const int64_t sW1[2] = {HIDDEN, 2}, sb1[1] = {HIDDEN}, sW2[2] = {1, HIDDEN}, sb2[1] = {1};
    const float lr = 0.1f;
    ag_desc desc;
    ag_ctx *ctx;
    ag_tensor *p[4], *x, *pred;
    int step, i;
    memset(&desc, 0, sizeof desc);   /* zero fields mean defaults */
    desc.seed = 42;
    ctx = ag_ctx_new(&desc);
    if (!ctx) return 1;

    /* W1 [8, 2], b1 [8], W2 [1, 8], b2 [1]; weights scaled by 1/sqrt(fan_in) */
    p[0] = init_param(ctx, 2, sW1, 1.0 / sqrt(2.0));
    p[1] = ag_param(ctx, AG_F32, 1, sb1, NULL);   /* NULL data: zeros */
    p[2] = init_param(ctx, 2, sW2, 1.0 / sqrt((double)HIDDEN));
    p[3] = ag_param(ctx, AG_F32, 1, sb2, NULL);
    ag_ctx_reset(ctx);   /* the random draws were temporaries; the params stay */

    for (step = 0; step <= STEPS; step++) {
        ag_tensor *xb = ag_from(ctx, AG_F32, 2, sx, X);
        ag_tensor *yb = ag_from(ctx, AG_F32, 2, sy, Y);
        ag_tensor *loss = ag_mse_loss(forward(xb, p), yb);

        for (i = 0; i < 4; i++) ag_zero_grad(p[i]);
        if (ag_backward(loss, NULL) != 0) {
            fprintf(stderr, "error: %s\n", ag_error(ctx));
            return 1;
        }
        if (step == 0) {   /* draw the graph once */
            FILE *f = fopen("xor_graph.dot", "w");
            if (f && ag_graph_dot(loss, f) == 0)
                printf("wrote xor_graph.dot (render: dot -Tpng xor_graph.dot -o xor_graph.png)\n");
            if (f) fclose(f);
        }
        if (step % 50 == 0) printf("step %4d  loss %.6f\n", step, ag_item(loss));

        /* SGD: p -= lr * grad, element by element (params and grads are contiguous) */
        for (i = 0; i < 4; i++) {
            float *w = (float *)ag_data(p[i]);
            const float *g = (const float *)ag_data(ag_grad(p[i]));
            int64_t k, n = ag_numel(p[i]);
            for (k = 0; k < n; k++) w[k] -= lr * g[k];
        }
        ag_ctx_reset(ctx);   /* free this step's graph */
    }

    /* final predictions, without recording a graph */
    ag_set_grad_enabled(ctx, false);
    x = ag_from(ctx, AG_F32, 2, sx, X);
    pred = forward(x, p);
    if (!pred) {
        fprintf(stderr, "error: %s\n", ag_error(ctx));
        return 1;
    }
    for (i = 0; i < 4; i++) {
        int64_t ix[2];
        ix[0] = i;
        ix[1] = 0;
        printf("%g xor %g = %.3f (want %g)\n", X[2 * i], X[2 * i + 1], ag_get(pred, ix), Y[i]);
    }
    ag_print(pred, stdout);
    ag_ctx_free(ctx);
    return 0;
}
