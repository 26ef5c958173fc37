/* autograd_impl.c - the implementation of autograd.h, on its own. The Makefile compiles
   it once per build flavour (build/autograd_impl.o, build/asan/autograd_impl.o, ...) and
   links it into every test but those with their own #define AUTOGRAD_IMPLEMENTATION
   (test_simd_math.c: it calls internal ag__ functions). */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
