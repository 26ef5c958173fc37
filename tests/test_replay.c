/* test_replay.c - graph replay (ag_capture_begin / ag_capture_end / ag_replay).

   For each model below, two contexts train side by side from the same parameters, seed
   and data, for several frames with Adam: one captures frame 0 and replays every later
   frame after writing the frame's data into its input tensors; the other builds the step
   again each frame and resets its arena. Their losses, gradients and parameters must be
   bit-identical every frame. A kernel the capture missed would leave a stale value and
   show up as a difference. The models together run every op (elementwise, reductions,
   products, views, copies, concatenation, gathers, softmax, losses, layers, dropout's
   random draws, dtype conversion, in-place ops, forward-mode tangents, comparisons, where,
   masked_fill, one_hot and integer arithmetic). Then: no heap
   or arena growth across replays, what cannot be captured is refused with a message,
   and the per-step cost of replaying against rebuilding (info lines).

   cc -std=c99 -O2 -I. tests/test_replay.c -lm -lpthread -o build/test_replay */
#define _POSIX_C_SOURCE 199309L
#include "autograd.h"
#include "harness.h"

#define MAXP 8
typedef struct {
    const char *name;
    ag_dtype dt;
    int np;
    int pnd[MAXP];
    int64_t ps[MAXP][4];
    int xnd, tnd;
    int64_t xs[4], ts[4];
    unsigned f64_params;   /* bit i: parameter i is F64 whatever dt is */
    ag_tensor *(*loss)(ag_tensor **p, ag_tensor *x, ag_tensor *t);
} model;

static const int32_t targets[8] = { 1, 0, 3, 2, 2, 1, 0, 3 };
static const int32_t rows[6] = { 4, 0, 2, 2, 5, 1 };
static int32_t frame_targets[6], frame_rows[6];   /* new every frame: a replay reads them again */

