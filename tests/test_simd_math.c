/* test_simd_math.c - the vectorised F32 math kernels of autograd.h (>>vmath)
   (exp, log, tanh, sigmoid, gelu_tanh, silu, erf, gelu) on every ISA this CPU runs:
   AVX2 and AVX-512 on x86-64 (checked with __builtin_cpu_supports), NEON on
   AArch64.
   (a) max ulp error against double-precision libm, where the correctly
       rounded result is a normal float, over a dense sweep (every 97th float
       bit pattern in each function's range; AG_TEST_STRIDE=<k> in the
       environment changes 97) and a sparser one over every finite float;
       must be <= ULP_BOUND (1 ulp; measured max 0.92, erf), gelu's 1.25 (measured 1.12) from
       x = -0.5 on (below, its formula's cancellation, as PyTorch's). Special values
       (+-0, +-inf, NaN, huge, tiny, denormal inputs, overflow and underflow
       edges) are checked one by one. Prints the table.
   (b) every n in {0,1,3,...,257} and an in-place call give bit-identical
       results to calling the kernel one element at a time (a NaN only has to
       stay a NaN), and nothing past y[n-1] is written.
   (c) the library's own fmaf (ag__fmaf_soft, what the scalar math uses where the
       target has no FMA instruction; and SIMD128's vector fma) is rounded once: against a round-to-odd
       reference, on products with ties crafted in, subnormal results and
       specials; on glibc also against the C library's fmaf.
   A build with no SIMD set (WebAssembly without -msimd128, armhf) checks (a)
   and (b) on the scalar instance of the same algorithms.

   cc -std=c99 -O2 -Wall -Wextra -pedantic -Werror -I. tests/test_simd_math.c -lm -o build/test_simd_math
   NEON under qemu:
   aarch64-linux-gnu-gcc -std=c99 -O2 -static tests/test_simd_math.c -lm -o /tmp/tsm_arm && qemu-aarch64 /tmp/tsm_arm */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "harness.h"
#define AUTOGRAD_IMPLEMENTATION
#include "../autograd.h"

/* the ulp bound every function must meet in its range (outputs that are normal floats) */
#define ULP_BOUND 1.0

static float bits2f(uint32_t b) { float f; memcpy(&f, &b, 4); return f; }
static uint32_t f2bits(float f) { uint32_t b; memcpy(&b, &f, 4); return b; }

