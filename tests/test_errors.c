/* test_errors.c - bad calls are errors, never crashes, and never corrupt the context.

   Table-driven: each row makes one bad call and names what the error message
   must contain. For every row the runner checks that
     - the call reports failure (NULL, -1, or NaN, as the function documents),
     - ag_error(ctx) is set and contains the op's name (and a shape fragment),
       or, for an op whose only input is NULL (no context to report to), that
       nothing was reported,
     - after ag_clear_error the context still computes a small forward +
       backward correctly, both before and after ag_ctx_reset.
   Every row runs twice: on a fresh context, and on one shared context that
   lives through all rows (so damage that survives a reset shows up).
   After the table come a few checks that do not fit a row (the first error
   is kept, NULL contexts, documented non-errors). */
#include "autograd.h"
#include "harness.h"

#include <stdlib.h>

/* ---- helpers: small tensors with known values ---- */

/* F32 or F64 tensor of 0..3 dims (unused sizes 0), values 0.1, 0.2, ... */
static ag_tensor *mkt(ag_ctx *c, ag_dtype dt, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    int64_t shape[3];
    double buf[256];
    int64_t i, n = 1;
    shape[0] = d0; shape[1] = d1; shape[2] = d2;
    for (i = 0; i < ndim; i++) n *= shape[i];
    if (n > 256) return NULL;
    for (i = 0; i < n; i++) buf[i] = 0.1 * (double)(i + 1);
    if (dt == AG_F64) return ag_from(c, AG_F64, ndim, shape, buf);
    {
        float fb[256];
        for (i = 0; i < n; i++) fb[i] = (float)buf[i];
        return ag_from(c, AG_F32, ndim, shape, fb);
    }
}
static ag_tensor *mk(ag_ctx *c, int ndim, int64_t d0, int64_t d1, int64_t d2) {
    return mkt(c, AG_F32, ndim, d0, d1, d2);
}
static ag_tensor *mkg(ag_ctx *c, int ndim, int64_t d0, int64_t d1, int64_t d2) {   /* requires grad */
    return ag_set_requires_grad(mk(c, ndim, d0, d1, d2), true);
}
#define T0  mk(c, 0, 0, 0, 0)
#define T3  mk(c, 1, 3, 0, 0)
#define T4  mk(c, 1, 4, 0, 0)
#define T23 mk(c, 2, 2, 3, 0)
#define T43 mk(c, 2, 4, 3, 0)
#define T34 mk(c, 2, 3, 4, 0)
#define T45 mk(c, 2, 4, 5, 0)
#define T234 mk(c, 3, 2, 3, 4)

/* failure values */
#define FAILS_P(e) ((e) == NULL)
#define FAILS_I(e) ((e) == -1)
#define FAILS_D(e) (isnan(e))

/* ---- the rows: each makes one bad call on c and returns 1 if it reported failure ---- */

/* NULL with a valid other input: reported on the valid input's context */
static int r_add_null_a(ag_ctx *c) { return FAILS_P(ag_add(NULL, T23)); }
static int r_add_null_b(ag_ctx *c) { return FAILS_P(ag_add(T23, NULL)); }
static int r_sub_null(ag_ctx *c) { return FAILS_P(ag_sub(NULL, T23)); }
static int r_mul_null(ag_ctx *c) { return FAILS_P(ag_mul(T23, NULL)); }
static int r_div_null(ag_ctx *c) { return FAILS_P(ag_div(NULL, T23)); }
static int r_maximum_null(ag_ctx *c) { return FAILS_P(ag_maximum(NULL, T23)); }
static int r_minimum_null(ag_ctx *c) { return FAILS_P(ag_minimum(T23, NULL)); }
static int r_matmul_null(ag_ctx *c) { return FAILS_P(ag_matmul(T23, NULL)); }
static int r_linear_null_W(ag_ctx *c) { return FAILS_P(ag_linear(T23, NULL, NULL)); }
static int r_linear_null_x(ag_ctx *c) { return FAILS_P(ag_linear(NULL, T43, T4)); }
static int r_linear_null_xW(ag_ctx *c) { return FAILS_P(ag_linear(NULL, NULL, T4)); }
static int r_init_linear_null_W(ag_ctx *c) { return ag_init_linear(NULL, T4) != 0; }
static int r_attn_null_x_W(ag_ctx *c) { return FAILS_P(ag_causal_self_attention(NULL, NULL, T4, NULL, NULL, 1)); }
static int r_std_corr(ag_ctx *c) { return FAILS_P(ag_std(T23, -1)); }
static int r_mse_null(ag_ctx *c) { return FAILS_P(ag_mse_loss(T23, NULL)); }
static int r_bce_null(ag_ctx *c) { return FAILS_P(ag_bce_with_logits(NULL, T23)); }
static int r_layer_norm_null_x(ag_ctx *c) { return FAILS_P(ag_layer_norm(NULL, T3, T3, 1e-5)); }
static int r_cat_null_elem(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = NULL; return FAILS_P(ag_cat(ts, 2, 0)); }
static int r_stack_null_elem(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = NULL; return FAILS_P(ag_stack(ts, 2, 0)); }
static int r_new_null_shape(ag_ctx *c) { return FAILS_P(ag_new(c, AG_F32, 2, NULL)); }
static int r_from_null_shape(ag_ctx *c) { float v[2] = {1, 2}; return FAILS_P(ag_from(c, AG_F32, 1, NULL, v)); }
static int r_param_null_shape(ag_ctx *c) { return FAILS_P(ag_param(c, AG_F32, 1, NULL, NULL)); }
static int r_reshape_null_shape(ag_ctx *c) { return FAILS_P(ag_reshape(T23, 2, NULL)); }
static int r_expand_null_shape(ag_ctx *c) { return FAILS_P(ag_expand(T23, 2, NULL)); }
static int r_permute_null(ag_ctx *c) { return FAILS_P(ag_permute(T23, NULL)); }
static int r_ce_null_targets(ag_ctx *c) { return FAILS_P(ag_cross_entropy(T23, NULL)); }
static int r_gather_null_index(ag_ctx *c) { return FAILS_P(ag_gather_rows(T43, 2, NULL)); }

/* the only input is NULL: no context to report to, just NULL (or -1 / NaN) and no crash */
static int r_s_add(ag_ctx *c) { (void)c; return FAILS_P(ag_add(NULL, NULL)); }
static int r_s_neg(ag_ctx *c) { (void)c; return FAILS_P(ag_neg(NULL)); }
static int r_s_tanh(ag_ctx *c) { (void)c; return FAILS_P(ag_tanh(NULL)); }
static int r_s_pow(ag_ctx *c) { (void)c; return FAILS_P(ag_pow(NULL, 2.0)); }
static int r_s_sum(ag_ctx *c) { (void)c; return FAILS_P(ag_sum(NULL)); }
static int r_s_sum_dim(ag_ctx *c) { (void)c; return FAILS_P(ag_sum_dim(NULL, 0, false)); }
static int r_s_argmax(ag_ctx *c) { (void)c; return FAILS_P(ag_argmax(NULL, 0, false)); }
static int r_s_matmul(ag_ctx *c) { (void)c; return FAILS_P(ag_matmul(NULL, NULL)); }
static int r_s_reshape(ag_ctx *c) { int64_t s = 6; (void)c; return FAILS_P(ag_reshape(NULL, 1, &s)); }
static int r_s_transpose(ag_ctx *c) { (void)c; return FAILS_P(ag_transpose(NULL, 0, 1)); }
static int r_s_softmax(ag_ctx *c) { (void)c; return FAILS_P(ag_softmax(NULL, -1)); }
static int r_s_ce(ag_ctx *c) { int32_t t[2] = {0, 1}; (void)c; return FAILS_P(ag_cross_entropy(NULL, t)); }
static int r_s_dropout(ag_ctx *c) { (void)c; return FAILS_P(ag_dropout(NULL, 0.5, true)); }
static int r_s_layer_norm(ag_ctx *c) { (void)c; return FAILS_P(ag_layer_norm(NULL, NULL, NULL, 1e-5)); }
static int r_s_cat(ag_ctx *c) { (void)c; return FAILS_P(ag_cat(NULL, 2, 0)); }
static int r_s_to(ag_ctx *c) { (void)c; return FAILS_P(ag_to(NULL, AG_F64)); }
static int r_s_detach(ag_ctx *c) { (void)c; return FAILS_P(ag_detach(NULL)); }
static int r_s_set_rg(ag_ctx *c) { (void)c; return FAILS_P(ag_set_requires_grad(NULL, true)); }
static int r_s_backward(ag_ctx *c) { (void)c; return FAILS_I(ag_backward(NULL, NULL)); }
static int r_s_item(ag_ctx *c) { (void)c; return FAILS_D(ag_item(NULL)); }
static int r_s_new(ag_ctx *c) { int64_t s = 3; (void)c; return FAILS_P(ag_new(NULL, AG_F32, 1, &s)); }
static int r_s_cat_n0(ag_ctx *c) { ag_tensor *ts[1]; ts[0] = T23; return FAILS_P(ag_cat(ts, 0, 0)); }
static int r_s_stack_n0(ag_ctx *c) { ag_tensor *ts[1]; ts[0] = T23; return FAILS_P(ag_stack(ts, 0, 0)); }

/* broadcasting */
static int r_add_bcast(ag_ctx *c) { return FAILS_P(ag_add(T23, T43)); }
static int r_sub_bcast(ag_ctx *c) { return FAILS_P(ag_sub(T234, T43)); }
static int r_mul_bcast(ag_ctx *c) { return FAILS_P(ag_mul(T23, mk(c, 1, 2, 0, 0))); }
static int r_div_bcast(ag_ctx *c) { return FAILS_P(ag_div(T3, T4)); }
static int r_maximum_bcast(ag_ctx *c) { return FAILS_P(ag_maximum(T34, T3)); }
static int r_mse_shape(ag_ctx *c) { return FAILS_P(ag_mse_loss(T3, T4)); }
static int r_bce_shape(ag_ctx *c) { return FAILS_P(ag_bce_with_logits(T3, T4)); }

/* ops built from other ops */
static ag_tensor *o8[8];
static int r_select_dim(ag_ctx *c) { return FAILS_P(ag_select(T23, 2, 0)); }
static int r_select_index(ag_ctx *c) { return FAILS_P(ag_select(T23, 1, 3)); }
static int r_select_index_neg(ag_ctx *c) { return FAILS_P(ag_select(T23, 1, -4)); }
static int r_flatten_order(ag_ctx *c) { return FAILS_P(ag_flatten(T234, 2, 1)); }
static int r_flatten_dim(ag_ctx *c) { return FAILS_P(ag_flatten(T234, 0, 3)); }
static int r_unflatten_sizes(ag_ctx *c) { return FAILS_P(ag_unflatten(T34, 1, 2, (const int64_t[]){3, 2})); }
static int r_unflatten_null(ag_ctx *c) { return FAILS_P(ag_unflatten(T34, 1, 2, NULL)); }
static int r_unflatten_two_infer(ag_ctx *c) { return FAILS_P(ag_unflatten(T34, 1, 2, (const int64_t[]){-1, -1})); }
static int r_movedim(ag_ctx *c) { return FAILS_P(ag_movedim(T23, 0, 2)); }
static int r_split_sum(ag_ctx *c) { return FAILS_I(ag_split(T34, 2, (const int64_t[]){1, 2}, 1, o8)); }
static int r_split_neg(ag_ctx *c) { return FAILS_I(ag_split(T34, 2, (const int64_t[]){5, -1}, 1, o8)); }
static int r_split_null_out(ag_ctx *c) { return FAILS_I(ag_split(T34, 1, (const int64_t[]){4}, 1, NULL)); }
static int r_chunk_zero(ag_ctx *c) { return FAILS_I(ag_chunk(T34, 0, 1, o8)); }
static int r_chunk_dim(ag_ctx *c) { return FAILS_I(ag_chunk(T34, 2, -3, o8)); }
static int r_unbind_dim(ag_ctx *c) { return FAILS_I(ag_unbind(T34, 2, o8)); }
static int r_unbind_null(ag_ctx *c) { return FAILS_I(ag_unbind(T34, 0, NULL)); }
static int r_repeat_few(ag_ctx *c) { return FAILS_P(ag_repeat(T234, 2, (const int64_t[]){1, 2})); }
static int r_repeat_neg(ag_ctx *c) { return FAILS_P(ag_repeat(T23, 2, (const int64_t[]){1, -2})); }
static int r_repeat_huge(ag_ctx *c) { return FAILS_P(ag_repeat(T23, 2, (const int64_t[]){INT64_MAX / 2, 2})); }
static int r_sum_dims_twice(ag_ctx *c) { return FAILS_P(ag_sum_dims(T234, 2, (const int[]){1, -2}, false)); }
static int r_mean_dims_range(ag_ctx *c) { return FAILS_P(ag_mean_dims(T234, 1, (const int[]){3}, false)); }
static int r_sum_dims_null(ag_ctx *c) { return FAILS_P(ag_sum_dims(T234, 2, NULL, false)); }
static int r_norm_p0(ag_ctx *c) { return FAILS_P(ag_norm(T23, 0.0)); }
static int r_norm_pnan(ag_ctx *c) { return FAILS_P(ag_norm(T23, NAN)); }
static int r_norm_dims(ag_ctx *c) { return FAILS_P(ag_norm_dims(T23, 2.0, 1, (const int[]){2}, false)); }
static int r_prelu_weight(ag_ctx *c) { return FAILS_P(ag_prelu(T234, T4)); }
static int r_prelu_null(ag_ctx *c) { return FAILS_P(ag_prelu(T23, NULL)); }
static int r_glu_odd(ag_ctx *c) { return FAILS_P(ag_glu(T23, 1)); }
static int r_normalize_eps(ag_ctx *c) { return FAILS_P(ag_normalize(T23, 2.0, 1, -1.0)); }
static int r_normalize_dim(ag_ctx *c) { return FAILS_P(ag_normalize(T23, 2.0, 2, 1e-12)); }
static int r_cosine_shape(ag_ctx *c) { return FAILS_P(ag_cosine_similarity(T23, T34, 1, 1e-8)); }
static int r_cosine_dim(ag_ctx *c) { return FAILS_P(ag_cosine_similarity(T23, T23, 2, 1e-8)); }
static int r_pairwise_0d(ag_ctx *c) { return FAILS_P(ag_pairwise_distance(T0, T0, 2.0, 1e-6)); }
static int r_pairwise_p(ag_ctx *c) { return FAILS_P(ag_pairwise_distance(T23, T23, -1.0, 1e-6)); }
static int r_rms_norm_weight(ag_ctx *c) { return FAILS_P(ag_rms_norm(T23, T4, 1e-5)); }
static int r_rms_norm_0d(ag_ctx *c) { return FAILS_P(ag_rms_norm(T0, NULL, 1e-5)); }
static int r_rms_norm_null(ag_ctx *c) { return FAILS_P(ag_rms_norm(NULL, T3, 1e-5)); }
static int r_mse_ex_reduction(ag_ctx *c) { return FAILS_P(ag_mse_loss_ex(T23, T23, (ag_reduction)-1)); }
static int r_l1_shape(ag_ctx *c) { return FAILS_P(ag_l1_loss(T23, T34, AG_MEAN)); }
static int r_l1_reduction(ag_ctx *c) { return FAILS_P(ag_l1_loss(T23, T23, (ag_reduction)7)); }
static int r_l1_batchmean(ag_ctx *c) { return FAILS_P(ag_l1_loss(T23, T23, AG_BATCHMEAN)); }
static int r_smooth_l1_beta(ag_ctx *c) { return FAILS_P(ag_smooth_l1_loss(T23, T23, -1.0, AG_MEAN)); }
static int r_huber_delta(ag_ctx *c) { return FAILS_P(ag_huber_loss(T23, T23, 0.0, AG_MEAN)); }
static int r_bce_loss_shape(ag_ctx *c) { return FAILS_P(ag_bce_loss(T23, T3, AG_MEAN)); }
static int r_kl_div_null(ag_ctx *c) { return FAILS_P(ag_kl_div(T23, NULL, AG_BATCHMEAN, false)); }
static int r_nll_targets(ag_ctx *c) { return FAILS_P(ag_nll_loss(T23, (const int32_t[]){0, 3}, AG_MEAN)); }
static int r_nll_null(ag_ctx *c) { return FAILS_P(ag_nll_loss(T23, NULL, AG_MEAN)); }
static int r_nll_3d(ag_ctx *c) { return FAILS_P(ag_nll_loss(T234, (const int32_t[]){0, 1}, AG_MEAN)); }
static int r_nll_reduction(ag_ctx *c) { return FAILS_P(ag_nll_loss(T23, (const int32_t[]){0, 1}, AG_BATCHMEAN)); }
static int r_s_select(ag_ctx *c) { (void)c; return FAILS_P(ag_select(NULL, 0, 0)); }
static int r_s_split(ag_ctx *c) { (void)c; return FAILS_I(ag_split(NULL, 1, (const int64_t[]){1}, 0, o8)); }
static int r_s_norm(ag_ctx *c) { (void)c; return FAILS_P(ag_norm(NULL, 2.0)); }