/* ---- the models ---- */
static ag_tensor *m_mlp_ce(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    (void)t;
    return ag_cross_entropy(ag_linear(ag_tanh(ag_linear(x, p[0], p[1])), p[2], p[3]), targets);
}
static ag_tensor *m_mlp_mse_inplace(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    ag_tensor *h = ag_linear(x, p[0], p[1]), *g;
    ag_relu_(h);                     /* its backward reads h: h itself is left alone below */
    g = ag_mul_scalar(h, 0.5);
    ag_add_(g, h);
    ag_mul_scalar_(g, 0.75);
    ag_sub_(g, ag_mul(h, h));
    return ag_mse_loss(ag_linear(g, p[2], p[3]), t);
}
static ag_tensor *m_elementwise(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    ag_tensor *a = ag_mul(x, p[0]), *terms[32], *s = NULL;
    int i, n = 0;
    terms[n++] = ag_gelu(a); terms[n++] = ag_gelu_tanh(a); terms[n++] = ag_silu(a); terms[n++] = ag_sigmoid(a);
    terms[n++] = ag_erf(a); terms[n++] = ag_leaky_relu(a, 0.1); terms[n++] = ag_clamp(a, -0.3, 0.4); terms[n++] = ag_abs(a); terms[n++] = ag_softplus(a, 2.0, 1.0);
    terms[n++] = ag_exp(ag_neg(a)); terms[n++] = ag_log(ag_add_scalar(ag_abs(a), 1.0)); terms[n++] = ag_sqrt(ag_add_scalar(ag_abs(a), 0.5));
    terms[n++] = ag_pow(ag_add_scalar(ag_abs(a), 0.5), 1.5); terms[n++] = ag_div(a, ag_add_scalar(ag_abs(t), 1.0));
    terms[n++] = ag_maximum(a, t); terms[n++] = ag_minimum(ag_sub(a, t), p[1]); terms[n++] = ag_relu(ag_sub(t, a));
    terms[n++] = ag_sin(a); terms[n++] = ag_atan(a); terms[n++] = ag_expm1(ag_mul_scalar(a, 0.1)); terms[n++] = ag_softsign(a);
    terms[n++] = ag_logsigmoid(a); terms[n++] = ag_floor(a); terms[n++] = ag_mul(ag_sign(a), ag_rpow_scalar(a, 1.5));
    terms[n++] = ag_add(ag_elu(a, 1.0), ag_hardswish(ag_mish(a)));
    for (i = 0; i < n; i++) s = s ? ag_add(s, ag_mean(terms[i])) : ag_mean(terms[i]);
    return s;
}
static ag_tensor *m_reductions(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    ag_tensor *a = ag_add(x, p[0]);
    ag_tensor *s = ag_add(ag_max(a), ag_min(a));
    s = ag_add(s, ag_mean(ag_max_dim(a, 0, false)));
    s = ag_add(s, ag_sum(ag_min_dim(a, -1, true)));
    s = ag_add(s, ag_var(a, 1));
    s = ag_add(s, ag_mean(ag_var_dim(a, 1, false, 0)));
    s = ag_add(s, ag_mean(ag_cumsum(a, 1)));
    s = ag_add(s, ag_sum(ag_mul(ag_tril(a, 0), ag_triu(a, 1))));
    { int d = 0; s = ag_add(s, ag_sum(ag_mul(ag_flip(a, 1, &d), ag_roll(a, 1, 1)))); }
    s = ag_add(s, ag_mean(ag_logsumexp(a, 0, false)));
    s = ag_add(s, ag_sum(ag_mul(ag_mean_dim(a, 0, true), ag_sum_dim(t, 0, true))));
    {   /* ops built from others, and the norm node */
        static const int32_t cls[5] = {0, 1, 2, 3, 4};
        int d1 = 1, two[2] = {1, 0};
        int64_t rep[2] = {1, 2};
        ag_tensor *parts[3];
        s = ag_add(s, ag_add(ag_norm(a, 2.0), ag_mean(ag_norm_dims(a, 3.0, 1, &d1, false))));
        s = ag_add(s, ag_add(ag_mean(ag_glu(a, 1)), ag_mean(ag_prelu(a, p[0]))));
        s = ag_add(s, ag_add(ag_mean(ag_rms_norm(a, p[0], 1e-5)), ag_mean(ag_cosine_similarity(a, t, 1, 1e-8))));
        s = ag_add(s, ag_add(ag_smooth_l1_loss(a, t, 0.5, AG_MEAN), ag_huber_loss(a, t, 0.7, AG_SUM)));
        s = ag_add(s, ag_add(ag_l1_loss(a, t, AG_MEAN), ag_kl_div(ag_log_softmax(a, 1), ag_softmax(t, 1), AG_BATCHMEAN, false)));
        s = ag_add(s, ag_add(ag_nll_loss(ag_log_softmax(a, 1), cls, AG_MEAN), ag_mean(ag_repeat(a, 2, rep))));
        s = ag_add(s, ag_sum_dims(ag_mul(a, t), 2, two, false));
        if (ag_chunk(a, 3, 1, parts) == 3) s = ag_add(s, ag_sum(ag_mul(parts[0], parts[2])));
        {   /* order and indexing: argsort reruns on the new data; the index arrays are read again */
            static const int64_t pick[4] = {5, 0, 2, 2};
            s = ag_add(s, ag_sum(ag_mul(ag_sort(a, 1, false, NULL), t)));
            s = ag_add(s, ag_add(ag_sum(ag_topk(a, 2, 0, true, NULL)), ag_mean(ag_median_dim(a, 1, false, NULL))));
            s = ag_add(s, ag_sum(ag_mul(ag_index_select(a, 1, 4, pick), ag_index_select(t, 1, 4, pick))));
            s = ag_add(s, ag_sum(ag_mul(ag_scatter_add(t, 1, pick, ag_narrow(ag_narrow(a, 0, 0, 1), 1, 0, 4)), t)));
            {   /* shapes, products, scans, einsum */
                static const int64_t pads[4] = {1, 2, 1, 0}, two = 2;
                ag_tensor *ops2[2];
                ops2[0] = a; ops2[1] = t;
                s = ag_add(s, ag_add(ag_mean(ag_pad(a, 4, pads, AG_PAD_REFLECT, 0.0)), ag_mean(ag_repeat_interleave(a, 2, 1))));
                s = ag_add(s, ag_add(ag_mean(ag_prod_dim(ag_mul_scalar(a, 0.5), 0, false)), ag_mean(ag_cumprod(ag_mul_scalar(a, 0.5), 1))));
                s = ag_add(s, ag_add(ag_mean(ag_cummax(a, 1, NULL)), ag_trace(ag_narrow(a, 1, 0, 5))));
                s = ag_add(s, ag_add(ag_mean(ag_einsum("ij,ik->jk", 2, ops2)), ag_mean(ag_tile(a, 1, &two))));
            }
        }
    }
    return s;
}
static ag_tensor *m_softmax_bce(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    ag_tensor *z = ag_linear(x, p[0], p[1]);
    ag_tensor *sm = ag_softmax(z, -1), *ls = ag_log_softmax(ag_transpose(z, 0, 1), 0);
    ag_tensor *prob = ag_sigmoid(t);   /* targets in (0, 1) */
    return ag_add(ag_add(ag_bce_with_logits(z, prob), ag_mean(ag_mul(sm, t))), ag_mean(ls));
}
static ag_tensor *m_attention(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    ag_tensor *h = ag_layer_norm(x, p[0], p[1], 1e-5);
    ag_tensor *a = ag_causal_self_attention(h, p[2], p[3], p[4], p[5], 2);
    return ag_mse_loss(ag_add(x, a), t);
}
static ag_tensor *m_cnn(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    ag_conv2d_opts o;
    int64_t flat[2];
    ag_tensor *h, *g;
    memset(&o, 0, sizeof o);
    o.pad_h = o.pad_w = 1;
    h = ag_relu(ag_conv2d(x, p[0], p[1], &o));
    g = ag_avg_pool2d(h, 2, 2, 0, 0, 0, 0);
    h = ag_max_pool2d(h, 2, 2, 0, 0, 0, 0);
    h = ag_add(h, g);
    {   /* the layers with options: same-size results added in */
        ag_pool2d_opts po;
        ag_conv_transpose2d_opts to;
        ag_sdpa_opts so;
        memset(&po, 0, sizeof po); memset(&to, 0, sizeof to); memset(&so, 0, sizeof so);
        po.kh = po.kw = 3; po.stride_h = po.stride_w = 2; po.pad_h = po.pad_w = 1; po.exclude_pad = true;
        so.is_causal = true;
        h = ag_add(h, ag_mul_scalar(ag_adaptive_avg_pool2d(ag_avg_pool2d_ex(g, &po), ag_dim(h, 2), ag_dim(h, 3)), 0.5));
        h = ag_add(h, ag_group_norm(h, 1, NULL, NULL, 1e-5));
        h = ag_add(h, ag_interpolate(ag_adaptive_max_pool2d(h, 1, 1), ag_dim(h, 2), ag_dim(h, 3), AG_INTERP_BILINEAR, false));
        h = ag_add(h, ag_scaled_dot_product_attention(h, h, h, &so));
        {   /* a 1x1 transposed convolution, stride 2, back to h's size with a crop */
            int64_t ws[4];
            ws[0] = ag_dim(h, 1); ws[1] = ag_dim(h, 1); ws[2] = 1; ws[3] = 1;
            to.stride_h = to.stride_w = 2;
            h = ag_add(h, ag_narrow(ag_narrow(ag_conv_transpose2d(h, ag_full(ag_context(h), AG_F32, 4, ws, 0.1), NULL, &to), 2, 0, ag_dim(h, 2)), 3, 0, ag_dim(h, 3)));
        }
    }
    flat[0] = ag_dim(h, 0); flat[1] = -1;
    h = ag_batch_norm(ag_reshape(h, 2, flat), NULL, NULL, NULL, NULL, true, 0.1, 1e-5);
    return ag_mse_loss(ag_linear(h, p[2], p[3]), t);
}
static ag_tensor *m_shapes(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    int64_t sh[3] = { 2, 3, 4 }, ex[3] = { 4, 2, 3 }, col[3] = { 4, 1, 1 }, idx_shape[1] = { 6 }, t46[2] = { 4, 6 };
    int perm[3] = { 2, 0, 1 };
    ag_tensor *e = ag_embedding(p[0], 1, idx_shape, rows);                      /* [6, 4] */
    ag_tensor *parts[3], *c, *st, *r;
    parts[0] = ag_slice(x, 0, 0, 6, 2); parts[1] = e; parts[2] = ag_narrow(x, 0, 1, 2);
    c = ag_cat(parts, 3, 0);                                                    /* [11, 4] */
    parts[0] = ag_gather_rows(c, 6, rows); parts[1] = ag_transpose(ag_reshape(t, 2, t46), 0, 1);
    st = ag_stack(parts, 2, 1);                                                 /* [6, 2, 4] */
    r = ag_contiguous(ag_permute(ag_reshape(ag_slice(st, 0, 0, 3, 1), 3, sh), perm));
    r = ag_add(r, ag_expand(ag_reshape(ag_squeeze(ag_unsqueeze(p[1], 0), 0), 3, col), 3, ex));
    return ag_sum(ag_mul(r, r));
}
static ag_tensor *m_dropout_mixed(ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    int64_t e[3] = { 2, 3, 2 };
    ag_tensor *h = ag_dropout(ag_tanh(ag_linear(x, p[0], p[1])), 0.3, true);   /* F32 */
    ag_tensor *y = ag_matmul(ag_to(h, AG_F64), p[2]);                            /* F64 */
    ag_tensor *z = ag_matmul(ag_unsqueeze(y, 0), ag_expand(ag_unsqueeze(p[3], 0), 3, e));
    ag_tensor *v = ag_matmul(p[4], ag_squeeze(ag_slice(z, 0, 0, 1, 1), 0));      /* 1-D @ 2-D */
    return ag_add(ag_mse_loss(ag_sum_dim(z, 0, false), ag_to(t, AG_F64)), ag_sum(ag_mul(v, v)));
}
static ag_tensor *m_tangent(ag_ctx *ctx, ag_tensor **p, ag_tensor *x, ag_tensor *t) {
    /* forward-mode inside the step: the loss is the squared directional derivative along t */
    ag_tensor *d = ag_make_dual(x, t), *y = ag_tanh(ag_linear(d, p[0], p[1]));
    (void)ctx;
    return ag_add(ag_mean(ag_mul(ag_tangent(y), ag_tangent(y))), ag_mean(y));
}
static ag_tensor *m_tangent_(ag_tensor **p, ag_tensor *x, ag_tensor *t) { return m_tangent(NULL, p, x, t); }
static ag_tensor *m_indices(ag_tensor **p, ag_tensor *x, ag_tensor *t) {   /* embedding rows and class targets change every frame */
    int64_t n = 6;
    ag_tensor *e = ag_embedding(p[0], 1, &n, frame_rows);                     /* [6, 4] */
    ag_tensor *logits = ag_linear(ag_tanh(ag_add(e, x)), p[1], p[2]);         /* [6, 5] */
    return ag_add(ag_cross_entropy(logits, frame_targets), ag_mul_scalar(ag_sum(ag_gather_rows(logits, 6, frame_rows)), 0.01 * ag_numel(t)));
}
/* masks, comparisons and integer ops inside the step (>>int): every frame's data moves the masks,
   the argmax classes and the count, so a comparison or integer kernel the capture missed leaves a
   stale mask and changes the loss or the gradients */