/* references in double; the identities avoid cancellation in double too */
static double ref_exp(double x) { return exp(x); }
static double ref_log(double x) { return log(x); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_silu(double x) {
    if (isinf(x)) return x > 0 ? x : -0.0;
    return x / (1.0 + exp(-x));
}
static double ref_gelu_tanh(double x) {   /* 0.5 x (1 + tanh(u)) = x / (1 + exp(-2u)) */
    double u;
    if (isinf(x)) return x > 0 ? x : -0.0;
    u = 0.79788456080286535588 * (x + 0.044715 * x * x * x);
    return x / (1.0 + exp(-2.0 * u));
}

static double ref_erf(double x) { return erf(x); }
static double ref_gelu(double x) {   /* 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2) */
    if (isinf(x)) return x > 0 ? x : -0.0;
    return 0.5 * x * erfc(-x * 0.70710678118654752440);
}

/* lo, hi: the dense sweep's range; bound: the ulp bound; from: the least argument whose accuracy
   is checked at all (gelu: below -0.5 the cancellation in 1 + erf(x / sqrt 2) of its formula, as
   PyTorch's, leaves an absolute error of about 2^-25 |x|, not a relative one) */
typedef struct {
    const char *name; int id; double (*ref)(double); float lo, hi; double bound; float from;
} fn_case;

static const fn_case fns[] = {
    { "exp",       AG__VMATH_EXP,       ref_exp,       -87.0f, 88.0f,    ULP_BOUND, -FLT_MAX },
    { "log",       AG__VMATH_LOG,       ref_log,       FLT_MIN, FLT_MAX, ULP_BOUND, -FLT_MAX },
    { "tanh",      AG__VMATH_TANH,      ref_tanh,      -20.0f, 20.0f,    ULP_BOUND, -FLT_MAX },
    { "sigmoid",   AG__VMATH_SIGMOID,   ref_sigmoid,   -20.0f, 20.0f,    ULP_BOUND, -FLT_MAX },
    { "gelu_tanh", AG__VMATH_GELU_TANH, ref_gelu_tanh, -20.0f, 20.0f,    ULP_BOUND, -FLT_MAX },
    { "silu",      AG__VMATH_SILU,      ref_silu,      -20.0f, 20.0f,    ULP_BOUND, -FLT_MAX },
    { "erf",       AG__VMATH_ERF,       ref_erf,       -10.0f, 10.0f,    ULP_BOUND, -FLT_MAX },
    { "gelu",      AG__VMATH_GELU,      ref_gelu,      -0.5f, 20.0f,     1.25,      -0.5f },
};
#define NFN ((int)(sizeof fns / sizeof fns[0]))

typedef struct { const char *name; ag__vmath_fn tab[AG__VMATH_COUNT]; } isa_case;

/* error of y in units of the float ulp at ref (ref a normal-range value) */
static double ulp_err(float y, double ref) {
    int e;
    if (isnan(y) || isinf(y)) return 1e30;
    e = ilogb(ref);
    if (e < -126) e = -126;
    return fabs((double)y - ref) / ldexp(1.0, e - 23);
}

#define CHUNK 4096

/* (a) dense sweep over every stride-th float bit pattern in [lo, hi], all
   ISAs at once (the double reference is computed once); errors are measured
   where the correctly rounded result is a normal float. maxe[k] gets the
   max ulp error of ISA k, worst[k] its argument. */
static void sweep(const fn_case *fc, const isa_case *isas, int nisa, float lo, float hi, uint32_t stride,
                  double *maxe, float *worst) {
    static float xs[CHUNK], ys[CHUNK];
    static double ref[CHUNK];
    uint64_t b;
    int m = 0, i, k;
    for (k = 0; k < nisa; k++) { maxe[k] = 0; worst[k] = 0; }
    for (b = 0; b <= 0xffffffffu; b += stride) {
        float v = bits2f((uint32_t)b);
        int last = b + stride > 0xffffffffu;
        if (v >= lo && v <= hi) xs[m++] = v;
        if (m == CHUNK || (last && m > 0)) {
            for (i = 0; i < m; i++) ref[i] = fc->ref((double)xs[i]);
            for (k = 0; k < nisa; k++) {
                isas[k].tab[fc->id](m, xs, ys);
                for (i = 0; i < m; i++) {
                    double e;
                    if (!(fabs(ref[i]) >= FLT_MIN) || fabs(ref[i]) > FLT_MAX) continue;
                    e = ulp_err(ys[i], ref[i]);
                    if (e > maxe[k]) { maxe[k] = e; worst[k] = xs[i]; }
                }
            }
            m = 0;
        }
    }
}

/* special values: NaN in -> NaN out, infinities exact, tiny/denormal outputs
   within FLT_MIN of the reference (flushing allowed), the rest within the bound */
static void specials(const fn_case *fc, const isa_case *isa) {
    static const float sv[] = {
        0.0f, -0.0f, INFINITY, -INFINITY, NAN, -NAN, FLT_MAX, -FLT_MAX, FLT_MIN, -FLT_MIN,
        1e-40f, -1e-40f, 1.4e-45f, -1.4e-45f, 1e-30f, -1e-30f, 1e-7f, -1e-7f, 0.5f, -0.5f,
        0.625f, -0.625f, 0.62499994f, 1.0f, -1.0f, 9.0f, -9.0f, 10.0f, -10.0f, 12.0f, -12.0f,
        20.0f, -20.0f, 50.0f, -50.0f, 87.0f, -87.0f, 87.5f, -87.5f, 88.0f, -88.0f,
        88.72283f, 88.7229f, -88.7229f, 89.0f, -89.0f, 100.0f, -100.0f, -103.0f, -104.0f,
        -104.5f, -110.0f, 1000.0f, -1000.0f, 1e30f, -1e30f, -92.0f, -93.0f, -10.5f, -11.0f,
        -64.0f, -64.5f, -63.5f, 9.5f, 9.6f, 0.1f, -0.1f, 2.0f, 1e-20f
    };
    enum { NS = (int)(sizeof sv / sizeof sv[0]) };
    float y[NS];
    int i;
    isa->tab[fc->id](NS, sv, y);
    for (i = 0; i < NS; i++) {
        double r = fc->ref((double)sv[i]);
        float rf = (float)r;
        if (sv[i] < fc->from) continue;   /* gelu's tail: the formula's absolute error only */
        if (isnan(r)) {
            CHECK(isnan(y[i]), "%s %s(%g) = %g, want NaN", isa->name, fc->name, sv[i], y[i]);
        } else if (isinf(rf)) {
            CHECK(y[i] == rf, "%s %s(%g) = %g, want %g", isa->name, fc->name, sv[i], y[i], rf);
        } else if (fabs(r) < FLT_MIN) {
            CHECK(fabs((double)y[i] - r) <= FLT_MIN && (r != 0 || y[i] == 0) && !signbit(y[i]) == !signbit(r),
                  "%s %s(%g) = %g, want %g", isa->name, fc->name, sv[i], y[i], r);
        } else {
            double e = ulp_err(y[i], r);
            CHECK(e <= fc->bound, "%s %s(%.9g) = %.9g, want %.9g (%.2f ulp)", isa->name, fc->name,
                  sv[i], y[i], r, e);
        }
    }
}

/* bit-identical, or both NaN (compilers may commute operands, which changes
   which NaN payload x86 propagates) */
static int same(float a, float b) { return f2bits(a) == f2bits(b) || (isnan(a) && isnan(b)); }

static uint64_t rng = 0x9e3779b97f4a7c15u;
static float urand(float lo, float hi) {
    rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

/* (c) fmaf rounded once. The reference rounds p + c (p = a b, exact in double) to odd in
   double, then to float: a result rounded to odd with 2 or more extra bits rounds to the
   right float (Boldo and Melquiond); a different route from ag__fmaf_soft's tie nudge. */
static float fma_ref(float a, float b, float c) {
    double p = (double)a * (double)b, s = p + (double)c, v = s - p, err = (p - (s - v)) + ((double)c - v);
    uint64_t u;
    memcpy(&u, &s, 8);
    if (err != 0 && !isinf(s) && !(u & 1)) { u += (err > 0) == (s > 0) ? 1 : (uint64_t)-1; memcpy(&s, &u, 8); }
    return (float)s;
}
static void fmaf_checks(void) {
    static const float sp[] = { 0.0f, -0.0f, 1.0f, -1.0f, INFINITY, -INFINITY, NAN, FLT_MAX, -FLT_MAX, FLT_MIN,
                                1e-45f, -1e-45f, 3.0f, 0.1f };
    int i, j, k, bad = 0, naive = 0, n = 0, libc_bad = 0;
    float worst[3] = {0, 0, 0};
    for (i = 0; i < 200000; i++) {
        /* a, b over many binades; c puts p + c on (or next to) a tie of floats, or anywhere */
        float a = ldexpf(urand(1, 2), (int)(urand(-70, 70))) * (i & 1 ? -1 : 1);
        float b = ldexpf(urand(1, 2), (int)(urand(-70, 70)));
        double p = (double)a * b, t;
        float c, r, want;
        int e;
        frexp(p, &e);
        e = e - 1 < -126 ? -126 : e - 1;                           /* the float exponent of p */
        t = ldexp(floor(ldexp(p, 23 - e)) + 0.5, e - 23);       /* a tie of floats next to p */
        switch (i % 4) {
        case 0: {   /* a b exactly on a tie (an odd 25-bit product), c far below it: s = the tie, c its error */
            int ia = 4097 + 2 * (int)urand(0, 2047), ib = 4097 + 2 * (int)urand(0, 2047), sc = (int)urand(-170, 100);
            while ((long)ia * ib < (1L << 24)) ib += 2048;
            a = ldexpf((float)ia, sc / 2) * (i & 8 ? -1 : 1); b = ldexpf((float)ib, sc - sc / 2);
            p = (double)a * b;
            c = (float)ldexp(urand(-1, 1), (int)floor(log2(fabs(p))) - 56 - (int)urand(0, 30));
            if (i % 8 == 4) {   /* a result below 2^-126: a b = 2^-150 - 2^-(150 + 2m), c a multiple of 2^-149 */
                int m = (int)urand(16, 24);
                a = ldexpf(1 + ldexpf(1, -m), -75); b = ldexpf(1 - ldexpf(1, -m), -75);
                c = ldexpf((float)(int)urand(1 << 20, 1 << 22), -149) * (i & 8 ? -1 : 1);
            }
            break;
        }
        case 1: c = -(float)p; break;                             /* cancellation */
        case 2: c = (float)(t - p) * (1 + ldexpf(urand(-1, 1), -20)); break;
        default: c = urand(-4, 4) * (float)ldexp(1, (int)urand(-140, 60)); break;
        }
        r = ag__fmaf_soft(a, b, c); want = fma_ref(a, b, c); n++;
#ifdef AG__WASM
        if (i & 32) {   /* SIMD128's fma, the case in lane i / 64 % 4 (the other lanes ordinary) */
            float va[4] = {1, 2, 3, 4}, vb[4] = {.5f, .25f, 3, 1}, vc[4] = {0, 1, -1, 2}, vy[4];
            va[i / 64 % 4] = a; vb[i / 64 % 4] = b; vc[i / 64 % 4] = c;
            wasm_v128_store(vy, ag__simd128_fma(wasm_v128_load(va), wasm_v128_load(vb), wasm_v128_load(vc)));
            r = vy[i / 64 % 4];
        }
#endif
        if (!same(r, want)) { if (!bad++) { worst[0] = a; worst[1] = b; worst[2] = c; } }
        if (!same((float)(p + c), want)) naive++;
#if defined(__GLIBC__)
        if (!same(fmaf(a, b, c), want)) libc_bad++;
#endif
    }
    for (i = 0; i < 14; i++)
        for (j = 0; j < 14; j++)
            for (k = 0; k < 14; k++) {
                float r = ag__fmaf_soft(sp[i], sp[j], sp[k]), want = fma_ref(sp[i], sp[j], sp[k]);
                n++;
                if (!same(r, want) || (r == 0 && signbit(r) != signbit(want))) {
                    if (!bad++) { worst[0] = sp[i]; worst[1] = sp[j]; worst[2] = sp[k]; }
                }
            }
    CHECK(bad == 0, "fmaf rounds twice in %d of %d cases, first fma(%a, %a, %a)", bad, n, worst[0], worst[1], worst[2]);
    CHECK(naive > 1000, "only %d of the crafted cases would catch double rounding", naive);
    CHECK(libc_bad == 0, "the reference disagrees with glibc's fmaf in %d cases", libc_bad);
    printf("  info: fmaf: %d cases, %d of them wrong if rounded twice, all rounded once\n", n, naive);
}

/* (b) tails, in place, no writes past n */
static void tails(const fn_case *fc, const isa_case *isa) {
    static const int sizes[] = { 0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 255, 257 };
    enum { NMAX = 257, GUARD = 32 };
    float x[NMAX], y[NMAX + GUARD], z[NMAX + GUARD], one;
    ag__vmath_fn f = isa->tab[fc->id];
    unsigned s;
    int i;
    for (i = 0; i < NMAX; i++)
        x[i] = fc->id == AG__VMATH_LOG ? expf(urand(-30.0f, 30.0f)) : urand(-25.0f, 25.0f);
    x[5] = NAN; x[100] = -0.0f; x[200] = INFINITY; x[256] = -INFINITY;
    if (fc->id != AG__VMATH_LOG) { x[2] = -90.0f; x[8] = -10.5f; x[16] = 95.0f; x[32] = -120.0f; }
    for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        int n = sizes[s], bad = 0, badz = 0, guard_ok = 1;
        for (i = 0; i < NMAX + GUARD; i++) y[i] = z[i] = 12345.0f;
        f(n, x, y);
        memcpy(z, x, (size_t)n * sizeof(float));
        f(n, z, z);
        for (i = 0; i < n; i++) {
            f(1, x + i, &one);
            if (!same(one, y[i])) bad++;
            if (!same(one, z[i])) badz++;
        }
        for (i = n; i < NMAX + GUARD; i++)
            if (y[i] != 12345.0f || z[i] != 12345.0f) guard_ok = 0;
        CHECK(bad == 0, "%s %s n=%d: %d elements differ from the one-at-a-time call", isa->name, fc->name, n, bad);
        CHECK(badz == 0, "%s %s n=%d in place: %d elements differ", isa->name, fc->name, n, badz);
        CHECK(guard_ok, "%s %s n=%d: wrote past y[n-1]", isa->name, fc->name, n);
    }
}

int main(void) {
    isa_case isas[4];
    int nisa = 0, k, j;
    uint32_t stride = 97;
    const char *env = getenv("AG_TEST_STRIDE");
    double table[NFN][4], wide[NFN][4];
    float worst[4];
    if (env && atoi(env) > 0) stride = (uint32_t)atoi(env);
    memset(isas, 0, sizeof isas);
#if defined(AG__X86) && !defined(AG_NO_AVX2)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        isas[nisa].name = "avx2"; ag__vmath_table_avx2(isas[nisa].tab); nisa++;
    }
    if (__builtin_cpu_supports("avx512f")) {
        isas[nisa].name = "avx512"; ag__vmath_table_avx512(isas[nisa].tab); nisa++;
    }
#endif
#ifdef AG__NEON
    isas[nisa].name = "neon"; ag__vmath_table_neon(isas[nisa].tab); nisa++;
#endif
#ifdef AG__WASM
    isas[nisa].name = "simd128"; ag__vmath_table_simd128(isas[nisa].tab); nisa++;
#endif
    fmaf_checks();
    if (nisa == 0) {   /* the scalar instance (test_kernels checks it gives the vector sets' bits) */
        isas[nisa].name = "scalar"; ag__vmath_table_scalar(isas[nisa].tab); nisa++;
    }
    for (j = 0; j < NFN; j++) {
        /* the stated range, dense */
        sweep(&fns[j], isas, nisa, fns[j].lo, fns[j].hi, stride, table[j], worst);
        for (k = 0; k < nisa; k++)
            CHECK(table[j][k] <= fns[j].bound, "%s %s: max %.3f ulp at x = %.9g (bound %.2f)", isas[k].name,
                  fns[j].name, table[j][k], worst[k], fns[j].bound);
        /* every finite float, sparser: the edges where outputs are still normal */
        sweep(&fns[j], isas, nisa, fns[j].from, FLT_MAX, stride * 61u, wide[j], worst);
        for (k = 0; k < nisa; k++)
            CHECK(wide[j][k] <= fns[j].bound, "%s %s (all floats): max %.3f ulp at x = %.9g (bound %.2f)",
                  isas[k].name, fns[j].name, wide[j][k], worst[k], fns[j].bound);
        for (k = 0; k < nisa; k++) {
            specials(&fns[j], &isas[k]);
            tails(&fns[j], &isas[k]);
        }
    }
    printf("max ulp error vs double libm, where the result is a normal float\n"
           "(range: every %u-th float in it; all: every %u-th finite float)\n%-10s", (unsigned)stride,
           (unsigned)(stride * 61u), "");
    for (k = 0; k < nisa; k++) printf(" %7s %7s", isas[k].name, "(all)");
    printf("   range\n");
    for (j = 0; j < NFN; j++) {
        printf("%-10s", fns[j].name);
        for (k = 0; k < nisa; k++) printf(" %7.3f %7.3f", table[j][k], wide[j][k]);
        printf("   [%g, %g]\n", fns[j].lo, fns[j].hi);
    }
    return harness_finish("test_simd_math");
}
