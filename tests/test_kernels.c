/* test_kernels.c - every kernel set (scalar, avx2, avx512 or neon, whichever this
   CPU runs) against a plain double-precision reference, on awkward sizes, with
   transposed and strided operands, in F32 and F64; and the same product with 1,
   2 and 3 threads and through a user parallel_for must be bit-identical.

   cc -std=c99 -O2 -I. tests/test_kernels.c -lm -lpthread -o build/test_kernels */
#include "autograd.h"
#include "harness.h"
#include <stdlib.h>

static const char *const isas[5] = { "scalar", "avx2", "avx512", "neon", "simd128" };   /* every kernel set */

static const int64_t sizes[] = { 1, 3, 7, 8, 9, 15, 17, 31, 33, 255, 257 };
#define NSIZES (int)(sizeof sizes / sizeof sizes[0])

/* the reference: C[i,j] = sum_p A[i,p] B[p,j] in double, and sum_p |A||B| for the tolerance */
static void reference(const ag_tensor *a, const ag_tensor *b, double *c, double *mag) {
    int64_t M = ag_dim(a, 0), K = ag_dim(a, 1), N = ag_dim(b, 1), i, j, p;
    double *A = (double *)malloc(sizeof(double) * (size_t)(M * K + 1)), *B = (double *)malloc(sizeof(double) * (size_t)(K * N + 1));
    ag_copy_out(a, AG_F64, A);
    ag_copy_out(b, AG_F64, B);
    for (i = 0; i < M * N; i++) c[i] = mag[i] = 0;
    for (i = 0; i < M; i++)
        for (p = 0; p < K; p++)
            for (j = 0; j < N; j++) {
                double x = A[i * K + p] * B[p * N + j];
                c[i * N + j] += x; mag[i * N + j] += fabs(x);
            }
    free(A); free(B);
}

/* an [r, c] operand: dense, transposed (a view of a [c, r] tensor) or strided (every other column of [r, 2c]) */
static ag_tensor *operand(ag_ctx *ctx, ag_dtype dt, int64_t r, int64_t c, int layout) {
    int64_t s[2];
    if (layout == 0) { s[0] = r; s[1] = c; return ag_randn(ctx, dt, 2, s); }
    if (layout == 1) { s[0] = c; s[1] = r; return ag_transpose(ag_randn(ctx, dt, 2, s), 0, 1); }
    s[0] = r; s[1] = 2 * c;
    return ag_slice(ag_randn(ctx, dt, 2, s), 1, 0, 2 * c, 2);
}

static int check_products(const char *isa) {
    ag_desc d;
    ag_ctx *ctx;
    int dt, mi, ni, ki, la, lb, bad = 0, cases = 0;
    memset(&d, 0, sizeof d);
    d.simd = isa;
    d.seed = 7;
    ctx = ag_ctx_new(&d);
    if (strcmp(ag_simd_name(ctx), isa) != 0) { ag_ctx_free(ctx); return -1; }   /* not on this CPU */
    for (dt = 0; dt < 2; dt++)
        for (mi = 0; mi < NSIZES; mi += 2)
            for (ni = 1; ni < NSIZES; ni += 2)
                for (ki = 0; ki < NSIZES; ki += 3)
                    for (la = 0; la < 3; la++)
                        for (lb = 0; lb < 3; lb += (mi + ni) % 2 ? 1 : 2) {
                            int64_t M = sizes[mi], N = sizes[ni], K = sizes[ki], i;
                            ag_tensor *a = operand(ctx, (ag_dtype)dt, M, K, la), *b = operand(ctx, (ag_dtype)dt, K, N, lb);
                            ag_tensor *c = ag_matmul(a, b);
                            double *ref = (double *)malloc(sizeof(double) * (size_t)(M * N));
                            double *mag = (double *)malloc(sizeof(double) * (size_t)(M * N));
                            double *got = (double *)malloc(sizeof(double) * (size_t)(M * N));
                            double eps = dt == AG_F32 ? 6e-8 : 1.2e-16, worst = 0;
                            reference(a, b, ref, mag);
                            ag_copy_out(c, AG_F64, got);
                            for (i = 0; i < M * N; i++) {
                                double e = fabs(got[i] - ref[i]) / ((double)(K + 2) * eps * (mag[i] + 1e-30));
                                if (e > worst) worst = e;
                            }
                            cases++;
                            if (worst > 1.0) {
                                bad++;
                                CHECK(0, "%s %s [%lld, %lld] @ [%lld, %lld] layouts %d/%d: error %.3g of the bound", isa,
                                      dt ? "f64" : "f32", (long long)M, (long long)K, (long long)K, (long long)N, la, lb, worst);
                            }
                            free(ref); free(mag); free(got);
                            ag_ctx_reset(ctx);
                        }
    CHECK(bad == 0 && ag_error(ctx) == NULL, "%s: %d of %d products off (%s)", isa, bad, cases, ag_error(ctx) ? ag_error(ctx) : "");
    printf("  info: %-7s %d products (F32, F64; dense, transposed, strided) within K eps |A||B|\n", isa, cases);
    ag_ctx_free(ctx);
    return 0;
}