static ag_tensor *ho, *co;
static int r_lstm_shape(ag_ctx *c) { return FAILS_I(ag_lstm_cell(T23, T4, T4, mk(c, 2, 16, 3, 0), mk(c, 2, 16, 4, 0), NULL, NULL, &ho, &co)); }
static int r_lstm_weights(ag_ctx *c) { return FAILS_I(ag_lstm_cell(T23, mk(c, 2, 2, 4, 0), mk(c, 2, 2, 4, 0), mk(c, 2, 12, 3, 0), mk(c, 2, 12, 4, 0), NULL, NULL, &ho, &co)); }
static int r_lstm_null_c(ag_ctx *c) { return FAILS_I(ag_lstm_cell(T23, mk(c, 2, 2, 4, 0), NULL, mk(c, 2, 16, 3, 0), mk(c, 2, 16, 4, 0), NULL, NULL, &ho, &co)); }
static int r_lstm_null_out(ag_ctx *c) { return FAILS_I(ag_lstm_cell(T23, mk(c, 2, 2, 4, 0), mk(c, 2, 2, 4, 0), mk(c, 2, 16, 3, 0), mk(c, 2, 16, 4, 0), NULL, NULL, NULL, &co)); }
static int r_gru_bias(ag_ctx *c) { return FAILS_P(ag_gru_cell(T23, mk(c, 2, 2, 4, 0), mk(c, 2, 12, 3, 0), mk(c, 2, 12, 4, 0), T4, NULL)); }
static int r_gru_null_x(ag_ctx *c) { return FAILS_P(ag_gru_cell(NULL, mk(c, 2, 2, 4, 0), mk(c, 2, 12, 3, 0), mk(c, 2, 12, 4, 0), NULL, NULL)); }

static int r_sort_dim(ag_ctx *c) { return FAILS_P(ag_sort(T23, 2, false, NULL)); }
static int r_topk_k(ag_ctx *c) { return FAILS_P(ag_topk(T23, 4, 1, true, NULL)); }
static int r_topk_neg(ag_ctx *c) { return FAILS_P(ag_topk(T23, -1, 1, true, NULL)); }
static int r_kthvalue_0(ag_ctx *c) { return FAILS_P(ag_kthvalue(T23, 0, 1, false, NULL)); }
static int r_median_empty(ag_ctx *c) { return FAILS_P(ag_median(mk(c, 2, 2, 0, 0))); }
static int r_median_dim_empty(ag_ctx *c) { return FAILS_P(ag_median_dim(mk(c, 2, 2, 0, 0), 1, false, NULL)); }
static int r_gather_range(ag_ctx *c) { return FAILS_P(ag_gather(T23, 1, 2, (const int64_t[]){2, 1}, (const int64_t[]){0, 3})); }
static int r_gather_neg_dim(ag_ctx *c) { return FAILS_P(ag_gather(T23, 1, 2, (const int64_t[]){2, 1}, (const int64_t[]){-1, 0})); }
static int r_gather_ndim(ag_ctx *c) { return FAILS_P(ag_gather(T23, 1, 1, (const int64_t[]){2}, (const int64_t[]){0, 0})); }
static int r_gather_shape(ag_ctx *c) { return FAILS_P(ag_gather(T23, 1, 2, (const int64_t[]){3, 1}, (const int64_t[]){0, 0, 0})); }
static int r_gather_null(ag_ctx *c) { return FAILS_P(ag_gather(T23, 1, 2, (const int64_t[]){2, 1}, NULL)); }
static int r_index_select_range(ag_ctx *c) { return FAILS_P(ag_index_select(T23, 0, 2, (const int64_t[]){0, 2})); }
static int r_index_select_n(ag_ctx *c) { return FAILS_P(ag_index_select(T23, 0, -1, (const int64_t[]){0})); }
static int r_scatter_add_range(ag_ctx *c) { return FAILS_P(ag_scatter_add(T23, 1, (const int64_t[]){0, 5}, mk(c, 2, 2, 1, 0))); }
static int r_scatter_add_shape(ag_ctx *c) { return FAILS_P(ag_scatter_add(T23, 1, (const int64_t[]){0, 0, 0}, mk(c, 2, 3, 1, 0))); }
static int r_scatter_add_null(ag_ctx *c) { return FAILS_P(ag_scatter_add(T23, 1, (const int64_t[]){0}, NULL)); }

static int r_tile_neg(ag_ctx *c) { return FAILS_P(ag_tile(T23, 1, (const int64_t[]){-1})); }
static int r_tile_many(ag_ctx *c) { return FAILS_P(ag_tile(T23, 9, (const int64_t[]){1, 1, 1, 1, 1, 1, 1, 1, 1})); }
static int r_repeat_interleave_neg(ag_ctx *c) { return FAILS_P(ag_repeat_interleave(T23, -1, 0)); }
static int r_diagonal_1d(ag_ctx *c) { return FAILS_P(ag_diagonal(T3, 0, 0, 1)); }
static int r_diagonal_same(ag_ctx *c) { return FAILS_P(ag_diagonal(T23, 0, 1, -1)); }
static int r_diag_3d(ag_ctx *c) { return FAILS_P(ag_diag(T234, 0)); }
static int r_trace_1d(ag_ctx *c) { return FAILS_P(ag_trace(T3)); }
static int r_pad_odd(ag_ctx *c) { return FAILS_P(ag_pad(T23, 3, (const int64_t[]){1, 1, 1}, AG_PAD_CONSTANT, 0)); }
static int r_pad_reflect(ag_ctx *c) { return FAILS_P(ag_pad(T23, 2, (const int64_t[]){3, 0}, AG_PAD_REFLECT, 0)); }
static int r_pad_circular(ag_ctx *c) { return FAILS_P(ag_pad(T23, 2, (const int64_t[]){0, 4}, AG_PAD_CIRCULAR, 0)); }
static int r_pad_crop(ag_ctx *c) { return FAILS_P(ag_pad(T23, 2, (const int64_t[]){-2, -2}, AG_PAD_CONSTANT, 0)); }
static int r_pad_mode(ag_ctx *c) { return FAILS_P(ag_pad(T23, 2, (const int64_t[]){1, 1}, (ag_pad_mode)9, 0)); }
static int r_pad_neg_reflect(ag_ctx *c) { return FAILS_P(ag_pad(T23, 2, (const int64_t[]){-1, 0}, AG_PAD_REFLECT, 0)); }
static int r_eye_neg(ag_ctx *c) { return FAILS_P(ag_eye(c, AG_F32, -1, 2)); }
static int r_linspace_steps(ag_ctx *c) { return FAILS_P(ag_linspace(c, AG_F32, 0, 1, -2)); }
static int r_linspace_nan(ag_ctx *c) { return FAILS_P(ag_linspace(c, AG_F32, NAN, 1, 3)); }
static int r_logspace_base(ag_ctx *c) { return FAILS_P(ag_logspace(c, AG_F32, 0, 1, 3, -2.0)); }
static int r_meshgrid_2d(ag_ctx *c) { ag_tensor *ts_[3] = {T3, T23}; ag_tensor *o[2]; return FAILS_I(ag_meshgrid(2, ts_, false, o)); }
static int r_meshgrid_null(ag_ctx *c) { ag_tensor *ts_[3] = {T3, NULL}; ag_tensor *o[2]; return FAILS_I(ag_meshgrid(2, ts_, false, o)); }
static int r_prod_dim(ag_ctx *c) { return FAILS_P(ag_prod_dim(T23, 2, false)); }
static int r_cumprod_dim(ag_ctx *c) { return FAILS_P(ag_cumprod(T23, -3)); }
static int r_einsum_letters(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("ijk,jk->i", 2, ts_)); }
static int r_einsum_size(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("ij,ij->i", 2, ts_)); }
static int r_einsum_ellipsis(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("...j,jk", 2, ts_)); }
static int r_einsum_out(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("ij,jk->iz", 2, ts_)); }
static int r_einsum_count(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("ij,jk,kl->il", 2, ts_)); }
static int r_einsum_char(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("i1,jk", 2, ts_)); }
static int r_einsum_arrow(ag_ctx *c) { ag_tensor *ts_[3] = {T23, T34}; return FAILS_P(ag_einsum("ij,jk-ik", 2, ts_)); }
static int r_einsum_null(ag_ctx *c) { ag_tensor *ts_[3] = {T23}; return FAILS_P(ag_einsum(NULL, 1, ts_)); }

static ag_tensor *T1255(ag_ctx *c) { return mk(c, 0, 0, 0, 0) ? ag_reshape(mk(c, 2, 5, 5, 0), 4, (const int64_t[]){1, 1, 5, 5}) : NULL; }
static int r_pool_ex_null(ag_ctx *c) { return FAILS_P(ag_max_pool2d_ex(T1255(c), NULL)); }
static int r_pool_ex_dil_avg(ag_ctx *c) { ag_pool2d_opts o; memset(&o, 0, sizeof o); o.kh = o.kw = 2; o.dil_h = 2; return FAILS_P(ag_avg_pool2d_ex(T1255(c), &o)); }
static int r_pool_ex_big(ag_ctx *c) { ag_pool2d_opts o; memset(&o, 0, sizeof o); o.kh = o.kw = 3; o.dil_h = o.dil_w = 3; return FAILS_P(ag_max_pool2d_ex(T1255(c), &o)); }
static int r_pool_ex_pad(ag_ctx *c) { ag_pool2d_opts o; memset(&o, 0, sizeof o); o.kh = o.kw = 2; o.pad_h = 2; return FAILS_P(ag_max_pool2d_ex(T1255(c), &o)); }
static int r_adaptive_size(ag_ctx *c) { return FAILS_P(ag_adaptive_avg_pool2d(T1255(c), 0, 2)); }
static int r_adaptive_2d(ag_ctx *c) { return FAILS_P(ag_adaptive_max_pool2d(T23, 2, 2)); }
static int r_conv1d_2d(ag_ctx *c) { return FAILS_P(ag_conv1d(T23, T234, NULL, 1, 0, 1, 1)); }
static int r_conv1d_null(ag_ctx *c) { return FAILS_P(ag_conv1d(T234, NULL, NULL, 1, 0, 1, 1)); }
static int r_convt_channels(ag_ctx *c) { return FAILS_P(ag_conv_transpose2d(T1255(c), ag_reshape(T234, 4, (const int64_t[]){2, 3, 2, 2}), NULL, NULL)); }
static int r_convt_outpad(ag_ctx *c) { ag_conv_transpose2d_opts o; memset(&o, 0, sizeof o); o.output_pad_h = 1;
    return FAILS_P(ag_conv_transpose2d(T1255(c), ag_reshape(T4, 4, (const int64_t[]){1, 1, 2, 2}), NULL, &o)); }
static int r_convt_bias(ag_ctx *c) { return FAILS_P(ag_conv_transpose2d(T1255(c), ag_reshape(T4, 4, (const int64_t[]){1, 1, 2, 2}), T3, NULL)); }
static int r_group_norm_groups(ag_ctx *c) { return FAILS_P(ag_group_norm(T234, 2, NULL, NULL, 1e-5)); }
static int r_group_norm_weight(ag_ctx *c) { return FAILS_P(ag_group_norm(T234, 3, T4, NULL, 1e-5)); }
static int r_instance_norm_2d(ag_ctx *c) { return FAILS_P(ag_instance_norm(T23, NULL, NULL, 1e-5)); }
static int r_sdpa_shapes(ag_ctx *c) { return FAILS_P(ag_scaled_dot_product_attention(T234, T234, T23, NULL)); }
static int r_sdpa_null(ag_ctx *c) { return FAILS_P(ag_scaled_dot_product_attention(T234, NULL, T234, NULL)); }
static int r_sdpa_dropout(ag_ctx *c) { ag_sdpa_opts o; memset(&o, 0, sizeof o); o.dropout_p = 2; return FAILS_P(ag_scaled_dot_product_attention(T234, T234, T234, &o)); }
static int r_interp_mode(ag_ctx *c) { return FAILS_P(ag_interpolate(T1255(c), 2, 2, (ag_interp_mode)5, false)); }
static int r_interp_size(ag_ctx *c) { return FAILS_P(ag_interpolate(T1255(c), 0, 2, AG_INTERP_NEAREST, false)); }
static int r_interp_2d(ag_ctx *c) { return FAILS_P(ag_interpolate(T23, 2, 2, AG_INTERP_NEAREST, false)); }
static int r_ce_ex_weight(ag_ctx *c) { ag_cross_entropy_opts o; memset(&o, 0, sizeof o); o.weight = T4; return FAILS_P(ag_cross_entropy_ex(T23, (const int32_t[]){0, 1}, &o)); }
static int r_ce_ex_smooth(ag_ctx *c) { ag_cross_entropy_opts o; memset(&o, 0, sizeof o); o.label_smoothing = 1.5; return FAILS_P(ag_cross_entropy_ex(T23, (const int32_t[]){0, 1}, &o)); }
static int r_ce_ex_target(ag_ctx *c) { ag_cross_entropy_opts o; memset(&o, 0, sizeof o); o.ignore_index = -100; return FAILS_P(ag_cross_entropy_ex(T23, (const int32_t[]){0, 3}, &o)); }
static int r_ce_probs_shape(ag_ctx *c) { return FAILS_P(ag_cross_entropy_probs(T23, T34, NULL)); }
static int r_bce_ex_pos_weight(ag_ctx *c) { return FAILS_P(ag_bce_with_logits_ex(T23, T23, NULL, T4, AG_MEAN)); }

