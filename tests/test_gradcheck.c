/* test_gradcheck.c - finite-difference gradient checks (F64) of every differentiable op.

   Build:  cc -std=c99 -O1 -I. tests/test_gradcheck.c -lm -o build/test_gradcheck
   Run:    build/test_gradcheck [-v] [substring]
           -v prints every case with its worst error; a substring runs only the
           cases whose op name contains it (e.g. "matmul").

   Table-driven: each row of `cases` is one op with its input shapes, how to draw
   the inputs (so they stay away from kinks, ties, clamp bounds and log/sqrt/pow
   singularities) and its extra arguments. Each row runs with contiguous inputs
   and, where an input has the dims for it, with non-contiguous inputs: the leaf
   that requires grad is a larger tensor and the op sees a view of it built
   inside the checked function (a transpose of the last two dims, or a step-2
   slice of dim 0). Each (row, layout) is checked at order 1 and, with
   create_graph, at order 2 (ag_gradcheck_opts.second_order). One CHECK per
   (row, layout, order) names the op, the shapes, the layout, the order and the
   worst error. The context is reset after every row and layout.

   Forward mode, for every (row, layout): the Jacobian from one-hot tangents
   (ag_jacobian_fwd) must equal the reverse-mode one, and the tangent along random
   directions, as a function of the inputs, must pass gradcheck (reverse-over-forward).

   Then 240 cases drawn at random from a pool of ops: shapes (0 to 3 dims of 1 to 4),
   broadcast partners, reduction dims (positive or negative), keepdim and matmul
   batch shapes all come from the context RNG, through the same three layouts.
   Finally, the checker itself: it must fail a wrong first derivative
   (x * detach(x)), a wrong second derivative only (x d - d^2/2 with d = detach(x)),
   a kink exactly at the evaluation point (relu at 0), and reject F32 inputs and
   inputs that do not require grad. */
#include "autograd.h"
#include "harness.h"

#include <stdlib.h>

/* ---- how inputs are drawn (all from the context RNG, all F64) ---- */
enum {
    I_N,        /* N(0, 1) */
    I_POS,      /* U[0.5, 2): log, sqrt, pow */
    I_AWAY0,    /* +-U[0.5, 1.5): abs, relu, leaky_relu, denominators */
    I_CLAMP,    /* away from the bounds of clamp(-0.5, 0.8) */
    I_DISTINCT, /* a shuffled grid with gaps >= 0.12: max, min, max_dim, min_dim */
    I_ODD,      /* odd multiples of 0.1 (+- 0.02): maximum/minimum, first input */
    I_EVEN,     /* even multiples of 0.1 (+- 0.02): never within 0.06 of an I_ODD value */
    I_PROB,     /* U[0.1, 0.9): bce targets */
    I_TIE2,     /* I_DISTINCT, then the last element copies the largest: one two-way tie */
    I_ZERO      /* all zeros: a kink, for the must-fail test */
};

/* flags */
#define F_NO_VIEWS  1   /* contiguous layout only */
#define F_NO_SECOND 2   /* first order only (the op has no second derivative at this point) */
#define F_TIE       4   /* input 1 gets a copy of input 0's values (same shape) */

typedef struct { int nd; int64_t d[AG_MAX_DIMS]; } shp;
#define S0           {0, {0}}
#define S1(a)        {1, {a}}
#define S2(a,b)      {2, {a, b}}
#define S3(a,b,c)    {3, {a, b, c}}
#define S4(a,b,c,d)  {4, {a, b, c, d}}

typedef struct gc_case gc_case;
typedef ag_tensor *(*op_fn)(ag_ctx *ctx, ag_tensor **x, const gc_case *c);
struct gc_case {
    const char *op;          /* the op under test, as printed */
    const char *note;        /* arguments, as printed */
    op_fn fn;
    int n;                   /* number of tensor inputs */
    shp in[4];
    int init[4];
    int ia[8];               /* int arguments: dims, keepdim, correction, perm, options ... */
    double da[2];            /* double arguments: exponent, scalar, bounds, p ... */
    int64_t sh[AG_MAX_DIMS]; /* int64 arguments: shapes, slice bounds */
    const int32_t *idx;      /* class targets / row indices */
    int64_t nidx;
    double eps, atol, rtol;  /* 0: ag_gradcheck's defaults */
    int flags;
};

#define OP(name) static ag_tensor *op_##name(ag_ctx *ctx, ag_tensor **x, const gc_case *c)
#define UNUSED (void)ctx; (void)x; (void)c

/* ---- the ops under test ---- */
OP(add) { UNUSED; return ag_add(x[0], x[1]); }
OP(sub) { UNUSED; return ag_sub(x[0], x[1]); }
OP(mul) { UNUSED; return ag_mul(x[0], x[1]); }
OP(div) { UNUSED; return ag_div(x[0], x[1]); }
OP(maximum) { UNUSED; return ag_maximum(x[0], x[1]); }
OP(minimum) { UNUSED; return ag_minimum(x[0], x[1]); }

OP(neg) { UNUSED; return ag_neg(x[0]); }
OP(pow) { UNUSED; return ag_pow(x[0], c->da[0]); }
OP(add_scalar) { UNUSED; return ag_add_scalar(x[0], c->da[0]); }
OP(mul_scalar) { UNUSED; return ag_mul_scalar(x[0], c->da[0]); }
OP(exp) { UNUSED; return ag_exp(x[0]); }
OP(log) { UNUSED; return ag_log(x[0]); }
OP(sqrt) { UNUSED; return ag_sqrt(x[0]); }
OP(abs) { UNUSED; return ag_abs(x[0]); }
OP(tanh) { UNUSED; return ag_tanh(x[0]); }
OP(sigmoid) { UNUSED; return ag_sigmoid(x[0]); }
OP(relu) { UNUSED; return ag_relu(x[0]); }
OP(leaky_relu) { UNUSED; return ag_leaky_relu(x[0], c->da[0]); }
OP(gelu) { UNUSED; return ag_gelu(x[0]); }
OP(gelu_tanh) { UNUSED; return ag_gelu_tanh(x[0]); }
OP(silu) { UNUSED; return ag_silu(x[0]); }
OP(erf) { UNUSED; return ag_erf(x[0]); }
OP(clamp) { UNUSED; return ag_clamp(x[0], c->da[0], c->da[1]); }
OP(softplus) { UNUSED; return ag_softplus(x[0], c->da[0], c->da[1]); }
OP(sin) { UNUSED; return ag_sin(x[0]); }
OP(cos) { UNUSED; return ag_cos(x[0]); }
OP(tan) { UNUSED; return ag_tan(x[0]); }
OP(asin) { UNUSED; return ag_asin(x[0]); }
OP(acos) { UNUSED; return ag_acos(x[0]); }
OP(atan) { UNUSED; return ag_atan(x[0]); }
OP(sinh) { UNUSED; return ag_sinh(x[0]); }
OP(cosh) { UNUSED; return ag_cosh(x[0]); }
OP(asinh) { UNUSED; return ag_asinh(x[0]); }
OP(atanh) { UNUSED; return ag_atanh(x[0]); }
OP(log2) { UNUSED; return ag_log2(x[0]); }
OP(log10) { UNUSED; return ag_log10(x[0]); }
OP(log1p) { UNUSED; return ag_log1p(x[0]); }
OP(exp2) { UNUSED; return ag_exp2(x[0]); }
OP(expm1) { UNUSED; return ag_expm1(x[0]); }
OP(rsqrt) { UNUSED; return ag_rsqrt(x[0]); }
OP(reciprocal) { UNUSED; return ag_reciprocal(x[0]); }
OP(square) { UNUSED; return ag_square(x[0]); }
OP(floor) { UNUSED; return ag_floor(x[0]); }
OP(ceil) { UNUSED; return ag_ceil(x[0]); }
OP(round) { UNUSED; return ag_round(x[0]); }
OP(trunc) { UNUSED; return ag_trunc(x[0]); }
OP(frac) { UNUSED; return ag_frac(x[0]); }
OP(softsign) { UNUSED; return ag_softsign(x[0]); }
OP(logsigmoid) { UNUSED; return ag_logsigmoid(x[0]); }
OP(acosh) { UNUSED; return ag_acosh(ag_add_scalar(x[0], 1.0)); }   /* x + 1 in [1.5, 3): acosh's domain */
OP(elu) { UNUSED; return ag_elu(x[0], c->da[0]); }
OP(selu) { UNUSED; return ag_selu(x[0]); }
OP(celu) { UNUSED; return ag_celu(x[0], c->da[0]); }
OP(hardtanh) { UNUSED; return ag_hardtanh(x[0], c->da[0], c->da[1]); }
OP(relu6) { UNUSED; return ag_relu6(ag_mul_scalar(x[0], 4.0)); }   /* 4 x: both kinks (0, 6) in reach of U[0.5, 1.5) x 4 */
OP(hardsigmoid) { UNUSED; return ag_hardsigmoid(ag_mul_scalar(x[0], 4.0)); }
OP(hardswish) { UNUSED; return ag_hardswish(ag_mul_scalar(x[0], 4.0)); }
OP(mish) { UNUSED; return ag_mish(x[0]); }
OP(atan2) { UNUSED; return ag_atan2(x[0], x[1]); }
OP(hypot) { UNUSED; return ag_hypot(x[0], x[1]); }
OP(logaddexp) { UNUSED; return ag_logaddexp(x[0], x[1]); }
OP(fmod) { UNUSED; return ag_fmod(x[0], x[1]); }
OP(remainder) { UNUSED; return ag_remainder(x[0], x[1]); }
OP(pow_tensor) { UNUSED; return ag_pow_tensor(x[0], x[1]); }
OP(lerp) { UNUSED; return ag_lerp(x[0], x[1], x[2]); }
/* where and masked_fill: a fixed BOOL condition of shape ia[0] dims, sh (its first entries of cond12) */
static const unsigned char cond12[12] = {1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0};
OP(where) { UNUSED; return ag_where(ag_from(ctx, AG_BOOL, c->ia[0], c->sh, cond12), x[0], x[1]); }
/* the condition from a comparison of the inputs (I_ODD against I_EVEN: never within eps of a tie), around
   non-linear branches so that the second order goes through where's backward twice */
OP(where_cmp) { UNUSED; return ag_where(ag_gt(x[0], x[1]), ag_mul(x[0], x[0]), ag_exp(x[1])); }
OP(masked_fill) { UNUSED; return ag_masked_fill(x[0], ag_from(ctx, AG_BOOL, c->ia[0], c->sh, cond12), c->da[0]); }
OP(masked_fill_sq) { UNUSED; return ag_masked_fill(ag_mul(x[0], x[0]), ag_lt(x[0], ag_scalar_f64(ctx, 0.0)), c->da[0]); }
OP(rsub_scalar) { UNUSED; return ag_rsub_scalar(x[0], 3.0); }
OP(rdiv_scalar) { UNUSED; return ag_rdiv_scalar(x[0], 2.0); }
OP(rpow_scalar) { UNUSED; return ag_rpow_scalar(x[0], 2.5); }
OP(sign) { UNUSED; return ag_sign(x[0]); }
OP(logsumexp) { UNUSED; return ag_logsumexp(x[0], c->ia[0], c->ia[1] != 0); }
OP(std_dim) { UNUSED; return ag_std_dim(x[0], c->ia[0], c->ia[1] != 0, 1); }
OP(cumsum) { UNUSED; return ag_cumsum(x[0], c->ia[0]); }
OP(tril) { UNUSED; return ag_tril(x[0], c->ia[0]); }
OP(flip) { UNUSED; return ag_flip(x[0], c->ia[0], c->ia + 1); }
OP(roll) { UNUSED; return ag_roll(x[0], c->ia[0], c->ia[1]); }
OP(triu) { UNUSED; return ag_triu(x[0], c->ia[0]); }

OP(sum) { UNUSED; return ag_sum(x[0]); }
OP(mean) { UNUSED; return ag_mean(x[0]); }
OP(max) { UNUSED; return ag_max(x[0]); }
OP(min) { UNUSED; return ag_min(x[0]); }
OP(var) { UNUSED; return ag_var(x[0], c->ia[0]); }
OP(sum_dim) { UNUSED; return ag_sum_dim(x[0], c->ia[0], c->ia[1] != 0); }
OP(mean_dim) { UNUSED; return ag_mean_dim(x[0], c->ia[0], c->ia[1] != 0); }
OP(max_dim) { UNUSED; return ag_max_dim(x[0], c->ia[0], c->ia[1] != 0); }
OP(min_dim) { UNUSED; return ag_min_dim(x[0], c->ia[0], c->ia[1] != 0); }
OP(var_dim) { UNUSED; return ag_var_dim(x[0], c->ia[0], c->ia[1] != 0, c->ia[2]); }

OP(matmul) { UNUSED; return ag_matmul(x[0], x[1]); }
OP(linear) { UNUSED; return ag_linear(x[0], x[1], c->n > 2 ? x[2] : NULL); }

OP(reshape) { UNUSED; return ag_reshape(x[0], c->ia[0], c->sh); }
OP(transpose) { UNUSED; return ag_transpose(x[0], c->ia[0], c->ia[1]); }
OP(permute) { UNUSED; return ag_permute(x[0], c->ia); }
OP(squeeze) { UNUSED; return ag_squeeze(x[0], c->ia[0]); }
OP(unsqueeze) { UNUSED; return ag_unsqueeze(x[0], c->ia[0]); }
OP(slice) { UNUSED; return ag_slice(x[0], c->ia[0], c->sh[0], c->sh[1], c->sh[2]); }
OP(narrow) { UNUSED; return ag_narrow(x[0], c->ia[0], c->sh[0], c->sh[1]); }
OP(expand) { UNUSED; return ag_expand(x[0], c->ia[0], c->sh); }
OP(contiguous) { UNUSED; return ag_contiguous(x[0]); }
OP(contiguous_t) { UNUSED; return ag_contiguous(ag_transpose(x[0], 0, 1)); }
OP(cat) { UNUSED; return ag_cat(x, c->n, c->ia[0]); }
OP(stack) { UNUSED; return ag_stack(x, c->n, c->ia[0]); }
OP(gather_rows) { UNUSED; return ag_gather_rows(x[0], c->nidx, c->idx); }