static ag_tensor *m_masks(ag_tensor **p, ag_tensor *x, ag_tensor *t) {   /* x [6,4], t [6,5] */
    ag_ctx *ctx = ag_context(x);
    ag_tensor *h = ag_linear(x, p[0], p[1]);                                          /* [6, 5] */
    ag_tensor *mask = ag_gt(h, t);                                                    /* BOOL */
    ag_tensor *a = ag_where(mask, ag_tanh(h), ag_mul_scalar(h, 0.1));                /* gradients to both sides */
    ag_tensor *b = ag_masked_fill(a, ag_le(t, ag_scalar(ctx, -0.25)), 0.5);         /* no gradient where t <= -0.25 */
    ag_tensor *oh = ag_to(ag_one_hot(ag_argmax(t, 1, false), 5), ag_type(x));        /* [6, 5] from I64 classes */
    ag_tensor *both = ag_logical_and(mask, ag_logical_not(ag_isnan(t)));             /* BOOL */
    ag_tensor *cnt = ag_floor_divide(ag_add(ag_sum(both), ag_sum(ag_eq(oh, ag_ones(ctx, ag_type(x), 0, NULL)))),
                                     ag_full(ctx, AG_I64, 0, NULL, 3.0));             /* I64 0-d */
    ag_tensor *pick = ag_where(ag_ne(ag_remainder(ag_argmax(h, 1, true), ag_full(ctx, AG_I64, 0, NULL, 2.0)),
                                     ag_zeros(ctx, AG_I64, 0, NULL)), h, t);           /* [6, 5]: odd classes pick h */
    return ag_add(ag_add(ag_sum(ag_mul(b, oh)), ag_mean(ag_mul(pick, b))), ag_mul_scalar(ag_to(cnt, ag_type(x)), 0.01));
}