static int r_scatter_range(ag_ctx *c) { return FAILS_P(ag_scatter(T23, 1, (const int64_t[]){0, 5}, mk(c, 2, 2, 1, 0))); }
static int r_cummax_dim(ag_ctx *c) { return FAILS_P(ag_cummax(T23, 2, NULL)); }
static int r_pool_indices_null(ag_ctx *c) { return FAILS_P(ag_max_pool2d_indices(T1255(c), NULL)); }
static int r_unpool_dtype(ag_ctx *c) { return FAILS_P(ag_max_unpool2d(T1255(c), T1255(c), 5, 5)); }
static int r_unpool_range(ag_ctx *c) { return FAILS_P(ag_max_unpool2d(T1255(c), ag_full(c, AG_I64, 4, (const int64_t[]){1, 1, 5, 5}, 30.0), 5, 5)); }
static int r_unpool_size(ag_ctx *c) { return FAILS_P(ag_max_unpool2d(T1255(c), ag_zeros(c, AG_I64, 4, (const int64_t[]){1, 1, 5, 5}), -1, 5)); }

/* matmul / linear */
static int r_matmul_inner(ag_ctx *c) { return FAILS_P(ag_matmul(T23, T45)); }
static int r_matmul_0d_a(ag_ctx *c) { return FAILS_P(ag_matmul(T0, T3)); }
static int r_matmul_0d_b(ag_ctx *c) { return FAILS_P(ag_matmul(T3, T0)); }
static int r_matmul_1d(ag_ctx *c) { return FAILS_P(ag_matmul(T3, T4)); }
static int r_matmul_batch(ag_ctx *c) { return FAILS_P(ag_matmul(mk(c, 3, 2, 2, 3), mk(c, 3, 3, 3, 4))); }
static int r_linear_W(ag_ctx *c) { return FAILS_P(ag_linear(T23, T45, NULL)); }
static int r_linear_W_1d(ag_ctx *c) { return FAILS_P(ag_linear(T23, T3, NULL)); }
static int r_linear_bias(ag_ctx *c) { return FAILS_P(ag_linear(T23, T43, T3)); }
static int r_linear_0d_x(ag_ctx *c) { return FAILS_P(ag_linear(T0, T43, NULL)); }

/* creation */
static int r_new_negative(ag_ctx *c) { int64_t s[2] = {2, -3}; return FAILS_P(ag_new(c, AG_F32, 2, s)); }
static int r_new_ndim9(ag_ctx *c) { int64_t s[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; return FAILS_P(ag_new(c, AG_F32, 9, s)); }
static int r_new_ndim_neg(ag_ctx *c) { int64_t s[1] = {1}; return FAILS_P(ag_new(c, AG_F32, -1, s)); }
static int r_new_bad_dtype(ag_ctx *c) { int64_t s[1] = {3}; return FAILS_P(ag_new(c, (ag_dtype)7, 1, s)); }
static int r_from_negative(ag_ctx *c) { int64_t s[1] = {-1}; float v[1] = {0}; return FAILS_P(ag_from(c, AG_F32, 1, s, v)); }
static int r_from_ndim9(ag_ctx *c) { int64_t s[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; float v[1] = {0}; return FAILS_P(ag_from(c, AG_F32, 9, s, v)); }
static int r_from_ndim_neg(ag_ctx *c) { float v[1] = {0}; return FAILS_P(ag_from(c, AG_F32, -2, NULL, v)); }
static int r_param_negative(ag_ctx *c) { int64_t s[2] = {-4, 2}; return FAILS_P(ag_param(c, AG_F32, 2, s, NULL)); }
static int r_param_ndim9(ag_ctx *c) { int64_t s[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; return FAILS_P(ag_param(c, AG_F64, 9, s, NULL)); }
static int r_param_ndim_neg(ag_ctx *c) { return FAILS_P(ag_param(c, AG_F32, -1, NULL, NULL)); }
static int r_persistent_negative(ag_ctx *c) { int64_t s[1] = {-7}; return FAILS_P(ag_persistent(c, AG_F32, 1, s, NULL)); }
static int r_zeros_negative(ag_ctx *c) { int64_t s[1] = {-1}; return FAILS_P(ag_zeros(c, AG_F32, 1, s)); }
static int r_ones_ndim9(ag_ctx *c) { int64_t s[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; return FAILS_P(ag_ones(c, AG_F32, 9, s)); }
static int r_full_negative(ag_ctx *c) { int64_t s[2] = {3, -2}; return FAILS_P(ag_full(c, AG_F64, 2, s, 1.0)); }
static int r_randn_negative(ag_ctx *c) { int64_t s[1] = {-5}; return FAILS_P(ag_randn(c, AG_F32, 1, s)); }
static int r_rand_ndim9(ag_ctx *c) { int64_t s[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}; return FAILS_P(ag_rand(c, AG_F32, 9, s)); }
static int r_arange_step0(ag_ctx *c) { return FAILS_P(ag_arange(c, AG_F32, 0.0, 5.0, 0.0)); }

/* out-of-range dims, positive and negative */
static int r_sum_dim_pos(ag_ctx *c) { return FAILS_P(ag_sum_dim(T23, 2, false)); }
static int r_sum_dim_neg(ag_ctx *c) { return FAILS_P(ag_sum_dim(T23, -3, true)); }
static int r_mean_dim(ag_ctx *c) { return FAILS_P(ag_mean_dim(T23, 5, false)); }
static int r_max_dim(ag_ctx *c) { return FAILS_P(ag_max_dim(T23, -4, false)); }
static int r_min_dim(ag_ctx *c) { return FAILS_P(ag_min_dim(T23, 2, false)); }
static int r_var_dim(ag_ctx *c) { return FAILS_P(ag_var_dim(T23, 3, false, 1)); }
static int r_softmax_pos(ag_ctx *c) { return FAILS_P(ag_softmax(T23, 2)); }
static int r_softmax_neg(ag_ctx *c) { return FAILS_P(ag_softmax(T23, -3)); }
static int r_log_softmax(ag_ctx *c) { return FAILS_P(ag_log_softmax(T234, 3)); }
static int r_transpose_pos(ag_ctx *c) { return FAILS_P(ag_transpose(T23, 0, 2)); }
static int r_transpose_neg(ag_ctx *c) { return FAILS_P(ag_transpose(T23, -3, 1)); }
static int r_squeeze_pos(ag_ctx *c) { return FAILS_P(ag_squeeze(T23, 2)); }
static int r_squeeze_neg(ag_ctx *c) { return FAILS_P(ag_squeeze(T23, -3)); }
static int r_unsqueeze_pos(ag_ctx *c) { return FAILS_P(ag_unsqueeze(T23, 3)); }   /* valid: -3..2 */
static int r_unsqueeze_neg(ag_ctx *c) { return FAILS_P(ag_unsqueeze(T23, -4)); }
static int r_slice_pos(ag_ctx *c) { return FAILS_P(ag_slice(T23, 2, 0, 1, 1)); }
static int r_slice_neg(ag_ctx *c) { return FAILS_P(ag_slice(T23, -3, 0, 1, 1)); }
static int r_slice_step0(ag_ctx *c) { return FAILS_P(ag_slice(T23, 1, 0, 3, 0)); }
static int r_narrow_dim(ag_ctx *c) { return FAILS_P(ag_narrow(T23, 2, 0, 1)); }
static int r_narrow_len(ag_ctx *c) { return FAILS_P(ag_narrow(T23, 1, 2, 2)); }
static int r_cat_dim_pos(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = T23; return FAILS_P(ag_cat(ts, 2, 2)); }
static int r_cat_dim_neg(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = T23; return FAILS_P(ag_cat(ts, 2, -3)); }
static int r_stack_dim_pos(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = T23; return FAILS_P(ag_stack(ts, 2, 3)); }
static int r_stack_dim_neg(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = T23; return FAILS_P(ag_stack(ts, 2, -4)); }
static int r_argmax_pos(ag_ctx *c) { return FAILS_P(ag_argmax(T23, 2, false)); }
static int r_argmax_neg(ag_ctx *c) { return FAILS_P(ag_argmax(T23, -3, false)); }

/* shapes */
static int r_reshape_numel(ag_ctx *c) { int64_t s[2] = {4, 2}; return FAILS_P(ag_reshape(T23, 2, s)); }
static int r_reshape_two_infer(ag_ctx *c) { int64_t s[2] = {-1, -1}; return FAILS_P(ag_reshape(T23, 2, s)); }
static int r_reshape_infer_bad(ag_ctx *c) { int64_t s[2] = {-1, 4}; return FAILS_P(ag_reshape(T23, 2, s)); }
static int r_reshape_neg2(ag_ctx *c) { int64_t s[2] = {-2, -3}; return FAILS_P(ag_reshape(T23, 2, s)); }
static int r_reshape_ndim9(ag_ctx *c) { int64_t s[9] = {6, 1, 1, 1, 1, 1, 1, 1, 1}; return FAILS_P(ag_reshape(T23, 9, s)); }
static int r_expand_bad(ag_ctx *c) { int64_t s[2] = {4, 3}; return FAILS_P(ag_expand(T23, 2, s)); }
static int r_expand_fewer(ag_ctx *c) { int64_t s[1] = {3}; return FAILS_P(ag_expand(T23, 1, s)); }
static int r_expand_new_infer(ag_ctx *c) { int64_t s[3] = {-1, 2, 3}; return FAILS_P(ag_expand(T23, 3, s)); }
static int r_cat_shapes(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = T34; return FAILS_P(ag_cat(ts, 2, 0)); }
static int r_cat_ndim(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = T3; return FAILS_P(ag_cat(ts, 2, 0)); }
static int r_stack_shapes(ag_ctx *c) { ag_tensor *ts[2]; ts[0] = T23; ts[1] = mk(c, 2, 3, 2, 0); return FAILS_P(ag_stack(ts, 2, 0)); }
static int r_permute_repeat(ag_ctx *c) { int p[2] = {0, 0}; return FAILS_P(ag_permute(T23, p)); }
static int r_permute_range(ag_ctx *c) { int p[3] = {0, 3, 1}; return FAILS_P(ag_permute(T234, p)); }

static int r_unsqueeze_8d(ag_ctx *c) { int64_t s[8] = {1, 1, 1, 1, 1, 1, 1, 2}; return FAILS_P(ag_unsqueeze(ag_ones(c, AG_F32, 8, s), 0)); }
static int r_narrow_neg_len(ag_ctx *c) { return FAILS_P(ag_narrow(T23, 1, 0, -1)); }
static int r_reshape_min(ag_ctx *c) { int64_t s[2] = {-1, INT64_MIN}; return FAILS_P(ag_reshape(T23, 2, s)); }
static int r_to_bad_dtype(ag_ctx *c) { return FAILS_P(ag_to(T23, (ag_dtype)9)); }

/* reductions of nothing */
static int r_max_empty(ag_ctx *c) { int64_t s[2] = {0, 3}; return FAILS_P(ag_max(ag_zeros(c, AG_F32, 2, s))); }
static int r_max_dim_empty(ag_ctx *c) { int64_t s[2] = {0, 3}; return FAILS_P(ag_max_dim(ag_zeros(c, AG_F32, 2, s), 0, false)); }
static int r_argmax_empty(ag_ctx *c) { int64_t s[2] = {0, 3}; return FAILS_P(ag_argmax(ag_zeros(c, AG_F32, 2, s), 0, false)); }
static int r_var_dim_corr(ag_ctx *c) { return FAILS_P(ag_var_dim(T23, 0, false, -5)); }
static int r_cumsum_dim(ag_ctx *c) { return FAILS_P(ag_cumsum(T23, 2)); }
static int r_tril_1d(ag_ctx *c) { int64_t n = 4; return FAILS_P(ag_tril(ag_zeros(c, AG_F32, 1, &n), 0)); }
static int r_s_triu(ag_ctx *c) { (void)c; return FAILS_P(ag_triu(NULL, 0)); }
static int r_flip_twice(ag_ctx *c) { int d[2] = {1, -1}; return FAILS_P(ag_flip(T23, 2, d)); }
static int r_flip_dim(ag_ctx *c) { int d[1] = {2}; return FAILS_P(ag_flip(T23, 1, d)); }
static int r_flip_null(ag_ctx *c) { return FAILS_P(ag_flip(T23, 1, NULL)); }
static int r_roll_dim(ag_ctx *c) { return FAILS_P(ag_roll(T23, 1, -3)); }
static int r_argmin_neg(ag_ctx *c) { return FAILS_P(ag_argmin(T23, -3, false)); }
static int r_argmin_empty(ag_ctx *c) { int64_t s[2] = {3, 0}; return FAILS_P(ag_argmin(ag_zeros(c, AG_F32, 2, s), 1, false)); }
static int r_s_argmin(ag_ctx *c) { (void)c; return FAILS_P(ag_argmin(NULL, 0, false)); }
static int r_cumsum_neg(ag_ctx *c) { return FAILS_P(ag_cumsum(T23, -3)); }
static int r_logsumexp_dim(ag_ctx *c) { return FAILS_P(ag_logsumexp(T23, 2, false)); }
static int r_std_dim(ag_ctx *c) { return FAILS_P(ag_std_dim(T23, -3, false, 1)); }
static int r_s_cumsum(ag_ctx *c) { (void)c; return FAILS_P(ag_cumsum(NULL, 0)); }
static int r_s_logsumexp(ag_ctx *c) { (void)c; return FAILS_P(ag_logsumexp(NULL, 0, false)); }
static int r_s_std(ag_ctx *c) { (void)c; return FAILS_P(ag_std(NULL, 1)); }

/* losses and nn pieces */
static int r_ce_target_neg(ag_ctx *c) { int32_t t[2] = {0, -1}; return FAILS_P(ag_cross_entropy(T23, t)); }
static int r_ce_target_big(ag_ctx *c) { int32_t t[2] = {3, 0}; return FAILS_P(ag_cross_entropy(T23, t)); }
static int r_ce_1d_target(ag_ctx *c) { int32_t t[1] = {4}; return FAILS_P(ag_cross_entropy(T4, t)); }
static int r_ce_3d(ag_ctx *c) { int32_t t[6] = {0, 0, 0, 0, 0, 0}; return FAILS_P(ag_cross_entropy(T234, t)); }
static int r_ce_0d(ag_ctx *c) { int32_t t[1] = {0}; return FAILS_P(ag_cross_entropy(T0, t)); }
static int r_gather_big(ag_ctx *c) { int32_t ix[3] = {0, 4, 1}; return FAILS_P(ag_gather_rows(T43, 3, ix)); }
static int r_gather_neg(ag_ctx *c) { int32_t ix[2] = {-1, 1}; return FAILS_P(ag_gather_rows(T43, 2, ix)); }
static int r_gather_n_neg(ag_ctx *c) { int32_t ix[1] = {0}; return FAILS_P(ag_gather_rows(T43, -1, ix)); }
static int r_gather_0d(ag_ctx *c) { int32_t ix[1] = {0}; return FAILS_P(ag_gather_rows(T0, 1, ix)); }
static int r_layer_norm_w(ag_ctx *c) { return FAILS_P(ag_layer_norm(T23, T4, NULL, 1e-5)); }
static int r_layer_norm_b(ag_ctx *c) { return FAILS_P(ag_layer_norm(T23, T3, T4, 1e-5)); }
static int r_dropout_neg(ag_ctx *c) { return FAILS_P(ag_dropout(T23, -0.1, true)); }
static int r_dropout_big(ag_ctx *c) { return FAILS_P(ag_dropout(T23, 1.5, true)); }
static int r_dropout_nan(ag_ctx *c) { return FAILS_P(ag_dropout(T23, NAN, false)); }
static int r_softplus_beta0(ag_ctx *c) { return FAILS_P(ag_softplus(T23, 0.0, 20.0)); }
static int r_softplus_beta_inf(ag_ctx *c) { return FAILS_P(ag_softplus(T23, INFINITY, 20.0)); }
static int r_softplus_thr_nan(ag_ctx *c) { return FAILS_P(ag_softplus(T23, 1.0, NAN)); }
static int r_s_softplus(ag_ctx *c) { (void)c; return FAILS_P(ag_softplus(NULL, 1.0, 20.0)); }
static int r_celu_alpha0(ag_ctx *c) { return FAILS_P(ag_celu(T23, 0.0)); }
static int r_lerp_null(ag_ctx *c) { return FAILS_P(ag_lerp(T23, NULL, T23)); }
static int r_atan2_bcast(ag_ctx *c) { return FAILS_P(ag_atan2(T23, T43)); }
static int r_hardtanh_order(ag_ctx *c) { return FAILS_P(ag_hardtanh(T23, 1.0, -1.0)); }
static int r_layer_norm_eps(ag_ctx *c) { return FAILS_P(ag_layer_norm(T23, NULL, NULL, -1.0)); }

/* element access */
static int r_item_multi(ag_ctx *c) { return FAILS_D(ag_item(T23)); }
static int r_get_range(ag_ctx *c) { int64_t ix[2] = {0, 3}; return FAILS_D(ag_get(T23, ix)); }
static int r_get_range0(ag_ctx *c) { int64_t ix[2] = {2, 0}; return FAILS_D(ag_get(T23, ix)); }
static int r_get_null_index(ag_ctx *c) { return FAILS_D(ag_get(T23, NULL)); }
static int r_copy_out_null(ag_ctx *c) { return FAILS_I(ag_copy_out(T23, AG_F32, NULL)); }
static int r_copy_out_dtype(ag_ctx *c) { float v[6]; return FAILS_I(ag_copy_out(T23, (ag_dtype)8, v)); }
static int r_graph_dot_null(ag_ctx *c) { return FAILS_I(ag_graph_dot(ag_mul(mkg(c, 1, 3, 0, 0), T3), NULL)); }
static int r_input_range(ag_ctx *c) { return FAILS_P(ag_input(ag_mul(mkg(c, 1, 3, 0, 0), T3), 2)); }
static int r_input_neg(ag_ctx *c) { return FAILS_P(ag_input(ag_mul(mkg(c, 1, 3, 0, 0), T3), -1)); }

/* two contexts in one op (the error goes to the first input's context) */
static int r_two_ctx_add(ag_ctx *c) {
    ag_ctx *c2 = ag_ctx_new(NULL);
    int64_t s[2] = {2, 3};
    int r = FAILS_P(ag_add(T23, ag_ones(c2, AG_F32, 2, s)));
    ag_ctx_free(c2);
    return r;
}
static int r_two_ctx_matmul(ag_ctx *c) {
    ag_ctx *c2 = ag_ctx_new(NULL);
    int64_t s[2] = {3, 4};
    int r = FAILS_P(ag_matmul(T23, ag_ones(c2, AG_F32, 2, s)));
    ag_ctx_free(c2);
    return r;
}

/* the arena cap (these rows get a context with arena_limit = 64 KiB) */
static int r_arena_big(ag_ctx *c) { int64_t s[2] = {1024, 1024}; return FAILS_P(ag_new(c, AG_F32, 2, s)); }
static int r_arena_graph(ag_ctx *c) {
    /* a graph that grows until the arena is full: must end in NULL, not a crash */
    ag_tensor *x = mkg(c, 2, 4, 4, 0), *y = x;
    int i;
    for (i = 0; i < 100000 && y; i++) y = ag_tanh(ag_add(y, x));
    return FAILS_P(y);
}

/* backward */
static int r_backward_twice(ag_ctx *c) {
    ag_tensor *y = ag_sum(ag_mul(mkg(c, 2, 2, 3, 0), T23));
    if (ag_backward(y, NULL) != 0) return 0;
    return FAILS_I(ag_backward(y, NULL));
}
static int r_backward_nonscalar(ag_ctx *c) { return FAILS_I(ag_backward(ag_mul(mkg(c, 2, 2, 3, 0), T23), NULL)); }
static int r_backward_seed_shape(ag_ctx *c) {
    ag_backward_opts o;
    memset(&o, 0, sizeof o);
    o.grad = T3;
    return FAILS_I(ag_backward(ag_mul(mkg(c, 2, 2, 3, 0), T23), &o));
}
static int r_backward_no_grad(ag_ctx *c) { return FAILS_I(ag_backward(ag_sum(T23), NULL)); }
static int r_set_rg_nonleaf(ag_ctx *c) { return FAILS_P(ag_set_requires_grad(ag_mul(mkg(c, 1, 3, 0, 0), T3), false)); }
static int r_backward_seed_ctx(ag_ctx *c) {
    ag_ctx *c2 = ag_ctx_new(NULL);
    ag_backward_opts o;
    int64_t s[2] = {2, 3};
    int r;
    memset(&o, 0, sizeof o);
    o.grad = ag_ones(c2, AG_F32, 2, s);
    r = FAILS_I(ag_backward(ag_mul(mkg(c, 2, 2, 3, 0), T23), &o));
    ag_ctx_free(c2);
    return r;
}
static int r_retain_grad_no_rg(ag_ctx *c) { return FAILS_P(ag_retain_grad(T23)); }
static int r_grad_of_null_elem(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0), *in[1], *g[1];
    in[0] = NULL;
    return FAILS_I(ag_grad_of(ag_sum(ag_mul(x, x)), NULL, 1, in, g));
}
static int r_grad_of_no_rg(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0), *in[1], *g[1];
    in[0] = T3;
    return FAILS_I(ag_grad_of(ag_sum(ag_mul(x, x)), NULL, 1, in, g));
}
static int r_grad_of_null_grads(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0);
    return FAILS_I(ag_grad_of(ag_sum(ag_mul(x, x)), NULL, 1, &x, NULL));
}
static int r_grad_of_n_neg(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0), *g = NULL;
    return FAILS_I(ag_grad_of(ag_sum(ag_mul(x, x)), NULL, -1, &x, &g));
}
static int r_grad_of_null_inputs(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0), *g = NULL;
    return FAILS_I(ag_grad_of(ag_sum(ag_mul(x, x)), NULL, 1, NULL, &g));
}
static ag_tensor *gc_fn(ag_ctx *ctx, ag_tensor **in, void *user) { (void)ctx; (void)user; return ag_sum(ag_tanh(in[0])); }
static int r_gradcheck_f32(ag_ctx *c) {
    ag_tensor *in[1];
    in[0] = mkg(c, 1, 3, 0, 0);
    return FAILS_I(ag_gradcheck(c, gc_fn, NULL, 1, in, NULL, NULL));
}
static int r_gradcheck_null_fn(ag_ctx *c) {
    ag_tensor *in[1];
    in[0] = ag_set_requires_grad(mkt(c, AG_F64, 1, 3, 0, 0), true);
    return FAILS_I(ag_gradcheck(c, NULL, NULL, 1, in, NULL, NULL));
}
static int r_gradcheck_no_rg(ag_ctx *c) {
    ag_tensor *in[1];
    in[0] = mkt(c, AG_F64, 1, 3, 0, 0);
    return FAILS_I(ag_gradcheck(c, gc_fn, NULL, 1, in, NULL, NULL));
}