OP(softmax) { UNUSED; return ag_softmax(x[0], c->ia[0]); }
OP(log_softmax) { UNUSED; return ag_log_softmax(x[0], c->ia[0]); }
OP(cross_entropy) { UNUSED; return ag_cross_entropy(x[0], c->idx); }
OP(mse_loss) { UNUSED; return ag_mse_loss(x[0], x[1]); }
OP(bce_with_logits) { UNUSED; return ag_bce_with_logits(x[0], x[1]); }
/* ia[0]: bit 0 weight, bit 1 bias (taken from x[1], x[2] in that order) */
OP(layer_norm) {
    int k = 1;
    ag_tensor *w = NULL, *b = NULL;
    UNUSED;
    if (c->ia[0] & 1) w = x[k++];
    if (c->ia[0] & 2) b = x[k++];
    return ag_layer_norm(x[0], w, b, 1e-5);
}
/* the same mask on every evaluation: reseed right before drawing it */
OP(dropout) { UNUSED; ag_manual_seed(ctx, 1234); return ag_dropout(x[0], c->da[0], c->ia[0] != 0); }
/* F64 -> F32 -> F64 rounds to float: checked with a large eps and loose tolerances */
OP(to) {
    ag_tensor *y;
    UNUSED;
    y = ag_to(ag_to(x[0], AG_F32), AG_F64);
    return ag_mul(y, y);
}
OP(to_same) { UNUSED; return ag_tanh(ag_to(x[0], AG_F64)); }   /* F64 -> F64 is the identity */

/* ---- compositions: second order through several rules at once ---- */
static const int32_t tgt4[4] = {1, 0, 4, 2};
OP(mlp) {   /* x [4,3], W1 [5,3], b1 [5], W2 [5,5] */
    ag_tensor *h;
    UNUSED;
    h = ag_tanh(ag_linear(x[0], x[1], x[2]));
    return ag_cross_entropy(ag_linear(ag_gelu(h), x[3], NULL), tgt4);
}
OP(attention) {   /* q [2,3,4], k [2,5,4], v [2,5,4] */
    ag_tensor *s;
    UNUSED;
    s = ag_mul_scalar(ag_matmul(x[0], ag_transpose(x[1], -1, -2)), 0.5);
    return ag_matmul(ag_softmax(s, -1), x[2]);
}
OP(ln_silu_mean) {   /* x [3,6], w [6], b [6] */
    UNUSED;
    return ag_mean_dim(ag_silu(ag_layer_norm(x[0], x[1], x[2], 1e-5)), -1, false);
}
OP(conv2d) {   /* x [N, C, H, W], W [O, C/groups, kh, kw]; ia: stride, padding, dilation, groups */
    ag_conv2d_opts o;
    UNUSED;
    memset(&o, 0, sizeof o);
    o.stride_h = o.stride_w = c->ia[0]; o.pad_h = o.pad_w = c->ia[1]; o.dil_h = o.dil_w = c->ia[2]; o.groups = c->ia[3];
    return ag_conv2d(x[0], x[1], c->n > 2 ? x[2] : NULL, &o);
}
OP(max_pool2d) { UNUSED; return ag_max_pool2d(x[0], c->ia[0], c->ia[0], c->ia[1], c->ia[1], c->ia[2], c->ia[2]); }   /* k, stride, pad */
OP(avg_pool2d) { UNUSED; return ag_avg_pool2d(x[0], c->ia[0], c->ia[0], c->ia[1], c->ia[1], c->ia[2], c->ia[2]); }
OP(norm) {   /* sqrt(sum(x^2, -1)) / (1 + exp(-x)) broadcasting back */
    ag_tensor *n;
    UNUSED;
    n = ag_sqrt(ag_sum_dim(ag_mul(x[0], x[0]), -1, true));
    return ag_div(x[0], ag_add_scalar(n, 1.0));
}

OP(select) { UNUSED; return ag_select(x[0], c->ia[0], c->ia[1]); }
OP(flatten) { UNUSED; return ag_flatten(x[0], c->ia[0], c->ia[1]); }
OP(unflatten) { UNUSED; return ag_unflatten(x[0], c->ia[0], c->ia[1], c->sh); }
OP(movedim) { UNUSED; return ag_movedim(x[0], c->ia[0], c->ia[1]); }
/* the pieces put back in reverse order: every piece reaches the output through its own view */
static ag_tensor *pieces_reversed(ag_tensor **o, int n, int dim) {
    ag_tensor *r[8];
    int i;
    if (n < 1 || n > 8) return NULL;
    for (i = 0; i < n; i++) r[i] = o[n - 1 - i];
    return ag_cat(r, n, dim);
}
OP(split) { ag_tensor *o[8]; UNUSED; return pieces_reversed(o, ag_split(x[0], c->ia[1], c->sh, c->ia[0], o), c->ia[0]); }
OP(chunk) { ag_tensor *o[8]; UNUSED; return pieces_reversed(o, ag_chunk(x[0], c->ia[1], c->ia[0], o), c->ia[0]); }
OP(unbind) { ag_tensor *o[8]; int n; UNUSED; n = ag_unbind(x[0], c->ia[0], o); return n == 3 ? ag_add(ag_mul(o[0], o[1]), ag_exp(o[2])) : NULL; }
OP(repeat) { UNUSED; return ag_repeat(x[0], c->ia[0], c->sh); }
OP(sum_dims) { UNUSED; return ag_sum_dims(x[0], c->ia[0], c->ia + 2, c->ia[1] != 0); }
OP(mean_dims) { UNUSED; return ag_mean_dims(x[0], c->ia[0], c->ia + 2, c->ia[1] != 0); }
OP(vnorm) { UNUSED; return ag_norm_dims(x[0], c->da[0], c->ia[0], c->ia + 2, c->ia[1] != 0); }
OP(prelu) { UNUSED; return ag_prelu(x[0], x[1]); }
OP(glu) { UNUSED; return ag_glu(x[0], c->ia[0]); }
OP(normalize) { UNUSED; return ag_normalize(x[0], c->da[0], c->ia[0], 1e-12); }
OP(cosine_similarity) { UNUSED; return ag_cosine_similarity(x[0], x[1], c->ia[0], 1e-8); }
OP(pairwise_distance) { UNUSED; return ag_pairwise_distance(x[0], x[1], c->da[0], 1e-6); }
OP(rms_norm) { UNUSED; return ag_rms_norm(x[0], c->n > 1 ? x[1] : NULL, 1e-5); }
OP(mse_loss_ex) { UNUSED; return ag_mse_loss_ex(x[0], x[1], (ag_reduction)c->ia[0]); }
OP(l1_loss) { UNUSED; return ag_l1_loss(x[0], x[1], (ag_reduction)c->ia[0]); }
OP(smooth_l1_loss) { UNUSED; return ag_smooth_l1_loss(x[0], x[1], c->da[0], (ag_reduction)c->ia[0]); }
OP(huber_loss) { UNUSED; return ag_huber_loss(x[0], x[1], c->da[0], (ag_reduction)c->ia[0]); }
OP(bce_loss) { UNUSED; return ag_bce_loss(x[0], x[1], (ag_reduction)c->ia[0]); }
OP(kl_div) { UNUSED; return ag_kl_div(ag_log_softmax(x[0], -1), x[1], (ag_reduction)c->ia[0], c->ia[1] != 0); }
OP(nll_loss) { UNUSED; return ag_nll_loss(ag_log_softmax(x[0], -1), c->idx, (ag_reduction)c->ia[0]); }

/* recurrent cells: x [2,3], h [2,4], w_ih [G 4, 3], w_hh [G 4, 4]; c = -h / 2; ia[0]: biases taken from columns of the weights */
OP(lstm_cell) {
    ag_tensor *h2, *c2, *bi = c->ia[0] ? ag_select(x[2], 1, 0) : NULL, *bh = c->ia[0] ? ag_select(x[3], 1, 1) : NULL;
    UNUSED;
    if (ag_lstm_cell(x[0], x[1], ag_mul_scalar(x[1], -0.5), x[2], x[3], bi, bh, &h2, &c2) != 0) return NULL;
    return ag_add(h2, ag_mul_scalar(c2, 0.7));
}
OP(gru_cell) {
    ag_tensor *bi = c->ia[0] ? ag_select(x[2], 1, 0) : NULL, *bh = c->ia[0] ? ag_select(x[3], 1, 1) : NULL;
    UNUSED;
    return ag_gru_cell(x[0], x[1], x[2], x[3], bi, bh);
}

/* order and indexing: ia[0] dim, ia[1] flag (descending / largest / keepdim), sh[0] k */
OP(sort) { UNUSED; return ag_sort(x[0], c->ia[0], c->ia[1] != 0, NULL); }
OP(topk) { UNUSED; return ag_topk(x[0], c->sh[0], c->ia[0], c->ia[1] != 0, NULL); }
OP(kthvalue) { UNUSED; return ag_kthvalue(x[0], c->sh[0], c->ia[0], c->ia[1] != 0, NULL); }
OP(median_dim) { UNUSED; return ag_median_dim(x[0], c->ia[0], c->ia[1] != 0, NULL); }
OP(median) { UNUSED; return ag_median(x[0]); }
static const int64_t gidx[6] = {2, 0, 1, 1, 0, 2};
OP(gather) { int64_t sh[2] = {3, 2}; UNUSED; return ag_gather(x[0], c->ia[0], 2, sh, gidx); }
OP(index_select) { UNUSED; return ag_index_select(x[0], c->ia[0], 4, gidx); }
OP(scatter_add) { UNUSED; return ag_scatter_add(x[0], c->ia[0], gidx, x[1]); }

OP(squeeze_all) { UNUSED; return ag_squeeze_all(x[0]); }
OP(tile) { UNUSED; return ag_tile(x[0], c->ia[0], c->sh); }
OP(repeat_interleave) { UNUSED; return ag_repeat_interleave(x[0], c->sh[0], c->ia[0]); }
OP(diagonal) { UNUSED; return ag_diagonal(x[0], c->sh[0], c->ia[0], c->ia[1]); }
OP(diag) { UNUSED; return ag_diag(x[0], c->sh[0]); }
OP(trace) { UNUSED; return ag_trace(x[0]); }
OP(pad) { UNUSED; return ag_pad(x[0], c->ia[1], c->sh, (ag_pad_mode)c->ia[0], 0.5); }
OP(prod) { UNUSED; return ag_prod(x[0]); }
OP(prod_dim) { UNUSED; return ag_prod_dim(x[0], c->ia[0], c->ia[1] != 0); }
OP(cumprod) { UNUSED; return ag_cumprod(x[0], c->ia[0]); }
OP(cummax) { UNUSED; return ag_cummax(x[0], c->ia[0], NULL); }
OP(cummin) { UNUSED; return ag_cummin(x[0], c->ia[0], NULL); }
static const char *const ein_specs[] = {"ij,jk->ik", "bij,bjk->bik", "i,j->ij", "ii->", "ij->ji", "ik,jkl,il->ij", "ii->i", "ij,ij->i"};
OP(einsum) { UNUSED; return ag_einsum(ein_specs[c->ia[0]], c->n, x); }
OP(meshgrid) { ag_tensor *o[2]; UNUSED; return ag_meshgrid(2, x, c->ia[0] != 0, o) == 2 ? ag_mul(o[0], ag_exp(o[1])) : NULL; }

/* layers and losses with options: ia[] and da[] hold the options */
OP(max_pool2d_ex) { ag_pool2d_opts o; UNUSED; memset(&o, 0, sizeof o); o.kh = o.kw = c->ia[0]; o.stride_h = o.stride_w = c->ia[1]; o.pad_h = o.pad_w = c->ia[2];
    o.dil_h = o.dil_w = c->ia[3]; o.ceil_mode = c->ia[4] != 0; return ag_max_pool2d_ex(x[0], &o); }
OP(avg_pool2d_ex) { ag_pool2d_opts o; UNUSED; memset(&o, 0, sizeof o); o.kh = o.kw = c->ia[0]; o.stride_h = o.stride_w = c->ia[1]; o.pad_h = o.pad_w = c->ia[2];
    o.ceil_mode = c->ia[4] != 0; o.exclude_pad = c->ia[5] != 0; return ag_avg_pool2d_ex(x[0], &o); }
OP(adaptive_avg_pool2d) { UNUSED; return ag_adaptive_avg_pool2d(x[0], c->ia[0], c->ia[1]); }
OP(adaptive_max_pool2d) { UNUSED; return ag_adaptive_max_pool2d(x[0], c->ia[0], c->ia[1]); }
OP(conv1d) { UNUSED; return ag_conv1d(x[0], x[1], c->n > 2 ? x[2] : NULL, c->ia[0], c->ia[1], c->ia[2], c->ia[3]); }
OP(conv_transpose2d) { ag_conv_transpose2d_opts o; UNUSED; memset(&o, 0, sizeof o); o.stride_h = o.stride_w = c->ia[0]; o.pad_h = o.pad_w = c->ia[1];
    o.output_pad_h = o.output_pad_w = c->ia[2]; o.dil_h = o.dil_w = c->ia[3]; o.groups = c->ia[4]; return ag_conv_transpose2d(x[0], x[1], c->n > 2 ? x[2] : NULL, &o); }
