/* test_forward.c - forward-mode AD at the API level: ag_make_dual / ag_tangent, tangents through
   in-place ops, custom ops and checkpoints, forward-over-reverse, the functional ag_jvp and
   ag_jacobian_fwd, bad input, and the cost of ag_jvp against the double-vjp trick it replaced.
   (Every op's JVP rule is checked against its reverse-mode Jacobian, and the tangent's own
   gradient against central differences, in test_gradcheck.c.)

   cc -std=c99 -O2 -I. tests/test_forward.c -lm -lpthread -o build/test_forward */
#define _POSIX_C_SOURCE 199309L
#include "autograd.h"
#include "harness.h"

static ag_tensor *vec(ag_ctx *ctx, ag_dtype dt, int64_t n, const double *v) {
    ag_tensor *t = ag_from(ctx, AG_F64, 1, &n, v);
    return ag_to(t, dt);
}
static double at(const ag_tensor *t, int64_t i) { return ag_get(t, &i); }

static bool has_error(ag_ctx *ctx, const char *what) {
    const char *e = ag_error(ctx);
    bool ok = e && strstr(e, what);
    ag_clear_error(ctx);
    return ok;
}

static void test_dual_basics(void) {
    ag_ctx *ctx = ag_ctx_new(NULL), *other = ag_ctx_new(NULL);
    double xv[3] = { 0.5, -1.0, 2.0 }, uv[3] = { 1.0, 2.0, -0.5 };
    ag_tensor *x = vec(ctx, AG_F64, 3, xv), *u = vec(ctx, AG_F64, 3, uv), *d, *y, *t;
    int64_t i;
    d = ag_make_dual(x, u);
    CHECK(d && ag_tangent(d) && ag_tangent(x) == NULL, "make_dual gives a new tensor with the tangent, the primal keeps none");
    y = ag_mul(ag_exp(d), d);   /* y = x e^x: t_y = (x + 1) e^x u */
    t = ag_tangent(y);
    CHECK(t != NULL, "a result of a dual has a tangent");
    for (i = 0; t && i < 3; i++) CHECK_CLOSE(at(t, i), (xv[i] + 1) * exp(xv[i]) * uv[i], 1e-14, 1e-14, "t of x e^x");
    CHECK(ag_tangent(ag_mul(x, x)) == NULL, "no dual, no tangent");
    CHECK(ag_tangent(ag_detach(y)) == NULL, "detach drops the tangent");
    /* the tangent takes the primal's dtype, and stays with the value under reshape/slice/sum */
    {
        ag_tensor *d32 = ag_make_dual(ag_to(x, AG_F32), u);
        ag_tensor *s = ag_sum(ag_slice(ag_mul(d32, d32), 0, 1, 3, 1));   /* x1^2 + x2^2: t = 2 x1 u1 + 2 x2 u2 */
        CHECK(d32 && ag_type(ag_tangent(d32)) == AG_F32, "the tangent is converted to the primal's dtype");
        CHECK(s && ag_tangent(s) && fabs(ag_item(ag_tangent(s)) - (2 * xv[1] * uv[1] + 2 * xv[2] * uv[2])) < 1e-5,
              "tangent through slice and sum (F32): %g", s && ag_tangent(s) ? ag_item(ag_tangent(s)) : NAN);
    }
    /* bad input: each NULL, with a message naming make_dual */
    CHECK(ag_make_dual(NULL, u) == NULL && has_error(ctx, "make_dual: the primal is NULL"), "make_dual(NULL, u)");
    CHECK(ag_make_dual(x, NULL) == NULL && has_error(ctx, "make_dual: the tangent is NULL"), "make_dual(x, NULL)");
    CHECK(ag_make_dual(NULL, NULL) == NULL, "make_dual(NULL, NULL)");
    CHECK(ag_make_dual(x, ag_slice(u, 0, 0, 2, 1)) == NULL && has_error(ctx, "the tangent has shape [2] but the primal has shape [3]"),
          "make_dual with a tangent of the wrong shape");
    CHECK(ag_make_dual(x, vec(other, AG_F64, 3, uv)) == NULL && has_error(ctx, "different contexts"), "make_dual across contexts");
    CHECK(ag_make_dual(d, u) == NULL && has_error(ctx, "the primal already carries a tangent"), "a dual of a dual");
    CHECK(ag_make_dual(x, d) == NULL && has_error(ctx, "the tangent already carries a tangent"), "a tangent with a tangent");
    CHECK(ag_tangent(NULL) == NULL, "ag_tangent(NULL)");
    ag_ctx_free(other);
    ag_ctx_free(ctx);
}

