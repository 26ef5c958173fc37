/* web.c - the C half of examples/web/index.html: autograd.h compiled to WebAssembly.

   A 2-16-16-2 tanh network learns two interleaved spirals (200 points made here from a fixed seed)
   with Adam and cross-entropy; the page calls web_train() a few steps per animation frame and draws
   web_grid()'s class probabilities as the decision boundary. web_graph() builds micrograd's
   neuron o = tanh(x1*w1 + x2*w2 + b), runs backward and returns its graph as JSON (the page draws
   it), walked with the library's graph API (ag_op, ag_input, ag_name, ag_grad); web_graph_dot()
   is the same graph as ag_graph_dot_ex writes it.

   Build: make web (emcc; see the Makefile). Built natively (cc -std=c99 -I. examples/web/web.c
   -lm), or by emcc -DWEB_MAIN for node, it trains once and prints the losses and the graph:
   make check-web runs both and wants the same lines from each.
   The exported functions return pointers into the wasm memory; the page reads them with
   UTF8ToString and typed arrays over HEAPF32 / HEAP32. */
#define _POSIX_C_SOURCE 200809L   /* open_memstream */
#define AG_NO_THREADS        /* the page runs on one thread (and Emscripten defines __unix__) */
#define AG_NO_SAFETENSORS    /* parts the page does not use: a smaller wasm */
#define AG_NO_FUNCTIONAL
#define AG_NO_LAYERS
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#define WEB_EXPORT EMSCRIPTEN_KEEPALIVE
#else
#define WEB_EXPORT
#endif

#define N_POINTS 200
#define HIDDEN   16
#define EXTENT   2.0f   /* the plane shown: [-EXTENT, EXTENT] on both axes */

static ag_ctx *ctx;
static ag_optim *opt;
static ag_tensor *W1, *b1, *W2, *b2, *W3, *b3;
static float points[N_POINTS * 2];
static int32_t labels[N_POINTS];
static int steps_done;
static float *grid;   /* web_grid's buffer, for grid_res^2 points */
static int grid_res;
static char text[16384];

/* a small deterministic generator (SplitMix64), so the data are the same everywhere */
static uint64_t rng_state;
static double uniform(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return (double)((z ^ (z >> 31)) >> 11) / 9007199254740992.0;
}
static double normal(void) {   /* Box-Muller */
    double u = uniform(), v = uniform();
    return sqrt(-2 * log(1 - u)) * cos(6.283185307179586 * v);
}

/* two interleaving spirals with a little noise, in the plane shown */
static void make_spirals(uint64_t seed) {
    int i;
    rng_state = seed;
    for (i = 0; i < N_POINTS; i++) {
        int c = i & 1;
        double r = 0.06 + 0.94 * (double)(i / 2) / (N_POINTS / 2), a = 3.0 * 3.141592653589793 * r + c * 3.141592653589793;
        points[2 * i]     = (float)(1.8 * r * cos(a) + 0.06 * normal());
        points[2 * i + 1] = (float)(1.8 * r * sin(a) + 0.06 * normal());
        labels[i] = c;
    }
}

static ag_tensor *param(int rows, int cols) {
    int64_t shape[2];
    shape[0] = rows; shape[1] = cols;
    return ag_param(ctx, AG_F32, cols ? 2 : 1, shape, NULL);
}
static ag_tensor *forward(ag_tensor *x) {
    ag_tensor *h = ag_tanh(ag_linear(x, W1, b1));
    h = ag_tanh(ag_linear(h, W2, b2));
    return ag_linear(h, W3, b3);
}

/* a fresh network and data set from this seed; 0 ok, -1 error (web_error says why) */
WEB_EXPORT int web_init(int seed) {
    ag_desc desc;
    ag_adam_opts o = ag_adam_defaults();
    ag_tensor *params[6];
    if (ctx) ag_ctx_free(ctx);
    memset(&desc, 0, sizeof desc);
    desc.seed = (uint64_t)seed;
    ctx = ag_ctx_new(&desc);
    if (!ctx) return -1;
    make_spirals((uint64_t)seed);
    W1 = param(HIDDEN, 2);      b1 = param(HIDDEN, 0);
    W2 = param(HIDDEN, HIDDEN); b2 = param(HIDDEN, 0);
    W3 = param(2, HIDDEN);      b3 = param(2, 0);
    if (ag_init_linear(W1, b1) || ag_init_linear(W2, b2) || ag_init_linear(W3, b3)) return -1;
    params[0] = W1; params[1] = b1; params[2] = W2; params[3] = b2; params[4] = W3; params[5] = b3;
    o.lr = 0.03;
    opt = ag_adam_new(ctx, params, 6, &o);
    steps_done = 0;
    return opt ? 0 : -1;
}

