/* neuron_graph.c - the picture from micrograd's lecture: one neuron o = tanh(x1*w1 + x2*w2 + b),
   each value in a box with its name, data and gradient, each op in a circle between them.

   Writes build/neuron_graph.dot and, when Graphviz's `dot` is installed, build/neuron_graph.png
   (examples/neuron_graph.png is that picture, committed for the README).

   Build: cc -std=c99 -O2 -I. examples/neuron_graph.c -lm -o build/neuron_graph */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <stdio.h>
#include <stdlib.h>

/* a named scalar that requires grad (a leaf of the picture) */
static ag_tensor *value(ag_ctx *ctx, double v, const char *name) {
    return ag_set_name(ag_set_requires_grad(ag_scalar_f64(ctx, v), true), name);
}
/* a named intermediate whose gradient backward keeps, so the picture can show it */
static ag_tensor *node(ag_tensor *t, const char *name) { return ag_retain_grad(ag_set_name(t, name)); }

int main(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *x1, *x2, *w1, *w2, *b, *x1w1, *x2w2, *sum, *n, *o;
    ag_dot_opts opts = { true, true, true };   /* values, grads, ops as circles */
    FILE *f;
    if (!ctx) return 1;
    x1 = value(ctx, 2.0, "x1");   x2 = value(ctx, 0.0, "x2");     /* the inputs */
    w1 = value(ctx, -3.0, "w1");  w2 = value(ctx, 1.0, "w2");     /* the weights */
    b = value(ctx, 6.8813735870195432, "b");                      /* the bias, chosen so that n = 0.8814 */
    x1w1 = node(ag_mul(x1, w1), "x1*w1");
    x2w2 = node(ag_mul(x2, w2), "x2*w2");
    sum = node(ag_add(x1w1, x2w2), "x1*w1 + x2*w2");
    n = node(ag_add(sum, b), "n");
    o = node(ag_tanh(n), "o");
    if (!o || ag_backward(o, NULL) != 0) { fprintf(stderr, "%s\n", ag_error(ctx)); return 1; }
    printf("o = %.4f   do/dx1 = %.4f  do/dw1 = %.4f  do/dx2 = %.4f  do/dw2 = %.4f  do/db = %.4f\n", ag_item(o),
           ag_item(ag_grad(x1)), ag_item(ag_grad(w1)), ag_item(ag_grad(x2)), ag_item(ag_grad(w2)), ag_item(ag_grad(b)));
    f = fopen("build/neuron_graph.dot", "w");
    if (!f) { fprintf(stderr, "cannot write build/neuron_graph.dot (run from the repository root; mkdir build)\n"); return 1; }
    ag_graph_dot_ex(o, f, &opts);
    fclose(f);
    printf("wrote build/neuron_graph.dot\n");
    if (system("command -v dot >/dev/null 2>&1") == 0 && system("dot -Tpng -Gdpi=110 build/neuron_graph.dot -o build/neuron_graph.png") == 0)
        printf("wrote build/neuron_graph.png\n");
    else
        printf("(install Graphviz for the picture: dot -Tpng build/neuron_graph.dot -o neuron_graph.png)\n");
    ag_ctx_free(ctx);
    return 0;
}
