/* test_format.c - the library's own formatter (AG_NO_STDIO: messages, ag_print and ag_graph_dot
   without a C library printf) against this C library's snprintf: every conversion the library
   uses, on integers at their limits and on doubles of every magnitude (powers of ten and their
   neighbours, ties, random bit patterns), and ag_print / ag_graph_dot through ag_desc.write.
   What it promises and is checked here: every digit as printf's for up to 15 significant digits
   from a scaling by 10^-22 .. 10^22, and subnormals, huge values, ties and signs in %g and %e. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "harness.h"
#define AG_NO_STDIO
#define AUTOGRAD_IMPLEMENTATION
#include "../autograd.h"

static int same(const char *fmt, const char *got, const char *want) {
    CHECK(!strcmp(got, want), "format \"%s\": \"%s\", snprintf \"%s\"", fmt, got, want);
    return !strcmp(got, want);
}
#define BOTH(fmt, ...) do { char g_[512], w_[512]; int ng_ = ag__format(g_, sizeof g_, fmt, __VA_ARGS__); \
    int nw_ = snprintf(w_, sizeof w_, fmt, __VA_ARGS__); same(fmt, g_, w_); \
    CHECK(ng_ == nw_, "format \"%s\": length %d, snprintf %d", fmt, ng_, nw_); } while (0)

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next(void) { rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17; return rng; }

static char printed[4096];
static size_t printed_len;
static void to_buffer(ag_file *f, const char *s, size_t n) {
    (void)f;
    if (printed_len + n < sizeof printed) { memcpy(printed + printed_len, s, n); printed_len += n; printed[printed_len] = 0; }
}

int main(void) {
    static const char *const dfmt[] = { "%g", "%.4g", "%.4f", "%.4e", "%.0f", "%e", "%f", "%.15g", "%.9g", "%12.3f", "%-10.2e|", "%+g", "% .3f", "%010.3f" };
    static const double special[] = { 0.0, -0.0, 1.0, -1.0, 0.5, 1.5, 2.5, 0.125, 0.0625, 1e-5, 9.99995e-5, 99999.5, 999999.5, 1e21, 1e22, 1e23,
                                      123456789.0, 0.1, 0.3, 2.0 / 3.0, 1e-300, 1e300, DBL_MAX, DBL_MIN, 4.9e-324, 1e16, 9007199254740993.0,
                                      0.00049999999999999, 0.9999999, 9.5, 0.95, 0.05, 3.14159265358979, 1234.5678, 65504.0 };
    char buf[64];
    size_t i, k;
    int e;
    /* integers, strings, characters, widths */
    BOTH("%d %i %u %x %04x %ld %lu", 0, -7, 4000000000u, 0xbeefu, 0xau, -2147483647L - 1, 4294967295UL);
    BOTH("%lld %llu %zu", -9223372036854775807LL - 1, 18446744073709551615ULL, (size_t)12345);
    BOTH("[%s] [%10s] [%-6s] [%.3s] [%c] [%%] [%*s] [%*d]", "abc", "right", "left", "truncate", 'q', 5, "", -4, 12);
    BOTH("%s%.4f, %s%.4g", "", 3.0, ", ", 1e-9);
    CHECK(ag__format(buf, 5, "%s", "longer than five") == 16 && !strcmp(buf, "long"), "truncation: '%s'", buf);
    /* doubles: the special values, then powers of ten and their neighbours */
    for (k = 0; k < sizeof dfmt / sizeof *dfmt; k++) {
        for (i = 0; i < sizeof special / sizeof *special; i++) {
            if (dfmt[k][strlen(dfmt[k]) - 1] == 'f' && fabs(special[i]) > 1e10) continue;   /* more than 15 digits */
            if (k == 7 && special[i] != 0 && (fabs(special[i]) < 1e-7 || fabs(special[i]) > 1e22)) continue;   /* %.15g: 10^+-22 */
            BOTH(dfmt[k], special[i]); BOTH(dfmt[k], -special[i]);
        }
        BOTH(dfmt[k], HUGE_VAL); BOTH(dfmt[k], -HUGE_VAL);
        for (e = -22; e <= 22; e++) {
            double p = pow(10.0, e);
            if ((dfmt[k][strlen(dfmt[k]) - 1] == 'f' && e > 9) || (k == 7 && e < -7)) continue;   /* as above */
            BOTH(dfmt[k], p); BOTH(dfmt[k], nextafter(p, 0)); BOTH(dfmt[k], nextafter(p, HUGE_VAL));
            BOTH(dfmt[k], 5 * p); BOTH(dfmt[k], 0.5 * p); BOTH(dfmt[k], 9.99995 * p);
        }
    }
    /* random doubles in 2^-60 .. 2^40 (at most 15 digits from one scaling): every digit as printf */
    for (i = 0; i < 20000; i++) {
        uint64_t b = next();
        double v;
        b = (b & 0x800fffffffffffffull) | ((uint64_t)(1023 - 60 + (int)(next() % 100)) << 52);
        memcpy(&v, &b, sizeof v);
        BOTH("%g", v); BOTH("%.4e", v); BOTH("%.9g", v); BOTH("%.6e", (double)(float)v);
        if (fabs(v) > 1e-7) BOTH("%.15g", v);   /* 15 digits from one scaling: down to 10^-7 */
        if (fabs(v) < 1e10) BOTH("%.4f", v);
    }
    /* F32 values of any magnitude with %g (6 digits): as printf */
    for (i = 0; i < 20000; i++) {
        uint32_t b = (uint32_t)next();
        float f;
        memcpy(&f, &b, sizeof f);
        if (f != f) continue;
        BOTH("%g", (double)f); BOTH("%.4g", (double)f);
    }
    /* ag_print and ag_graph_dot through ag_desc.write */
    {
        ag_desc d;
        ag_ctx *ctx;
        ag_tensor *t, *y;
        const float v[6] = { 1.5f, -2.25f, 1e-3f, 4.0f, 1e9f, 0.0f };
        const int64_t shape[2] = { 2, 3 };
        memset(&d, 0, sizeof d);
        d.write = to_buffer;
        ctx = ag_ctx_new(&d);
        t = ag_param(ctx, AG_F32, 2, shape, v);
        ag_print(t, (ag_file *)&d);
        CHECK(!strcmp(printed, "tensor([[ 1.5000e+00, -2.2500e+00,  1.0000e-03],\n        [ 4.0000e+00,  1.0000e+09,  0.0000e+00]], "
                               "shape=[2, 3], dtype=float32, requires_grad)\n"), "ag_print: %s", printed);
        printed_len = 0;
        y = ag_sum(ag_tanh(t));
        CHECK(ag_graph_dot(y, (ag_file *)&d) == 0 && !strncmp(printed, "digraph autograd {", 18) && strstr(printed, "tanh") &&
              printed[printed_len - 2] == '}', "ag_graph_dot: %s", printed);
        printed_len = 0;
        ag_print(y, NULL);
        CHECK(printed_len == 0, "ag_print to NULL writes nothing");
        ag_ctx_free(ctx);
    }
    return harness_finish("test_format");
}
