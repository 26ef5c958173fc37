/* neuron.c - micrograd's first example: train one neuron to output 0.8.

   The neuron is y = tanh(w*x + b) with one input x = 2.0. We want y = 0.8,
   so the loss is (y - 0.8)^2. Each step builds the little graph, runs
   backward to get dloss/dw and dloss/db, and moves w and b a bit downhill.

   Build: cc -std=c99 -O2 -I. examples/neuron.c -lm -o build/neuron */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <stdio.h>

int main(void) {
    const double x = 2.0, target = 0.8;
    const float lr = 0.5f;   /* learning rate */
    const float w0 = 0.3f, b0 = 0.1f;
    ag_ctx *ctx = ag_ctx_new(NULL);   /* owns all memory, and the error message if any */
    ag_tensor *w, *b, *y;
    int step;
    if (!ctx) return 1;

    /* parameters are persistent (they survive ag_ctx_reset) and require grad;
       ndim 0 means a scalar, so no shape is needed */
    w = ag_param(ctx, AG_F32, 0, NULL, &w0);
    b = ag_param(ctx, AG_F32, 0, NULL, &b0);

    for (step = 0; step < 20; step++) {
        /* forward: y = tanh(w*x + b), loss = (y - target)^2 */
        ag_tensor *loss;
        y = ag_tanh(ag_add(ag_mul(w, ag_scalar(ctx, x)), b));
        loss = ag_pow(ag_add_scalar(y, -target), 2.0);

        /* backward: gradients accumulate, so clear the old ones first */
        ag_zero_grad(w);
        ag_zero_grad(b);
        if (ag_backward(loss, NULL) != 0) {   /* errors are values: one check at the end */
            fprintf(stderr, "error: %s\n", ag_error(ctx));
            return 1;
        }
        if (step % 4 == 0)
            printf("step %2d  y = %.4f  loss = %.6f  w = %.4f  b = %.4f\n", step, ag_item(y),
                   ag_item(loss), ag_item(w), ag_item(b));

        /* SGD: w -= lr * dloss/dw, b -= lr * dloss/db */
        *(float *)ag_data(w) -= lr * (float)ag_item(ag_grad(w));
        *(float *)ag_data(b) -= lr * (float)ag_item(ag_grad(b));

        ag_ctx_reset(ctx);   /* drop this step's graph; w and b stay */
    }

    y = ag_tanh(ag_add(ag_mul(w, ag_scalar(ctx, x)), b));
    printf("final    y = %.4f  (target %.1f)  w = %.4f  b = %.4f\n", ag_item(y), target, ag_item(w),
           ag_item(b));
    ag_ctx_free(ctx);
    return 0;
}
