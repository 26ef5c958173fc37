/* tests/mcu/mcu.h - what tests/mcu/startup.c gives a test program: output and exit by semihosting */
#ifndef MCU_H
#define MCU_H
#include <stddef.h>
void mcu_write(const char *s, size_t n);   /* to the host's stdout */
void mcu_exit(int code);                   /* ends the run; qemu exits 0 for code 0, else 1 */
unsigned long mcu_ticks(void);             /* SysTick's 24-bit down-counter (core clock) */
#endif