OP(conv_transpose1d) { UNUSED; return ag_conv_transpose1d(x[0], x[1], c->n > 2 ? x[2] : NULL, c->ia[0], c->ia[1], c->ia[2], c->ia[3], c->ia[4]); }
OP(group_norm) { UNUSED; return ag_group_norm(x[0], c->ia[0], c->n > 1 ? x[1] : NULL, c->n > 2 ? x[2] : NULL, 1e-5); }
OP(instance_norm) { UNUSED; return ag_instance_norm(x[0], c->n > 1 ? x[1] : NULL, c->n > 2 ? x[2] : NULL, 1e-5); }
OP(sdpa) { ag_sdpa_opts o; UNUSED; memset(&o, 0, sizeof o); o.is_causal = c->ia[0] != 0; o.attn_mask = c->n > 3 ? x[3] : NULL; return ag_scaled_dot_product_attention(x[0], x[1], x[2], &o); }
OP(interpolate) { UNUSED; return ag_interpolate(x[0], c->ia[0], c->ia[1], (ag_interp_mode)c->ia[2], c->ia[3] != 0); }
static const int32_t tgt_ign[4] = {1, -100, 4, 2};
OP(cross_entropy_ex) { ag_cross_entropy_opts o; UNUSED; memset(&o, 0, sizeof o); o.ignore_index = -100; o.label_smoothing = c->da[0];
    o.reduction = (ag_reduction)c->ia[0]; o.weight = c->n > 1 ? x[1] : NULL; return ag_cross_entropy_ex(x[0], tgt_ign, &o); }
OP(cross_entropy_probs) { ag_cross_entropy_opts o; UNUSED; memset(&o, 0, sizeof o); o.label_smoothing = c->da[0];
    o.reduction = (ag_reduction)c->ia[0]; return ag_cross_entropy_probs(x[0], ag_softmax(x[1], -1), &o); }
OP(bce_with_logits_ex) { UNUSED; return ag_bce_with_logits_ex(x[0], x[1], c->n > 2 ? x[2] : NULL, c->n > 3 ? x[3] : NULL, (ag_reduction)c->ia[0]); }

static const int64_t gidx_unique[6] = {2, 0, 1, 3, 0, 2};   /* no row repeats an index: scatter's gradient is defined */
OP(scatter) { UNUSED; return ag_scatter(x[0], c->ia[0], gidx_unique, x[1]); }
OP(max_unpool2d) { ag_pool2d_opts o; UNUSED; memset(&o, 0, sizeof o); o.kh = o.kw = 2; o.stride_h = o.stride_w = c->ia[0];
    return ag_max_unpool2d(ag_max_pool2d_ex(x[0], &o), ag_max_pool2d_indices(x[0], &o), ag_dim(x[0], 2), ag_dim(x[0], 3)); }