/* AVX-512 computes C at most one vector wide with its own kernel (8 rows x 1 vector); each element
   is the same chain of fused multiply-adds as AVX2's 6 x 2-vector kernel, so the bits are AVX2's */
static void check_narrow_bits(void) {
    static const int64_t widths[] = { 1, 3, 8, 9, 15, 16 };
    ag_desc d;
    ag_ctx *c2, *c5;
    int w, dt, bad = 0, cases = 0;
    memset(&d, 0, sizeof d);
    d.simd = "avx2"; c2 = ag_ctx_new(&d);
    d.simd = "avx512"; c5 = ag_ctx_new(&d);
    if (strcmp(ag_simd_name(c2), "avx2") != 0 || strcmp(ag_simd_name(c5), "avx512") != 0) {
        printf("  info: narrow products: AVX2 and AVX-512 are not both on this CPU\n");
        ag_ctx_free(c2); ag_ctx_free(c5);
        return;
    }
    for (dt = 0; dt < 2; dt++)
        for (w = 0; w < (int)(sizeof widths / sizeof widths[0]); w++) {
            int64_t sa[2] = { 29, 700 }, sb[2] = { 700, widths[w] }, n = 29 * widths[w];
            ag_tensor *a = ag_randn(c2, dt ? AG_F64 : AG_F32, 2, sa), *b = ag_randn(c2, dt ? AG_F64 : AG_F32, 2, sb);
            ag_tensor *y2 = ag_matmul(a, b), *y5, *a5, *b5;
            a5 = ag_persistent(c5, dt ? AG_F64 : AG_F32, 2, sa, ag_data(a));
            b5 = ag_persistent(c5, dt ? AG_F64 : AG_F32, 2, sb, ag_data(b));
            y5 = ag_matmul(a5, b5);
            cases++;
            bad += !y2 || !y5 || memcmp(ag_data(y2), ag_data(y5), (size_t)n * (dt ? 8 : 4)) != 0;
            CHECK(y2 && y5 && memcmp(ag_data(y2), ag_data(y5), (size_t)n * (dt ? 8 : 4)) == 0,
                  "narrow product [29 x 700] @ [700 x %lld] (%s): AVX-512 differs from AVX2", (long long)widths[w], dt ? "f64" : "f32");
            ag_ctx_reset(c2); ag_ctx_reset(c5);
        }
    printf("  info: narrow products (C 1 to 16 wide): AVX-512 equals AVX2 bit for bit in %d of %d\n", cases - bad, cases);
    ag_ctx_free(c2); ag_ctx_free(c5);
}

/* Products of at most 512 multiply-adds give the same bits on every kernel set (and every target:
   make check-targets): a multiply, then an add, never fused; whole vectors through the set */