/* forward mode and graph replay */
static int r_dual_shape(ag_ctx *c) { return FAILS_P(ag_make_dual(T23, T34)); }
static int r_dual_null_tangent(ag_ctx *c) { return FAILS_P(ag_make_dual(T23, NULL)); }
static int r_dual_of_dual(ag_ctx *c) { ag_tensor *t = T3; return FAILS_P(ag_make_dual(ag_make_dual(T3, t), t)); }
static ag_tensor *nj_forward(ag_custom *cu, ag_tensor **in, int n, void *user) { (void)cu; (void)n; (void)user; return ag_mul(in[0], in[0]); }
static int nj_backward(ag_custom *cu, ag_tensor *g, ag_tensor **grads, void *user) { (void)user; grads[0] = ag_mul(g, ag_custom_input(cu, 0)); return 0; }
static const ag_function nj_fn = { "no_jvp_op", nj_forward, nj_backward, NULL };
static int r_custom_no_jvp(ag_ctx *c) { ag_tensor *x = ag_make_dual(T3, T3); return FAILS_P(ag_apply(&nj_fn, 1, &x, NULL)); }
static int r_jacobian_fwd_null(ag_ctx *c) { ag_tensor *in[1]; in[0] = T3; return FAILS_I(ag_jacobian_fwd(c, gc_fn, NULL, 1, in, NULL, false)); }
static int r_capture_end_alone(ag_ctx *c) { return FAILS_P(ag_capture_end(c)); }
static int r_capture_twice(ag_ctx *c) {
    int rc;
    ag_capture_begin(c);
    rc = ag_capture_begin(c);
    ag_capture_free(ag_capture_end(c));
    return FAILS_I(rc);
}
static int r_capture_custom(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0), *y;
    ag_capture *g;
    ag_capture_begin(c);
    y = ag_apply(&nj_fn, 1, &x, NULL);
    g = ag_capture_end(c);
    return FAILS_P(y) && g == NULL;
}
static int r_replay_after_reset(ag_ctx *c) {
    ag_tensor *x = mkg(c, 1, 3, 0, 0);
    ag_capture *g;
    int rc;
    ag_capture_begin(c);
    ag_backward(ag_sum(ag_mul(x, x)), NULL);
    g = ag_capture_end(c);
    ag_ctx_reset(c);
    rc = ag_replay(g);
    ag_capture_free(g);
    return g != NULL && FAILS_I(rc);
}

/* dynamic loss scaling: a parameter [3] under SGD, with or without a gradient */
static ag_optim *sc_opt(ag_ctx *c, bool grad) {
    int64_t s = 3;
    ag_tensor *p = ag_param(c, AG_F32, 1, &s, NULL);
    ag_sgd_opts o = ag_sgd_defaults();
    if (grad) ag_backward(ag_sum(p), NULL);
    return ag_sgd_new(c, &p, 1, &o);
}
static ag_grad_scaler *sc_bad(ag_ctx *c, double init, double growth, double backoff, int interval) {
    ag_grad_scaler_opts o;
    memset(&o, 0, sizeof o);
    o.init_scale = init; o.growth_factor = growth; o.backoff_factor = backoff; o.growth_interval = interval;
    return ag_grad_scaler_new(c, &o);
}
static int r_scaler_growth(ag_ctx *c) { return FAILS_P(sc_bad(c, 0, 0.5, 0, 0)); }
static int r_scaler_backoff(ag_ctx *c) { return FAILS_P(sc_bad(c, 0, 0, 1.5, 0)); }
static int r_scaler_init_inf(ag_ctx *c) { return FAILS_P(sc_bad(c, INFINITY, 0, 0, 0)); }
static int r_scaler_init_tiny(ag_ctx *c) { return FAILS_P(sc_bad(c, 1e-50, 0, 0, 0)); }   /* 0 in F32 */
static int r_scaler_interval(ag_ctx *c) { return FAILS_P(sc_bad(c, 0, 0, 0, -1)); }
static int r_scaler_scale_null_loss(ag_ctx *c) { return FAILS_P(ag_scaler_scale(ag_grad_scaler_new(c, NULL), NULL)); }
static int r_scaler_scale_null_scaler(ag_ctx *c) { return FAILS_P(ag_scaler_scale(NULL, T0)); }
static int r_scaler_scale_two_ctx(ag_ctx *c) {
    ag_ctx *c2 = ag_ctx_new(NULL);
    int r = FAILS_P(ag_scaler_scale(ag_grad_scaler_new(c2, NULL), T0));
    ag_ctx_free(c2);
    return r;
}
static int r_scaler_step_two_ctx(ag_ctx *c) {
    ag_ctx *c2 = ag_ctx_new(NULL);
    int r = FAILS_I(ag_scaler_step(ag_grad_scaler_new(c2, NULL), sc_opt(c, true)));
    ag_ctx_free(c2);
    return r;
}
static int r_scaler_step_null_opt(ag_ctx *c) { return FAILS_I(ag_scaler_step(ag_grad_scaler_new(c, NULL), NULL)); }
static int r_scaler_unscale_null(ag_ctx *c) { return FAILS_I(ag_scaler_unscale(NULL, sc_opt(c, true))); }
static int r_scaler_step_twice(ag_ctx *c) {
    ag_grad_scaler *s = ag_grad_scaler_new(c, NULL);
    ag_optim *o = sc_opt(c, true);
    if (ag_scaler_step(s, o) != 1) return 0;
    return FAILS_I(ag_scaler_step(s, o));
}
static int r_scaler_unscale_twice(ag_ctx *c) {
    ag_grad_scaler *s = ag_grad_scaler_new(c, NULL);
    ag_optim *o = sc_opt(c, true);
    if (ag_scaler_unscale(s, o) != 0) return 0;
    return FAILS_I(ag_scaler_unscale(s, o));
}
static int r_scaler_unscale_after_step(ag_ctx *c) {
    ag_grad_scaler *s = ag_grad_scaler_new(c, NULL);
    ag_optim *o = sc_opt(c, true);
    if (ag_scaler_step(s, o) != 1) return 0;
    return FAILS_I(ag_scaler_unscale(s, o));
}
static int r_scaler_update_alone(ag_ctx *c) { return FAILS_I(ag_scaler_update(ag_grad_scaler_new(c, NULL))); }
static int r_scaler_step_no_grad(ag_ctx *c) { return FAILS_I(ag_scaler_step(ag_grad_scaler_new(c, NULL), sc_opt(c, false))); }
static int r_scaler_step_capturing(ag_ctx *c) {
    ag_grad_scaler *s = ag_grad_scaler_new(c, NULL);
    ag_optim *o = sc_opt(c, true);
    int r;
    ag_capture_begin(c);
    r = FAILS_I(ag_scaler_step(s, o));
    ag_capture_free(ag_capture_end(c));
    return r;
}
static int r_scaler_free_in_use(ag_ctx *c) {   /* a node of this step reads its scale */
    ag_grad_scaler *s = ag_grad_scaler_new(c, NULL);
    if (!ag_scaler_scale(s, T0)) return 0;
    ag_grad_scaler_free(s);
    return ag_error(c) != NULL;
}
static int r_s_scaler_new(ag_ctx *c) { (void)c; return FAILS_P(ag_grad_scaler_new(NULL, NULL)); }
static int r_s_scaler_scale(ag_ctx *c) { (void)c; return FAILS_P(ag_scaler_scale(NULL, NULL)); }
static int r_s_scaler_step(ag_ctx *c) { (void)c; return FAILS_I(ag_scaler_step(NULL, NULL)) && FAILS_I(ag_scaler_unscale(NULL, NULL)); }
static int r_s_scaler_update(ag_ctx *c) { (void)c; ag_grad_scaler_free(NULL); return FAILS_I(ag_scaler_update(NULL)); }