/* n full-batch Adam steps; returns the last step's loss (NaN on error) */
WEB_EXPORT double web_train(int n) {
    double loss = NAN;
    int64_t shape[2];
    shape[0] = N_POINTS; shape[1] = 2;
    while (n-- > 0) {
        ag_tensor *x = ag_from(ctx, AG_F32, 2, shape, points);
        ag_tensor *l = ag_cross_entropy(forward(x), labels);
        ag_optim_zero_grad(opt);
        if (!l || ag_backward(l, NULL) != 0 || ag_optim_step(opt) != 0) { ag_ctx_reset(ctx); return NAN; }
        loss = ag_item(l);
        ag_ctx_reset(ctx);
        steps_done++;
    }
    return loss;
}

WEB_EXPORT int web_steps(void) { return steps_done; }
WEB_EXPORT int web_num_points(void) { return N_POINTS; }
WEB_EXPORT float *web_points(void) { return points; }     /* x, y of each point */
WEB_EXPORT int32_t *web_labels(void) { return labels; }   /* its class, 0 or 1 */
WEB_EXPORT double web_extent(void) { return EXTENT; }
WEB_EXPORT const char *web_kernels(void) { return ag_simd_name(ctx); }
WEB_EXPORT const char *web_error(void) { const char *e = ag_error(ctx); return e ? e : ""; }

/* the probability of class 1 at the centres of a res x res grid over the plane, row by row from
   the top (y = +EXTENT) down; NULL on error. The buffer is rewritten by the next call. */
WEB_EXPORT float *web_grid(int res) {
    int64_t shape[2];
    float *xy;
    int i, j;
    ag_tensor *p;
    if (res <= 0 || res > 1024) return NULL;
    if (res > grid_res) {   /* the page asks for the same size every frame: allocate once */
        free(grid);
        grid = (float *)malloc((size_t)res * res * 2 * sizeof(float));
        grid_res = grid ? res : 0;
        if (!grid) return NULL;
    }
    xy = grid;
    for (i = 0; i < res; i++)
        for (j = 0; j < res; j++) {
            xy[2 * (i * res + j)]     = -EXTENT + 2 * EXTENT * ((float)j + 0.5f) / (float)res;
            xy[2 * (i * res + j) + 1] =  EXTENT - 2 * EXTENT * ((float)i + 0.5f) / (float)res;
        }
    shape[0] = (int64_t)res * res; shape[1] = 2;
    ag_set_grad_enabled(ctx, false);
    p = ag_softmax(forward(ag_from(ctx, AG_F32, 2, shape, xy)), 1);
    ag_set_grad_enabled(ctx, true);
    if (!p || ag_copy_out(ag_contiguous(ag_select(p, 1, 1)), AG_F32, grid) != 0) { ag_ctx_reset(ctx); return NULL; }
    ag_ctx_reset(ctx);
    return grid;
}

/* ---- the neuron's graph ---- */
static ag_ctx *gctx;
static ag_tensor *groot;

static ag_tensor *value(double v, const char *name) {
    return ag_set_name(ag_set_requires_grad(ag_scalar_f64(gctx, v), true), name);
}
static ag_tensor *node(ag_tensor *t, const char *name) { return ag_retain_grad(ag_set_name(t, name)); }

/* o = tanh(x1*w1 + x2*w2 + b) and its backward pass; 0 ok */
static int neuron(double x1v, double w1v, double x2v, double w2v, double bv) {
    ag_tensor *x1, *x2, *w1, *w2, *b;
    if (!gctx && !(gctx = ag_ctx_new(NULL))) return -1;
    ag_ctx_reset(gctx);
    ag_clear_error(gctx);
    x1 = value(x1v, "x1"); x2 = value(x2v, "x2");
    w1 = value(w1v, "w1"); w2 = value(w2v, "w2");
    b = value(bv, "b");
    groot = node(ag_tanh(node(ag_add(node(ag_add(node(ag_mul(x1, w1), "x1*w1"), node(ag_mul(x2, w2), "x2*w2")),
                                         "x1*w1 + x2*w2"), b), "n")), "o");
    return groot && ag_backward(groot, NULL) == 0 ? 0 : -1;
}