static void check_small_bits(void) {
    static const int64_t shapes[][3] = { { 8, 8, 8 }, { 3, 17, 9 }, { 1, 5, 40 }, { 6, 4, 20 }, { 2, 7, 33 }, { 5, 3, 31 } };
    enum { NS = sizeof shapes / sizeof shapes[0] };
    double *want[2][NS];
    int isa, sh, dt, i, sets = 0;
    for (isa = 0; isa < 5; isa++) {
        ag_ctx *ctx = harness_ctx_for(isas[isa]);
        if (!ctx) continue;
        sets++;
        for (dt = 0; dt < 2; dt++)
            for (sh = 0; sh < NS; sh++) {
                int64_t sa[2], sb[2], n = shapes[sh][0] * shapes[sh][2];
                ag_tensor *c;
                double *got = (double *)malloc(sizeof(double) * (size_t)n);
                sa[0] = shapes[sh][0]; sa[1] = shapes[sh][1]; sb[0] = shapes[sh][1]; sb[1] = shapes[sh][2];
                c = ag_matmul(ag_randn(ctx, dt ? AG_F64 : AG_F32, 2, sa), ag_randn(ctx, dt ? AG_F64 : AG_F32, 2, sb));
                if (c) ag_copy_out(c, AG_F64, got);
                if (isa == 0) want[dt][sh] = got;
                else {
                    int bad = !c;
                    for (i = 0; c && i < n; i++) bad += memcmp(&got[i], &want[dt][sh][i], sizeof(double)) != 0;
                    CHECK(bad == 0, "%s: small product [%lld x %lld] @ [%lld x %lld] (%s) differs from scalar in %d of %lld", isas[isa],
                          (long long)sa[0], (long long)sa[1], (long long)sb[0], (long long)sb[1], dt ? "f64" : "f32", bad, (long long)n);
                    free(got);
                }
                ag_ctx_reset(ctx);
            }
        ag_ctx_free(ctx);
    }
    for (dt = 0; sets && dt < 2; dt++) for (sh = 0; sh < NS; sh++) free(want[dt][sh]);
    printf("  info: small products (<= 512 multiply-adds) bit-identical on %d kernel sets\n", sets);
}

/* a job system of the user's: runs the tasks backwards, to show order does not matter */
static void reverse_parallel_for(void (*task)(void *, int), void *arg, int n, void *user) {
    int i;
    (void)user;
    for (i = n - 1; i >= 0; i--) task(arg, i);
}

/* Products on 1, 2 and 3 threads and through a user's parallel_for give the same bits, on every
   kernel set: row slabs, column slabs, x @ W^T through C^T (each slab copies its part back), a
   transposed A, ragged sizes, F64, and products big enough for the shared schedule (threads pack
   each k-block together) */
