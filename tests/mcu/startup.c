/* tests/mcu/startup.c - the smallest runtime the Cortex-M test programs need under qemu-system-arm:
   a vector table, a reset handler that copies .data, zeroes .bss, turns the FPU on and calls
   main, and output and exit through Arm semihosting (qemu -semihosting-config enable=on).
   No C library start files: libc_nano and libm are linked only for what the program calls. */
#include <stddef.h>
#include <stdint.h>
#include "mcu.h"

extern uint32_t __data_load[], __data_start[], __data_end[], __bss_start[], __bss_end[], __stack_top[];
int main(void);

/* one semihosting call: operation op, argument block arg; the host's answer comes back in r0 */
static int mcu_semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static int mcu_stdout = -1;
void mcu_write(const char *s, size_t n) {
    uint32_t a[3];
    if (mcu_stdout < 0) {                      /* SYS_OPEN ":tt" for writing: the host's stdout */
        a[0] = (uint32_t)(uintptr_t)":tt"; a[1] = 4; a[2] = 3;
        mcu_stdout = mcu_semihost(0x01, a);
    }
    a[0] = (uint32_t)mcu_stdout; a[1] = (uint32_t)(uintptr_t)s; a[2] = (uint32_t)n;
    mcu_semihost(0x05, a);                     /* SYS_WRITE */
}
void mcu_exit(int code) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit makes qemu exit with status 0, any other reason with 1 */
    mcu_semihost(0x18, (const void *)(uintptr_t)(code == 0 ? 0x20026u : 0x20023u));
    for (;;) {}
}

/* a test built against newlib's semihosting syscalls (librdimon: printf, malloc) opens its handles here */
extern void initialise_monitor_handles(void) __attribute__((weak));

/* SysTick free-running on the core clock, no interrupt: a 24-bit down-counter (SYST_CVR). Under
   qemu -icount shift=0 the virtual clock advances 1 ns per instruction, so ticks count instructions
   (qemu models no cycles): xor_mcu.c -DMCU_TIMING calibrates that against a loop of known length */
unsigned long mcu_ticks(void) { return *(volatile uint32_t *)0xE000E018u; }

static void mcu_reset(void) {
    uint32_t *s = __data_load, *d = __data_start;
    while (d < __data_end) *d++ = *s++;
    for (d = __bss_start; d < __bss_end;) *d++ = 0;
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;   /* CPACR: full access to CP10 and CP11 (the FPU) */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    *(volatile uint32_t *)0xE000E014u = 0xFFFFFFu;      /* SYST_RVR: the full 24 bits */
    *(volatile uint32_t *)0xE000E018u = 0;              /* SYST_CVR: reload now */
    *(volatile uint32_t *)0xE000E010u = 5;              /* SYST_CSR: enabled, core clock, no interrupt */
    if (initialise_monitor_handles) initialise_monitor_handles();
    mcu_exit(main());
}
static void mcu_fault(void) {
    static const char msg[] = "mcu: fault (HardFault, MemManage, BusFault or UsageFault)\n";
    mcu_write(msg, sizeof msg - 1);
    mcu_exit(1);
}

/* the first 16 entries (no interrupt is enabled): initial stack pointer, reset, then the faults */
__attribute__((section(".vectors"), used)) void (*const mcu_vectors[16])(void) = {
    (void (*)(void))(uintptr_t)__stack_top, mcu_reset, mcu_fault, mcu_fault, mcu_fault, mcu_fault, mcu_fault,
    0, 0, 0, 0, mcu_fault, mcu_fault, 0, mcu_fault, mcu_fault
};
