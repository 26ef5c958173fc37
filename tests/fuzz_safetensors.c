/* fuzz_safetensors.c - libFuzzer target for the safetensors loader (autograd.h, >>safetensors).

   clang -std=c99 -g -O1 -fsanitize=fuzzer,address,undefined -I. tests/fuzz_safetensors.c -o build/fuzz_safetensors -lm
   mkdir -p build/fuzz-corpus && ./build/fuzz_safetensors -max_total_time=60 build/fuzz-corpus

   Each input is loaded three ways: validated only, into new tensors by name, and into
   existing tensors of fixed shapes. Whatever loads must save and load again to the
   same values. The loader must never crash, leak or read out of bounds. */
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *names[3] = {"a", "b", "weight"};
    ag_ctx *ctx = ag_ctx_new(NULL);
    ag_tensor *made[3] = {NULL, NULL, NULL}, *fixed[2];
    int64_t s2[1] = {2}, s23[2] = {2, 3};
    int rc;
    if (!ctx) return 0;
    rc = ag_load_safetensors_mem(ctx, data, size, 0, NULL, NULL);
    if ((rc == 0) != (ag_error(ctx) == NULL)) abort();   /* an error iff a message */
    ag_clear_error(ctx);
    if (ag_load_safetensors_mem(ctx, data, size, 3, names, made) == 0) {
        /* round trip what loaded */
        size_t need = ag_save_safetensors_mem(ctx, NULL, 0, 3, names, made), i;
        unsigned char *buf = (unsigned char *)malloc(need ? need : 1);
        ag_tensor *again[3] = {NULL, NULL, NULL};
        if (!need || !buf || ag_save_safetensors_mem(ctx, buf, need, 3, names, made) != need) abort();
        if (ag_load_safetensors_mem(ctx, buf, need, 3, names, again) != 0) abort();
        for (i = 0; i < 3; i++) {
            ag_dtype dt = ag_type(made[i]);
            size_t bytes = (size_t)ag_numel(made[i]) * (dt == AG_F64 ? 8 : dt == AG_F16 || dt == AG_BF16 ? 2 : 4);
            if (ag_type(again[i]) != ag_type(made[i]) || ag_ndim(again[i]) != ag_ndim(made[i]) ||
                (bytes && memcmp(ag_data(again[i]), ag_data(made[i]), bytes))) abort();
        }
        free(buf);
    }
    ag_clear_error(ctx);
    fixed[0] = ag_persistent(ctx, AG_F32, 1, s2, NULL);
    fixed[1] = ag_transpose(ag_persistent(ctx, AG_F64, 2, s23, NULL), 0, 1);
    ag_load_safetensors_mem(ctx, data, size, 2, names, fixed);
    ag_ctx_free(ctx);
    return 0;
}