/* replay fuses runs of elementwise kernels of 4096 elements or more, a chunk at a time: a kernel
   that reads one value of a run's result (here b[n - 1], made by the last chunk of tanh, read by
   every chunk of the last mul) must not run in the same run (the slice's own step ends it) */
static ag_tensor *m_fuse_value(ag_tensor **p, ag_tensor *x, ag_tensor *t) {   /* x, t [n] */
    int64_t n = ag_numel(x);
    ag_tensor *a = ag_mul(x, p[0]), *b = ag_tanh(a);
    return ag_mse_loss(ag_add(ag_mul(ag_exp(a), ag_slice(b, 0, n - 1, n, 1)), b), t);
}

#define P2(a, b) 2, {a, b}
static const model models[] = {
    { "mlp + cross_entropy", AG_F32, 4, {2, 1, 2, 1}, {{5, 8}, {5}, {4, 5}, {4}}, 2, 2, {8, 8}, {8, 4}, 0, m_mlp_ce },
    { "mlp + in-place + mse", AG_F32, 4, {2, 1, 2, 1}, {{6, 8}, {6}, {3, 6}, {3}}, 2, 2, {8, 8}, {8, 3}, 0, m_mlp_mse_inplace },
    { "elementwise ops", AG_F64, 2, {2, 1}, {{5, 4}, {4}}, 2, 2, {5, 4}, {5, 4}, 0, m_elementwise },
    { "reductions", AG_F32, 1, {1}, {{6}}, 2, 2, {5, 6}, {5, 6}, 0, m_reductions },
    { "softmax, log_softmax, bce", AG_F64, 2, {2, 1}, {{5, 7}, {5}}, 2, 2, {4, 7}, {4, 5}, 0, m_softmax_bce },
    { "layer_norm + attention", AG_F64, 6, {1, 1, 2, 1, 2, 1}, {{8}, {8}, {24, 8}, {24}, {8, 8}, {8}}, 3, 3, {2, 5, 8}, {2, 5, 8}, 0, m_attention },
    { "conv2d + pools + batch_norm", AG_F32, 4, {4, 1, 2, 1}, {{4, 2, 3, 3}, {4}, {3, 64}, {3}}, 4, 2, {3, 2, 8, 8}, {3, 3}, 0, m_cnn },
    { "views, cat, stack, gather, embedding", AG_F64, 2, {2, 1}, {{6, 4}, {4}}, 2, 2, {6, 4}, {4, 6}, 0, m_shapes },
    { "dropout, F32->F64, batched matmul", AG_F32, 5, {2, 1, 2, 2, 1}, {{6, 5}, {6}, {6, 3}, {3, 2}, {4}}, 2, 2, {4, 5}, {4, 2}, 0x1c, m_dropout_mixed },
    { "forward-mode tangent in the step", AG_F64, 2, {2, 1}, {{3, 4}, {3}}, 2, 2, {5, 4}, {5, 4}, 0, m_tangent_ },
    { "indices and targets new every frame", AG_F32, 3, {2, 2, 1}, {{7, 4}, {5, 4}, {5}}, 2, 1, {6, 4}, {1}, 0, m_indices },
    { "where, comparisons, masked_fill, one_hot", AG_F32, 2, {2, 1}, {{5, 4}, {5}}, 2, 2, {6, 4}, {6, 5}, 0, m_masks },
    { "the same in F64", AG_F64, 2, {2, 1}, {{5, 4}, {5}}, 2, 2, {6, 4}, {6, 5}, 0, m_masks },
    { "elementwise ops fused, [67, 123]", AG_F32, 2, {2, 1}, {{67, 123}, {123}}, 2, 2, {67, 123}, {67, 123}, 0, m_elementwise },
    { "the same in F64", AG_F64, 2, {2, 1}, {{67, 123}, {123}}, 2, 2, {67, 123}, {67, 123}, 0, m_elementwise },
    { "in-place ops fused, [80, 96]", AG_F32, 4, {2, 1, 2, 1}, {{96, 8}, {96}, {3, 96}, {3}}, 2, 2, {80, 8}, {80, 3}, 0, m_mlp_mse_inplace },
    { "a run stopped by a read of one of its values", AG_F32, 1, {1}, {{4099}}, 1, 1, {4099}, {4099}, 0, m_fuse_value },
};