static void check_threads(void) {
    static const struct { int64_t m, k, n; int ta, tb, dt; } shapes[] = {
        { 300, 517, 259, 0, 0, AG_F32 }, { 64, 784, 256, 0, 1, AG_F32 }, { 64, 256, 784, 1, 0, AG_F32 },
        { 37, 301, 77, 0, 0, AG_F32 }, { 61, 129, 95, 1, 1, AG_F64 }, { 7, 1000, 33, 0, 1, AG_F32 },
        { 520, 520, 520, 0, 0, AG_F32 }, { 64, 2048, 1100, 0, 1, AG_F32 },   /* shared schedule, then C^T copied back */
        { 13, 300, 700, 0, 0, AG_F32 },   /* a few rows of A against a wide B read in place */
    };
    int isa, sh, config, sets = 0;
    for (isa = 0; isa < 3; isa++)   /* scalar, AVX2, AVX-512 */
        for (sh = 0; sh < (int)(sizeof shapes / sizeof shapes[0]); sh++) {
            void *first = NULL;
            ag_ctx *ctx1 = NULL;   /* the 1-thread context stays alive, so the others' results land in other memory */
            size_t bytes = (size_t)(shapes[sh].m * shapes[sh].n) * (shapes[sh].dt == AG_F64 ? 8 : 4);
            for (config = 0; config < 4; config++) {
                int64_t sa[2], sb[2];
                ag_desc d;
                ag_ctx *ctx;
                ag_tensor *a, *b, *c;
                memset(&d, 0, sizeof d);
                d.seed = 3;
                d.simd = isas[isa];
                if (config < 3) d.threads = config + 1; else d.parallel_for = reverse_parallel_for;
                ctx = ag_ctx_new(&d);
                if (strcmp(ag_simd_name(ctx), isas[isa]) != 0) { ag_ctx_free(ctx); break; }
                sets += sh == 0 && config == 0;
                sa[0] = shapes[sh].ta ? shapes[sh].k : shapes[sh].m; sa[1] = shapes[sh].ta ? shapes[sh].m : shapes[sh].k;
                sb[0] = shapes[sh].tb ? shapes[sh].n : shapes[sh].k; sb[1] = shapes[sh].tb ? shapes[sh].k : shapes[sh].n;
                a = ag_randn(ctx, (ag_dtype)shapes[sh].dt, 2, sa);
                b = ag_randn(ctx, (ag_dtype)shapes[sh].dt, 2, sb);
                c = ag_matmul(shapes[sh].ta ? ag_transpose(a, 0, 1) : a, shapes[sh].tb ? ag_transpose(b, 0, 1) : b);
                if (!first) {   /* the 1-thread result, against the product in F64 */
                    ag_tensor *a64 = ag_to(a, AG_F64), *b64 = ag_to(b, AG_F64);
                    ag_tensor *c64 = ag_matmul(shapes[sh].ta ? ag_transpose(a64, 0, 1) : a64, shapes[sh].tb ? ag_transpose(b64, 0, 1) : b64);
                    double e = harness_max_abs_diff(c, c64);
                    CHECK(c != NULL && e < 2e-3 * sqrt((double)shapes[sh].k), "%s: product %d on 1 thread: off by %g from F64 (%s)", isas[isa], sh, e,
                          ag_error(ctx) ? ag_error(ctx) : "");
                    first = malloc(bytes);
                    if (c) memcpy(first, ag_data(c), bytes);
                } else
                    CHECK(c && memcmp(first, ag_data(c), bytes) == 0, "%s: [%lld x %lld] @ [%lld x %lld]%s%s%s: %s %d differs from 1 thread",
                          isas[isa], (long long)shapes[sh].m, (long long)shapes[sh].k, (long long)shapes[sh].k, (long long)shapes[sh].n,
                          shapes[sh].ta ? " A^T" : "", shapes[sh].tb ? " B^T" : "", shapes[sh].dt == AG_F64 ? " f64" : "",
                          config < 3 ? "threads" : "parallel_for", config < 3 ? config + 1 : 0);
                if (config == 0) ctx1 = ctx; else ag_ctx_free(ctx);
            }
            ag_ctx_free(ctx1);
            free(first);
        }
    printf("  info: products bit-identical on 1, 2, 3 threads and a parallel_for, %d kernel sets, %d shapes\n", sets,
           (int)(sizeof shapes / sizeof shapes[0]));
}

/* A small CNN's forward and backward (conv2d's unfold and fold, relu and its backward on the conv's
   permuted output, max_pool2d's argmax, gather and scatter, all big enough for the pool) give the
   same bits on 1, 2, 3 threads and a parallel_for */