static size_t put(size_t at, const char *fmt, ...) {
    va_list ap;
    int n;
    if (at >= sizeof text) return at;
    va_start(ap, fmt);
    n = vsnprintf(text + at, sizeof text - at, fmt, ap);
    va_end(ap);
    return n < 0 ? sizeof text : at + (size_t)n;
}
static const char *op_symbol(const char *op) {
    return !strcmp(op, "add") ? "+" : !strcmp(op, "mul") ? "*" : op;
}

/* the graph as JSON: {"nodes":[{"name","data","grad","op","in":[indices]}...]}, the root first.
   NULL on error (web_graph_error says why). */
WEB_EXPORT const char *web_graph(double x1, double w1, double x2, double w2, double b) {
    ag_tensor *seen[64];
    int n = 1, i, k;
    size_t at = 0;
    if (neuron(x1, w1, x2, w2, b) != 0) return NULL;
    seen[0] = groot;
    for (i = 0; i < n; i++)   /* breadth first from the root; each tensor once */
        for (k = 0; k < ag_num_inputs(seen[i]); k++) {
            ag_tensor *u = ag_input(seen[i], k);
            int j;
            for (j = 0; j < n && seen[j] != u; j++) {}
            if (j == n && n < 64) seen[n++] = u;
        }
    at = put(at, "{\"nodes\":[");
    for (i = 0; i < n; i++) {
        ag_tensor *t = seen[i], *g = ag_grad(t);
        const char *name = ag_name(t), *op = ag_op(t);
        at = put(at, "%s{\"name\":\"%s\",\"data\":%.17g,\"grad\":%.17g,\"op\":\"%s\",\"in\":[", i ? "," : "",
                 name ? name : "", ag_item(t), g ? ag_item(g) : 0.0, op ? op_symbol(op) : "");
        for (k = 0; k < ag_num_inputs(t); k++) {
            ag_tensor *u = ag_input(t, k);
            int j;
            for (j = 0; j < n && seen[j] != u; j++) {}
            at = put(at, "%s%d", k ? "," : "", j);
        }
        at = put(at, "]}");
    }
    at = put(at, "]}");
    return at < sizeof text ? text : NULL;
}
/* the same graph as Graphviz DOT, written by ag_graph_dot_ex into memory (open_memstream);
   NULL on error. Valid until the next call. */
WEB_EXPORT const char *web_graph_dot(double x1, double w1, double x2, double w2, double b) {
    static char *dot;
    size_t size;
    ag_dot_opts o;
    FILE *f;
    int rc;
    if (neuron(x1, w1, x2, w2, b) != 0) return NULL;
    free(dot);
    dot = NULL;
    if (!(f = open_memstream(&dot, &size))) return NULL;
    memset(&o, 0, sizeof o);
    o.values = o.grads = o.op_nodes = true;
    rc = ag_graph_dot_ex(groot, f, &o);
    return fclose(f) == 0 && rc == 0 ? dot : NULL;
}
WEB_EXPORT const char *web_graph_error(void) { const char *e = gctx ? ag_error(gctx) : NULL; return e ? e : ""; }

/* the smoke run: natively, or under node from emcc -DWEB_MAIN */
#if !defined(__EMSCRIPTEN__) || defined(WEB_MAIN)
int main(void) {
    const char *g;
    int i;
    if (web_init(1) != 0) { fprintf(stderr, "init: %s\n", web_error()); return 1; }
    for (i = 0; i < 400; i += 50) printf("step %3d  loss %.5f\n", i + 50, web_train(50));
    if (!web_grid(64)) { fprintf(stderr, "grid: %s\n", web_error()); return 1; }
    g = web_graph(2, -3, 0, 1, 6.8813735870195432);
    if (!g) { fprintf(stderr, "graph: %s\n", web_graph_error()); return 1; }
    printf("%s\n", g);
    g = web_graph_dot(2, -3, 0, 1, 6.8813735870195432);
    if (!g) { fprintf(stderr, "graph_dot: %s\n", web_graph_error()); return 1; }
    printf("%s", g);
    return 0;
}
#endif