/* deterministic host data, the same for both contexts */
static double hash01(uint64_t i) {
    i = (i + 0x9E3779B97F4A7C15ull) * 0xBF58476D1CE4E5B9ull;
    i ^= i >> 31; i *= 0x94D049BB133111EBull; i ^= i >> 29;
    return (double)(i >> 11) * (1.0 / 9007199254740992.0);
}
static void fill(ag_tensor *t, uint64_t salt, double scale) {   /* U[-scale, scale) */
    int64_t i, n = ag_numel(t);
    for (i = 0; i < n; i++) {
        double u = hash01(salt * 1000003u + (uint64_t)i);
        double v = scale * (2 * u - 1);
        if (ag_type(t) == AG_F32) ((float *)ag_data(t))[i] = (float)v; else ((double *)ag_data(t))[i] = v;
    }
}
static ag_tensor **make_params(ag_ctx *ctx, const model *m, ag_tensor **p) {
    int i;
    for (i = 0; i < m->np; i++) {
        ag_dtype dt = (m->f64_params >> i) & 1 ? AG_F64 : m->dt;
        p[i] = ag_param(ctx, dt, m->pnd[i], m->ps[i], NULL);
        if (p[i]) fill(p[i], 77 + (uint64_t)i, 0.5);
    }
    return p;
}
static bool same_bits(const ag_tensor *a, const ag_tensor *b) {
    return a && b && ag_numel(a) == ag_numel(b) && ag_type(a) == ag_type(b) &&
           memcmp(ag_data((ag_tensor *)a), ag_data((ag_tensor *)b), (size_t)ag_numel(a) * (ag_type(a) == AG_F32 ? 4 : 8)) == 0;
}

#define FRAMES 5
static void run_model(const model *m) {
    ag_desc d;
    ag_ctx *A, *B;
    ag_tensor *pa[MAXP], *pb[MAXP], *xa, *ta, *loss_a = NULL;
    ag_optim *oa, *ob;
    ag_capture *g = NULL;
    ag_adam_opts ao = ag_adam_defaults();
    int f, i, mismatches = 0;
    ag_stats s0, s1;
    memset(&d, 0, sizeof d);
    d.seed = 42;
    A = ag_ctx_new(&d); B = ag_ctx_new(&d);
    make_params(A, m, pa); make_params(B, m, pb);
    ao.lr = 0.01;
    oa = ag_adam_new(A, pa, m->np, &ao); ob = ag_adam_new(B, pb, m->np, &ao);
    xa = ag_new(A, m->dt, m->xnd, m->xs); ta = ag_new(A, m->dt, m->tnd, m->ts);
    s0 = ag_get_stats(A);
    for (f = 0; f < FRAMES; f++) {
        ag_tensor *xb = ag_new(B, m->dt, m->xnd, m->xs), *tb = ag_new(B, m->dt, m->tnd, m->ts), *loss_b;
        double la, lb;
        for (i = 0; i < 6; i++) {
            frame_targets[i] = (int32_t)(hash01(3000 + (uint64_t)(f * 8 + i)) * 5);
            frame_rows[i] = (int32_t)(hash01(4000 + (uint64_t)(f * 8 + i)) * 6);
        }
        fill(xa, 1000 + (uint64_t)f, 1.5); fill(ta, 2000 + (uint64_t)f, 1.0);
        fill(xb, 1000 + (uint64_t)f, 1.5); fill(tb, 2000 + (uint64_t)f, 1.0);
        ag_optim_zero_grad(oa); ag_optim_zero_grad(ob);
        if (f == 0) {   /* capture */
            CHECK(ag_capture_begin(A) == 0, "%s: capture_begin", m->name);
            loss_a = m->loss(pa, xa, ta);
            CHECK(loss_a && ag_backward(loss_a, NULL) == 0, "%s: the captured step: %s", m->name, ag_error(A) ? ag_error(A) : "");
            g = ag_capture_end(A);
            CHECK(g != NULL, "%s: capture_end: %s", m->name, ag_error(A) ? ag_error(A) : "");
            if (!g) break;
        } else CHECK(ag_replay(g) == 0, "%s: replay %d: %s", m->name, f, ag_error(A) ? ag_error(A) : "");
        if (f == 1) s0 = ag_get_stats(A);
        loss_b = m->loss(pb, xb, tb);
        CHECK(loss_b && ag_backward(loss_b, NULL) == 0, "%s: rebuilt step %d: %s", m->name, f, ag_error(B) ? ag_error(B) : "");
        la = ag_item(loss_a); lb = ag_item(loss_b);
        if (memcmp(&la, &lb, sizeof la) != 0) mismatches++;
        CHECK(memcmp(&la, &lb, sizeof la) == 0, "%s: frame %d: loss %.17g replayed vs %.17g rebuilt", m->name, f, la, lb);
        for (i = 0; i < m->np; i++)
            CHECK(same_bits(ag_grad(pa[i]), ag_grad(pb[i])), "%s: frame %d: the gradient of parameter %d differs", m->name, f, i);
        CHECK(ag_optim_step(oa) == 0 && ag_optim_step(ob) == 0, "%s: optimizer steps", m->name);
        ag_ctx_reset(B);
    }
    for (i = 0; i < m->np; i++) CHECK(same_bits(pa[i], pb[i]), "%s: parameter %d after %d frames differs", m->name, i, FRAMES);
    s1 = ag_get_stats(A);
    CHECK(s1.heap_allocs == s0.heap_allocs && s1.arena_used == s0.arena_used,
          "%s: replays allocate nothing (heap %llu -> %llu, arena %zu -> %zu)", m->name, (unsigned long long)s0.heap_allocs,
          (unsigned long long)s1.heap_allocs, s0.arena_used, s1.arena_used);
    if (g) printf("  info: %-40s %5zu recorded steps, %d frames bit-identical\n", m->name, ag_capture_steps(g), FRAMES - mismatches);
    ag_capture_free(g);
    ag_ctx_free(A); ag_ctx_free(B);
}

