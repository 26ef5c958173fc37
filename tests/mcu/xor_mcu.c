/* tests/mcu/xor_mcu.c - examples/xor.c's 2-8-1 network trained for 500 steps on a fixed pool of
   memory, printing an FNV-1a hash of every step's loss bits. make check-cortex-m builds it for
   Cortex-M4 and M55 (tests/mcu/startup.c, run under qemu-system-arm) and natively with the same
   AG_ options, and compares the hashes: the F32 arithmetic must give the same bits everywhere.

   The parameters start from ag_init_uniform (integer RNG and exact arithmetic, no libm), so
   nothing depends on a C library's rounding. Everything the library allocates comes from
   POOL_BYTES of static memory through ag_desc.allocator; the high-water mark is printed. */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <string.h>

#ifdef MCU
#include "mcu.h"
#define out(s, n) mcu_write(s, n)
#else
#include <stdio.h>
#define out(s, n) fwrite(s, 1, n, stdout)
#endif

#ifndef POOL_BYTES
#define POOL_BYTES (12 * 1024)   /* what the trainer needs: 11,184 bytes under AG_FREESTANDING */
#endif
#define HIDDEN 8
#define STEPS 500

/* a bump allocator over a static pool (12 KiB is enough; the old first traversal stack of 1,024
   entries alone took 4 KiB of it); freeing the newest block gives it back */
static union { double d; void *p; char c[POOL_BYTES]; } pool;
static size_t pool_top, pool_last, pool_high;
static void *pool_alloc(size_t n, void *user) {
    size_t at = (pool_top + 7) & ~(size_t)7;
    (void)user;
    if (at > POOL_BYTES || n > POOL_BYTES - at) return NULL;
    pool_last = at;
    pool_top = at + n;
    if (pool_top > pool_high) pool_high = pool_top;
    return pool.c + at;
}
static void pool_free(void *p, void *user) {
    (void)user;
    if (p == pool.c + pool_last && pool_last < pool_top) pool_top = pool_last;
}

static void say(const char *s) { out(s, strlen(s)); }
static void say_num(const char *label, unsigned long v, int hex) {
    char b[24];
    int i = (int)sizeof b;
    b[--i] = 0;
    do { b[--i] = "0123456789abcdef"[v % (hex ? 16 : 10)]; v /= hex ? 16 : 10; } while (v && i > 2);
    if (hex) { b[--i] = 'x'; b[--i] = '0'; }
    say(label); say(b + i);
}

#if defined(MCU) && defined(MCU_TIMING)
/* SysTick ticks elapsed since t0 (a 24-bit down-counter) */
static unsigned long ticks_since(unsigned long t0) { return (t0 - mcu_ticks()) & 0xFFFFFFul; }
/* ticks for 2 x 10^5 instructions: 10^5 turns of a two-instruction loop (subs, bne) */
static unsigned long calibrate(void) {
    unsigned long t0 = mcu_ticks();
    register unsigned n __asm__("r0") = 100000;
    __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) :: "cc");
    return ticks_since(t0);
}
#endif

static ag_tensor *forward(ag_tensor *x, ag_tensor *const *p) {
    return ag_linear(ag_tanh(ag_linear(x, p[0], p[1])), p[2], p[3]);
}

int main(void) {
    static const float X[4 * 2] = {0, 0, 0, 1, 1, 0, 1, 1};
    static const float Y[4] = {0, 1, 1, 0};
    const int64_t sx[2] = {4, 2}, sy[2] = {4, 1};
    const int64_t sW1[2] = {HIDDEN, 2}, sb1[1] = {HIDDEN}, sW2[2] = {1, HIDDEN}, sb2[1] = {1};
    const float lr = 0.1f;
    uint32_t hash = 2166136261u, bits = 0;
    ag_desc desc;
    ag_ctx *ctx;
    ag_tensor *p[4];
    ag_stats st;
    int step, i;
#if defined(MCU) && defined(MCU_TIMING)
    unsigned long ticks = 0, t0;
#endif
    memset(&desc, 0, sizeof desc);
    desc.seed = 42;
    desc.allocator.alloc = pool_alloc;
    desc.allocator.free = pool_free;
    desc.arena_bytes = 8 * 1024;
    ctx = ag_ctx_new(&desc);
    if (!ctx) { say("xor_mcu: no context\n"); return 1; }
    p[0] = ag_param(ctx, AG_F32, 2, sW1, NULL);
    p[1] = ag_param(ctx, AG_F32, 1, sb1, NULL);
    p[2] = ag_param(ctx, AG_F32, 2, sW2, NULL);
    p[3] = ag_param(ctx, AG_F32, 1, sb2, NULL);
    /* U(-b, b) with b = 1/sqrt(fan_in), written out so that no libm call is needed */
    if (ag_init_uniform(p[0], -0.70710678118654752, 0.70710678118654752) != 0 ||
        ag_init_uniform(p[2], -0.35355339059327376, 0.35355339059327376) != 0) {
        say("xor_mcu: "); say(ag_error(ctx)); say("\n");
        return 1;
    }
    for (step = 0; step < STEPS; step++) {
#if defined(MCU) && defined(MCU_TIMING)
        t0 = mcu_ticks();
#endif
        ag_tensor *xb = ag_from(ctx, AG_F32, 2, sx, X);
        ag_tensor *yb = ag_from(ctx, AG_F32, 2, sy, Y);
        ag_tensor *loss = ag_mse_loss(forward(xb, p), yb);
        for (i = 0; i < 4; i++) ag_zero_grad(p[i]);
        if (ag_backward(loss, NULL) != 0) {
            say("xor_mcu: "); say(ag_error(ctx)); say("\n");
            return 1;
        }
        memcpy(&bits, ag_data(loss), 4);
        for (i = 0; i < 4; i++) { hash ^= (bits >> (8 * i)) & 0xffu; hash *= 16777619u; }
        for (i = 0; i < 4; i++) {   /* SGD */
            float *w = (float *)ag_data(p[i]);
            const float *g = (const float *)ag_data(ag_grad(p[i]));
            int64_t k, n = ag_numel(p[i]);
            for (k = 0; k < n; k++) w[k] -= lr * g[k];
        }
        ag_ctx_reset(ctx);
#if defined(MCU) && defined(MCU_TIMING)
        ticks += ticks_since(t0);
#endif
    }
    st = ag_get_stats(ctx);
    say_num("xor_mcu: loss hash ", hash, 1);
    say_num(" last loss bits ", bits, 1);
    say_num("\nxor_mcu: arena peak ", (unsigned long)st.arena_peak, 0);
    say_num(" B, arena capacity ", (unsigned long)st.arena_capacity, 0);
    say_num(" B, pool high-water ", (unsigned long)pool_high, 0);
    say_num(" B, heap allocs ", (unsigned long)st.heap_allocs, 0);
    say("\n");
#if defined(MCU) && defined(MCU_TIMING)
    say_num("xor_mcu: SysTick ticks for 500 steps ", ticks, 0);
    say_num(", for 2e5 loop instructions ", calibrate(), 0);
    say("\n");
#endif
    ag_ctx_free(ctx);
    return 0;
}