/* ---- the table ---- */
/* binary broadcasting patterns, for each elementwise binary op */
#define BIN(name, i0, i1) \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {i0, i1} }, \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S2(3,4), S1(4)}, .init = {i0, i1} }, \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S3(2,1,4), S2(3,1)}, .init = {i0, i1} }, \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S2(3,4), S0}, .init = {i0, i1} }, \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S0, S2(3,4)}, .init = {i0, i1} }, \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S1(1), S2(3,2)}, .init = {i0, i1} }, \
    { .op = #name, .fn = op_##name, .n = 2, .in = {S3(2,3,1), S3(1,3,4)}, .init = {i0, i1} }
#define UN(name, init0) { .op = #name, .fn = op_##name, .n = 1, .in = {S2(3,4)}, .init = {init0} }
#define UN3(name, init0) { .op = #name, .fn = op_##name, .n = 1, .in = {S3(2,3,4)}, .init = {init0} }
/* reductions over one dim: keepdim both ways, positive and negative dims */
#define RED(name, init0, corr) \
    { .op = #name, .note = "dim=1 keepdim", .fn = op_##name, .n = 1, .in = {S3(2,3,4)}, .init = {init0}, .ia = {1, 1, corr} }, \
    { .op = #name, .note = "dim=0", .fn = op_##name, .n = 1, .in = {S3(3,2,4)}, .init = {init0}, .ia = {0, 0, corr} }, \
    { .op = #name, .note = "dim=-1", .fn = op_##name, .n = 1, .in = {S3(2,3,4)}, .init = {init0}, .ia = {-1, 0, corr} }, \
    { .op = #name, .note = "dim=-2 keepdim", .fn = op_##name, .n = 1, .in = {S3(2,3,4)}, .init = {init0}, .ia = {-2, 1, corr} }, \
    { .op = #name, .note = "dim=-1 keepdim", .fn = op_##name, .n = 1, .in = {S2(3,5)}, .init = {init0}, .ia = {-1, 1, corr} }, \
    { .op = #name, .note = "dim=0", .fn = op_##name, .n = 1, .in = {S1(5)}, .init = {init0}, .ia = {0, 0, corr} }

static const int32_t rows6[6] = {0, 2, 2, 4, 0, 1};
static const int32_t rows3[3] = {3, 3, 1};
static const int32_t tgt1[1] = {3};
static const int32_t tgt3[3] = {2, 2, 0};

static const gc_case cases[] = {
    /* elementwise binary, with broadcasting */
    BIN(add, I_N, I_N),
    BIN(sub, I_N, I_N),
    BIN(mul, I_N, I_N),
    BIN(div, I_N, I_AWAY0),
    BIN(maximum, I_ODD, I_EVEN),
    BIN(minimum, I_ODD, I_EVEN),
    /* exact ties split the gradient evenly: central differences see 1/2 too (first order only) */
    { .op = "maximum", .note = "tie", .fn = op_maximum, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N},
      .flags = F_TIE | F_NO_VIEWS | F_NO_SECOND },
    { .op = "minimum", .note = "tie", .fn = op_minimum, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N},
      .flags = F_TIE | F_NO_VIEWS | F_NO_SECOND },

    /* elementwise unary */
    UN(neg, I_N),
    { .op = "pow", .note = "2", .fn = op_pow, .n = 1, .in = {S2(3,4)}, .init = {I_POS}, .da = {2.0} },
    { .op = "pow", .note = "3", .fn = op_pow, .n = 1, .in = {S2(3,4)}, .init = {I_POS}, .da = {3.0} },
    { .op = "pow", .note = "0.5", .fn = op_pow, .n = 1, .in = {S2(3,4)}, .init = {I_POS}, .da = {0.5} },
    { .op = "pow", .note = "-1.5", .fn = op_pow, .n = 1, .in = {S2(3,4)}, .init = {I_POS}, .da = {-1.5} },
    { .op = "pow", .note = "2 (negative base)", .fn = op_pow, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {2.0} },
    { .op = "pow", .note = "3 (negative base)", .fn = op_pow, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {3.0} },
    { .op = "add_scalar", .note = "0.7", .fn = op_add_scalar, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {0.7} },
    { .op = "mul_scalar", .note = "-1.3", .fn = op_mul_scalar, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {-1.3} },
    UN(exp, I_N),
    UN(log, I_POS),
    UN(sqrt, I_POS),
    UN(abs, I_AWAY0),
    UN(tanh, I_N),
    UN(sigmoid, I_N),
    UN(relu, I_AWAY0),
    { .op = "leaky_relu", .note = "0.1", .fn = op_leaky_relu, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {0.1} },
    { .op = "leaky_relu", .note = "-0.3", .fn = op_leaky_relu, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {-0.3} },
    UN(gelu, I_N),
    UN(gelu_tanh, I_N),
    UN(silu, I_N),
    UN(erf, I_N),
    { .op = "clamp", .note = "-0.5, 0.8", .fn = op_clamp, .n = 1, .in = {S2(3,4)}, .init = {I_CLAMP}, .da = {-0.5, 0.8} },
    { .op = "softplus", .note = "1, 20", .fn = op_softplus, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {1.0, 20.0} },
    /* beta 2, threshold 1.6: the switch to x at 0.8, which I_CLAMP keeps 0.1 away from */
    { .op = "softplus", .note = "2, 1.6", .fn = op_softplus, .n = 1, .in = {S2(3,4)}, .init = {I_CLAMP}, .da = {2.0, 1.6} },
    UN3(exp, I_N),
    UN3(log, I_POS),
    UN3(tanh, I_N),
    UN3(gelu, I_N),
    UN3(sigmoid, I_N),
    /* trigonometric, hyperbolic, exponential and rounding functions (each in its domain) */
    UN(sin, I_N), UN(cos, I_N), UN(tan, I_PROB), UN(asin, I_PROB),
    UN(acos, I_PROB), UN(atan, I_N), UN(sinh, I_N), UN(cosh, I_N),
    UN(asinh, I_N), UN(atanh, I_PROB), UN(log2, I_POS), UN(log10, I_POS),
    UN(log1p, I_POS), UN(exp2, I_N), UN(expm1, I_N), UN(rsqrt, I_POS),
    UN(reciprocal, I_POS), UN(square, I_N), UN(floor, I_N), UN(ceil, I_N),
    UN(round, I_N), UN(trunc, I_N), UN(frac, I_N), UN(softsign, I_AWAY0),
    UN(logsigmoid, I_N), UN(acosh, I_POS),
    /* activations: away from their kinks (relu6 at 0 and 6; hardsigmoid and hardswish at +-3, which 4 x I_AWAY0 avoids) */
    { .op = "elu", .note = "1", .fn = op_elu, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {1.0} },
    { .op = "elu", .note = "0.5", .fn = op_elu, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {0.5} },
    UN(selu, I_AWAY0),
    { .op = "celu", .note = "0.7", .fn = op_celu, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {0.7} },
    { .op = "hardtanh", .note = "-0.5, 0.8", .fn = op_hardtanh, .n = 1, .in = {S2(3,4)}, .init = {I_CLAMP}, .da = {-0.5, 0.8} },
    UN(relu6, I_AWAY0), UN(hardsigmoid, I_AWAY0), UN(hardswish, I_AWAY0), UN(mish, I_N),
    /* more binary ops (broadcasting), a scalar on the left */
    { .op = "atan2", .fn = op_atan2, .n = 2, .in = {S2(3,4), S1(4)}, .init = {I_N, I_AWAY0} },
    { .op = "hypot", .fn = op_hypot, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_AWAY0, I_AWAY0} },
    { .op = "logaddexp", .fn = op_logaddexp, .n = 2, .in = {S2(3,4), S2(1,4)}, .init = {I_N, I_N} },
    /* a in (0.5, 2), b in U(0.5, 2) scaled: the quotient keeps off integers where q jumps (first order) */
    { .op = "fmod", .fn = op_fmod, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_POS, I_POS}, .flags = F_NO_SECOND },
    { .op = "remainder", .fn = op_remainder, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_AWAY0, I_POS}, .flags = F_NO_SECOND },
    { .op = "pow_tensor", .fn = op_pow_tensor, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_POS, I_N} },
    { .op = "lerp", .fn = op_lerp, .n = 3, .in = {S2(3,4), S2(3,4), S1(4)}, .init = {I_N, I_N, I_PROB} },
    /* where (gradients to both sides, summed over broadcast dims) and masked_fill (none where filled) */
    { .op = "where", .note = "cond [3,4]", .fn = op_where, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .ia = {2}, .sh = {3, 4} },
    { .op = "where", .note = "cond [3,1]", .fn = op_where, .n = 2, .in = {S2(3,4), S1(4)}, .init = {I_N, I_N}, .ia = {2}, .sh = {3, 1} },
    { .op = "where", .note = "cond [4]", .fn = op_where, .n = 2, .in = {S0, S2(3,4)}, .init = {I_N, I_N}, .ia = {1}, .sh = {4} },
    { .op = "where", .note = "cond [1,3,4]", .fn = op_where, .n = 2, .in = {S3(2,1,4), S2(3,1)}, .init = {I_N, I_N}, .ia = {3}, .sh = {1, 3, 4} },
    { .op = "where", .note = "cond 0-d", .fn = op_where, .n = 2, .in = {S2(3,4), S1(1)}, .init = {I_N, I_N}, .ia = {0} },
    { .op = "where_cmp", .note = "where(a > b, a*a, exp(b))", .fn = op_where_cmp, .n = 2, .in = {S2(3,4), S1(4)}, .init = {I_ODD, I_EVEN} },
    { .op = "masked_fill", .note = "mask [3,4], 0.5", .fn = op_masked_fill, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {2}, .sh = {3, 4}, .da = {0.5} },
    { .op = "masked_fill", .note = "mask [4], -2", .fn = op_masked_fill, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {1}, .sh = {4}, .da = {-2.0} },
    { .op = "masked_fill_sq", .note = "masked_fill(x*x, x < 0, 1)", .fn = op_masked_fill_sq, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {1.0} },
    UN(rsub_scalar, I_N), UN(rdiv_scalar, I_AWAY0), UN(rpow_scalar, I_N), UN(sign, I_AWAY0),
    /* reductions and scans */
    { .op = "logsumexp", .note = "dim 1", .fn = op_logsumexp, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1, 0} },
    { .op = "logsumexp", .note = "dim 0 keepdim", .fn = op_logsumexp, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {0, 1} },
    { .op = "std_dim", .note = "dim -1", .fn = op_std_dim, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {-1, 0} },
    { .op = "cumsum", .note = "dim 1", .fn = op_cumsum, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "cumsum", .note = "dim 0", .fn = op_cumsum, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {0} },
    { .op = "flip", .note = "dims 0, 2", .fn = op_flip, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2, 0, -1} },
    { .op = "flip", .note = "dim 1", .fn = op_flip, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1, 1} },
    { .op = "roll", .note = "shift 2, dim 1", .fn = op_roll, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {2, 1} },
    { .op = "roll", .note = "shift -5, dim 0", .fn = op_roll, .n = 1, .in = {S3(3,2,2)}, .init = {I_N}, .ia = {-5, 0} },
    { .op = "tril", .note = "diagonal 0", .fn = op_tril, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0} },
    { .op = "tril", .note = "diagonal -1", .fn = op_tril, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {-1} },
    { .op = "triu", .note = "diagonal 1", .fn = op_triu, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "exp", .note = "0-d", .fn = op_exp, .n = 1, .in = {S0}, .init = {I_N} },
    { .op = "sqrt", .note = "[1]", .fn = op_sqrt, .n = 1, .in = {S1(1)}, .init = {I_POS} },

    /* full reductions */
    UN(sum, I_N), UN3(sum, I_N),
    UN(mean, I_N), UN3(mean, I_N),
    UN(max, I_DISTINCT), UN3(max, I_DISTINCT),
    UN(min, I_DISTINCT), UN3(min, I_DISTINCT),
    { .op = "sum", .note = "0-d", .fn = op_sum, .n = 1, .in = {S0}, .init = {I_N} },
    { .op = "max", .note = "two-way tie", .fn = op_max, .n = 1, .in = {S2(3,4)}, .init = {I_TIE2},
      .flags = F_NO_VIEWS | F_NO_SECOND },
    { .op = "var", .note = "correction=0", .fn = op_var, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0} },
    { .op = "var", .note = "correction=1", .fn = op_var, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "var", .note = "correction=1", .fn = op_var, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "var", .note = "correction=0", .fn = op_var, .n = 1, .in = {S1(7)}, .init = {I_N}, .ia = {0} },

    /* reductions over one dim */
    RED(sum_dim, I_N, 0),
    RED(mean_dim, I_N, 0),
    RED(max_dim, I_DISTINCT, 0),
    RED(min_dim, I_DISTINCT, 0),
    RED(var_dim, I_N, 0),
    RED(var_dim, I_N, 1),

    /* linear algebra */
    { .op = "matmul", .note = "1-D.1-D", .fn = op_matmul, .n = 2, .in = {S1(4), S1(4)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "2-D.1-D", .fn = op_matmul, .n = 2, .in = {S2(3,4), S1(4)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "1-D.2-D", .fn = op_matmul, .n = 2, .in = {S1(4), S2(4,3)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "2-D.2-D", .fn = op_matmul, .n = 2, .in = {S2(3,4), S2(4,2)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "2-D.2-D", .fn = op_matmul, .n = 2, .in = {S2(1,5), S2(5,1)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "batched", .fn = op_matmul, .n = 2, .in = {S3(2,3,4), S3(2,4,2)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "batch broadcast", .fn = op_matmul, .n = 2, .in = {S4(2,1,3,4), S3(5,4,2)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "3-D.2-D", .fn = op_matmul, .n = 2, .in = {S3(2,3,4), S2(4,2)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "2-D.3-D", .fn = op_matmul, .n = 2, .in = {S2(3,4), S3(2,4,2)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "3-D.1-D", .fn = op_matmul, .n = 2, .in = {S3(2,3,4), S1(4)}, .init = {I_N, I_N} },
    { .op = "matmul", .note = "1-D.3-D", .fn = op_matmul, .n = 2, .in = {S1(4), S3(2,4,3)}, .init = {I_N, I_N} },
    { .op = "linear", .note = "bias", .fn = op_linear, .n = 3, .in = {S2(3,4), S2(2,4), S1(2)}, .init = {I_N, I_N, I_N} },
    { .op = "linear", .note = "no bias", .fn = op_linear, .n = 2, .in = {S2(3,4), S2(2,4)}, .init = {I_N, I_N} },
    { .op = "linear", .note = "bias", .fn = op_linear, .n = 3, .in = {S1(4), S2(3,4), S1(3)}, .init = {I_N, I_N, I_N} },
    { .op = "linear", .note = "bias", .fn = op_linear, .n = 3, .in = {S3(2,3,4), S2(2,4), S1(2)}, .init = {I_N, I_N, I_N} },
    { .op = "linear", .note = "no bias", .fn = op_linear, .n = 2, .in = {S3(2,3,4), S2(5,4)}, .init = {I_N, I_N} },

    /* shape */
    { .op = "reshape", .note = "-> [2,6]", .fn = op_reshape, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {2}, .sh = {2, 6} },
    { .op = "reshape", .note = "-> [-1,4]", .fn = op_reshape, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2}, .sh = {-1, 4} },
    { .op = "reshape", .note = "-> [4,-1]", .fn = op_reshape, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2}, .sh = {4, -1} },
    { .op = "reshape", .note = "-> [-1]", .fn = op_reshape, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1}, .sh = {-1} },
    { .op = "reshape", .note = "-> [2,1,3,2]", .fn = op_reshape, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {4}, .sh = {2, 1, 3, 2} },
    { .op = "reshape", .note = "-> []", .fn = op_reshape, .n = 1, .in = {S2(1,1)}, .init = {I_N}, .ia = {0} },
    { .op = "transpose", .note = "0,2", .fn = op_transpose, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {0, 2} },
    { .op = "transpose", .note = "-1,-2", .fn = op_transpose, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {-1, -2} },
    { .op = "transpose", .note = "1,1", .fn = op_transpose, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1, 1} },
    { .op = "permute", .note = "2,0,1", .fn = op_permute, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2, 0, 1} },
    { .op = "permute", .note = "1,3,0,2", .fn = op_permute, .n = 1, .in = {S4(2,3,1,2)}, .init = {I_N}, .ia = {1, 3, 0, 2} },
    { .op = "squeeze", .note = "dim=1", .fn = op_squeeze, .n = 1, .in = {S3(3,1,4)}, .init = {I_N}, .ia = {1} },
    { .op = "squeeze", .note = "dim=-2", .fn = op_squeeze, .n = 1, .in = {S3(3,1,4)}, .init = {I_N}, .ia = {-2} },
    { .op = "squeeze", .note = "dim=0 (size 3: no-op)", .fn = op_squeeze, .n = 1, .in = {S3(3,1,4)}, .init = {I_N}, .ia = {0} },
    { .op = "unsqueeze", .note = "dim=0", .fn = op_unsqueeze, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0} },
    { .op = "unsqueeze", .note = "dim=1", .fn = op_unsqueeze, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "unsqueeze", .note = "dim=-1", .fn = op_unsqueeze, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {-1} },
    { .op = "slice", .note = "dim=0 1:6:2", .fn = op_slice, .n = 1, .in = {S2(6,4)}, .init = {I_N}, .ia = {0}, .sh = {1, 6, 2} },
    { .op = "slice", .note = "dim=-1 -4:-1:2", .fn = op_slice, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {-1}, .sh = {-4, -1, 2} },
    { .op = "slice", .note = "dim=1 0:100:3", .fn = op_slice, .n = 1, .in = {S3(2,7,2)}, .init = {I_N}, .ia = {1}, .sh = {0, 100, 3} },
    { .op = "slice", .note = "dim=0 -100:-2:1", .fn = op_slice, .n = 1, .in = {S2(5,3)}, .init = {I_N}, .ia = {0}, .sh = {-100, -2, 1} },
    { .op = "narrow", .note = "dim=0 1+3", .fn = op_narrow, .n = 1, .in = {S2(5,4)}, .init = {I_N}, .ia = {0}, .sh = {1, 3} },
    { .op = "narrow", .note = "dim=-1 2+2", .fn = op_narrow, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {-1}, .sh = {2, 2} },
    { .op = "expand", .note = "-> [3,4]", .fn = op_expand, .n = 1, .in = {S2(3,1)}, .init = {I_N}, .ia = {2}, .sh = {3, 4} },
    { .op = "expand", .note = "-> [2,3,4]", .fn = op_expand, .n = 1, .in = {S1(4)}, .init = {I_N}, .ia = {3}, .sh = {2, 3, 4} },
    { .op = "expand", .note = "-> [2,-1,4]", .fn = op_expand, .n = 1, .in = {S2(3,1)}, .init = {I_N}, .ia = {3}, .sh = {2, -1, 4} },
    { .op = "expand", .note = "-> [2,3]", .fn = op_expand, .n = 1, .in = {S0}, .init = {I_N}, .ia = {2}, .sh = {2, 3} },
    { .op = "contiguous", .fn = op_contiguous, .n = 1, .in = {S2(3,4)}, .init = {I_N} },
    { .op = "contiguous", .note = "of transpose(0,1)", .fn = op_contiguous_t, .n = 1, .in = {S3(3,4,2)}, .init = {I_N} },
    { .op = "cat", .note = "dim=0", .fn = op_cat, .n = 3, .in = {S2(2,3), S2(4,3), S2(1,3)}, .init = {I_N, I_N, I_N}, .ia = {0} },
    { .op = "cat", .note = "dim=-1", .fn = op_cat, .n = 2, .in = {S2(2,3), S2(2,2)}, .init = {I_N, I_N}, .ia = {-1} },
    { .op = "cat", .note = "dim=1", .fn = op_cat, .n = 2, .in = {S3(2,1,3), S3(2,3,3)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "cat", .note = "dim=0 (one input)", .fn = op_cat, .n = 1, .in = {S2(2,3)}, .init = {I_N}, .ia = {0} },
    { .op = "stack", .note = "dim=0", .fn = op_stack, .n = 3, .in = {S2(2,3), S2(2,3), S2(2,3)}, .init = {I_N, I_N, I_N}, .ia = {0} },
    { .op = "stack", .note = "dim=1", .fn = op_stack, .n = 2, .in = {S2(2,3), S2(2,3)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "stack", .note = "dim=-1", .fn = op_stack, .n = 2, .in = {S2(2,3), S2(2,3)}, .init = {I_N, I_N}, .ia = {-1} },
    { .op = "stack", .note = "dim=0 of 0-d", .fn = op_stack, .n = 2, .in = {S0, S0}, .init = {I_N, I_N}, .ia = {0} },
    { .op = "gather_rows", .note = "{0,2,2,4,0,1}", .fn = op_gather_rows, .n = 1, .in = {S2(5,3)}, .init = {I_N},
      .idx = rows6, .nidx = 6 },
    { .op = "gather_rows", .note = "{3,3,1}", .fn = op_gather_rows, .n = 1, .in = {S3(4,2,3)}, .init = {I_N},
      .idx = rows3, .nidx = 3 },
    { .op = "gather_rows", .note = "{3,3,1} of 1-D", .fn = op_gather_rows, .n = 1, .in = {S1(4)}, .init = {I_N},
      .idx = rows3, .nidx = 3 },

    /* built from other ops: views, several dims, norms, gates, distances, losses */
    { .op = "select", .note = "dim 1, -1", .fn = op_select, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {1, -1} },
    { .op = "select", .note = "dim 0, 1", .fn = op_select, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0, 1} },
    { .op = "flatten", .note = "1..2", .fn = op_flatten, .n = 1, .in = {S4(2,3,2,2)}, .init = {I_N}, .ia = {1, 2} },
    { .op = "flatten", .note = "0..-1", .fn = op_flatten, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {0, -1} },
    { .op = "unflatten", .note = "dim 1 -> [2, -1]", .fn = op_unflatten, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1, 2}, .sh = {2, -1} },
    { .op = "movedim", .note = "0 -> 2", .fn = op_movedim, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {0, 2} },
    { .op = "movedim", .note = "-1 -> 0", .fn = op_movedim, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {-1, 0} },
    { .op = "split", .note = "[1, 3] of dim 1", .fn = op_split, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1, 2}, .sh = {1, 3} },
    { .op = "split", .note = "[2, 0, 1] of dim 0", .fn = op_split, .n = 1, .in = {S3(3,2,2)}, .init = {I_N}, .ia = {0, 3}, .sh = {2, 0, 1} },
    { .op = "chunk", .note = "3 of dim -1 (size 5)", .fn = op_chunk, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {-1, 3} },
    { .op = "unbind", .note = "dim 1", .fn = op_unbind, .n = 1, .in = {S2(4,3)}, .init = {I_N}, .ia = {1} },
    { .op = "repeat", .note = "[2, 1, 3]", .fn = op_repeat, .n = 1, .in = {S2(2,3)}, .init = {I_N}, .ia = {3}, .sh = {2, 1, 3} },
    { .op = "repeat", .note = "[2, 2]", .fn = op_repeat, .n = 1, .in = {S2(3,2)}, .init = {I_N}, .ia = {2}, .sh = {2, 2} },
    { .op = "sum_dims", .note = "0, 2", .fn = op_sum_dims, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2, 0, 0, 2} },
    { .op = "sum_dims", .note = "-1, 1 keepdim", .fn = op_sum_dims, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2, 1, -1, 1} },
    { .op = "mean_dims", .note = "all", .fn = op_mean_dims, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {0, 0} },
    { .op = "mean_dims", .note = "1, 0 keepdim", .fn = op_mean_dims, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {2, 1, 1, 0} },
    { .op = "norm", .note = "p 2, all", .fn = op_vnorm, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {2.0}, .ia = {0, 0} },
    { .op = "norm", .note = "p 2, dim 1", .fn = op_vnorm, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .da = {2.0}, .ia = {1, 0, 1} },
    { .op = "norm", .note = "p 3, dims 0, 2 keepdim", .fn = op_vnorm, .n = 1, .in = {S3(2,3,4)}, .init = {I_AWAY0}, .da = {3.0}, .ia = {2, 1, 0, 2} },
    { .op = "norm", .note = "p 0.5, dim -1", .fn = op_vnorm, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {0.5}, .ia = {1, 0, -1} },
    { .op = "norm", .note = "p 1, dim 0", .fn = op_vnorm, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {1.0}, .ia = {1, 0, 0} },
    { .op = "norm", .note = "p inf, dim 1", .fn = op_vnorm, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .da = {INFINITY}, .ia = {1, 0, 1} },
    { .op = "prelu", .note = "weight [C]", .fn = op_prelu, .n = 2, .in = {S3(2,3,4), S1(3)}, .init = {I_AWAY0, I_N} },
    { .op = "prelu", .note = "weight [1]", .fn = op_prelu, .n = 2, .in = {S2(3,4), S1(1)}, .init = {I_AWAY0, I_N} },
    { .op = "glu", .note = "dim -1", .fn = op_glu, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {-1} },
    { .op = "glu", .note = "dim 0", .fn = op_glu, .n = 1, .in = {S3(4,2,3)}, .init = {I_N}, .ia = {0} },
    { .op = "normalize", .note = "p 2, dim 1", .fn = op_normalize, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .da = {2.0}, .ia = {1} },
    { .op = "normalize", .note = "p 1, dim 0", .fn = op_normalize, .n = 1, .in = {S2(3,4)}, .init = {I_AWAY0}, .da = {1.0}, .ia = {0} },
    { .op = "cosine_similarity", .note = "dim 1", .fn = op_cosine_similarity, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "cosine_similarity", .note = "dim -1, broadcast", .fn = op_cosine_similarity, .n = 2, .in = {S3(2,3,4), S2(1,4)}, .init = {I_N, I_N}, .ia = {-1} },
    { .op = "pairwise_distance", .note = "p 2", .fn = op_pairwise_distance, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .da = {2.0} },
    { .op = "pairwise_distance", .note = "p 3", .fn = op_pairwise_distance, .n = 2, .in = {S2(3,4), S1(4)}, .init = {I_ODD, I_EVEN}, .da = {3.0} },
    { .op = "rms_norm", .note = "weight", .fn = op_rms_norm, .n = 2, .in = {S2(3,5), S1(5)}, .init = {I_N, I_N} },
    { .op = "rms_norm", .note = "no weight", .fn = op_rms_norm, .n = 1, .in = {S3(2,2,4)}, .init = {I_N} },
    { .op = "mse_loss_ex", .note = "sum", .fn = op_mse_loss_ex, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .ia = {AG_SUM} },
    { .op = "mse_loss_ex", .note = "none", .fn = op_mse_loss_ex, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .ia = {AG_NONE} },
    { .op = "l1_loss", .note = "mean", .fn = op_l1_loss, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_ODD, I_EVEN}, .ia = {AG_MEAN} },
    { .op = "l1_loss", .note = "none", .fn = op_l1_loss, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_ODD, I_EVEN}, .ia = {AG_NONE} },
    { .op = "smooth_l1_loss", .note = "beta 0.5, sum", .fn = op_smooth_l1_loss, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .da = {0.5}, .ia = {AG_SUM} },
    { .op = "huber_loss", .note = "delta 0.7, mean", .fn = op_huber_loss, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .da = {0.7}, .ia = {AG_MEAN} },
    { .op = "bce_loss", .note = "mean", .fn = op_bce_loss, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_PROB, I_PROB}, .ia = {AG_MEAN} },
    { .op = "bce_loss", .note = "none", .fn = op_bce_loss, .n = 2, .in = {S1(5), S1(5)}, .init = {I_PROB, I_PROB}, .ia = {AG_NONE} },
    { .op = "kl_div", .note = "batchmean", .fn = op_kl_div, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_PROB}, .ia = {AG_BATCHMEAN, 0} },
    { .op = "kl_div", .note = "log_target, sum", .fn = op_kl_div, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .ia = {AG_SUM, 1} },
    { .op = "nll_loss", .note = "sum, targets {1,0,4,2}", .fn = op_nll_loss, .n = 1, .in = {S2(4,5)}, .init = {I_N}, .ia = {AG_SUM}, .idx = tgt4 },
    { .op = "nll_loss", .note = "none, targets {2,2,0}", .fn = op_nll_loss, .n = 1, .in = {S2(3,3)}, .init = {I_N}, .ia = {AG_NONE}, .idx = tgt3 },

    { .op = "lstm_cell", .note = "biases", .fn = op_lstm_cell, .n = 4, .in = {S2(2,3), S2(2,4), S2(16,3), S2(16,4)}, .init = {I_N, I_N, I_N, I_N}, .ia = {1} },
    { .op = "lstm_cell", .note = "no biases, 1-D", .fn = op_lstm_cell, .n = 4, .in = {S1(3), S1(4), S2(16,3), S2(16,4)}, .init = {I_N, I_N, I_N, I_N}, .ia = {0} },
    { .op = "gru_cell", .note = "biases", .fn = op_gru_cell, .n = 4, .in = {S2(2,3), S2(2,4), S2(12,3), S2(12,4)}, .init = {I_N, I_N, I_N, I_N}, .ia = {1} },
    { .op = "gru_cell", .note = "no biases", .fn = op_gru_cell, .n = 4, .in = {S2(2,3), S2(2,4), S2(12,3), S2(12,4)}, .init = {I_N, I_N, I_N, I_N}, .ia = {0} },
    { .op = "sort", .note = "dim 1", .fn = op_sort, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {1, 0} },
    { .op = "sort", .note = "dim 0 descending", .fn = op_sort, .n = 1, .in = {S3(3,2,2)}, .init = {I_DISTINCT}, .ia = {0, 1} },
    { .op = "topk", .note = "k 2, dim -1, largest", .fn = op_topk, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {-1, 1}, .sh = {2} },
    { .op = "topk", .note = "k 1, dim 0, smallest", .fn = op_topk, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {0, 0}, .sh = {1} },
    { .op = "kthvalue", .note = "k 2, dim 1", .fn = op_kthvalue, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {1, 0}, .sh = {2} },
    { .op = "kthvalue", .note = "k 3, dim 0, keepdim", .fn = op_kthvalue, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {0, 1}, .sh = {3} },
    { .op = "median_dim", .note = "dim 1 (even: lower)", .fn = op_median_dim, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {1, 0} },
    { .op = "median_dim", .note = "dim 0 keepdim", .fn = op_median_dim, .n = 1, .in = {S2(3,4)}, .init = {I_DISTINCT}, .ia = {0, 1} },
    { .op = "median", .fn = op_median, .n = 1, .in = {S2(3,5)}, .init = {I_DISTINCT} },
    { .op = "gather", .note = "dim 1, index [3,2]", .fn = op_gather, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "gather", .note = "dim 0, index [3,2]", .fn = op_gather, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0} },
    { .op = "index_select", .note = "dim 1, {2,0,1,1}", .fn = op_index_select, .n = 1, .in = {S3(2,3,2)}, .init = {I_N}, .ia = {1} },
    { .op = "index_select", .note = "dim 0, {2,0,1,1}", .fn = op_index_select, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0} },
    { .op = "scatter_add", .note = "dim 1", .fn = op_scatter_add, .n = 2, .in = {S2(3,4), S2(3,2)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "scatter_add", .note = "dim 0", .fn = op_scatter_add, .n = 2, .in = {S2(3,4), S2(3,2)}, .init = {I_N, I_N}, .ia = {0} },
    UN3(squeeze_all, I_N),
    { .op = "squeeze_all", .note = "[3,1,4,1]", .fn = op_squeeze_all, .n = 1, .in = {S4(3,1,4,1)}, .init = {I_N} },
    { .op = "tile", .note = "[2] of [2,3]", .fn = op_tile, .n = 1, .in = {S2(2,3)}, .init = {I_N}, .ia = {1}, .sh = {2} },
    { .op = "repeat_interleave", .note = "2 along dim 0", .fn = op_repeat_interleave, .n = 1, .in = {S2(3,2)}, .init = {I_N}, .ia = {0}, .sh = {2} },
    { .op = "diagonal", .note = "offset 1, dims 0, 1", .fn = op_diagonal, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {0, 1}, .sh = {1} },
    { .op = "diagonal", .note = "offset -1, dims 2, 0", .fn = op_diagonal, .n = 1, .in = {S3(3,2,4)}, .init = {I_N}, .ia = {2, 0}, .sh = {-1} },
    { .op = "diag", .note = "1-D, offset 1", .fn = op_diag, .n = 1, .in = {S1(3)}, .init = {I_N}, .sh = {1} },
    { .op = "diag", .note = "2-D", .fn = op_diag, .n = 1, .in = {S2(3,3)}, .init = {I_N}, .sh = {0} },
    { .op = "trace", .fn = op_trace, .n = 1, .in = {S2(3,4)}, .init = {I_N} },
    { .op = "pad", .note = "constant (1,2,0,1)", .fn = op_pad, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {AG_PAD_CONSTANT, 4}, .sh = {1, 2, 0, 1} },
    { .op = "pad", .note = "reflect (2,1)", .fn = op_pad, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {AG_PAD_REFLECT, 2}, .sh = {2, 1} },
    { .op = "pad", .note = "replicate (1,1,2,0)", .fn = op_pad, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {AG_PAD_REPLICATE, 4}, .sh = {1, 1, 2, 0} },
    { .op = "pad", .note = "circular (2,3)", .fn = op_pad, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {AG_PAD_CIRCULAR, 2}, .sh = {2, 3} },
    { .op = "pad", .note = "constant crop (-1,1)", .fn = op_pad, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {AG_PAD_CONSTANT, 2}, .sh = {-1, 1} },
    { .op = "prod", .fn = op_prod, .n = 1, .in = {S2(3,3)}, .init = {I_AWAY0} },
    { .op = "prod_dim", .note = "dim 1 (size 5)", .fn = op_prod_dim, .n = 1, .in = {S2(3,5)}, .init = {I_AWAY0}, .ia = {1, 0} },
    { .op = "prod_dim", .note = "dim 0 keepdim", .fn = op_prod_dim, .n = 1, .in = {S3(3,2,2)}, .init = {I_N}, .ia = {0, 1} },
    { .op = "cumprod", .note = "dim 1 (size 5)", .fn = op_cumprod, .n = 1, .in = {S2(3,5)}, .init = {I_AWAY0}, .ia = {1} },
    { .op = "cumprod", .note = "dim 0", .fn = op_cumprod, .n = 1, .in = {S3(4,2,2)}, .init = {I_N}, .ia = {0} },
    { .op = "cummax", .note = "dim 1", .fn = op_cummax, .n = 1, .in = {S2(3,5)}, .init = {I_DISTINCT}, .ia = {1} },
    { .op = "cummin", .note = "dim 0", .fn = op_cummin, .n = 1, .in = {S2(4,3)}, .init = {I_DISTINCT}, .ia = {0} },
    { .op = "einsum", .note = "ij,jk->ik", .fn = op_einsum, .n = 2, .in = {S2(3,4), S2(4,2)}, .init = {I_N, I_N}, .ia = {0} },
    { .op = "einsum", .note = "bij,bjk->bik", .fn = op_einsum, .n = 2, .in = {S3(2,3,4), S3(2,4,2)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "einsum", .note = "i,j->ij", .fn = op_einsum, .n = 2, .in = {S1(3), S1(4)}, .init = {I_N, I_N}, .ia = {2} },
    { .op = "einsum", .note = "ii->", .fn = op_einsum, .n = 1, .in = {S2(3,3)}, .init = {I_N}, .ia = {3} },
    { .op = "einsum", .note = "ij->ji", .fn = op_einsum, .n = 1, .in = {S2(3,4)}, .init = {I_N}, .ia = {4} },
    { .op = "einsum", .note = "ik,jkl,il->ij (bilinear)", .fn = op_einsum, .n = 3, .in = {S2(2,3), S3(4,3,2), S2(2,2)}, .init = {I_N, I_N, I_N}, .ia = {5} },
    { .op = "einsum", .note = "ii->i", .fn = op_einsum, .n = 1, .in = {S2(3,3)}, .init = {I_N}, .ia = {6} },
    { .op = "einsum", .note = "ij,ij->i", .fn = op_einsum, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .ia = {7} },
    { .op = "meshgrid", .note = "ij", .fn = op_meshgrid, .n = 2, .in = {S1(3), S1(4)}, .init = {I_N, I_N}, .ia = {0} },
    { .op = "meshgrid", .note = "xy", .fn = op_meshgrid, .n = 2, .in = {S1(3), S1(4)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "max_pool2d_ex", .note = "k 2, s 1, dilation 2", .fn = op_max_pool2d_ex, .n = 1, .in = {S4(1,2,5,5)}, .init = {I_DISTINCT}, .ia = {2, 1, 0, 2, 0} },
    { .op = "max_pool2d_ex", .note = "k 2, s 2, pad 1, ceil", .fn = op_max_pool2d_ex, .n = 1, .in = {S4(1,2,4,5)}, .init = {I_DISTINCT}, .ia = {2, 2, 1, 1, 1} },
    { .op = "avg_pool2d_ex", .note = "k 3, s 2, pad 1, exclude pad, ceil", .fn = op_avg_pool2d_ex, .n = 1, .in = {S4(1,2,5,4)}, .init = {I_N}, .ia = {3, 2, 1, 1, 1, 1} },
    { .op = "avg_pool2d_ex", .note = "k 2, s 2, ceil, count pad", .fn = op_avg_pool2d_ex, .n = 1, .in = {S4(1,1,5,5)}, .init = {I_N}, .ia = {2, 2, 0, 1, 1, 0} },
    { .op = "adaptive_avg_pool2d", .note = "5x7 -> 3x2", .fn = op_adaptive_avg_pool2d, .n = 1, .in = {S4(1,2,5,7)}, .init = {I_N}, .ia = {3, 2} },
    { .op = "adaptive_max_pool2d", .note = "5x7 -> 2x3", .fn = op_adaptive_max_pool2d, .n = 1, .in = {S4(1,2,5,7)}, .init = {I_DISTINCT}, .ia = {2, 3} },
    { .op = "conv1d", .note = "stride 2, pad 1, bias", .fn = op_conv1d, .n = 3, .in = {S3(2,3,7), S3(4,3,3), S1(4)}, .init = {I_N, I_N, I_N}, .ia = {2, 1, 1, 1} },
    { .op = "conv1d", .note = "dilation 2, groups 2", .fn = op_conv1d, .n = 2, .in = {S3(1,4,8), S3(2,2,2)}, .init = {I_N, I_N}, .ia = {1, 0, 2, 2} },
    { .op = "conv_transpose2d", .note = "stride 2, pad 1, out pad 1, bias", .fn = op_conv_transpose2d, .n = 3, .in = {S4(1,2,3,3), S4(2,3,3,3), S1(3)}, .init = {I_N, I_N, I_N}, .ia = {2, 1, 1, 1, 1} },
    { .op = "conv_transpose2d", .note = "dilation 2, groups 2", .fn = op_conv_transpose2d, .n = 2, .in = {S4(2,4,2,3), S4(4,1,2,2)}, .init = {I_N, I_N}, .ia = {1, 0, 0, 2, 2} },
    { .op = "conv_transpose1d", .note = "stride 3, pad 1", .fn = op_conv_transpose1d, .n = 3, .in = {S3(2,2,4), S3(2,3,4), S1(3)}, .init = {I_N, I_N, I_N}, .ia = {3, 1, 0, 1, 1} },
    { .op = "group_norm", .note = "2 groups, affine", .fn = op_group_norm, .n = 3, .in = {S3(2,4,3), S1(4), S1(4)}, .init = {I_N, I_N, I_N}, .ia = {2} },
    { .op = "instance_norm", .note = "no affine", .fn = op_instance_norm, .n = 1, .in = {S4(2,2,2,3)}, .init = {I_N} },
    { .op = "sdpa", .note = "causal", .fn = op_sdpa, .n = 3, .in = {S3(2,3,4), S3(2,3,4), S3(2,3,2)}, .init = {I_N, I_N, I_N}, .ia = {1} },
    { .op = "sdpa", .note = "float mask", .fn = op_sdpa, .n = 4, .in = {S3(2,3,4), S3(2,5,4), S3(2,5,2), S2(3,5)}, .init = {I_N, I_N, I_N, I_N}, .ia = {0} },
    { .op = "interpolate", .note = "nearest 3x4 -> 5x7", .fn = op_interpolate, .n = 1, .in = {S4(1,2,3,4)}, .init = {I_N}, .ia = {5, 7, AG_INTERP_NEAREST, 0} },
    { .op = "interpolate", .note = "bilinear 3x4 -> 5x6", .fn = op_interpolate, .n = 1, .in = {S4(1,2,3,4)}, .init = {I_N}, .ia = {5, 6, AG_INTERP_BILINEAR, 0} },
    { .op = "interpolate", .note = "bilinear align corners 3x4 -> 4x7", .fn = op_interpolate, .n = 1, .in = {S4(1,1,3,4)}, .init = {I_N}, .ia = {4, 7, AG_INTERP_BILINEAR, 1} },
    { .op = "cross_entropy_ex", .note = "ignore, smoothing 0.2, weights", .fn = op_cross_entropy_ex, .n = 2, .in = {S2(4,5), S1(5)}, .init = {I_N, I_POS}, .da = {0.2}, .ia = {AG_MEAN} },
    { .op = "cross_entropy_ex", .note = "ignore, sum", .fn = op_cross_entropy_ex, .n = 1, .in = {S2(4,5)}, .init = {I_N}, .ia = {AG_SUM} },
    { .op = "cross_entropy_probs", .note = "smoothing 0.1", .fn = op_cross_entropy_probs, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N}, .da = {0.1}, .ia = {AG_MEAN} },
    { .op = "bce_with_logits_ex", .note = "weight, pos_weight", .fn = op_bce_with_logits_ex, .n = 4, .in = {S2(3,4), S2(3,4), S1(4), S1(4)}, .init = {I_N, I_PROB, I_POS, I_POS}, .ia = {AG_SUM} },
    { .op = "scatter", .note = "dim 1 (unique per row)", .fn = op_scatter, .n = 2, .in = {S2(3,4), S2(3,2)}, .init = {I_N, I_N}, .ia = {1} },
    { .op = "max_unpool2d", .note = "of max_pool2d k 2 s 2", .fn = op_max_unpool2d, .n = 1, .in = {S4(1,2,4,4)}, .init = {I_DISTINCT}, .ia = {2} },
    /* neural-network pieces */
    { .op = "softmax", .note = "dim=-1", .fn = op_softmax, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {-1} },
    { .op = "softmax", .note = "dim=0", .fn = op_softmax, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {0} },
    { .op = "softmax", .note = "dim=1", .fn = op_softmax, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "softmax", .note = "dim=0", .fn = op_softmax, .n = 1, .in = {S1(6)}, .init = {I_N}, .ia = {0} },
    { .op = "log_softmax", .note = "dim=-1", .fn = op_log_softmax, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {-1} },
    { .op = "log_softmax", .note = "dim=0", .fn = op_log_softmax, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {0} },
    { .op = "log_softmax", .note = "dim=1", .fn = op_log_softmax, .n = 1, .in = {S3(2,3,4)}, .init = {I_N}, .ia = {1} },
    { .op = "cross_entropy", .note = "targets {1,0,4,2}", .fn = op_cross_entropy, .n = 1, .in = {S2(4,5)}, .init = {I_N},
      .idx = tgt4 },
    { .op = "cross_entropy", .note = "targets {2,2,0}", .fn = op_cross_entropy, .n = 1, .in = {S2(3,3)}, .init = {I_N},
      .idx = tgt3 },
    { .op = "cross_entropy", .note = "target {3}", .fn = op_cross_entropy, .n = 1, .in = {S1(5)}, .init = {I_N},
      .idx = tgt1 },
    { .op = "mse_loss", .fn = op_mse_loss, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_N} },
    { .op = "mse_loss", .fn = op_mse_loss, .n = 2, .in = {S1(5), S1(5)}, .init = {I_N, I_N} },
    { .op = "bce_with_logits", .fn = op_bce_with_logits, .n = 2, .in = {S2(3,4), S2(3,4)}, .init = {I_N, I_PROB} },
    { .op = "bce_with_logits", .fn = op_bce_with_logits, .n = 2, .in = {S1(6), S1(6)}, .init = {I_N, I_PROB} },
    { .op = "layer_norm", .note = "weight+bias", .fn = op_layer_norm, .n = 3, .in = {S2(3,5), S1(5), S1(5)},
      .init = {I_N, I_N, I_N}, .ia = {3} },
    { .op = "layer_norm", .note = "no weight/bias", .fn = op_layer_norm, .n = 1, .in = {S2(3,5)}, .init = {I_N}, .ia = {0} },
    { .op = "layer_norm", .note = "weight only", .fn = op_layer_norm, .n = 2, .in = {S3(2,2,4), S1(4)},
      .init = {I_N, I_N}, .ia = {1} },
    { .op = "layer_norm", .note = "bias only", .fn = op_layer_norm, .n = 2, .in = {S2(3,4), S1(4)},
      .init = {I_N, I_N}, .ia = {2} },
    { .op = "layer_norm", .note = "weight+bias", .fn = op_layer_norm, .n = 3, .in = {S1(6), S1(6), S1(6)},
      .init = {I_N, I_N, I_N}, .ia = {3} },
    { .op = "dropout", .note = "p=0.3 training", .fn = op_dropout, .n = 1, .in = {S2(4,5)}, .init = {I_N},
      .ia = {1}, .da = {0.3} },
    { .op = "dropout", .note = "p=0.5 training", .fn = op_dropout, .n = 1, .in = {S3(2,3,4)}, .init = {I_N},
      .ia = {1}, .da = {0.5} },
    { .op = "dropout", .note = "p=0.5 eval", .fn = op_dropout, .n = 1, .in = {S2(3,4)}, .init = {I_N},
      .ia = {0}, .da = {0.5} },
    { .op = "to", .note = "F64->F32->F64, squared", .fn = op_to, .n = 1, .in = {S2(3,4)}, .init = {I_N},
      .eps = 1e-2, .atol = 1e-3, .rtol = 1e-2 },
    { .op = "to", .note = "F64->F64", .fn = op_to_same, .n = 1, .in = {S2(3,4)}, .init = {I_N} },

    /* layers built on unfold (im2col) and fold */
    { .op = "conv2d", .note = "3x3 pad 1", .fn = op_conv2d, .n = 3, .in = {S4(2,2,5,5), S4(3,2,3,3), S1(3)}, .init = {I_N, I_N, I_N},
      .ia = {1, 1, 1, 1}, .flags = F_NO_VIEWS },
    { .op = "conv2d", .note = "2x2 stride 2 dilation 2 groups 2", .fn = op_conv2d, .n = 2, .in = {S4(1,4,6,7), S4(2,2,2,2)},
      .init = {I_N, I_N}, .ia = {2, 1, 2, 2}, .flags = F_NO_VIEWS },
    { .op = "max_pool2d", .note = "2x2", .fn = op_max_pool2d, .n = 1, .in = {S4(2,2,4,5)}, .init = {I_DISTINCT}, .ia = {2, 0, 0},
      .flags = F_NO_VIEWS },
    { .op = "max_pool2d", .note = "3x3 stride 2 pad 1", .fn = op_max_pool2d, .n = 1, .in = {S4(1,2,5,5)}, .init = {I_DISTINCT},
      .ia = {3, 2, 1}, .flags = F_NO_VIEWS },
    { .op = "avg_pool2d", .note = "3x3 stride 1 pad 1", .fn = op_avg_pool2d, .n = 1, .in = {S4(1,2,4,4)}, .init = {I_N},
      .ia = {3, 1, 1}, .flags = F_NO_VIEWS },

    /* compositions */
    { .op = "mlp", .note = "tanh(linear) gelu linear cross_entropy", .fn = op_mlp, .n = 4,
      .in = {S2(4,3), S2(5,3), S1(5), S2(5,5)}, .init = {I_N, I_N, I_N, I_N} },
    { .op = "attention", .note = "softmax(q k^T / 2) v", .fn = op_attention, .n = 3,
      .in = {S3(2,3,4), S3(2,5,4), S3(2,5,4)}, .init = {I_N, I_N, I_N} },
    { .op = "ln_silu_mean", .fn = op_ln_silu_mean, .n = 3, .in = {S2(3,6), S1(6), S1(6)}, .init = {I_N, I_N, I_N} },
    { .op = "norm", .note = "x / (1 + |x|_2)", .fn = op_norm, .n = 1, .in = {S2(3,4)}, .init = {I_N} },
};