/* in place: t's tangent follows its value */
static void test_inplace(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double xv[3] = { 0.5, -1.0, 2.0 }, uv[3] = { 1.0, 2.0, -0.5 };
    ag_tensor *x = vec(ctx, AG_F64, 3, xv), *u = vec(ctx, AG_F64, 3, uv), *d = ag_make_dual(x, u), *y;
    int64_t i;
    y = ag_mul_scalar(d, 1.0);          /* y = x, t_y = u */
    CHECK(ag_mul_(y, d) == y, "mul_");  /* y = x^2, t_y = 2 x u */
    for (i = 0; i < 3; i++) CHECK_CLOSE(at(ag_tangent(y), i), 2 * xv[i] * uv[i], 1e-15, 0, "t of x *= x");
    CHECK(ag_add_scalar_(y, 3.0) == y && ag_relu_(y) == y, "add_scalar_, relu_");   /* x^2 + 3 > 0: same tangent */
    for (i = 0; i < 3; i++) CHECK_CLOSE(at(ag_tangent(y), i), 2 * xv[i] * uv[i], 1e-15, 0, "t after add_scalar_ and relu_");
    CHECK(ag_zero_(y) == y && ag_tangent(y) == NULL, "zero_ leaves a constant");
    CHECK(ag_copy_(y, d) == y && ag_tangent(y) && at(ag_tangent(y), 2) == uv[2], "copy_ takes the source's tangent");
    ag_ctx_free(ctx);
}

/* ---- a custom op with and without a jvp rule; a checkpoint ---- */
static ag_tensor *sq_forward(ag_custom *c, ag_tensor **in, int n, void *user) { (void)c; (void)n; (void)user; return ag_mul(in[0], in[0]); }
static int sq_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) {   /* d x = 2 x d y */
    (void)user; grads[0] = ag_mul(ag_mul_scalar(ag_custom_input(c, 0), 2.0), g); return 0;
}
static int sq_jvp(ag_custom *c, ag_tensor *const *t, ag_tensor **out, void *user) {   /* t_y = 2 x t_x */
    (void)user; *out = ag_mul(ag_mul_scalar(ag_custom_input(c, 0), 2.0), t[0]); return *out ? 0 : -1;
}
static const ag_function sq_fn = { "square", sq_forward, sq_backward, sq_jvp };
static const ag_function sq_nojvp = { "square_no_jvp", sq_forward, sq_backward, NULL };

static ag_tensor *block(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_tanh(ag_matmul(in[0], in[1])); }

static void test_custom_and_checkpoint(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double xv[3] = { 0.5, -1.0, 2.0 }, uv[3] = { 1.0, 2.0, -0.5 };
    ag_tensor *x = vec(ctx, AG_F64, 3, xv), *u = vec(ctx, AG_F64, 3, uv), *d = ag_make_dual(x, u), *y;
    int64_t i, sa[2] = { 4, 3 }, sw[2] = { 3, 5 };
    y = ag_apply(&sq_fn, 1, &d, NULL);
    CHECK(y && ag_tangent(y), "a custom op with a jvp gives a tangent");
    for (i = 0; y && ag_tangent(y) && i < 3; i++) CHECK_CLOSE(at(ag_tangent(y), i), 2 * xv[i] * uv[i], 1e-15, 0, "custom jvp");
    CHECK(ag_apply(&sq_nojvp, 1, &d, NULL) == NULL && has_error(ctx, "square_no_jvp: a tangent reached this custom op, which has no jvp"),
          "a tangent reaching a custom op without jvp is an error");
    CHECK(ag_apply(&sq_nojvp, 1, &x, NULL) != NULL, "without a tangent the same op works");
    {   /* a checkpointed block carries the same tangent as the plain one */
        ag_tensor *a = ag_randn(ctx, AG_F64, 2, sa), *w = ag_randn(ctx, AG_F64, 2, sw), *ua = ag_randn(ctx, AG_F64, 2, sa);
        ag_tensor *in[2], *plain, *ck;
        double worst = 0;
        in[0] = ag_make_dual(a, ua); in[1] = w;
        plain = block(ctx, in, NULL);
        ck = ag_checkpoint(block, NULL, 2, in);
        for (i = 0; plain && ck && ag_tangent(ck) && i < 20; i++) {
            int64_t idx[2]; idx[0] = i / 5; idx[1] = i % 5;
            if (fabs(ag_get(ag_tangent(plain), idx) - ag_get(ag_tangent(ck), idx)) > worst) worst = fabs(ag_get(ag_tangent(plain), idx) - ag_get(ag_tangent(ck), idx));
        }
        CHECK(ck && ag_tangent(ck) && worst == 0, "checkpoint carries the tangent (diff %g)", worst);
    }
    ag_ctx_free(ctx);
}