static void check_threads_cnn(void) {
    int64_t xs[4] = { 16, 4, 48, 48 }, ws[4] = { 8, 4, 3, 3 }, n = 0;
    float *first[3] = { NULL, NULL, NULL };
    ag_ctx *ctxs[4] = { NULL, NULL, NULL, NULL };   /* all alive to the end: no run finds another's results in recycled memory */
    int config, k, bad = 0;
    for (config = 0; config < 4; config++) {
        ag_desc d;
        ag_ctx *ctx;
        ag_tensor *x, *W, *r, *y, *g[2], *wrt[2];
        ag_conv2d_opts co;
        memset(&d, 0, sizeof d);
        d.seed = 5;
        if (config < 3) d.threads = config + 1; else d.parallel_for = reverse_parallel_for;
        ctx = ctxs[config] = ag_ctx_new(&d);
        memset(&co, 0, sizeof co);
        co.pad_h = co.pad_w = 1;
        x = ag_set_requires_grad(ag_randn(ctx, AG_F32, 4, xs), true);
        W = ag_set_requires_grad(ag_randn(ctx, AG_F32, 4, ws), true);
        r = ag_relu(ag_conv2d(x, W, NULL, &co));
        y = ag_max_pool2d(r, 2, 2, 0, 0, 0, 0);
        if (config == 0 && y) {   /* the pool against a plain loop over its 128 planes */
            int64_t nr = ag_numel(r), p, i, j, wrong = 0;
            float *rv = (float *)malloc(sizeof(float) * (size_t)nr), *yv = (float *)malloc(sizeof(float) * (size_t)ag_numel(y));
            ag_copy_out(r, AG_F32, rv);
            ag_copy_out(y, AG_F32, yv);
            for (p = 0; p < 16 * 8; p++)
                for (i = 0; i < 24; i++)
                    for (j = 0; j < 24; j++) {
                        const float *w = rv + p * 2304 + 2 * i * 48 + 2 * j;
                        float m = w[0] > w[1] ? w[0] : w[1], m2 = w[48] > w[49] ? w[48] : w[49];
                        wrong += yv[p * 576 + i * 24 + j] != (m > m2 ? m : m2);
                    }
            CHECK(wrong == 0, "max_pool2d over 128 planes: %lld of %d windows wrong", (long long)wrong, 128 * 576);
            free(rv); free(yv);
        }
        wrt[0] = x; wrt[1] = W;
        CHECK(y && ag_grad_of(ag_sum(ag_mul(y, y)), NULL, 2, wrt, g) == 0, "CNN on config %d: %s", config,
              ag_error(ctx) ? ag_error(ctx) : "");
        if (!y) continue;
        y = ag_contiguous(y);
        for (k = 0; k < 3; k++) {
            ag_tensor *t = k == 0 ? y : g[k - 1];
            n = ag_numel(t);
            if (!first[k]) { first[k] = (float *)malloc(sizeof(float) * (size_t)n); ag_copy_out(t, AG_F32, first[k]); }
            else {
                float *got = (float *)malloc(sizeof(float) * (size_t)n);
                ag_copy_out(t, AG_F32, got);
                bad += memcmp(got, first[k], sizeof(float) * (size_t)n) != 0;
                CHECK(memcmp(got, first[k], sizeof(float) * (size_t)n) == 0, "CNN %s on %s %d differs from 1 thread",
                      k == 0 ? "output" : k == 1 ? "dx" : "dW", config < 3 ? "threads" : "parallel_for", config < 3 ? config + 1 : 0);
                free(got);
            }
        }
    }
    for (k = 0; k < 3; k++) free(first[k]);
    for (config = 0; config < 4; config++) ag_ctx_free(ctxs[config]);
    printf("  info: a CNN's forward and backward bit-identical on 1, 2, 3 threads and a parallel_for (%d differences)\n", bad);
}

/* F32 exp, log, tanh, sigmoid, gelu_tanh, silu, erf and gelu give the same bits on every path: each kernel set's
   vector math on contiguous rows, and the one-lane version of the same algorithms on strided rows
   and on the scalar set (whatever the C library's expf or tanhf would give) */