/* ---- fusion: fused and unfused replays, 1 and 2 threads, give the same bits ---- */
static void test_fusion(void) {
    const model *m = NULL;
    ag_tensor *grads[3][MAXP];
    ag_ctx *ctx[3];
    long fused[3];
    int run, i, k;
    for (k = 0; k < (int)(sizeof models / sizeof models[0]); k++) if (!strcmp(models[k].name, "elementwise ops fused, [67, 123]")) m = &models[k];
    if (!m) { CHECK(0, "fusion: no model"); return; }
    for (run = 0; run < 3; run++) {   /* fused on 1 thread, unfused on 1 thread, fused on 2 threads */
        ag_desc d;
        ag_tensor *p[MAXP], *x, *t;
        ag_capture *g;
        memset(&d, 0, sizeof d);
        d.threads = run == 2 ? 2 : 1;
        ctx[run] = ag_ctx_new(&d);
        make_params(ctx[run], m, p);
        x = ag_new(ctx[run], m->dt, m->xnd, m->xs); t = ag_new(ctx[run], m->dt, m->tnd, m->ts);
        fill(x, 5, 1.5); fill(t, 6, 1.0);
        ag_capture_begin(ctx[run]);
        CHECK(ag_backward(m->loss(p, x, t), NULL) == 0, "fusion: the captured step: %s", ag_error(ctx[run]));
        g = ag_capture_end(ctx[run]);
        CHECK(g != NULL, "fusion: capture_end: %s", ag_error(ctx[run]));
        if (!g) return;
        fused[run] = ag_capture_fuse(g, run != 1);
        for (i = 0; i < m->np; i++) ag_zero_grad(p[i]);
        fill(x, 7, 1.5);   /* new data, as each frame */
        CHECK(ag_replay(g) == 0, "fusion: replay: %s", ag_error(ctx[run]));
        for (i = 0; i < m->np; i++) grads[run][i] = ag_grad(p[i]);
    }
    CHECK(fused[0] > 10 && fused[2] == fused[0] && fused[1] == 0, "fusion: %ld, %ld and %ld kernels fused (expected many, 0 with fusion off)",
          fused[0], fused[1], fused[2]);
    for (i = 0; i < m->np; i++) {
        CHECK(same_bits(grads[0][i], grads[1][i]), "fusion: the gradient of parameter %d differs fused and unfused", i);
        CHECK(same_bits(grads[0][i], grads[2][i]), "fusion: the gradient of parameter %d differs on 1 and 2 threads", i);
    }
    CHECK(ag_capture_fuse(NULL, true) == -1, "fusion: ag_capture_fuse(NULL) is -1");
    printf("  info: fusion: %ld of the step's kernels run fused; fused, unfused and 2-thread replays bit-identical\n", fused[0]);
    for (run = 0; run < 3; run++) ag_ctx_free(ctx[run]);
}

/* ---- what cannot be captured, and misuse ---- */
static ag_tensor *id_forward(ag_custom *c, ag_tensor **in, int n, void *user) { (void)c; (void)n; (void)user; return ag_mul_scalar(in[0], 1.0); }
static int id_backward(ag_custom *c, ag_tensor *g, ag_tensor **grads, void *user) { (void)c; (void)user; grads[0] = g; return 0; }
static const ag_function id_fn = { "identity", id_forward, id_backward, NULL };
static ag_tensor *twice(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_mul_scalar(in[0], 2.0); }