/* ---- forward over reverse: the tangent of a gradient recorded with create_graph is H v ---- */
static ag_tensor *energy(ag_ctx *ctx, ag_tensor **in, void *user) {   /* sum(tanh(x W)^2) + sum(x^3)/3 */
    ag_tensor *h = ag_tanh(ag_matmul(in[0], in[1]));
    (void)ctx; (void)user;
    return ag_add(ag_sum(ag_mul(h, h)), ag_mul_scalar(ag_sum(ag_pow(in[0], 3.0)), 1.0 / 3.0));
}
static void test_forward_over_reverse(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t sx[2] = { 2, 4 }, sw[2] = { 4, 3 }, i;
    ag_tensor *x = ag_randn(ctx, AG_F64, 2, sx), *w = ag_randn(ctx, AG_F64, 2, sw), *v = ag_randn(ctx, AG_F64, 2, sx);
    ag_tensor *in[2], *g[1], *hv[2], *vv[2], *f, *xs;
    ag_backward_opts o;
    double worst = 0;
    xs = ag_set_requires_grad(ag_detach(x), true);
    in[0] = ag_make_dual(xs, v); in[1] = w;
    f = energy(ctx, in, NULL);
    memset(&o, 0, sizeof o);
    o.create_graph = true;
    CHECK(ag_grad_of(f, &o, 1, &xs, g) == 0 && ag_tangent(g[0]), "the gradient, recorded, carries a tangent");
    in[0] = x; vv[0] = v; vv[1] = ag_zeros(ctx, AG_F64, 2, sw);
    CHECK(ag_hvp(ctx, energy, NULL, 2, in, vv, NULL, hv, false) == 0, "hvp");
    for (i = 0; ag_tangent(g[0]) && i < 8; i++) {
        int64_t idx[2]; idx[0] = i / 4; idx[1] = i % 4;
        if (fabs(ag_get(ag_tangent(g[0]), idx) - ag_get(hv[0], idx)) > worst) worst = fabs(ag_get(ag_tangent(g[0]), idx) - ag_get(hv[0], idx));
    }
    CHECK(worst < 1e-12, "forward-over-reverse H v equals ag_hvp (diff %g)", worst);
    ag_ctx_free(ctx);
}