/* ---- the table ---- */
enum { F_SILENT = 1, F_ARENA = 2, F_EITHER = 4 };   /* F_EITHER: silent or an error naming the op */
typedef struct {
    const char *name;
    int (*fn)(ag_ctx *c);
    const char *op;     /* must appear in the message ("a|b": one of them) */
    const char *frag;   /* must also appear (NULL: no requirement) */
    int flags;
} row;

/* dtypes: 16-bit and integer tensors (>>half, >>int) */
static ag_tensor *ti64(ag_ctx *c, int64_t a, int64_t b, int64_t d) { int64_t v[3], n = 3; v[0] = a; v[1] = b; v[2] = d; return ag_from(c, AG_I64, 1, &n, v); }
static ag_tensor *tbool(ag_ctx *c) { unsigned char v[3] = {1, 0, 1}; int64_t n = 3; return ag_from(c, AG_BOOL, 1, &n, v); }
static int r_where_float_cond(ag_ctx *c) { return FAILS_P(ag_where(T3, T3, T3)); }
static int r_where_shapes(ag_ctx *c) { return FAILS_P(ag_where(tbool(c), T3, T4)); }
static int r_masked_fill_int_mask(ag_ctx *c) { return FAILS_P(ag_masked_fill(T3, ti64(c, 1, 0, 1), 1.0)); }
static int r_masked_fill_overflow(ag_ctx *c) { return FAILS_P(ag_masked_fill(ag_to(T3, AG_I32), tbool(c), 1e10)); }
static int r_masked_fill_half_overflow(ag_ctx *c) { return FAILS_P(ag_masked_fill(ag_to(T3, AG_F16), tbool(c), 1e5)); }
static int r_one_hot_range(ag_ctx *c) { return FAILS_P(ag_one_hot(ti64(c, 0, 5, 1), 3)); }
static int r_one_hot_negative(ag_ctx *c) { return FAILS_P(ag_one_hot(ti64(c, 0, -1, 1), -1)); }
static int r_one_hot_float(ag_ctx *c) { return FAILS_P(ag_one_hot(T3, 3)); }
static int r_floor_divide_zero(ag_ctx *c) { return FAILS_P(ag_floor_divide(ti64(c, 4, 5, 6), ti64(c, 1, 0, 2))); }
static int r_remainder_zero(ag_ctx *c) { return FAILS_P(ag_remainder(ti64(c, 4, 5, 6), ag_zeros(c, AG_I32, 0, NULL))); }
static int r_sub_bool(ag_ctx *c) { return FAILS_P(ag_sub(T3, tbool(c))); }
static int r_neg_bool(ag_ctx *c) { return FAILS_P(ag_neg(tbool(c))); }
static int r_requires_grad_int(ag_ctx *c) { return FAILS_P(ag_set_requires_grad(ti64(c, 1, 2, 3), true)); }
static int r_param_int(ag_ctx *c) { int64_t n = 3; return FAILS_P(ag_param(c, AG_I32, 1, &n, NULL)); }
static int r_init_half(ag_ctx *c) { return FAILS_I(ag_init_normal(ag_to(T3, AG_F16), 0, 1)); }
static int r_init_int(ag_ctx *c) { return FAILS_I(ag_init_uniform(ti64(c, 1, 2, 3), 0, 1)); }
static int r_sgd_bf16(ag_ctx *c) { int64_t n = 3; ag_tensor *p = ag_param(c, AG_BF16, 1, &n, NULL); return FAILS_P(ag_sgd_new(c, &p, 1, NULL)); }
static int r_index_select_t_float(ag_ctx *c) { return FAILS_P(ag_index_select_t(T23, 0, T3)); }
static int r_index_select_t_range(ag_ctx *c) { return FAILS_P(ag_index_select_t(T23, 1, ti64(c, 0, 3, 1))); }
static int r_gather_t_dims(ag_ctx *c) { return FAILS_P(ag_gather_t(T23, 1, ti64(c, 0, 1, 2))); }
static int r_scatter_add_t_shape(ag_ctx *c) { return FAILS_P(ag_scatter_add_t(T23, 1, ti64(c, 0, 1, 2), T23)); }
static int r_ce_t_shape(ag_ctx *c) { return FAILS_P(ag_cross_entropy_t(T23, ti64(c, 0, 1, 2))); }
static int r_ce_t_float(ag_ctx *c) { return FAILS_P(ag_cross_entropy_t(T23, mk(c, 1, 2, 0, 0))); }
static int r_ce_t_wrap(ag_ctx *c) { int64_t v[2] = {0, 4294967297LL}, n = 2; return FAILS_P(ag_cross_entropy_t(T23, ag_from(c, AG_I64, 1, &n, v))); }
static int r_nll_t_range(ag_ctx *c) { int32_t v[2] = {0, 3}; int64_t n = 2; return FAILS_P(ag_nll_loss_t(ag_log_softmax(T23, 1), ag_from(c, AG_I32, 1, &n, v), AG_MEAN)); }

