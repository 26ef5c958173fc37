/* must NOT compile (make check-header): a double array passed where ag_from_f32 takes floats.
   With ag_from and its void pointer this compiles and gives wrong values at run time. */
#include "autograd.h"
int main(void) {
    ag_ctx *ctx = ag_ctx_new(NULL);
    double data[3] = { 1, 2, 3 };
    int64_t shape[1] = { 3 };
    ag_tensor *t = ag_from_f32(ctx, 1, shape, data);
    ag_ctx_free(ctx);
    return t != NULL;
}