static ag_tensor *vm_op(int k, ag_tensor *x) {
    switch (k) {
    case 0: return ag_exp(x);
    case 1: return ag_log(ag_abs(x));
    case 2: return ag_tanh(x);
    case 3: return ag_sigmoid(x);
    case 4: return ag_gelu_tanh(x);
    case 5: return ag_silu(x);
    case 6: return ag_erf(x);
    default: return ag_gelu(x);
    }
}
enum { NK = 8 };   /* the ops vm_op runs */
static int same_bits(float a, float b) { return memcmp(&a, &b, 4) == 0 || (a != a && b != b); }   /* any NaN is NaN */
static void check_vmath_bits(void) {
    static const char *const names[NK] = { "exp", "log", "tanh", "sigmoid", "gelu_tanh", "silu", "erf", "gelu" };
    enum { N = 4099 };
    float *x = (float *)malloc(sizeof(float) * N), *want = (float *)malloc(sizeof(float) * N * NK), *got = (float *)malloc(sizeof(float) * N);
    int64_t n = N, s2[2], s2r[2] = {N, 1};
    int i, k, isa, sets = 0;
    uint64_t r = 88172645463325252ull;
    for (i = 0; i < N; i++) {   /* wide magnitudes, and the special values */
        uint32_t u;
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        u = (uint32_t)(r >> 32);
        x[i] = (float)((double)(int32_t)u / 2147483648.0) * (float)(i % 7 == 0 ? 100.0 : i % 3 == 0 ? 12.0 : 3.0);
    }
    x[0] = 0.0f; x[1] = -0.0f; x[2] = INFINITY; x[3] = -INFINITY; x[4] = NAN; x[5] = 1e-40f; x[6] = 88.7f; x[7] = -104.5f;
    for (isa = 0; isa < 5; isa++) {
        ag_ctx *ctx = harness_ctx_for(isas[isa]);
        if (!ctx) continue;
        sets++;
        for (k = 0; k < NK; k++) {
            ag_tensor *xt = ag_from_f32(ctx, 1, &n, x), *xs;
            int bad = 0;
            ag_copy_out(vm_op(k, xt), AG_F32, got);
            if (isa == 0) memcpy(want + (size_t)k * N, got, sizeof(float) * N);
            for (i = 0; i < N; i++) bad += !same_bits(got[i], want[(size_t)k * N + i]);
            CHECK(bad == 0, "%s: %s differs from scalar in %d of %d values (contiguous)", isas[isa], names[k], bad, N);
            s2[0] = N; s2[1] = 2;   /* the same values as a strided column */
            xs = ag_select(ag_transpose(ag_contiguous(ag_expand(ag_reshape(xt, 2, s2r), 2, s2)), 0, 1), 0, 1);   /* x with stride 2 */
            CHECK(xs && ag_strides(xs)[0] == 2, "a strided column");
            ag_copy_out(vm_op(k, xs), AG_F32, got);
            for (i = 0, bad = 0; i < N; i++) bad += !same_bits(got[i], want[(size_t)k * N + i]);
            CHECK(bad == 0, "%s: %s differs from scalar in %d of %d values (strided)", isas[isa], names[k], bad, N);
            ag_ctx_reset(ctx);
        }
        ag_ctx_free(ctx);
    }
    printf("  info: F32 exp, log, tanh, sigmoid, gelu_tanh, silu, erf, gelu bit-identical on %d kernel sets, contiguous and strided\n", sets);
    free(x); free(want); free(got);
}

/* softmax and log_softmax take their exps from each set's vector math: the same bits as the
   scalar set, along the last dim on short rows (a masked tail) and long ones, and along the first
   (strided, through a buffer a chunk at a time: 315 rows cross chunks, 5 rows fit in one) */
static void check_softmax_bits(void) {
    static const int64_t shapes[3][2] = { { 315, 13 }, { 5, 819 }, { 4095, 1 } };
    enum { N = 4095 };
    enum { CASES = 10 };   /* 6 along dim 1, then 4 along dim 0 */
    float *x = (float *)malloc(sizeof(float) * N), *want = (float *)malloc(sizeof(float) * N * CASES), *got = (float *)malloc(sizeof(float) * N);
    int i, k, isa, sets = 0;
    for (i = 0; i < N; i++) x[i] = (float)sin(i * 0.37) * (i % 5 == 0 ? 30.0f : 4.0f);
    x[20] = INFINITY; x[40] = -INFINITY; x[100] = NAN;
    for (isa = 0; isa < 5; isa++) {
        ag_ctx *ctx = harness_ctx_for(isas[isa]);
        if (!ctx) continue;
        sets++;
        for (k = 0; k < CASES; k++) {
            const int64_t *sh = shapes[k < 6 ? k / 2 : (k - 6) / 2];
            int dim = k < 6 ? 1 : 0, bad = 0;
            ag_tensor *xt = ag_from_f32(ctx, 2, sh, x);
            ag_copy_out(k % 2 ? ag_log_softmax(xt, dim) : ag_softmax(xt, dim), AG_F32, got);
            if (isa == 0) memcpy(want + (size_t)k * N, got, sizeof(float) * N);
            for (i = 0; i < N; i++) bad += !same_bits(got[i], want[(size_t)k * N + i]);
            CHECK(bad == 0, "%s: %s of [%lld, %lld] along dim %d differs from scalar in %d of %d values", isas[isa], k % 2 ? "log_softmax" : "softmax",
                  (long long)sh[0], (long long)sh[1], dim, bad, N);
            ag_ctx_reset(ctx);
        }
        ag_ctx_free(ctx);
    }
    printf("  info: F32 softmax, log_softmax bit-identical on %d kernel sets, along the last dim and the first\n", sets);
    free(x); free(want); free(got);
}