/* ---- the functional API ---- */
static ag_tensor *mlp(ag_ctx *ctx, ag_tensor **in, void *user) {   /* tanh(x W1^T) W2^T */
    (void)ctx; (void)user;
    return ag_linear(ag_tanh(ag_linear(in[0], in[1], NULL)), in[2], NULL);
}
static ag_tensor *shape_changer(ag_ctx *ctx, ag_tensor **in, void *user) {
    int *calls = (int *)user;
    (void)ctx;
    return (*calls)++ == 0 ? ag_sum(in[0]) : ag_mul_scalar(in[0], 2.0);
}
/* the trick ag_jvp used before forward mode: J u = d/dw <w^T J, u>, two reverse passes */
static ag_tensor *double_vjp(ag_ctx *ctx, ag_tensor **in, ag_tensor **u, int n) {
    ag_tensor *x[3], *out, *w, *g[3], *s = NULL, *r;
    ag_backward_opts o;
    int i;
    for (i = 0; i < n; i++) x[i] = ag_set_requires_grad(ag_detach(in[i]), true);
    out = mlp(ctx, x, NULL);
    w = ag_set_requires_grad(ag_zeros(ctx, ag_type(out), ag_ndim(out), ag_shape(out)), true);
    memset(&o, 0, sizeof o);
    o.grad = w; o.create_graph = true;
    if (ag_grad_of(out, &o, n, x, g) != 0) return NULL;
    for (i = 0; i < n; i++) { ag_tensor *term = ag_sum(ag_mul(g[i], u[i])); s = s ? ag_add(s, term) : term; }
    if (ag_grad_of(s, NULL, 1, &w, &r) != 0) return NULL;
    return r;
}
static void test_functional(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t sx[2] = { 64, 128 }, s1[2] = { 128, 128 }, s2[2] = { 10, 128 }, small[2] = { 3, 4 }, i;
    ag_tensor *in[3], *u[3], *jvp = NULL, *out = NULL, *ref, *jf[3], *jr[3], *bad[3];
    double worst = 0, t0, t_fwd = 1e30, t_rev = 1e30;
    int rep, calls = 0;
    in[0] = ag_randn(ctx, AG_F32, 2, sx); in[1] = ag_mul_scalar(ag_randn(ctx, AG_F32, 2, s1), 0.09);
    in[2] = ag_mul_scalar(ag_randn(ctx, AG_F32, 2, s2), 0.09);
    for (i = 0; i < 3; i++) u[i] = ag_randn(ctx, AG_F32, ag_ndim(in[i]), ag_shape(in[i]));
    CHECK(ag_jvp(ctx, mlp, NULL, 3, in, u, &out, &jvp, false) == 0 && jvp && out, "jvp");
    ref = double_vjp(ctx, in, u, 3);
    for (i = 0; jvp && ref && i < ag_numel(ref); i++) {
        int64_t idx[2]; idx[0] = i / 10; idx[1] = i % 10;
        if (fabs(ag_get(jvp, idx) - ag_get(ref, idx)) > worst) worst = fabs(ag_get(jvp, idx) - ag_get(ref, idx));
    }
    CHECK(ref && worst < 1e-4, "forward-mode jvp equals the double-vjp one (F32, diff %g)", worst);
    CHECK(!ag_requires_grad(jvp) && !ag_tangent(jvp), "without create_graph the jvp is a plain tensor");
    /* the cost: best of 5 of 20 calls each, interleaved */
    for (rep = 0; rep < (harness_timing() ? 5 : 0); rep++) {
        int k;
        t0 = harness_cpu_seconds();
        for (k = 0; k < 20; k++) { ag_jvp(ctx, mlp, NULL, 3, in, u, NULL, &jvp, false); }
        if (harness_cpu_seconds() - t0 < t_fwd) t_fwd = harness_cpu_seconds() - t0;
        t0 = harness_cpu_seconds();
        for (k = 0; k < 20; k++) double_vjp(ctx, in, u, 3);
        if (harness_cpu_seconds() - t0 < t_rev) t_rev = harness_cpu_seconds() - t0;
    }
    if (harness_timing())
        printf("  info: jvp of a 64x128 MLP (128-128-10, F32): forward mode %.1f us, double vjp %.1f us (%.2fx)\n",
               t_fwd / 20 * 1e6, t_rev / 20 * 1e6, t_rev / t_fwd);
    ag_ctx_reset(ctx);

    /* jacobian_fwd against the reverse-mode jacobian, and with create_graph */
    in[0] = ag_randn(ctx, AG_F64, 2, small); in[1] = ag_randn(ctx, AG_F64, 2, small); in[2] = ag_randn(ctx, AG_F64, 2, small);
    {
        int64_t s4[2] = { 4, 4 };
        in[1] = ag_randn(ctx, AG_F64, 2, s4); in[2] = ag_randn(ctx, AG_F64, 2, s4);
    }
    CHECK(ag_jacobian_fwd(ctx, mlp, NULL, 3, in, jf, false) == 0 && ag_jacobian(ctx, mlp, NULL, 3, in, jr, false) == 0, "jacobians");
    worst = 0;
    for (i = 0; i < 3; i++) {
        int64_t k;
        const double *a = (const double *)ag_data(jf[i]), *b = (const double *)ag_data(jr[i]);
        CHECK(ag_ndim(jf[i]) == 4 && ag_numel(jf[i]) == ag_numel(jr[i]), "jacobian_fwd shape");
        for (k = 0; k < ag_numel(jr[i]); k++) if (fabs(a[k] - b[k]) > worst) worst = fabs(a[k] - b[k]);
    }
    CHECK(worst < 1e-14, "jacobian_fwd equals jacobian (diff %g)", worst);
    {   /* create_graph: the forward-mode Jacobian is differentiable w.r.t. the inputs */
        ag_tensor *xs = ag_set_requires_grad(ag_detach(in[0]), true), *in2[3], *jc[3], *g1[1], *g2[1];
        in2[0] = xs; in2[1] = in[1]; in2[2] = in[2];
        CHECK(ag_jacobian_fwd(ctx, mlp, NULL, 3, in2, jc, true) == 0 && ag_requires_grad(jc[1]), "jacobian_fwd with create_graph is recorded");
        CHECK(ag_jacobian(ctx, mlp, NULL, 3, in2, jr, true) == 0, "jacobian with create_graph");
        CHECK(ag_grad_of(ag_sum(ag_mul(jc[1], jc[1])), NULL, 1, &xs, g1) == 0 && ag_grad_of(ag_sum(ag_mul(jr[1], jr[1])), NULL, 1, &xs, g2) == 0,
              "second derivatives through both");
        worst = 0;
        for (i = 0; i < 12; i++) { int64_t idx[2]; idx[0] = i / 4; idx[1] = i % 4; if (fabs(ag_get(g1[0], idx) - ag_get(g2[0], idx)) > worst) worst = fabs(ag_get(g1[0], idx) - ag_get(g2[0], idx)); }
        CHECK(worst < 1e-12, "d |J|^2 / dx: forward and reverse Jacobians agree (diff %g)", worst);
    }
    {   /* jvp with create_graph is linear in u: d sum(J u) / d u = J^T 1 */
        ag_tensor *us[3], *jv = NULL, *gu[1], *vj[3];
        for (i = 0; i < 3; i++) us[i] = ag_set_requires_grad(ag_zeros(ctx, AG_F64, ag_ndim(in[i]), ag_shape(in[i])), true);
        CHECK(ag_jvp(ctx, mlp, NULL, 3, in, us, NULL, &jv, true) == 0 && ag_requires_grad(jv), "jvp with create_graph is recorded");
        CHECK(ag_grad_of(ag_sum(jv), NULL, 1, &us[0], gu) == 0, "its gradient w.r.t. u");
        CHECK(ag_vjp(ctx, mlp, NULL, 3, in, ag_ones(ctx, AG_F64, 2, small), NULL, vj, false) == 0, "vjp");
        worst = 0;
        for (i = 0; i < 12; i++) { int64_t idx[2]; idx[0] = i / 4; idx[1] = i % 4; if (fabs(ag_get(gu[0], idx) - ag_get(vj[0], idx)) > worst) worst = fabs(ag_get(gu[0], idx) - ag_get(vj[0], idx)); }
        CHECK(worst < 1e-13, "d <1, J u> / d u = J^T 1 (diff %g)", worst);
    }
    /* bad input */
    bad[0] = ag_zeros(ctx, AG_F64, 2, s2); bad[1] = in[1]; bad[2] = in[2];   /* [10, 128]: the wrong shape for input 0 */
    CHECK(ag_jvp(ctx, mlp, NULL, 3, in, bad, NULL, &jvp, false) == -1 && jvp == NULL &&
          has_error(ctx, "jvp: u[0] has shape [10, 128] but input 0 has shape [3, 4]"), "jvp with a tangent of the wrong shape");
    CHECK(ag_jvp(ctx, mlp, NULL, 3, in, NULL, NULL, &jvp, false) == -1 && has_error(ctx, "u may be NULL only for one single-element input"),
          "jvp with NULL u for several inputs");
    CHECK(ag_jvp(ctx, mlp, NULL, 0, in, bad, NULL, &jvp, false) == -1 && has_error(ctx, "jvp: need 1 to 16 inputs, got 0"), "jvp with n = 0");
    CHECK(ag_jvp(ctx, mlp, NULL, 3, in, bad, NULL, NULL, false) == -1 && has_error(ctx, "jvp: jvp is NULL"), "jvp with no result pointer");
    CHECK(ag_jacobian_fwd(ctx, mlp, NULL, 3, in, NULL, false) == -1 && has_error(ctx, "jacobian_fwd: jac is NULL"), "jacobian_fwd, NULL jac");
    CHECK(ag_jacobian_fwd(ctx, NULL, NULL, 3, in, jf, false) == -1 && has_error(ctx, "jacobian_fwd: the function is NULL"), "jacobian_fwd, NULL f");
    CHECK(ag_jacobian_fwd(ctx, shape_changer, &calls, 1, in, jf, false) == -1 && jf[0] == NULL &&
          has_error(ctx, "jacobian_fwd: the function returned shape [], then [3, 4]"), "a function whose shape changes between calls");
    ag_ctx_free(ctx);
}

int main(void) {
    test_dual_basics();
    test_inplace();
    test_custom_and_checkpoint();
    test_forward_over_reverse();
    test_functional();
    return harness_finish("test_forward");
}