static const row rows[] = {
    /* NULL next to a valid input */
    {"add(NULL, t)", r_add_null_a, "add", "NULL", 0},
    {"add(t, NULL)", r_add_null_b, "add", "NULL", 0},
    {"sub(NULL, t)", r_sub_null, "sub", "NULL", 0},
    {"mul(t, NULL)", r_mul_null, "mul", "NULL", 0},
    {"div(NULL, t)", r_div_null, "div", "NULL", 0},
    {"maximum(NULL, t)", r_maximum_null, "maximum", "NULL", 0},
    {"minimum(t, NULL)", r_minimum_null, "minimum", "NULL", 0},
    {"matmul(t, NULL)", r_matmul_null, "matmul", "NULL", 0},
    {"linear(x, NULL W)", r_linear_null_W, "linear", "NULL", 0},
    {"linear(NULL x, W, b)", r_linear_null_x, "linear", "NULL", 0},
    {"linear(NULL, NULL, b)", r_linear_null_xW, "linear", "NULL", 0},
    {"init_linear(NULL, b)", r_init_linear_null_W, "init_linear", "NULL", 0},
    {"causal_self_attention(NULL, NULL, bqkv, ...)", r_attn_null_x_W, "causal_self_attention", "NULL", 0},
    {"std correction -1", r_std_corr, "std", "correction must be >= 0", 0},
    {"mse_loss(t, NULL)", r_mse_null, "mse_loss", "NULL", 0},
    {"bce_with_logits(NULL, t)", r_bce_null, "bce_with_logits", "NULL", 0},
    /* x is the tensor layer_norm reports through; a NULL x gives NULL without a message
       (see tests/NOTES-errors.md): either is accepted */
    {"layer_norm(NULL, w, b)", r_layer_norm_null_x, "layer_norm", "NULL", F_EITHER},
    {"cat with a NULL element", r_cat_null_elem, "cat", "NULL", 0},
    {"stack with a NULL element", r_stack_null_elem, "stack", "NULL", 0},
    {"new: NULL shape, ndim 2", r_new_null_shape, "new", NULL, 0},
    {"from: NULL shape, ndim 1", r_from_null_shape, "from", NULL, 0},
    {"param: NULL shape, ndim 1", r_param_null_shape, "param", NULL, 0},
    {"reshape: NULL shape", r_reshape_null_shape, "reshape", NULL, 0},
    {"expand: NULL shape", r_expand_null_shape, "expand", NULL, 0},
    {"permute: NULL perm", r_permute_null, "permute", NULL, 0},
    {"cross_entropy: NULL targets", r_ce_null_targets, "cross_entropy", NULL, 0},
    {"gather_rows: NULL index", r_gather_null_index, "gather_rows", NULL, 0},
    /* the only input is NULL */
    {"add(NULL, NULL)", r_s_add, NULL, NULL, F_SILENT},
    {"neg(NULL)", r_s_neg, NULL, NULL, F_SILENT},
    {"tanh(NULL)", r_s_tanh, NULL, NULL, F_SILENT},
    {"pow(NULL)", r_s_pow, NULL, NULL, F_SILENT},
    {"sum(NULL)", r_s_sum, NULL, NULL, F_SILENT},
    {"sum_dim(NULL)", r_s_sum_dim, NULL, NULL, F_SILENT},
    {"argmax(NULL)", r_s_argmax, NULL, NULL, F_SILENT},
    {"matmul(NULL, NULL)", r_s_matmul, NULL, NULL, F_SILENT},
    {"reshape(NULL)", r_s_reshape, NULL, NULL, F_SILENT},
    {"transpose(NULL)", r_s_transpose, NULL, NULL, F_SILENT},
    {"softmax(NULL)", r_s_softmax, NULL, NULL, F_SILENT},
    {"cross_entropy(NULL)", r_s_ce, NULL, NULL, F_SILENT},
    {"dropout(NULL)", r_s_dropout, NULL, NULL, F_SILENT},
    {"layer_norm(NULL, NULL, NULL)", r_s_layer_norm, NULL, NULL, F_SILENT},
    {"cat(NULL list)", r_s_cat, NULL, NULL, F_SILENT},
    {"to(NULL)", r_s_to, NULL, NULL, F_SILENT},
    {"detach(NULL)", r_s_detach, NULL, NULL, F_SILENT},
    {"set_requires_grad(NULL)", r_s_set_rg, NULL, NULL, F_SILENT},
    {"backward(NULL)", r_s_backward, NULL, NULL, F_SILENT},
    {"item(NULL)", r_s_item, NULL, NULL, F_SILENT},
    {"new(NULL ctx)", r_s_new, NULL, NULL, F_SILENT},
    {"cat n=0", r_s_cat_n0, "cat", NULL, F_EITHER},
    {"stack n=0", r_s_stack_n0, "stack", NULL, F_EITHER},
    /* broadcasting */
    {"add [2,3] + [4,3]", r_add_bcast, "add", "[2, 3]", 0},
    {"sub [2,3,4] - [4,3]", r_sub_bcast, "sub", "[4, 3]", 0},
    {"mul [2,3] * [2]", r_mul_bcast, "mul", "[2, 3]", 0},
    {"div [3] / [4]", r_div_bcast, "div", "[3]", 0},
    {"maximum [3,4], [3]", r_maximum_bcast, "maximum", "[3, 4]", 0},
    {"mse_loss [3] vs [4]", r_mse_shape, "mse_loss", "[4]", 0},
    {"bce_with_logits [3] vs [4]", r_bce_shape, "bce_with_logits", "[4]", 0},
    /* ops built from other ops */
    {"select dim 2 of [2,3]", r_select_dim, "select", "out of range", 0},
    {"select index 3 of size 3", r_select_index, "select", "index 3 is out of range", 0},
    {"select index -4 of size 3", r_select_index_neg, "select", "index -4", 0},
    {"flatten 2..1", r_flatten_order, "flatten", "comes after", 0},
    {"flatten end 3 of 3-d", r_flatten_dim, "flatten", "out of range", 0},
    {"unflatten sizes 3x2 for 4", r_unflatten_sizes, "unflatten", "do not multiply to 4", 0},
    {"unflatten NULL sizes", r_unflatten_null, "unflatten", "NULL", 0},
    {"unflatten two -1", r_unflatten_two_infer, "unflatten", "invalid", 0},
    {"movedim to 2 of 2-d", r_movedim, "movedim", "out of range", 0},
    {"split sizes sum 3 of 4", r_split_sum, "split", "sum to 3", 0},
    {"split size -1", r_split_neg, "split", "size", 0},
    {"split NULL out", r_split_null_out, "split", "out NULL", 0},
    {"chunk 0", r_chunk_zero, "chunk", "chunks must be >= 1", 0},
    {"chunk dim -3", r_chunk_dim, "chunk", "out of range", 0},
    {"unbind dim 2", r_unbind_dim, "unbind", "out of range", 0},
    {"unbind NULL out", r_unbind_null, "unbind", "NULL", 0},
    {"repeat 2 for 3-d", r_repeat_few, "repeat", "need 3 to", 0},
    {"repeat -2", r_repeat_neg, "repeat", "invalid", 0},
    {"repeat size overflow", r_repeat_huge, "repeat", "invalid", 0},
    {"sum_dims 1 and -2 (same)", r_sum_dims_twice, "sum_dims", "appears twice", 0},
    {"mean_dims 3 of 3-d", r_mean_dims_range, "mean_dims", "out of range", 0},
    {"sum_dims NULL dims", r_sum_dims_null, "sum_dims", "NULL", 0},
    {"norm p 0", r_norm_p0, "norm", "p must be > 0", 0},
    {"norm p NaN", r_norm_pnan, "norm", "p must be > 0", 0},
    {"norm dim 2 of 2-d", r_norm_dims, "norm", "out of range", 0},
    {"prelu weight [4] for C 3", r_prelu_weight, "prelu", "[4]", 0},
    {"prelu NULL weight", r_prelu_null, "prelu", "NULL", 0},
    {"glu odd dim", r_glu_odd, "glu", "even", 0},
    {"normalize eps -1", r_normalize_eps, "normalize", "eps", 0},
    {"normalize dim 2", r_normalize_dim, "norm", "out of range", 0},
    {"cosine_similarity [2,3] vs [3,4]", r_cosine_shape, "mul", "broadcast", 0},
    {"cosine_similarity dim 2", r_cosine_dim, "cosine_similarity", "out of range", 0},
    {"pairwise_distance 0-d", r_pairwise_0d, "pairwise_distance", "0-d", 0},
    {"pairwise_distance p -1", r_pairwise_p, "norm", "p must be > 0", 0},
    {"rms_norm weight [4] for [2,3]", r_rms_norm_weight, "rms_norm", "[4]", 0},
    {"rms_norm 0-d", r_rms_norm_0d, "rms_norm", "0-d", 0},
    {"rms_norm NULL input", r_rms_norm_null, "rms_norm", "NULL", 0},
    {"mse_loss_ex reduction -1", r_mse_ex_reduction, "mse_loss", "unknown reduction -1", 0},
    {"l1_loss shapes", r_l1_shape, "l1_loss", "differ in shape", 0},
    {"l1_loss reduction 7", r_l1_reduction, "l1_loss", "unknown reduction 7", 0},
    {"l1_loss batchmean", r_l1_batchmean, "l1_loss", "unknown reduction 3", 0},
    {"smooth_l1_loss beta -1", r_smooth_l1_beta, "smooth_l1_loss", "beta", 0},
    {"huber_loss delta 0", r_huber_delta, "huber_loss", "delta", 0},
    {"bce_loss shapes", r_bce_loss_shape, "bce_loss", "differ in shape", 0},
    {"kl_div NULL target", r_kl_div_null, "kl_div", "NULL", 0},
    {"nll_loss target 3 of 3 classes", r_nll_targets, "nll_loss", "target 3", 0},
    {"nll_loss NULL targets", r_nll_null, "nll_loss", "targets is NULL", 0},
    {"nll_loss 3-d", r_nll_3d, "nll_loss", "[N, C] or [C]", 0},
    {"nll_loss batchmean", r_nll_reduction, "nll_loss", "unknown reduction", 0},
    {"select(NULL)", r_s_select, NULL, NULL, F_SILENT},
    {"split(NULL)", r_s_split, NULL, NULL, F_SILENT},
    {"norm(NULL)", r_s_norm, NULL, NULL, F_SILENT},
    {"lstm_cell h [4] for x [2,3]", r_lstm_shape, "lstm_cell", "do not fit", 0},
    {"lstm_cell weights [12,3] (not 4 H)", r_lstm_weights, "lstm_cell", "[4 H, I]", 0},
    {"lstm_cell NULL c", r_lstm_null_c, "lstm_cell", "c is NULL", 0},
    {"lstm_cell NULL h_out", r_lstm_null_out, "lstm_cell", "h_out", 0},
    {"gru_cell b_ih [4]", r_gru_bias, "gru_cell", "b_ih [4] must be [12]", 0},
    {"gru_cell NULL x", r_gru_null_x, "gru_cell", "x is NULL", 0},
    {"sort dim 2 of 2-d", r_sort_dim, "argsort", "out of range", 0},
    {"topk k 4 of 3", r_topk_k, "topk", "k 4 is out of range", 0},
    {"topk k -1", r_topk_neg, "topk", "k -1", 0},
    {"kthvalue k 0", r_kthvalue_0, "kthvalue", "k 0", 0},
    {"median of an empty tensor", r_median_empty, "median", "empty", 0},
    {"median_dim of an empty dim", r_median_dim_empty, "median", "empty", 0},
    {"gather index 3 of size 3", r_gather_range, "gather", "index 3 at position 1 is out of range for dim 1 of [2, 3]", 0},
    {"gather index -1", r_gather_neg_dim, "gather", "index -1", 0},
    {"gather 1-d index for 2-d input", r_gather_ndim, "gather", "must have 2 dims", 0},
    {"gather index [3,1] for [2,3]", r_gather_shape, "gather", "does not fit", 0},
    {"gather NULL index", r_gather_null, "gather", "index is NULL", 0},
    {"index_select index 2 of size 2", r_index_select_range, "index_select", "index 2", 0},
    {"index_select n -1", r_index_select_n, "index_select", "n must be >= 0", 0},
    {"scatter_add index 5 of size 3", r_scatter_add_range, "scatter_add", "index 5", 0},
    {"scatter_add src [3,1] for [2,3]", r_scatter_add_shape, "scatter_add", "does not fit", 0},
    {"scatter_add NULL src", r_scatter_add_null, "scatter_add", "NULL", 0},
    {"tile repeats -1", r_tile_neg, "repeat", "invalid", 0},
    {"tile 9 repeats", r_tile_many, "tile", "need 0 to 8", 0},
    {"repeat_interleave -1", r_repeat_interleave_neg, "repeat_interleave", "repeats must be >= 0", 0},
    {"diagonal of 1-d", r_diagonal_1d, "diagonal", "at least 2 dims", 0},
    {"diagonal dims 1 and -1", r_diagonal_same, "diagonal", "the same", 0},
    {"diag of 3-d", r_diag_3d, "diag", "1-D or 2-D", 0},
    {"trace of 1-d", r_trace_1d, "trace", "2-D", 0},
    {"pad 3 values", r_pad_odd, "pad", "even count", 0},
    {"pad reflect 3 of size 3", r_pad_reflect, "pad", "reflect padding (3, 0)", 0},
    {"pad circular 4 of size 3", r_pad_circular, "pad", "circular padding (0, 4)", 0},
    {"pad crop all of size 3", r_pad_crop, "pad", "out of range", 0},
    {"pad mode 9", r_pad_mode, "pad", "unknown mode 9", 0},
    {"pad reflect -1", r_pad_neg_reflect, "pad", "out of range", 0},
    {"eye -1", r_eye_neg, "eye", NULL, 0},
    {"linspace steps -2", r_linspace_steps, "linspace", "steps -2", 0},
    {"linspace start NaN", r_linspace_nan, "linspace", "finite", 0},
    {"logspace base -2", r_logspace_base, "logspace", "base", 0},
    {"meshgrid of a 2-d input", r_meshgrid_2d, "meshgrid", "must be 1-D", 0},
    {"meshgrid NULL input", r_meshgrid_null, "meshgrid", "is NULL", 0},
    {"prod_dim 2 of 2-d", r_prod_dim, "prod", "out of range", 0},
    {"cumprod dim -3", r_cumprod_dim, "cumprod", "out of range", 0},
    {"einsum 3 letters for 2 dims", r_einsum_letters, "einsum", "3 letters", 0},
    {"einsum j: 3 vs 4", r_einsum_size, "einsum", "letter 'i' has size", 0},
    {"einsum ...", r_einsum_ellipsis, "einsum", "not supported", 0},
    {"einsum output z", r_einsum_out, "einsum", "in no operand", 0},
    {"einsum 3 operands named, 2 given", r_einsum_count, "einsum", "more operands", 0},
    {"einsum digit", r_einsum_char, "einsum", "not a letter", 0},
    {"einsum - without >", r_einsum_arrow, "einsum", "\"->\"", 0},
    {"einsum NULL spec", r_einsum_null, "einsum", "spec NULL", 0},
    {"max_pool2d_ex NULL opts", r_pool_ex_null, "max_pool2d", "opts is NULL", 0},
    {"avg_pool2d_ex dilation", r_pool_ex_dil_avg, "avg_pool2d", "avg pools have none", 0},
    {"max_pool2d_ex dilated kernel too big", r_pool_ex_big, "max_pool2d", "larger than the padded input", 0},
    {"max_pool2d_ex pad > half kernel", r_pool_ex_pad, "max_pool2d", "at most half the kernel", 0},
    {"adaptive_avg_pool2d size 0", r_adaptive_size, "adaptive_avg_pool2d", "output size", 0},
    {"adaptive_max_pool2d of 2-d", r_adaptive_2d, "adaptive_max_pool2d", "[N, C, H, W]", 0},
    {"conv1d 2-d input", r_conv1d_2d, "conv1d", "[N, C, L]", 0},
    {"conv1d NULL weight", r_conv1d_null, "conv1d", "NULL", 0},
    {"conv_transpose2d channels", r_convt_channels, "conv_transpose2d", "input channels", 0},
    {"conv_transpose2d output pad 1 for stride 1", r_convt_outpad, "conv_transpose2d", "output padding", 0},
    {"conv_transpose2d bias [3]", r_convt_bias, "conv_transpose2d", "bias [3] must be [1]", 0},
    {"group_norm 2 groups of 3 channels", r_group_norm_groups, "group_norm", "multiple of groups 2", 0},
    {"group_norm weight [4]", r_group_norm_weight, "group_norm", "weight", 0},
    {"instance_norm 2-d", r_instance_norm_2d, "instance_norm", "[N, C, L, ...]", 0},
    {"sdpa shapes", r_sdpa_shapes, "scaled_dot_product_attention", "[..., L, E]", 0},
    {"sdpa NULL k", r_sdpa_null, "scaled_dot_product_attention", "k is NULL", 0},
    {"sdpa dropout 2", r_sdpa_dropout, "scaled_dot_product_attention", "dropout_p 2", 0},
    {"interpolate mode 5", r_interp_mode, "interpolate", "unknown mode 5", 0},
    {"interpolate size 0", r_interp_size, "interpolate", "output size", 0},
    {"interpolate 2-d", r_interp_2d, "interpolate", "[N, C, L]", 0},
    {"cross_entropy_ex weight [4] for 3 classes", r_ce_ex_weight, "cross_entropy", "weight [4] must be [3]", 0},
    {"cross_entropy_ex smoothing 1.5", r_ce_ex_smooth, "cross_entropy", "label_smoothing 1.5", 0},
    {"cross_entropy_ex target 3 of 3", r_ce_ex_target, "cross_entropy", "target 3 at row 1", 0},
    {"cross_entropy_probs shapes", r_ce_probs_shape, "cross_entropy_probs", "same shape", 0},
    {"bce_with_logits_ex pos_weight [4]", r_bce_ex_pos_weight, "bce_with_logits", "pos_weight [4]", 0},
    {"scatter index 5 of size 3", r_scatter_range, "scatter", "index 5", 0},
    {"cummax dim 2 of 2-d", r_cummax_dim, "cummax", "out of range", 0},
    {"max_pool2d_indices NULL opts", r_pool_indices_null, "max_pool2d", "opts is NULL", 0},
    {"max_unpool2d F32 indices", r_unpool_dtype, "max_unpool2d", "I64", 0},
    {"max_unpool2d index 30 of 25", r_unpool_range, "put", "out of range", 0},
    {"max_unpool2d size -1", r_unpool_size, "max_unpool2d", "output size", 0},
    /* matmul / linear */
    {"matmul inner dims", r_matmul_inner, "matmul", "matmul: [2, 3] @ [4, 5]: inner dimensions differ (3 != 4)", 0},
    {"matmul 0-d @ [3]", r_matmul_0d_a, "matmul", "[]", 0},
    {"matmul [3] @ 0-d", r_matmul_0d_b, "matmul", "[]", 0},
    {"matmul [3] @ [4]", r_matmul_1d, "matmul", "(3 != 4)", 0},
    {"matmul batch dims", r_matmul_batch, "matmul", "[2, 2, 3]", 0},
    {"linear W [4,5] for x [2,3]", r_linear_W, "linear", "[4, 5]", 0},
    {"linear W 1-D", r_linear_W_1d, "linear", NULL, 0},
    {"linear bias [3] for W [4,3]", r_linear_bias, "linear", "[3]", 0},
    {"linear 0-d x", r_linear_0d_x, "linear", NULL, 0},
    /* creation */
    {"new negative size", r_new_negative, "new", "-3", 0},
    {"new ndim 9", r_new_ndim9, "new", "ndim 9", 0},
    {"new ndim -1", r_new_ndim_neg, "new", "-1", 0},
    {"new bad dtype", r_new_bad_dtype, "new", NULL, 0},
    {"from negative size", r_from_negative, "from", "-1", 0},
    {"from ndim 9", r_from_ndim9, "from", "ndim 9", 0},
    {"from ndim -2", r_from_ndim_neg, "from", "-2", 0},
    {"param negative size", r_param_negative, "param", "-4", 0},
    {"param ndim 9", r_param_ndim9, "param", "ndim 9", 0},
    {"param ndim -1", r_param_ndim_neg, "param", "-1", 0},
    {"persistent negative size", r_persistent_negative, "persistent", "-7", 0},
    {"zeros negative size", r_zeros_negative, "zeros", "-1", 0},
    {"ones ndim 9", r_ones_ndim9, "ones|full", "ndim 9", 0},   /* says "full" (NOTES-errors.md) */
    {"full negative size", r_full_negative, "full", "-2", 0},
    {"randn negative size", r_randn_negative, "randn", "-5", 0},
    {"rand ndim 9", r_rand_ndim9, "rand", "ndim 9", 0},
    {"arange step 0", r_arange_step0, "arange", "step", 0},
    /* dims */
    {"sum_dim 2 of [2,3]", r_sum_dim_pos, "sum_dim", "dim 2 is out of range", 0},
    {"sum_dim -3 of [2,3]", r_sum_dim_neg, "sum_dim", "dim -3 is out of range", 0},
    {"mean_dim 5", r_mean_dim, "mean_dim", "dim 5 is out of range", 0},
    {"max_dim -4", r_max_dim, "max_dim", "dim -4 is out of range", 0},
    {"min_dim 2", r_min_dim, "min_dim", "dim 2 is out of range", 0},
    {"var_dim 3", r_var_dim, "var_dim", "dim 3 is out of range", 0},
    {"softmax dim 2", r_softmax_pos, "softmax", "dim 2 is out of range", 0},
    {"softmax dim -3", r_softmax_neg, "softmax", "dim -3 is out of range", 0},
    {"log_softmax dim 3 of 3-D", r_log_softmax, "log_softmax", "dim 3 is out of range", 0},
    {"transpose 0, 2", r_transpose_pos, "transpose", "dim 2 is out of range", 0},
    {"transpose -3, 1", r_transpose_neg, "transpose", "dim -3 is out of range", 0},
    {"squeeze 2", r_squeeze_pos, "squeeze", "dim 2 is out of range", 0},
    {"squeeze -3", r_squeeze_neg, "squeeze", "dim -3 is out of range", 0},
    {"unsqueeze 3 of 2-D", r_unsqueeze_pos, "unsqueeze", "dim 3 is out of range", 0},
    {"unsqueeze -4 of 2-D", r_unsqueeze_neg, "unsqueeze", "dim -4 is out of range", 0},
    {"slice dim 2", r_slice_pos, "slice", "dim 2 is out of range", 0},
    {"slice dim -3", r_slice_neg, "slice", "dim -3 is out of range", 0},
    {"slice step 0", r_slice_step0, "slice", "step", 0},
    {"narrow dim 2", r_narrow_dim, "narrow", "dim 2 is out of range", 0},
    {"narrow past the end", r_narrow_len, "narrow", "size 3", 0},
    {"cat dim 2", r_cat_dim_pos, "cat", "dim 2 is out of range", 0},
    {"cat dim -3", r_cat_dim_neg, "cat", "dim -3 is out of range", 0},
    {"stack dim 3 of 2-D", r_stack_dim_pos, "stack", "dim 3 is out of range", 0},
    {"stack dim -4 of 2-D", r_stack_dim_neg, "stack", "dim -4 is out of range", 0},
    {"argmax dim 2", r_argmax_pos, "argmax", "dim 2 is out of range", 0},
    {"argmax dim -3", r_argmax_neg, "argmax", "dim -3 is out of range", 0},
    {"unsqueeze of an 8-D tensor", r_unsqueeze_8d, "unsqueeze", "8 dims", 0},
    {"narrow length -1", r_narrow_neg_len, "narrow", "-1", 0},
    {"max of [0, 3]", r_max_empty, "max", "[0, 3]", 0},
    {"max_dim 0 of [0, 3]", r_max_dim_empty, "max_dim|max", "[0, 3]", 0},   /* says "max" */
    {"argmax 0 of [0, 3]", r_argmax_empty, "argmax", "[0, 3]", 0},
    {"var_dim correction -5", r_var_dim_corr, "var_dim", "-5", 0},
    {"cumsum dim 2", r_cumsum_dim, "cumsum", "dim 2 is out of range", 0},
    {"tril of [4]", r_tril_1d, "tril", "needs at least 2 dims, got shape [4]", 0},
    {"triu(NULL)", r_s_triu, NULL, NULL, F_SILENT},
    {"flip dims 1, -1", r_flip_twice, "flip", "dim 1 appears twice", 0},
    {"flip dim 2", r_flip_dim, "flip", "dim 2 is out of range", 0},
    {"flip dims NULL", r_flip_null, "flip", "1 dims given with dims NULL", 0},
    {"roll dim -3", r_roll_dim, "roll", "dim -3 is out of range", 0},
    {"argmin dim -3", r_argmin_neg, "argmin", "dim -3 is out of range", 0},
    {"argmin 1 of [3, 0]", r_argmin_empty, "argmin", "dim 1 of shape [3, 0] is empty", 0},
    {"argmin(NULL)", r_s_argmin, NULL, NULL, F_SILENT},
    {"cumsum dim -3", r_cumsum_neg, "cumsum", "dim -3 is out of range", 0},
    {"logsumexp dim 2", r_logsumexp_dim, "logsumexp", "dim 2 is out of range", 0},
    {"std_dim -3", r_std_dim, "std_dim", "dim -3 is out of range", 0},
    {"cumsum(NULL)", r_s_cumsum, NULL, NULL, F_SILENT},
    {"logsumexp(NULL)", r_s_logsumexp, NULL, NULL, F_SILENT},
    {"std(NULL)", r_s_std, NULL, NULL, F_SILENT},
    /* shapes */
    {"reshape [2,3] -> [4,2]", r_reshape_numel, "reshape", "[2, 3]", 0},
    {"reshape two -1", r_reshape_two_infer, "reshape", "-1", 0},
    {"reshape [2,3] -> [-1,4]", r_reshape_infer_bad, "reshape", "[2, 3]", 0},
    {"reshape size -2", r_reshape_neg2, "reshape", "-2", 0},
    {"reshape ndim 9", r_reshape_ndim9, "reshape", "ndim 9", 0},
    {"reshape size INT64_MIN", r_reshape_min, "reshape", "-9223372036854775808", 0},
    {"to an unknown dtype", r_to_bad_dtype, "to", "dtype 9", 0},
    {"expand [2,3] -> [4,3]", r_expand_bad, "expand", "[4, 3]", 0},
    {"expand to fewer dims", r_expand_fewer, "expand", "[2, 3]", 0},
    {"expand -1 in a new dim", r_expand_new_infer, "expand", "-1", 0},
    {"cat [2,3] with [3,4]", r_cat_shapes, "cat", "[3, 4]", 0},
    {"cat [2,3] with [3]", r_cat_ndim, "cat", "[3]", 0},
    {"stack [2,3] with [3,2]", r_stack_shapes, "stack", "[3, 2]", 0},
    {"permute repeated axis", r_permute_repeat, "permute", "twice", 0},
    {"permute axis out of range", r_permute_range, "permute", "dim 3 is out of range", 0},
    /* losses and nn pieces */
    {"cross_entropy target -1", r_ce_target_neg, "cross_entropy", "-1", 0},
    {"cross_entropy target 3 of C=3", r_ce_target_big, "cross_entropy", "3", 0},
    {"cross_entropy [4] target 4", r_ce_1d_target, "cross_entropy", "4", 0},
    {"cross_entropy 3-D logits", r_ce_3d, "cross_entropy", "[2, 3, 4]", 0},
    {"cross_entropy 0-d logits", r_ce_0d, "cross_entropy", NULL, 0},
    {"gather_rows index 4 of 4 rows", r_gather_big, "gather_rows", "4", 0},
    {"gather_rows index -1", r_gather_neg, "gather_rows", "-1", 0},
    {"gather_rows n -1", r_gather_n_neg, "gather_rows", "-1", 0},
    {"gather_rows 0-d table", r_gather_0d, "gather_rows", NULL, 0},
    {"layer_norm weight [4] for [2,3]", r_layer_norm_w, "layer_norm", "[4]", 0},
    {"layer_norm bias [4] for [2,3]", r_layer_norm_b, "layer_norm", "[4]", 0},
    {"dropout p -0.1", r_dropout_neg, "dropout", "-0.1", 0},
    {"dropout p 1.5", r_dropout_big, "dropout", "1.5", 0},
    {"dropout p NaN (not training)", r_dropout_nan, "dropout", "nan", 0},
    {"softplus beta 0", r_softplus_beta0, "softplus", "beta 0", 0},
    {"softplus beta inf", r_softplus_beta_inf, "softplus", "beta inf", 0},
    {"softplus threshold NaN", r_softplus_thr_nan, "softplus", "threshold nan", 0},
    {"softplus(NULL)", r_s_softplus, NULL, NULL, F_SILENT},
    {"celu alpha 0", r_celu_alpha0, "celu", "alpha", 0},
    {"lerp NULL end", r_lerp_null, "lerp", "argument 2 is NULL", 0},
    {"atan2 broadcast", r_atan2_bcast, "atan2", "cannot be broadcast", 0},
    {"hardtanh min > max", r_hardtanh_order, "hardtanh", "min <= max", 0},
    {"layer_norm eps -1", r_layer_norm_eps, "layer_norm", "eps", 0},
    /* element access */
    {"item of [2,3]", r_item_multi, "item", "[2, 3]", 0},
    {"get [0,3] of [2,3]", r_get_range, "get", "[2, 3]", 0},
    {"get [2,0] of [2,3]", r_get_range0, "get", NULL, 0},
    {"get with NULL index", r_get_null_index, "get", NULL, 0},
    {"copy_out to NULL", r_copy_out_null, "copy_out", "NULL", 0},
    {"copy_out unknown dtype", r_copy_out_dtype, "copy_out", "8", 0},
    {"graph_dot to a NULL FILE", r_graph_dot_null, "graph_dot", "NULL", 0},
    {"input 2 of a 2-input op", r_input_range, "input", "2", 0},
    {"input -1", r_input_neg, "input", "-1", 0},
    /* contexts and arena */
    {"add across two contexts", r_two_ctx_add, "add", "context", 0},
    {"matmul across two contexts", r_two_ctx_matmul, "matmul", "context", 0},
    {"arena limit: one big tensor", r_arena_big, "arena", NULL, F_ARENA},
    {"arena limit: a growing graph", r_arena_graph, "arena", NULL, F_ARENA},
    /* dynamic loss scaling */
    {"grad_scaler_new growth_factor 0.5", r_scaler_growth, "grad_scaler_new", "growth_factor 0.5", 0},
    {"grad_scaler_new backoff_factor 1.5", r_scaler_backoff, "grad_scaler_new", "backoff_factor 1.5", 0},
    {"grad_scaler_new init_scale inf", r_scaler_init_inf, "grad_scaler_new", "init_scale", 0},
    {"grad_scaler_new init_scale 1e-50", r_scaler_init_tiny, "grad_scaler_new", "in F32", 0},
    {"grad_scaler_new growth_interval -1", r_scaler_interval, "grad_scaler_new", "growth_interval -1", 0},
    {"scaler_scale(s, NULL)", r_scaler_scale_null_loss, "scaler_scale", "loss is NULL", 0},
    {"scaler_scale(NULL, loss)", r_scaler_scale_null_scaler, "scaler_scale", "scaler is NULL", 0},
    {"scaler_scale with another context's scaler", r_scaler_scale_two_ctx, "scaler_scale", "another context", 0},
    {"scaler_step with another context's scaler", r_scaler_step_two_ctx, "scaler_step", "another context", 0},
    {"scaler_step(s, NULL)", r_scaler_step_null_opt, "scaler_step", "optimizer is NULL", 0},
    {"scaler_unscale(NULL, opt)", r_scaler_unscale_null, "scaler_unscale", "scaler is NULL", 0},
    {"scaler_step twice before update", r_scaler_step_twice, "scaler_step", "already", 0},
    {"scaler_unscale twice before update", r_scaler_unscale_twice, "scaler_unscale", "already", 0},
    {"scaler_unscale after scaler_step", r_scaler_unscale_after_step, "scaler_unscale", "after ag_scaler_step", 0},
    {"scaler_update without a step", r_scaler_update_alone, "scaler_update", "no ag_scaler_step", 0},
    {"scaler_step with no gradients", r_scaler_step_no_grad, "scaler_step", "no parameter", 0},
    {"scaler_step while capturing", r_scaler_step_capturing, "scaler_step", "ag_replay", 0},
    {"grad_scaler_free while its scale is used", r_scaler_free_in_use, "grad_scaler_free", "reset first", 0},
    {"grad_scaler_new(NULL)", r_s_scaler_new, NULL, NULL, F_SILENT},
    {"scaler_scale(NULL, NULL)", r_s_scaler_scale, NULL, NULL, F_SILENT},
    {"scaler_step/unscale(NULL, NULL)", r_s_scaler_step, NULL, NULL, F_SILENT},
    {"scaler_update(NULL)", r_s_scaler_update, NULL, NULL, F_SILENT},
    /* backward and gradients */
    {"second backward, no retain_graph", r_backward_twice, "backward", "retain_graph", 0},
    {"non-scalar root without seed", r_backward_nonscalar, "backward", "[2, 3]", 0},
    {"seed of the wrong shape", r_backward_seed_shape, "backward", "[3]", 0},
    {"backward of a root without grad", r_backward_no_grad, "backward", "grad", 0},
    {"seed from another context", r_backward_seed_ctx, "backward", "context", 0},
    {"retain_grad without requires_grad", r_retain_grad_no_rg, "retain_grad", NULL, 0},
    {"grad_of with a NULL input", r_grad_of_null_elem, "grad_of", "NULL", 0},
    {"grad_of input without grad", r_grad_of_no_rg, "grad_of", "grad", 0},
    {"grad_of NULL grads", r_grad_of_null_grads, "grad_of", NULL, 0},
    {"set_requires_grad on a non-leaf", r_set_rg_nonleaf, "set_requires_grad", "leaves", 0},
    {"grad_of n = -1", r_grad_of_n_neg, "grad_of", "-1", 0},
    {"grad_of NULL inputs", r_grad_of_null_inputs, "grad_of", NULL, 0},
    {"gradcheck with an F32 input", r_gradcheck_f32, "gradcheck", "float32", 0},
    {"gradcheck with a NULL function", r_gradcheck_null_fn, "gradcheck", NULL, 0},
    {"gradcheck, input without grad", r_gradcheck_no_rg, "gradcheck", "grad", 0},
    {"make_dual with a tangent of another shape", r_dual_shape, "make_dual", "[3, 4]", 0},
    {"make_dual with a NULL tangent", r_dual_null_tangent, "make_dual", "NULL", 0},
    {"make_dual of a dual", r_dual_of_dual, "make_dual", "already", 0},
    {"a tangent reaching a custom op without jvp", r_custom_no_jvp, "no_jvp_op", "jvp", 0},
    {"jacobian_fwd with NULL jac", r_jacobian_fwd_null, "jacobian_fwd", "NULL", 0},
    {"capture_end without capture_begin", r_capture_end_alone, "capture_end", "no capture", 0},
    {"capture_begin twice", r_capture_twice, "capture_begin", "already", 0},
    {"a custom op in a capture", r_capture_custom, "no_jvp_op", "ag_replay", 0},
    {"replay after ag_ctx_reset", r_replay_after_reset, "replay", "ag_ctx_reset", 0},
    /* dtypes */
    {"where with an F32 condition", r_where_float_cond, "where", "not bool", 0},
    {"where of [3] and [4]", r_where_shapes, "where", "broadcast", 0},
    {"masked_fill with an I64 mask", r_masked_fill_int_mask, "masked_fill", "not bool", 0},
    {"masked_fill of I32 with 1e10", r_masked_fill_overflow, "masked_fill", "int32 without overflow", 0},
    {"masked_fill of F16 with 1e5", r_masked_fill_half_overflow, "masked_fill", "float16 without overflow", 0},
    {"one_hot class 5 of 3", r_one_hot_range, "one_hot", "class 5", 0},
    {"one_hot class -1", r_one_hot_negative, "one_hot", "class -1", 0},
    {"one_hot of F32", r_one_hot_float, "one_hot", "float32", 0},
    {"floor_divide by an integer 0", r_floor_divide_zero, "floor_divide", "division by zero", 0},
    {"remainder by a 0-d integer 0", r_remainder_zero, "remainder", "division by zero", 0},
    {"sub with a bool operand", r_sub_bool, "sub", "bool", 0},
    {"neg of bool", r_neg_bool, "neg", "logical_not", 0},
    {"requires_grad on I64", r_requires_grad_int, "set_requires_grad", "int64", 0},
    {"param of I32", r_param_int, "param", "int32", 0},
    {"init_normal of F16", r_init_half, "init_normal", "float16", 0},
    {"init_uniform of I64", r_init_int, "init_uniform", "int64", 0},
    {"sgd with a BF16 parameter", r_sgd_bf16, "sgd", "bfloat16", 0},
    {"index_select_t with an F32 index", r_index_select_t_float, "index_select", "not int32 or int64", 0},
    {"index_select_t index 3 of 3", r_index_select_t_range, "index_select", "out of range", 0},
    {"gather_t with a 1-D index of a 2-D input", r_gather_t_dims, "gather", "2 dims", 0},
    {"scatter_add_t index not shaped like src", r_scatter_add_t_shape, "scatter_add", "shape of src", 0},
    {"cross_entropy_t targets [3] for [2, 3]", r_ce_t_shape, "cross_entropy", "[N]", 0},
    {"cross_entropy_t with F32 targets", r_ce_t_float, "cross_entropy", "not int32 or int64", 0},
    {"cross_entropy_t target 2^32 + 1", r_ce_t_wrap, "cross_entropy", "4294967297", 0},
    {"nll_loss_t target 3 of 3", r_nll_t_range, "nll_loss", "3", 0},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* ---- the context still works: a small forward + backward with known answers ---- */
static int small_work(ag_ctx *c) {
    static const float av[3] = {1, 2, 3};
    static const float Av[6] = {1, -2, 0.5f, 3, 0, -1};          /* [2, 3] */
    static const float Bv[6] = {0.5f, 1, -1, 2, 0.25f, -0.5f};  /* [3, 2] */
    int64_t s3 = 3, s23[2] = {2, 3}, s32[2] = {3, 2};
    ag_tensor *a = ag_set_requires_grad(ag_from(c, AG_F32, 1, &s3, av), true);
    ag_tensor *A = ag_set_requires_grad(ag_from(c, AG_F32, 2, s23, Av), true);
    ag_tensor *B = ag_from(c, AG_F32, 2, s32, Bv);
    ag_tensor *loss = ag_add(ag_sum(ag_mul(a, a)), ag_sum(ag_matmul(A, B)));
    float ga[3], gA[6];
    double want = 14.0;   /* sum a^2 */
    int i, j, k;
    if (!loss || ag_backward(loss, NULL) != 0) return 0;
    if (!ag_grad(a) || !ag_grad(A)) return 0;
    if (ag_copy_out(ag_grad(a), AG_F32, ga) != 0 || ag_copy_out(ag_grad(A), AG_F32, gA) != 0) return 0;
    for (i = 0; i < 2; i++)
        for (j = 0; j < 2; j++)
            for (k = 0; k < 3; k++) want += Av[i * 3 + k] * Bv[k * 2 + j];
    if (fabs(ag_item(loss) - want) > 1e-5) return 0;
    for (i = 0; i < 3; i++)
        if (fabs(ga[i] - 2 * av[i]) > 1e-6) return 0;
    for (i = 0; i < 2; i++)   /* d sum(A @ B) / dA[i,k] = sum_j B[k,j] */
        for (k = 0; k < 3; k++)
            if (fabs(gA[i * 3 + k] - (Bv[k * 2] + Bv[k * 2 + 1])) > 1e-6) return 0;
    return ag_error(c) == NULL;
}

/* does the message contain "op:" for one of the '|'-separated alternatives?
   (messages read "matmul: [2, 3] @ [4, 5]: ...") */
static int has_any(const char *msg, const char *alts) {
    char buf[128];
    const char *p = alts;
    while (*p) {
        size_t n = strcspn(p, "|");
        if (n >= sizeof buf - 1) n = sizeof buf - 2;
        memcpy(buf, p, n);
        buf[n] = ':';
        buf[n + 1] = 0;
        if (strstr(msg, buf)) return 1;
        p += n;
        if (*p == '|') p++;
    }
    return 0;
}

static int verbose;   /* AG_TEST_VERBOSE=1: print every row's message */

static void run_row(const row *r, ag_ctx *c, const char *where) {
    const char *e;
    int failed;
    ag_clear_error(c);
    failed = r->fn(c);
    e = ag_error(c);
    if (verbose && where[0] == 'f') printf("%-36s -> %s\n", r->name, e ? e : "(no error)");
    CHECK(failed, "[%s] %s: the call did not report failure", where, r->name);
    if (r->flags & F_SILENT) {
        CHECK(e == NULL, "[%s] %s: expected no error, got \"%s\"", where, r->name, e ? e : "");
    } else if ((r->flags & F_EITHER) && e == NULL) {
        CHECK(1, "ok");
    } else {
        CHECK(e != NULL, "[%s] %s: no error message", where, r->name);
        if (e) {
            CHECK(has_any(e, r->op), "[%s] %s: message \"%s\" lacks \"%s:\"", where, r->name, e, r->op);
            if (r->frag)
                CHECK(strstr(e, r->frag) != NULL, "[%s] %s: message \"%s\" lacks \"%s\"", where, r->name, e, r->frag);
        }
    }
    ag_clear_error(c);
    CHECK(ag_error(c) == NULL, "[%s] %s: error not cleared", where, r->name);
    if (!(r->flags & F_ARENA))   /* a full arena needs the reset first */
        CHECK(small_work(c), "[%s] %s: context broken after the error (before reset)", where, r->name);
    ag_ctx_reset(c);
    CHECK(small_work(c), "[%s] %s: context broken after the error and a reset", where, r->name);
    ag_ctx_reset(c);
    ag_clear_error(c);
}

static ag_ctx *arena_ctx(void) {
    ag_desc d;
    memset(&d, 0, sizeof d);
    d.arena_limit = 64 * 1024;
    return ag_ctx_new(&d);
}

int main(void) {
    int i;
    ag_ctx *shared = ag_ctx_new(NULL), *shared_arena = arena_ctx();
    verbose = getenv("AG_TEST_VERBOSE") != NULL;
    CHECK(shared && shared_arena, "ag_ctx_new failed");
    if (!shared || !shared_arena) return harness_finish("test_errors");

    /* 1. every row on a fresh context */
    for (i = 0; i < NROWS; i++) {
        ag_ctx *c = (rows[i].flags & F_ARENA) ? arena_ctx() : ag_ctx_new(NULL);
        CHECK(c != NULL, "%s: ag_ctx_new failed", rows[i].name);
        if (!c) continue;
        run_row(&rows[i], c, "fresh");
        ag_ctx_free(c);
    }
    /* 2. every row on one long-lived context, reset between rows */
    for (i = 0; i < NROWS; i++)
        run_row(&rows[i], (rows[i].flags & F_ARENA) ? shared_arena : shared, "shared");
    CHECK(small_work(shared), "shared context broken at the end");

    /* 3. the first error is kept until ag_clear_error */
    {
        ag_ctx *c = shared;
        const char *e;
        int64_t two = 2;
        ag_clear_error(c);
        CHECK(ag_matmul(T23, T45) == NULL, "matmul mismatch did not fail");
        CHECK(ag_sum_dim(T23, 7, false) == NULL, "sum_dim 7 did not fail");
        CHECK(ag_reshape(T23, 1, &two) == NULL, "reshape to [2] did not fail");
        e = ag_error(c);
        CHECK(e && strstr(e, "matmul") && !strstr(e, "sum_dim"), "first error not kept: \"%s\"", e ? e : "(null)");
        CHECK(ag_backward(ag_sum(T23), NULL) == -1, "backward without grad did not fail");
        e = ag_error(c);
        CHECK(e && strstr(e, "matmul"), "first error overwritten by backward: \"%s\"", e ? e : "(null)");
        ag_clear_error(c);
        CHECK(ag_error(c) == NULL, "clear_error did not clear");
        CHECK(ag_sum_dim(T23, 7, false) == NULL, "sum_dim 7 did not fail");
        e = ag_error(c);
        CHECK(e && strstr(e, "sum_dim"), "new error after clear not recorded: \"%s\"", e ? e : "(null)");
        ag_clear_error(c);
        ag_ctx_reset(c);
    }

    /* 4. NULL contexts do not crash */
    CHECK(ag_error(NULL) == NULL, "ag_error(NULL) should be NULL");
    ag_clear_error(NULL);
    ag_ctx_reset(NULL);
    ag_ctx_free(NULL);
    ag_zero_grad(NULL);
    CHECK(ag_grad(NULL) == NULL, "ag_grad(NULL)");
    CHECK(1, "NULL contexts survived");

    /* 5. documented non-errors */
    {
        ag_ctx *c = shared;
        /* ag_grad_of: an input the root does not depend on gets a zero gradient */
        ag_tensor *x = mkg(c, 1, 3, 0, 0), *z = mkg(c, 2, 2, 2, 0);
        ag_tensor *ins[2], *gs[2];
        int64_t i2 = 2;
        ins[0] = x; ins[1] = z;
        gs[0] = gs[1] = NULL;
        CHECK(ag_grad_of(ag_sum(ag_mul(x, x)), NULL, 2, ins, gs) == 0, "grad_of with an unused input failed: %s",
              ag_error(c) ? ag_error(c) : "");
        CHECK(ag_error(c) == NULL, "grad_of with an unused input set an error");
        if (gs[1]) {
            float gz[4] = {1, 1, 1, 1};
            CHECK(ag_ndim(gs[1]) == 2 && ag_dim(gs[1], 0) == 2 && ag_dim(gs[1], 1) == 2, "zero grad has the wrong shape");
            CHECK(ag_copy_out(gs[1], AG_F32, gz) == 0 && gz[0] == 0 && gz[1] == 0 && gz[2] == 0 && gz[3] == 0,
                  "grad of an unused input is not zero");
        } else CHECK(0, "grad_of gave NULL for an unused input");
        if (gs[0]) CHECK_CLOSE(ag_get(gs[0], &i2), 0.6, 1e-6, 0, "grad_of d sum(x^2)/dx[2]");
        else CHECK(0, "grad_of gave NULL for a used input");
        CHECK(ag_grad(x) == NULL && ag_grad(z) == NULL, "grad_of touched .grad");
        /* squeezing a dim that is not 1 changes nothing, as in PyTorch (no error) */
        {
            ag_tensor *t = T23;
            CHECK(ag_squeeze(t, 1) == t && ag_error(c) == NULL, "squeeze of a size-3 dim should return t unchanged");
        }
        /* cat of F32 and F64 promotes to F64 like every other op (no error) */
        {
            ag_tensor *ts[2], *y;
            ts[0] = T23;
            ts[1] = mkt(c, AG_F64, 2, 2, 3, 0);
            y = ag_cat(ts, 2, 0);
            CHECK(y && ag_type(y) == AG_F64 && ag_dim(y, 0) == 4 && ag_error(c) == NULL, "cat float32 + float64 should promote");
        }
        /* ag_dim out of range is -1 (documented) */
        CHECK(ag_dim(T23, 2) == -1 && ag_dim(T23, -3) == -1, "ag_dim out of range should be -1");
        CHECK(ag_dim(T23, -1) == 3, "ag_dim(-1)");
        ag_clear_error(c);
        ag_ctx_reset(c);
    }

    /* 6. arena: after the cap is hit and a reset, the stats show the arena inside its limit */
    {
        ag_ctx *c = arena_ctx();
        int64_t big[1] = {1 << 20};
        ag_stats st;
        CHECK(ag_new(c, AG_F32, 1, big) == NULL, "big tensor in a 64 KiB arena");
        st = ag_get_stats(c);
        CHECK(st.arena_capacity <= 64 * 1024, "arena capacity %zu over the 64 KiB limit", st.arena_capacity);
        ag_ctx_reset(c);
        ag_clear_error(c);
        CHECK(small_work(c), "small work after arena overflow and reset");
        /* persistent tensors are not in the arena: a big param still works */
        CHECK(ag_param(c, AG_F32, 1, big, NULL) != NULL, "a big param should not count against arena_limit");
        ag_ctx_free(c);
    }

    ag_ctx_free(shared_arena);
    printf("test_errors: %d rows; %d passed, %d failed before the overflow checks\n", NROWS, harness_passed,
           harness_failed);
    fflush(stdout);

    /* 7. sizes near INT64_MAX: an answer or an error, never a crash (these found bugs; they run
       last because a failure here may abort the program under -fsanitize=undefined) */
    {
        ag_ctx *c = shared;
        ag_tensor *t = T23, *y;
        /* Python: t[:, 0:MAX:MAX] is one column */
        y = ag_slice(t, 1, 0, INT64_MAX, INT64_MAX);
        CHECK(y && ag_ndim(y) == 2 && ag_dim(y, 0) == 2 && ag_dim(y, 1) == 1, "slice with step INT64_MAX should give [2, 1]");
        if (y && ag_dim(y, 1) == 1) {
            float out[2] = {0, 0};
            CHECK(ag_copy_out(y, AG_F32, out) == 0 && out[0] == 0.1f && out[1] == 0.4f, "slice step INT64_MAX values");
        }
        y = ag_slice(t, 0, 0, 2, (int64_t)1 << 62);
        CHECK(y && ag_dim(y, 0) == 1 && ag_dim(y, 1) == 3, "slice with step 2^62 should give [1, 3]");
        {   /* the known sizes' product overflows to 4, which divides 8 */
            int64_t s8[2] = {2, 4}, s[3] = {-1, ((int64_t)1 << 62) + 1, 4};
            const char *e;
            ag_clear_error(c);
            y = ag_reshape(ag_ones(c, AG_F32, 2, s8), 3, s);
            e = ag_error(c);
            CHECK(y == NULL && e && strstr(e, "reshape"), "reshape [2, 4] to [-1, 2^62 + 1, 4] should fail");
        }
        ag_clear_error(c);
        ag_ctx_reset(c);
    }
    {
        /* an empty tensor whose other dims multiply past INT64_MAX: reducing away the 0 would
           make a tensor of 2^80 elements. Either the shape or the reduction must be an error. */
        ag_ctx *c = shared;
        int64_t s[3] = {0, (int64_t)1 << 40, (int64_t)1 << 40};
        ag_tensor *z = ag_zeros(c, AG_F32, 3, s), *y = z ? ag_sum_dim(z, 0, false) : NULL;
        const char *e = ag_error(c);
        CHECK(y == NULL && e != NULL && (strstr(e, "zeros") || strstr(e, "sum_dim")),
              "zeros [0, 2^40, 2^40] summed over dim 0 gave %s (numel %lld) instead of an error", y ? "a tensor" : "NULL",
              (long long)ag_numel(y));
        ag_clear_error(c);
        ag_ctx_reset(c);
    }
    CHECK(small_work(shared), "shared context broken after the overflow checks");

    ag_ctx_free(shared);
    return harness_finish("test_errors");
}