/* ---- drawing inputs ---- */
static double *uniforms(ag_ctx *ctx, int64_t n) {
    ag_tensor *u = ag_rand(ctx, AG_F64, 1, &n);
    return u ? (double *)ag_data(u) : NULL;
}

static ag_tensor *make_input(ag_ctx *ctx, int nd, const int64_t *shape, int init) {
    ag_tensor *t = init == I_N ? ag_randn(ctx, AG_F64, nd, shape) : ag_rand(ctx, AG_F64, nd, shape);
    int64_t n, i;
    double *p, *u;
    if (!t) return NULL;
    n = ag_numel(t);
    p = (double *)ag_data(t);
    u = uniforms(ctx, n + 1);
    if (!u) return NULL;
    switch (init) {
    case I_N: break;
    case I_POS: for (i = 0; i < n; i++) p[i] = 0.5 + 1.5 * p[i]; break;
    case I_AWAY0: for (i = 0; i < n; i++) p[i] = (u[i] < 0.5 ? -1.0 : 1.0) * (0.5 + p[i]); break;
    case I_CLAMP:   /* (-1.5, -0.6), (-0.4, 0.7), (0.9, 1.8) for clamp(-0.5, 0.8) */
        for (i = 0; i < n; i++)
            p[i] = u[i] < 1.0 / 3 ? -1.5 + 0.9 * p[i] : u[i] < 2.0 / 3 ? -0.4 + 1.1 * p[i] : 0.9 + 0.9 * p[i];
        break;
    case I_ODD: case I_EVEN:
        for (i = 0; i < n; i++) {
            double k = floor(u[i] * 16) - 8;
            p[i] = (2 * k + (init == I_ODD)) * 0.1 + (p[i] - 0.5) * 0.04;
        }
        break;
    case I_PROB: for (i = 0; i < n; i++) p[i] = 0.1 + 0.8 * p[i]; break;
    case I_ZERO: for (i = 0; i < n; i++) p[i] = 0.0; break;
    case I_DISTINCT: case I_TIE2: {
        int64_t *perm = (int64_t *)malloc((size_t)n * sizeof *perm);
        if (!perm) return NULL;
        for (i = 0; i < n; i++) perm[i] = i;
        for (i = n - 1; i > 0; i--) {   /* Fisher-Yates with the context's uniforms */
            int64_t j = (int64_t)(u[i] * (double)(i + 1)), tmp;
            if (j > i) j = i;
            tmp = perm[i]; perm[i] = perm[j]; perm[j] = tmp;
        }
        for (i = 0; i < n; i++) p[i] = ((double)perm[i] - 0.5 * (double)n) * 0.15 + (p[i] - 0.5) * 0.03;
        free(perm);
        if (init == I_TIE2 && n > 1) {   /* copy the largest onto one other element */
            int64_t am = 0;
            for (i = 1; i < n; i++) if (p[i] > p[am]) am = i;
            p[am == n - 1 ? n - 2 : n - 1] = p[am];
        }
        break;
    }
    }
    return ag_set_requires_grad(t, true);
}