static bool err_has(ag_ctx *ctx, const char *what) {
    const char *e = ag_error(ctx);
    bool ok = e && strstr(e, what);
    ag_clear_error(ctx);
    return ok;
}
static void test_refusals(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t sh[1] = { 3 }, two = 2;
    ag_tensor *w = ag_param(ctx, AG_F32, 1, sh, NULL), *x = ag_ones(ctx, AG_F32, 1, sh), *loss;
    ag_optim *opt = ag_sgd_new(ctx, &w, 1, NULL);
    ag_capture *g;
    double bound = 1.0;
    CHECK(ag_replay(NULL) == -1, "replay(NULL)");
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "capture_end: no capture is running"), "capture_end without begin");
    CHECK(ag_capture_begin(NULL) == -1 && ag_capture_end(NULL) == NULL, "NULL contexts");
    CHECK(ag_capture_begin(ctx) == 0, "begin");
    CHECK(ag_capture_begin(ctx) == -1 && err_has(ctx, "a capture is already running"), "begin twice");
    CHECK(ag_apply(&id_fn, 1, &w, NULL) == NULL && err_has(ctx, "a custom op cannot be recorded for ag_replay"), "custom op refused");
    CHECK(ag_checkpoint(twice, NULL, 1, &w) == NULL && err_has(ctx, "checkpoint cannot be recorded"), "checkpoint refused");
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "capture_end: the step had an error"),
          "a capture with a refused op gives no graph, and says so though the refusals were cleared");
    /* hooks, optimizer steps, batch norm's running statistics */
    CHECK(ag_register_hook(w, ag_hook_clamp, &bound) == 0, "hook");
    ag_capture_begin(ctx);
    loss = ag_sum(ag_mul(w, x));
    CHECK(ag_backward(loss, NULL) == -1 && err_has(ctx, "a gradient hook cannot be recorded"), "hooks refused");
    CHECK(ag_capture_end(ctx) == NULL, "no graph");
    ag_ctx_free(ctx);

    ctx = ag_ctx_new(NULL);
    w = ag_param(ctx, AG_F32, 1, sh, NULL); x = ag_ones(ctx, AG_F32, 1, sh);
    opt = ag_sgd_new(ctx, &w, 1, NULL);
    ag_capture_begin(ctx);
    loss = ag_sum(ag_mul(w, x));
    ag_backward(loss, NULL);
    CHECK(ag_optim_step(opt) == -1 && err_has(ctx, "optim_step: an optimizer step (call it after ag_replay) cannot be recorded"), "optim_step refused");
    {
        int64_t bs[2] = { 4, 3 };
        ag_tensor *rm = ag_persistent(ctx, AG_F32, 1, sh, NULL), *rv = ag_persistent(ctx, AG_F32, 1, sh, NULL);
        CHECK(ag_batch_norm(ag_ones(ctx, AG_F32, 2, bs), NULL, NULL, rm, rv, true, 0.1, 1e-5) == NULL &&
              err_has(ctx, "batch_norm: updating the running statistics"), "batch norm running statistics refused");
    }
    CHECK(ag_init_uniform(w, 0, 1) == -1 && err_has(ctx, "init_uniform: an initialiser cannot be recorded"), "init refused");
    {
        ag_tensor *jac[1], *hess[1], *in[1];
        in[0] = x;
        CHECK(ag_jacobian(ctx, twice, NULL, 1, in, jac, false) == -1 && err_has(ctx, "jacobian: a Jacobian cannot be recorded"), "jacobian refused");
        CHECK(ag_jacobian_fwd(ctx, twice, NULL, 1, in, jac, false) == -1 && err_has(ctx, "jacobian_fwd: a Jacobian cannot be recorded"),
              "jacobian_fwd refused");
        CHECK(ag_hessian(ctx, twice, NULL, 1, in, hess, false) == -1 && err_has(ctx, "hessian: a Hessian cannot be recorded"), "hessian refused");
    }
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "capture_end"), "no graph after refusals");
    /* a reset during the capture, and a replay after a reset */
    ag_capture_begin(ctx);
    loss = ag_sum(ag_mul(w, x));
    ag_ctx_reset(ctx);
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "ag_ctx_reset ran during the capture"), "reset during capture");
    x = ag_ones(ctx, AG_F32, 1, sh);
    ag_capture_begin(ctx);
    CHECK(ag_backward(ag_sum(ag_mul(w, x)), NULL) == 0, "backward");
    g = ag_capture_end(ctx);
    CHECK(g && ag_replay(g) == 0, "replay");
    ag_capture_begin(ctx);
    CHECK(ag_replay(g) == -1 && err_has(ctx, "replay: a capture is running"), "replay while capturing");
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "capture_end"), "the capture with the refused replay gives no graph");
    ag_ctx_reset(ctx);
    CHECK(ag_replay(g) == -1 && err_has(ctx, "replay: ag_ctx_reset freed the captured step's tensors"), "replay after reset");
    ag_capture_free(g);
    ag_capture_free(NULL);
    /* an index array read again at replay: out of range is an error naming the op, not a stray read */
    {
        int64_t s45[2] = { 4, 5 };
        int32_t tg[4] = { 0, 1, 2, 3 };
        ag_tensor *logits = ag_param(ctx, AG_F32, 2, s45, NULL);
        ag_capture_begin(ctx);
        CHECK(ag_backward(ag_cross_entropy(logits, tg), NULL) == 0, "cross_entropy step");
        g = ag_capture_end(ctx);
        CHECK(g && ag_replay(g) == 0, "replay with valid targets");
        tg[2] = 7;
        CHECK(ag_replay(g) == -1 && err_has(ctx, "cross_entropy: target 7 at row 2 is out of range for 5 classes (logits [4, 5])"),
              "replay with a target out of range");
        tg[2] = 4;
        CHECK(ag_replay(g) == 0, "and again once it is fixed");
        ag_capture_free(g);
    }
    /* a step that fails inside the capture gives no graph, and keeps its own error */
    x = ag_ones(ctx, AG_F32, 1, sh);
    ag_capture_begin(ctx);
    CHECK(ag_add(w, ag_ones(ctx, AG_F32, 1, &two)) == NULL, "a failing op");
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "add: shapes [3] and [2] cannot be broadcast"), "the step's error is kept");
    /* the same with an earlier error still on the context: the step's failure is noticed all the same */
    CHECK(ag_add(w, ag_ones(ctx, AG_F32, 1, &two)) == NULL && ag_error(ctx), "an error left on the context");
    ag_capture_begin(ctx);
    CHECK(ag_mul(w, ag_ones(ctx, AG_F32, 1, &two)) == NULL, "a failing op");
    CHECK(ag_capture_end(ctx) == NULL && err_has(ctx, "add: shapes"), "a failed step gives no graph, the first error stays");
    ag_capture_begin(ctx);
    CHECK(ag_backward(ag_sum(ag_mul(w, x)), NULL) == 0, "a good step");
    g = ag_capture_end(ctx);
    CHECK(g != NULL && ag_replay(g) == 0, "is captured");
    ag_capture_free(g);
    ag_ctx_free(ctx);   /* frees graphs still held */
}