/* relu's backward (d y where x > 0 or x is NaN, else 0: PyTorch's threshold_backward) takes each
   set's vector row: the same bits as the scalar set, on -0, 0, NaN, infinities and a tail */
static void check_relu_grad_bits(void) {
    enum { N = 1003 };
    float x[N], g[N], want[2][N], got[N];
    int64_t n = N;
    int i, isa, dt, sets = 0;
    for (i = 0; i < N; i++) { x[i] = (float)sin(i * 0.71) * 3.0f; g[i] = 0.5f + (float)i; }
    x[0] = 0.0f; x[1] = -0.0f; x[2] = NAN; x[3] = INFINITY; x[4] = -INFINITY; x[5] = 1e-40f; x[6] = -1e-40f; x[N - 1] = NAN;
    for (isa = 0; isa < 5; isa++) {
        ag_ctx *ctx = harness_ctx_for(isas[isa]);
        if (!ctx) continue;
        sets++;
        for (dt = 0; dt < 2; dt++) {
            ag_tensor *xt = ag_set_requires_grad(ag_to(ag_from_f32(ctx, 1, &n, x), dt ? AG_F64 : AG_F32), true), *gx = NULL;
            ag_backward_opts o;
            int bad = 0;
            memset(&o, 0, sizeof o);
            o.grad = ag_to(ag_from_f32(ctx, 1, &n, g), dt ? AG_F64 : AG_F32);
            CHECK(ag_grad_of(ag_relu(xt), &o, 1, &xt, &gx) == 0 && gx, "%s: relu backward: %s", isas[isa], ag_error(ctx) ? ag_error(ctx) : "");
            if (!gx) break;
            ag_copy_out(gx, AG_F32, got);
            if (isa == 0) memcpy(want[dt], got, sizeof got);
            for (i = 0; i < N; i++) bad += !same_bits(got[i], want[dt][i]);
            CHECK(bad == 0, "%s: relu backward (%s) differs from scalar in %d of %d values", isas[isa], dt ? "f64" : "f32", bad, N);
            CHECK(got[0] == 0 && got[1] == 0 && got[2] == g[2] && got[3] == g[3] && got[4] == 0 && got[5] == g[5] && got[6] == 0 &&
                  got[N - 1] == g[N - 1], "%s: relu backward (%s) at 0, -0, NaN, inf, -inf, +-denormal: %g %g %g %g %g %g %g", isas[isa],
                  dt ? "f64" : "f32", got[0], got[1], got[2], got[3], got[4], got[5], got[6]);
            ag_ctx_reset(ctx);
        }
        ag_ctx_free(ctx);
    }
    printf("  info: relu backward bit-identical on %d kernel sets (F32, F64)\n", sets);
}

/* F32 sums over a leading dim (a bias gradient) add each column into a double a vector at a time on
   x86: the same bits as the scalar set's loop, on a tail too */
static void check_sum_bits(void) {
    enum { R = 37, C = 1003, N = R * C };
    float *x = (float *)malloc(sizeof(float) * N), want[3][C], got[C];
    int64_t sh[2] = { R, C }, one = C;
    int i, isa, k, sets = 0;
    for (i = 0; i < N; i++) x[i] = (float)(sin(i * 0.913) * pow(10.0, (i % 13) - 6));
    x[5] = INFINITY; x[C + 9] = NAN;
    for (isa = 0; isa < 5; isa++) {
        ag_ctx *ctx = harness_ctx_for(isas[isa]);
        if (!ctx) continue;
        sets++;
        for (k = 0; k < 3; k++) {
            ag_tensor *xt = ag_from_f32(ctx, 2, sh, x), *y;
            int bad = 0;
            y = k == 0 ? ag_sum_dim(xt, 0, false) : k == 1 ? ag_mean_dim(xt, 0, false) : ag_reshape(ag_sum_dim(ag_reshape(xt, 2, sh), 0, true), 1, &one);
            CHECK(y != NULL, "%s: sum over dim 0: %s", isas[isa], ag_error(ctx) ? ag_error(ctx) : "");
            if (!y) break;
            ag_copy_out(y, AG_F32, got);
            if (isa == 0) memcpy(want[k], got, sizeof got);
            for (i = 0; i < C; i++) bad += !same_bits(got[i], want[k][i]);
            CHECK(bad == 0, "%s: %s over dim 0 of [%d, %d] differs from scalar in %d of %d", isas[isa], k == 1 ? "mean" : "sum", R, C, bad, C);
            ag_ctx_reset(ctx);
        }
        ag_ctx_free(ctx);
    }
    printf("  info: F32 sums and means over a leading dim bit-identical on %d kernel sets\n", sets);
    free(x);
}