/* ---- layouts: what the checked function sees of its leaves ---- */
enum { L_CONTIG, L_TRANSPOSED, L_STRIDED, L_COUNT };
static const char *const layout_name[L_COUNT] = {"contiguous", "transposed views", "step-2 slice views"};

static bool layout_applies(int layout, int nd) {
    return layout == L_CONTIG || (layout == L_TRANSPOSED && nd >= 2) || (layout == L_STRIDED && nd >= 1);
}

/* the leaf's shape for an input of shape s under a layout */
static void leaf_shape(int layout, const shp *s, int64_t *out) {
    int i;
    for (i = 0; i < s->nd; i++) out[i] = s->d[i];
    if (!layout_applies(layout, s->nd) || layout == L_CONTIG) return;
    if (layout == L_TRANSPOSED) { out[s->nd - 1] = s->d[s->nd - 2]; out[s->nd - 2] = s->d[s->nd - 1]; }
    else out[0] = 2 * s->d[0];
}

typedef struct { const gc_case *c; int layout; } run_info;

static ag_tensor *checked_fn(ag_ctx *ctx, ag_tensor **leaves, void *user) {
    const run_info *r = (const run_info *)user;
    const gc_case *c = r->c;
    ag_tensor *x[4];
    int i;
    for (i = 0; i < c->n; i++) {
        int nd = c->in[i].nd;
        x[i] = leaves[i];
        if (r->layout == L_CONTIG || !layout_applies(r->layout, nd)) continue;
        if (r->layout == L_TRANSPOSED) x[i] = ag_transpose(leaves[i], -1, -2);
        else x[i] = ag_slice(leaves[i], 0, 1, 2 * c->in[i].d[0], 2);
    }
    return c->fn(ctx, x, c);
}