/* ---- the per-step cost: replay against rebuild, same work ---- */
static void time_mlp(const char *label, int64_t batch, int64_t in, int64_t hid, int64_t out) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    int64_t s1[2] = { hid, in }, s2[2] = { out, hid }, sx[2] = { batch, in }, sy[2] = { batch, out }, b1 = hid, b2 = out;
    ag_tensor *p[4], *x, *y, *loss;
    ag_optim *opt;
    ag_capture *g;
    double t_build = 1e30, t_replay = 1e30, t0;
    int rep, k, steps = batch * in * hid > 100000 ? 20 : 400;
    p[0] = ag_param(ctx, AG_F32, 2, s1, NULL); p[1] = ag_param(ctx, AG_F32, 1, &b1, NULL);
    p[2] = ag_param(ctx, AG_F32, 2, s2, NULL); p[3] = ag_param(ctx, AG_F32, 1, &b2, NULL);
    ag_init_linear(p[0], p[1]); ag_init_linear(p[2], p[3]);
    opt = ag_adam_new(ctx, p, 4, NULL);
    for (rep = 0; rep < 5; rep++) {
        t0 = harness_cpu_seconds();
        for (k = 0; k < steps; k++) {   /* rebuild: reset, make the inputs, build, backward, step */
            ag_ctx_reset(ctx);
            x = ag_new(ctx, AG_F32, 2, sx); y = ag_new(ctx, AG_F32, 2, sy);
            fill(x, (uint64_t)k, 1.0);
            ag_optim_zero_grad(opt);
            loss = ag_mse_loss(ag_linear(ag_relu(ag_linear(x, p[0], p[1])), p[2], p[3]), y);
            ag_backward(loss, NULL);
            ag_optim_step(opt);
        }
        if (harness_cpu_seconds() - t0 < t_build) t_build = harness_cpu_seconds() - t0;
        ag_ctx_reset(ctx);
        x = ag_new(ctx, AG_F32, 2, sx); y = ag_new(ctx, AG_F32, 2, sy);
        ag_optim_zero_grad(opt);
        ag_capture_begin(ctx);
        loss = ag_mse_loss(ag_linear(ag_relu(ag_linear(x, p[0], p[1])), p[2], p[3]), y);
        ag_backward(loss, NULL);
        g = ag_capture_end(ctx);
        t0 = harness_cpu_seconds();
        for (k = 0; k < steps; k++) {   /* replay: write the inputs, replay, step */
            fill(x, (uint64_t)k, 1.0);
            ag_optim_zero_grad(opt);
            ag_replay(g);
            ag_optim_step(opt);
        }
        if (harness_cpu_seconds() - t0 < t_replay) t_replay = harness_cpu_seconds() - t0;
        ag_capture_free(g);
    }
    printf("  info: %s step: rebuild %.2f us, replay %.2f us (%.2fx)\n", label, t_build / steps * 1e6, t_replay / steps * 1e6,
           t_build / t_replay);
    ag_ctx_free(ctx);
}

int main(void) {
    size_t i;
    for (i = 0; i < sizeof models / sizeof models[0]; i++) run_model(&models[i]);
    test_fusion();
    test_refusals();
    if (harness_timing()) {
        time_mlp("MLP 16-64-4, batch 1 (a game agent)", 1, 16, 64, 4);
        time_mlp("MLP 32-128-8, batch 32", 32, 32, 128, 8);
        time_mlp("MLP 784-256-10, batch 64", 64, 784, 256, 10);
    }
    return harness_finish("test_replay");
}
