/* harness.h - the few macros every test binary shares.
   Each test file is one program: include autograd.h and this file, call CHECK...,
   and end main with `return harness_finish("name");`, which prints
   `name: N passed, N failed`. The Makefile links it with the implementation
   (tests/autograd_impl.c, compiled once per build flavour). A test that needs the
   implementation's internals (test_simd_math.c calls ag__ functions) defines
   AUTOGRAD_IMPLEMENTATION itself instead, and the Makefile builds it on its own.
   tests/run_all.sh sums the binaries into the final `N passed, N failed`. */
#ifndef AG_TEST_HARNESS_H
#define AG_TEST_HARNESS_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int harness_passed, harness_failed;

#define CHECK(cond, ...) do { \
    if (cond) harness_passed++; \
    else { harness_failed++; fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
           fprintf(stderr, __VA_ARGS__); fprintf(stderr, "\n"); } } while (0)

/* |a - b| <= atol + rtol |b| */
#define CHECK_CLOSE(a, b, atol, rtol, what) do { double ha_ = (a), hb_ = (b); \
    CHECK(fabs(ha_ - hb_) <= (atol) + (rtol) * fabs(hb_), "%s: %.9g vs %.9g", (what), ha_, hb_); } while (0)

#if defined(_POSIX_C_SOURCE) && _POSIX_C_SOURCE >= 199309L
#include <time.h>
/* this process's CPU time: timings on a shared machine are less skewed by other work than with wall time */
static inline double harness_cpu_seconds(void) {
    struct timespec t;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t) != 0 && clock_gettime(CLOCK_MONOTONIC, &t) != 0)   /* Emscripten: no CPU clock */
        return (double)clock() / CLOCKS_PER_SEC;
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}
#endif

/* AG_TEST_NO_TIMING=1 (make check's valgrind run): skip the timing loops that only print info lines */
#include <stdlib.h>
static inline int harness_timing(void) { return getenv("AG_TEST_NO_TIMING") == NULL; }

#ifdef AUTOGRAD_H
/* a context running the named kernel set, or NULL when this CPU has not got it */
static inline ag_ctx *harness_ctx_for(const char *set) {
    ag_desc d;
    ag_ctx *ctx;
    memset(&d, 0, sizeof d);
    d.simd = set;
    ctx = ag_ctx_new(&d);
    if (ctx && strcmp(ag_simd_name(ctx), set) != 0) { ag_ctx_free(ctx); return NULL; }
    return ctx;
}
/* max |a - b| over the elements (as F64); INFINITY for a NaN, a NULL or different sizes */
static inline double harness_max_abs_diff(ag_tensor *a, ag_tensor *b) {
    ag_tensor *d = a && b && ag_numel(a) == ag_numel(b) ? ag_contiguous(ag_to(ag_abs(ag_sub(a, b)), AG_F64)) : NULL;
    double m = 0;
    int64_t k;
    if (!d) return INFINITY;
    for (k = 0; k < ag_numel(d); k++) {
        double v = ((const double *)ag_data(d))[k];
        if (v != v) return INFINITY;
        if (v > m) m = v;
    }
    return m;
}
#endif

static int harness_finish(const char *name) {
    printf("%s: %d passed, %d failed\n", name, harness_passed, harness_failed);
    return harness_failed ? 1 : 0;
}
#endif