/* a sum along a row, in the header's documented order: 16 chains in double, combined pairwise
   (chain j with j + 8, then + 4, + 2, + 1), then the last n % 16 one by one */
static double row_sum_ref(const float *x, int n, int sx) {
    double c[16] = {0}, s;
    int i = 0, j, w;
    for (; i + 16 <= n; i += 16) for (j = 0; j < 16; j++) c[j] += x[(i + j) * sx];
    for (w = 8; w > 0; w /= 2) for (j = 0; j < w; j++) c[j] += c[j + w];
    for (s = c[0]; i < n; i++) s += x[i * sx];
    return s;
}
/* sums along the last dim (rows of C), of the whole tensor, and along dim 0 of the transpose
   (strided rows): the documented order on every kernel set, whatever the layout */
static void check_row_sum_bits(void) {
    enum { R = 5, C = 1003 };
    static float x[R * C], xt[C * R];
    float got[R], want[R], all;
    int64_t sh[2] = { R, C }, sht[2] = { C, R };
    int i, r, isa, sets = 0;
    /* in each row, +b (near 2^60) at k = 0 mod 7 and -b three later, between terms near 2^20: the
       chains' partial sums hold 2^60 while the small terms come, so each order of the adds
       rounds them differently, visibly in F32 (a serial sum, or a 4 and an 8 chain swapped, differ) */
    for (i = 0; i < R * C; i++) {
        int k = i % C;
        x[i] = k % 7 == 0 && k + 3 < C ? (float)ldexp(1.0 + 0.5 * sin(i * 0.37), 60) : k % 7 == 3 ? -x[i - 3] : (float)(sin(i * 0.913) * 1048576.0);
    }
    for (r = 0; r < R; r++) for (i = 0; i < C; i++) xt[i * R + r] = x[r * C + i];
    for (r = 0; r < R; r++) want[r] = (float)row_sum_ref(x + r * C, C, 1);
    for (isa = 0; isa < 5; isa++) {
        ag_ctx *ctx = harness_ctx_for(isas[isa]);
        int bad = 0;
        if (!ctx) continue;
        sets++;
        ag_copy_out(ag_sum_dim(ag_from_f32(ctx, 2, sh, x), 1, false), AG_F32, got);
        for (r = 0; r < R; r++) bad += !same_bits(got[r], want[r]);
        CHECK(bad == 0, "%s: sums along rows of %d: %d of %d differ from the documented order", isas[isa], C, bad, R);
        ag_copy_out(ag_sum_dim(ag_transpose(ag_from_f32(ctx, 2, sht, xt), 0, 1), 1, false), AG_F32, got);
        for (r = 0, bad = 0; r < R; r++) bad += !same_bits(got[r], want[r]);
        CHECK(bad == 0, "%s: sums along strided rows (a transpose): %d of %d differ from the documented order", isas[isa], bad, R);
        ag_copy_out(ag_sum(ag_from_f32(ctx, 2, sh, x)), AG_F32, &all);
        CHECK(same_bits(all, (float)row_sum_ref(x, R * C, 1)), "%s: the sum of all %d elements is %.9g, not %.9g", isas[isa], R * C,
              (double)all, (double)(float)row_sum_ref(x, R * C, 1));
        ag_ctx_free(ctx);
    }
    printf("  info: F32 sums along rows in the documented order on %d kernel sets\n", sets);
}

int main(void) {
    int i;
    for (i = 0; i < 5; i++)
        if (check_products(isas[i]) < 0) printf("  info: %-7s not available on this CPU\n", isas[i]);
    check_threads();
    check_threads_cnn();
    check_narrow_bits();
    check_small_bits();
    check_vmath_bits();
    check_softmax_bits();
    check_relu_grad_bits();
    check_sum_bits();
    check_row_sum_bits();
    return harness_finish("test_kernels");
}