static void shape_str(char *buf, size_t cap, const gc_case *c) {
    size_t len = 0;
    int i, j;
    buf[0] = 0;
    for (i = 0; i < c->n && len < cap; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s[", i ? "&" : "");
        for (j = 0; j < c->in[i].nd && len < cap; j++)
            len += (size_t)snprintf(buf + len, cap - len, "%s%lld", j ? "," : "", (long long)c->in[i].d[j]);
        if (len < cap) len += (size_t)snprintf(buf + len, cap - len, "]");
    }
}

static int verbose;
static int ncase_runs;

/* ---- forward mode: every op's JVP rule against its reverse-mode Jacobian, and the tangent's own gradient ---- */
typedef struct { run_info ri; ag_tensor *u[4]; } tangent_info;

/* the tangent of f at x along fixed directions u: its gradient is checked by central differences,
   which checks that the JVP rules are differentiable in reverse mode (reverse-over-forward) */
static ag_tensor *tangent_fn(ag_ctx *ctx, ag_tensor **x, void *user) {
    tangent_info *ti = (tangent_info *)user;
    ag_tensor *d[4], *out;
    int i;
    for (i = 0; i < ti->ri.c->n; i++) d[i] = ag_make_dual(x[i], ti->u[i]);
    out = checked_fn(ctx, d, &ti->ri);
    if (!out) return NULL;
    return ag_tangent(out) ? ag_tangent(out) : ag_zeros(ctx, AG_F64, ag_ndim(out), ag_shape(out));
}

static void check_forward(ag_ctx *ctx, const gc_case *c, run_info *ri, ag_tensor **leaves, const char *shapes, int layout) {
    ag_tensor *jf[4] = {0}, *jr[4] = {0};
    double worst = 0, scale = 1, tol = c->atol ? 1e-6 : 1e-12;
    int i, rf, rr, ret;
    int64_t k;
    const char *err;
    tangent_info ti;
    ag_gradcheck_opts o;
    ag_gradcheck_result res;
    rf = ag_jacobian_fwd(ctx, checked_fn, ri, c->n, leaves, jf, false);
    rr = ag_jacobian(ctx, checked_fn, ri, c->n, leaves, jr, false);
    for (i = 0; i < c->n && rf == 0 && rr == 0; i++) {
        const double *a = (const double *)ag_data(jf[i]), *b = (const double *)ag_data(jr[i]);
        for (k = 0; k < ag_numel(jr[i]); k++) {
            if (fabs(b[k]) > scale) scale = fabs(b[k]);
            if (fabs(a[k] - b[k]) > worst || a[k] != a[k]) worst = a[k] != a[k] ? INFINITY : fabs(a[k] - b[k]);
        }
    }
    err = ag_error(ctx);
    CHECK(rf == 0 && rr == 0 && worst <= tol * scale, "jvp %s(%s)%s%s, %s: forward-mode Jacobian differs from reverse mode by %.3g "
          "(scale %.3g)%s%s", c->op, shapes, c->note ? " " : "", c->note ? c->note : "", layout_name[layout], worst, scale,
          err ? "; error: " : "", err ? err : "");
    if (verbose) printf("%-4s jvp %s(%s)%s%s, %s: %.3g\n", worst <= tol * scale ? "ok" : "FAIL", c->op, shapes,
                        c->note ? " " : "", c->note ? c->note : "", layout_name[layout], worst);
    if (err) ag_clear_error(ctx);
    /* reverse over forward: d/dx <w, J(x) u> against central differences */
    ti.ri = *ri;
    for (i = 0; i < c->n; i++) ti.u[i] = ag_randn(ctx, AG_F64, ag_ndim(leaves[i]), ag_shape(leaves[i]));
    memset(&o, 0, sizeof o);
    memset(&res, 0, sizeof res);
    o.eps = c->eps; o.atol = c->atol; o.rtol = c->rtol;
    if (c->flags & F_NO_SECOND) return;   /* the tangent is not differentiable at this point */
    ret = ag_gradcheck(ctx, tangent_fn, &ti, c->n, leaves, &o, &res);
    err = ag_error(ctx);
    CHECK(ret == 1 && !err, "jvp %s(%s)%s%s, %s: the gradient of the tangent: returned %d, max_abs_err %.3g (input %d, element %lld: "
          "analytic %.10g numeric %.10g)%s%s", c->op, shapes, c->note ? " " : "", c->note ? c->note : "", layout_name[layout], ret,
          res.max_abs_err, res.worst_input, (long long)res.worst_index, res.analytic, res.numeric, err ? "; error: " : "", err ? err : "");
    if (err) ag_clear_error(ctx);
}

/* ---- ag_vmap: every op mapped over a batch of 3, against a loop over the examples ----
   f = the op and the gradients of sum(op^2) with respect to each input (grad_of inside
   ag_vmap: per-example gradients). Once with every input batched, once (two or more inputs)
   with input 0 batched and the others shared. The loop calls the op on each example. */
#define VB 3
typedef struct { const gc_case *c; unsigned batched; } vmap_info;
static int vmapped_fn(ag_ctx *ctx, ag_tensor **in, ag_tensor **out, void *user) {
    const vmap_info *v = (const vmap_info *)user;
    ag_tensor *y = v->c->fn(ctx, in, v->c);
    out[0] = y;
    if (!y) return -1;
    return ag_grad_of(ag_sum(ag_mul(y, y)), NULL, v->c->n, in, out + 1);
}
static void check_vmap(ag_ctx *ctx, const gc_case *c, const char *shapes) {
    unsigned masks[2];
    int nm = c->n >= 2 ? 2 : 1, m, i, b;
    masks[0] = (1u << c->n) - 1; masks[1] = 1u;
    for (m = 0; m < nm; m++) {
        vmap_info v;
        ag_tensor *X[4], *out[5], *ex[4], *ref[5];
        int dims[4], rc;
        double worst = 0;
        const char *err;
        v.c = c; v.batched = masks[m];
        for (i = 0; i < c->n; i++) {
            int64_t sh[AG_MAX_DIMS + 1];
            int j, nd = c->in[i].nd;
            bool batched = (masks[m] >> i) & 1;
            sh[0] = VB;
            for (j = 0; j < nd; j++) sh[j + batched] = c->in[i].d[j];
            X[i] = make_input(ctx, nd + batched, sh, c->init[i]);
            dims[i] = batched ? 0 : AG_UNBATCHED;
        }
        if ((c->flags & F_TIE) && c->n >= 2 && masks[m] == masks[0])
            memcpy(ag_data(X[1]), ag_data(X[0]), (size_t)ag_numel(X[0]) * sizeof(double));
        rc = ag_vmap(ctx, vmapped_fn, &v, c->n, X, dims, c->n + 1, out, NULL);
        err = ag_error(ctx);
        for (b = 0; b < VB && rc == 0; b++) {
            for (i = 0; i < c->n; i++) ex[i] = dims[i] == 0 ? ag_select(X[i], 0, b) : X[i];
            ref[0] = c->fn(ctx, ex, c);
            if (!ref[0] || ag_grad_of(ag_sum(ag_mul(ref[0], ref[0])), NULL, c->n, ex, ref + 1)) { worst = INFINITY; break; }
            for (i = 0; i <= c->n; i++) {
                double d = harness_max_abs_diff(ag_select(out[i], 0, b), ref[i]), s = 1;
                ag_tensor *a = ag_abs(ref[i]);
                if (a && ag_numel(a)) s = fmax(1.0, ag_item(ag_max(a)));
                if (d / s > worst || d != d) worst = d != d ? INFINITY : d / s;
            }
        }
        if (rc != 0 && (strstr(c->op, "dropout") || strstr(c->op, "max_unpool2d"))) {   /* refused: random numbers, an index tensor per example */
            CHECK(err && strstr(err, "ag_vmap"), "vmap %s(%s): refused with a message naming ag_vmap (got %s)", c->op, shapes, err ? err : "no error");
            if (ag_error(ctx)) ag_clear_error(ctx);
            continue;
        }
        CHECK(rc == 0 && worst <= 1e-12, "vmap %s(%s)%s%s, %s: %s%s (values and per-example gradients against a loop: worst %.3g)",
              c->op, shapes, c->note ? " " : "", c->note ? c->note : "", masks[m] == 1u && c->n > 1 ? "input 0 batched" : "all inputs batched",
              rc ? "failed: " : "", rc ? (err ? err : "?") : "", worst);
        if (verbose) printf("%-4s vmap %s(%s)%s%s: %.3g\n", rc == 0 && worst <= 1e-12 ? "ok" : "FAIL", c->op, shapes, c->note ? " " : "", c->note ? c->note : "", worst);
        if (ag_error(ctx)) ag_clear_error(ctx);
    }
}

static void run_case(ag_ctx *ctx, const gc_case *c) {
    int layout, order, i;
    char shapes[160];
    shape_str(shapes, sizeof shapes, c);
    for (layout = 0; layout < L_COUNT; layout++) {
        ag_tensor *leaves[4];
        bool any = layout == L_CONTIG;
        run_info ri;
        if (layout != L_CONTIG) {
            if (c->flags & F_NO_VIEWS) continue;
            for (i = 0; i < c->n; i++) any = any || layout_applies(layout, c->in[i].nd);
            if (!any) continue;
        }
        for (i = 0; i < c->n; i++) {
            int64_t ls[AG_MAX_DIMS];
            leaf_shape(layout, &c->in[i], ls);
            leaves[i] = make_input(ctx, c->in[i].nd, ls, c->init[i]);
        }
        if ((c->flags & F_TIE) && c->n >= 2 && leaves[0] && leaves[1])
            memcpy(ag_data(leaves[1]), ag_data(leaves[0]), (size_t)ag_numel(leaves[0]) * sizeof(double));
        ri.c = c;
        ri.layout = layout;
        for (order = 1; order <= 2; order++) {
            ag_gradcheck_opts o;
            ag_gradcheck_result res;
            int ret;
            const char *err;
            if (order == 2 && (c->flags & F_NO_SECOND)) continue;
            memset(&o, 0, sizeof o);
            memset(&res, 0, sizeof res);
            o.eps = c->eps; o.atol = c->atol; o.rtol = c->rtol;
            o.second_order = order == 2;
            ret = ag_gradcheck(ctx, checked_fn, &ri, c->n, leaves, &o, &res);
            err = ag_error(ctx);
            ncase_runs++;
            CHECK(ret == 1 && !err,
                  "gradcheck %s(%s)%s%s, %s, order %d: returned %d, max_abs_err %.3g max_rel_err %.3g "
                  "(from order %d, input %d, element %lld: analytic %.10g numeric %.10g)%s%s",
                  c->op, shapes, c->note ? " " : "", c->note ? c->note : "", layout_name[layout], order, ret,
                  res.max_abs_err, res.max_rel_err, res.order, res.worst_input, (long long)res.worst_index,
                  res.analytic, res.numeric, err ? "; error: " : "", err ? err : "");
            if (verbose)
                printf("%-4s %s(%s)%s%s, %s, order %d: max_abs_err %.3g\n", ret == 1 && !err ? "ok" : "FAIL",
                       c->op, shapes, c->note ? " " : "", c->note ? c->note : "", layout_name[layout], order,
                       res.max_abs_err);
            if (err) ag_clear_error(ctx);
        }
        check_forward(ctx, c, &ri, leaves, shapes, layout);
        if (layout == L_CONTIG) check_vmap(ctx, c, shapes);
        ag_ctx_reset(ctx);
    }
}

/* ---- random shapes: ops drawn from a pool, shapes and dims drawn from the context RNG ---- */
static const gc_case pool[] = {
    { .op = "add", .fn = op_add, .n = 2, .init = {I_N, I_N} },
    { .op = "sub", .fn = op_sub, .n = 2, .init = {I_N, I_N} },
    { .op = "mul", .fn = op_mul, .n = 2, .init = {I_N, I_N} },
    { .op = "div", .fn = op_div, .n = 2, .init = {I_N, I_AWAY0} },
    { .op = "maximum", .fn = op_maximum, .n = 2, .init = {I_ODD, I_EVEN} },
    { .op = "minimum", .fn = op_minimum, .n = 2, .init = {I_EVEN, I_ODD} },
    { .op = "exp", .fn = op_exp, .n = 1, .init = {I_N} },
    { .op = "log", .fn = op_log, .n = 1, .init = {I_POS} },
    { .op = "sqrt", .fn = op_sqrt, .n = 1, .init = {I_POS} },
    { .op = "pow", .note = "-1.5", .fn = op_pow, .n = 1, .init = {I_POS}, .da = {-1.5} },
    { .op = "abs", .fn = op_abs, .n = 1, .init = {I_AWAY0} },
    { .op = "relu", .fn = op_relu, .n = 1, .init = {I_AWAY0} },
    { .op = "tanh", .fn = op_tanh, .n = 1, .init = {I_N} },
    { .op = "sigmoid", .fn = op_sigmoid, .n = 1, .init = {I_N} },
    { .op = "gelu", .fn = op_gelu, .n = 1, .init = {I_N} },
    { .op = "gelu_tanh", .fn = op_gelu_tanh, .n = 1, .init = {I_N} },
    { .op = "silu", .fn = op_silu, .n = 1, .init = {I_N} },
    { .op = "erf", .fn = op_erf, .n = 1, .init = {I_N} },
    { .op = "clamp", .note = "-0.5, 0.8", .fn = op_clamp, .n = 1, .init = {I_CLAMP}, .da = {-0.5, 0.8} },
    { .op = "softplus", .note = "2, 1.6", .fn = op_softplus, .n = 1, .init = {I_CLAMP}, .da = {2.0, 1.6} },
    { .op = "sum", .fn = op_sum, .n = 1, .init = {I_N} },
    { .op = "mean", .fn = op_mean, .n = 1, .init = {I_N} },
    { .op = "max", .fn = op_max, .n = 1, .init = {I_DISTINCT} },
    { .op = "min", .fn = op_min, .n = 1, .init = {I_DISTINCT} },
    { .op = "var", .note = "correction=0", .fn = op_var, .n = 1, .init = {I_N}, .ia = {0} },
    { .op = "sum_dim", .fn = op_sum_dim, .n = 1, .init = {I_N} },
    { .op = "mean_dim", .fn = op_mean_dim, .n = 1, .init = {I_N} },
    { .op = "max_dim", .fn = op_max_dim, .n = 1, .init = {I_DISTINCT} },
    { .op = "min_dim", .fn = op_min_dim, .n = 1, .init = {I_DISTINCT} },
    { .op = "var_dim", .fn = op_var_dim, .n = 1, .init = {I_N} },
    { .op = "softmax", .fn = op_softmax, .n = 1, .init = {I_N} },
    { .op = "log_softmax", .fn = op_log_softmax, .n = 1, .init = {I_N} },
    { .op = "transpose", .fn = op_transpose, .n = 1, .init = {I_N} },
    { .op = "matmul", .fn = op_matmul, .n = 2, .init = {I_N, I_N} },
};

static bool is_dim_op(op_fn f) {
    return f == op_sum_dim || f == op_mean_dim || f == op_max_dim || f == op_min_dim || f == op_var_dim ||
           f == op_softmax || f == op_log_softmax || f == op_transpose;
}

static void random_cases(ag_ctx *ctx, const char *filter, int rounds) {
    static char notes[64][48];
    int r;
    for (r = 0; r < rounds; r++) {
        int64_t nu = 24;
        double *u = uniforms(ctx, nu);
        gc_case c;
        int i, k = 0, nd;
        size_t npool = sizeof pool / sizeof pool[0];
        if (!u) return;
        c = pool[(size_t)(u[k++] * (double)npool) % npool];
        memset(c.in, 0, sizeof c.in);
        if (c.fn == op_matmul) {   /* [batch_a..., m, k] @ [batch_b..., k, n], batch dims broadcast; 1-D on either side */
            int64_t m = 1 + (int64_t)(u[k++] * 4), kk = 1 + (int64_t)(u[k++] * 4), n = 1 + (int64_t)(u[k++] * 4);
            int nba = (int)(u[k++] * 3), nbb = (int)(u[k++] * 3), j;
            int64_t batch[2];
            batch[0] = 1 + (int64_t)(u[k++] * 3); batch[1] = 1 + (int64_t)(u[k++] * 3);
            if (u[k++] < 0.15) { c.in[0].nd = 1; c.in[0].d[0] = kk; nba = -1; }
            else {
                c.in[0].nd = nba + 2;
                for (j = 0; j < nba; j++) c.in[0].d[j] = u[k++] < 0.3 ? 1 : batch[2 - nba + j];
                c.in[0].d[nba] = m; c.in[0].d[nba + 1] = kk;
            }
            if (u[k++] < 0.15) { c.in[1].nd = 1; c.in[1].d[0] = kk; }
            else {
                c.in[1].nd = nbb + 2;
                for (j = 0; j < nbb; j++) c.in[1].d[j] = u[k++] < 0.3 ? 1 : batch[2 - nbb + j];
                c.in[1].d[nbb] = kk; c.in[1].d[nbb + 1] = n;
            }
        } else {
            nd = (int)(u[k++] * 4);   /* 0..3 dims of 1..4 */
            if (c.fn != op_add && c.fn != op_sub && c.fn != op_mul && c.fn != op_div && c.fn != op_maximum &&
                c.fn != op_minimum && c.fn != op_exp && c.fn != op_tanh && c.fn != op_sum && c.fn != op_max && nd == 0)
                nd = 1;   /* dim ops need a dim; keep 0-d for a few */
            if (c.fn == op_transpose && nd < 2) nd = 2;
            c.in[0].nd = nd;
            for (i = 0; i < nd; i++) c.in[0].d[i] = 1 + (int64_t)(u[k++] * 4);
            if (c.n == 2) {   /* a broadcast partner: drop some leading dims, set some dims to 1; maybe swap sides */
                int drop = (int)(u[k++] * (double)(nd + 1));
                c.in[1].nd = nd - drop;
                for (i = 0; i < c.in[1].nd; i++) c.in[1].d[i] = u[k++] < 0.3 ? 1 : c.in[0].d[i + drop];
                if (u[k++] < 0.3) { shp t = c.in[0]; c.in[0] = c.in[1]; c.in[1] = t; }
            }
            if (nd > 0 && is_dim_op(c.fn)) {
                int dim = (int)(u[k++] * nd), neg = u[k++] < 0.5, keep = u[k++] < 0.5;
                c.ia[0] = neg ? dim - nd : dim;
                c.ia[1] = c.fn == op_transpose ? (int)(u[k++] * nd) : keep;
                c.ia[2] = 0;
            }
            if (c.fn == op_var_dim && nd > 0 && c.in[0].d[(c.ia[0] + nd) % nd] > 1 && u[k++] < 0.5) c.ia[2] = 1;
        }
        if (c.fn == op_transpose)
            snprintf(notes[r % 64], sizeof notes[0], "random, dims=%d,%d", c.ia[0], c.ia[1]);
        else if (c.fn == op_softmax || c.fn == op_log_softmax)
            snprintf(notes[r % 64], sizeof notes[0], "random, dim=%d", c.ia[0]);
        else if (is_dim_op(c.fn))
            snprintf(notes[r % 64], sizeof notes[0], "random, dim=%d%s%s", c.ia[0], c.ia[1] ? " keepdim" : "",
                     c.fn == op_var_dim ? (c.ia[2] ? " correction=1" : " correction=0") : "");
        else snprintf(notes[r % 64], sizeof notes[0], "random%s%s", c.note ? ", " : "", c.note ? c.note : "");
        c.note = notes[r % 64];
        ag_ctx_reset(ctx);
        if (filter && !strstr(c.op, filter)) continue;
        run_case(ctx, &c);
    }
    ag_ctx_reset(ctx);
}

/* ---- the checker itself must catch wrong gradients ---- */
static ag_tensor *fn_half_detached(ag_ctx *ctx, ag_tensor **x, void *user) {
    (void)ctx; (void)user;
    return ag_mul(x[0], ag_detach(x[0]));   /* value x^2, analytic gradient x: wrong by half */
}
/* value x^2/2 and analytic gradient detach(x): right at order 1, second derivative 0 instead of 1 */
static ag_tensor *fn_wrong_second(ag_ctx *ctx, ag_tensor **x, void *user) {
    ag_tensor *d = ag_detach(x[0]);
    (void)ctx; (void)user;
    return ag_sub(ag_mul(x[0], d), ag_mul_scalar(ag_mul(d, d), 0.5));
}
static ag_tensor *fn_relu(ag_ctx *ctx, ag_tensor **x, void *user) {
    (void)ctx; (void)user;
    return ag_relu(x[0]);
}
static ag_tensor *fn_tanh(ag_ctx *ctx, ag_tensor **x, void *user) {
    (void)ctx; (void)user;
    return ag_tanh(x[0]);
}

static void test_checker_catches_errors(ag_ctx *ctx) {
    int64_t shape[2] = {3, 4};
    ag_gradcheck_opts o;
    ag_gradcheck_result r;
    ag_tensor *x;
    int ret;
    memset(&o, 0, sizeof o);

    /* a wrong first derivative */
    x = make_input(ctx, 2, shape, I_AWAY0);
    memset(&r, 0, sizeof r);
    ret = ag_gradcheck(ctx, fn_half_detached, NULL, 1, &x, &o, &r);
    CHECK(ret == 0, "gradcheck of x*detach(x) (gradient wrong by half) returned %d, want 0", ret);
    CHECK(r.max_abs_err > 0.1 && r.order == 1 && r.worst_input == 0 && r.worst_index >= 0 && r.worst_index < 12,
          "x*detach(x): result max_abs_err %g order %d input %d element %lld", r.max_abs_err, r.order,
          r.worst_input, (long long)r.worst_index);
    CHECK_CLOSE(fabs(r.analytic - r.numeric), r.max_abs_err, 1e-12, 1e-9, "x*detach(x): |analytic - numeric| is max_abs_err");
    CHECK(r.max_abs_err > 0 && fabs(r.numeric - 2 * r.analytic) < 1e-4 * (1 + fabs(r.numeric)),
          "x*detach(x): numeric %.10g should be twice analytic %.10g", r.numeric, r.analytic);
    CHECK(ag_grad(x) == NULL, "gradcheck must not touch the inputs' .grad");
    ag_clear_error(ctx);
    ag_ctx_reset(ctx);

    /* a wrong second derivative only */
    x = make_input(ctx, 2, shape, I_N);
    o.second_order = false;
    memset(&r, 0, sizeof r);
    ret = ag_gradcheck(ctx, fn_wrong_second, NULL, 1, &x, &o, &r);
    CHECK(ret == 1, "x*d - d*d/2 (d = detach(x)) has the right first derivative: returned %d, max_abs_err %g", ret,
          r.max_abs_err);
    o.second_order = true;
    memset(&r, 0, sizeof r);
    ret = ag_gradcheck(ctx, fn_wrong_second, NULL, 1, &x, &o, &r);
    CHECK(ret == 0 && r.order == 2 && r.max_abs_err > 0.01,
          "x*d - d*d/2 has a wrong second derivative: returned %d, order %d, max_abs_err %g (want 0, 2, > 0.01)", ret,
          r.order, r.max_abs_err);
    ag_clear_error(ctx);
    ag_ctx_reset(ctx);

    /* a kink right at the evaluation point: central differences see 1/2, relu'(0) is 0 */
    x = make_input(ctx, 2, shape, I_ZERO);
    o.second_order = false;
    memset(&r, 0, sizeof r);
    ret = ag_gradcheck(ctx, fn_relu, NULL, 1, &x, &o, &r);
    CHECK(ret == 0 && r.max_abs_err > 0.01, "relu at exactly 0: returned %d, max_abs_err %g (want 0, > 0.01)", ret,
          r.max_abs_err);
    ag_clear_error(ctx);
    ag_ctx_reset(ctx);

    /* a passing check reports a small, finite error */
    x = make_input(ctx, 2, shape, I_N);
    o.second_order = true;
    memset(&r, 0, sizeof r);
    r.max_abs_err = -1;
    ret = ag_gradcheck(ctx, fn_tanh, NULL, 1, &x, &o, &r);
    CHECK(ret == 1 && r.max_abs_err >= 0 && r.max_abs_err < 1e-6 && r.max_rel_err >= 0 && r.max_rel_err <= r.max_abs_err + 1e-300,
          "tanh: returned %d, max_abs_err %g, max_rel_err %g", ret, r.max_abs_err, r.max_rel_err);
    ag_clear_error(ctx);
    ag_ctx_reset(ctx);

    /* inputs must be F64 and require grad: anything else is an error (-1), not a pass */
    {
        ag_tensor *x32 = ag_set_requires_grad(ag_randn(ctx, AG_F32, 2, shape), true);
        ag_tensor *xng = ag_randn(ctx, AG_F64, 2, shape);
        ret = ag_gradcheck(ctx, fn_tanh, NULL, 1, &x32, &o, &r);
        CHECK(ret == -1 && ag_error(ctx) != NULL, "gradcheck of an F32 input: returned %d, want -1 and an error", ret);
        ag_clear_error(ctx);
        ret = ag_gradcheck(ctx, fn_tanh, NULL, 1, &xng, &o, &r);
        CHECK(ret == -1 && ag_error(ctx) != NULL,
              "gradcheck of an input that does not require grad: returned %d, want -1 and an error", ret);
        ag_clear_error(ctx);
    }
    ag_ctx_reset(ctx);
}

int main(int argc, char **argv) {
    ag_desc desc;
    ag_ctx *ctx;
    const char *filter = NULL;
    size_t k, ncases = sizeof cases / sizeof cases[0];
    int i;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) verbose = 1;
        else filter = argv[i];
    }
    memset(&desc, 0, sizeof desc);
    desc.seed = 0x5eed2024u;
    ctx = ag_ctx_new(&desc);
    CHECK(ctx != NULL, "ag_ctx_new");
    if (!ctx) return harness_finish("gradcheck");

    if (!filter || strstr("checker", filter)) test_checker_catches_errors(ctx);
    for (k = 0; k < ncases; k++) {
        if (filter && !strstr(cases[k].op, filter)) continue;
        run_case(ctx, &cases[k]);
    }
    random_cases(ctx, filter, 240);
    if (verbose) printf("%zu table rows + 240 random cases: %d gradchecks\n", ncases, ncase_runs);
    ag_ctx_free(ctx);
    return harness_finish("gradcheck");
}
