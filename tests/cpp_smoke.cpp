// cpp_smoke.cpp - autograd.h compiled as C++11, implementation included.
// `make check` builds it with g++ -std=c++11 -Wall -Wextra -Werror and runs it.
#define AUTOGRAD_IMPLEMENTATION
#include "autograd.h"
#include "harness.h"

#include <cmath>
#include <string>
#include <vector>

namespace {

// a tiny RAII wrapper, the way a C++ user would hold a context
struct Ctx {
    ag_ctx *p;
    Ctx() : p(ag_ctx_new(nullptr)) {}
    ~Ctx() { ag_ctx_free(p); }
    Ctx(const Ctx &) = delete;
    Ctx &operator=(const Ctx &) = delete;
};

const char *err(const Ctx &c) { return ag_error(c.p) ? ag_error(c.p) : "(none)"; }

}  // namespace

int main() {
    Ctx c;
    CHECK(c.p != nullptr, "ag_ctx_new");
    if (!c.p) return harness_finish("cpp_smoke");

    // loss = sum(tanh(x @ W^T + b) * 2), x [3, 2], W [4, 2], b [4], in F64
    const int64_t sx[2] = {3, 2}, sw[2] = {4, 2}, sb[1] = {4};
    std::vector<double> xv = {0.5, -1.0, 2.0, 0.25, -0.75, 1.5};
    std::vector<double> wv = {0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 0.7, 0.8};
    std::vector<double> bv = {0.0, 0.1, -0.1, 0.2};
    ag_tensor *x = ag_from(c.p, AG_F64, 2, sx, xv.data());
    ag_tensor *W = ag_param(c.p, AG_F64, 2, sw, wv.data());
    ag_tensor *b = ag_param(c.p, AG_F64, 1, sb, bv.data());
    ag_tensor *y = ag_tanh(ag_linear(x, W, b));
    ag_tensor *loss = ag_sum(ag_mul_scalar(y, 2.0));
    CHECK(loss != nullptr, "forward: %s", err(c));
    CHECK(loss && ag_backward(loss, nullptr) == 0, "backward: %s", err(c));
    CHECK(ag_op(loss) != nullptr && std::string(ag_op(loss)).size() > 0, "the root records its op");

    // reference: dL/dW[o][i] = sum_n 2 (1 - tanh(z)^2) x[n][i], dL/db[o] = sum_n 2 (1 - tanh(z)^2)
    double ref_loss = 0;
    for (int o = 0; o < 4; o++) {
        double gb = 0, gw[2] = {0, 0};
        for (int n = 0; n < 3; n++) {
            double z = bv[o] + xv[n * 2] * wv[o * 2] + xv[n * 2 + 1] * wv[o * 2 + 1];
            double t = std::tanh(z), d = 2.0 * (1.0 - t * t);
            ref_loss += 2.0 * t;
            gb += d;
            gw[0] += d * xv[n * 2];
            gw[1] += d * xv[n * 2 + 1];
        }
        if (ag_grad(b)) {
            int64_t idx[1] = {o};
            CHECK_CLOSE(ag_get(ag_grad(b), idx), gb, 1e-12, 1e-10, "d loss / d b");
        }
        for (int i = 0; i < 2 && ag_grad(W); i++) {
            int64_t idx[2] = {o, i};
            CHECK_CLOSE(ag_get(ag_grad(W), idx), gw[i], 1e-12, 1e-10, "d loss / d W");
        }
    }
    CHECK(ag_grad(W) != nullptr && ag_grad(b) != nullptr, "parameters got gradients");
    if (loss) CHECK_CLOSE(ag_item(loss), ref_loss, 1e-12, 1e-10, "loss");

    // errors are values in C++ too: a shape mismatch returns nullptr and sets a message
    ag_ctx_reset(c.p);
    ag_clear_error(c.p);
    const int64_t s3[1] = {3}, s5[1] = {5};
    ag_tensor *bad = ag_add(ag_zeros(c.p, AG_F32, 1, s3), ag_zeros(c.p, AG_F32, 1, s5));
    CHECK(bad == nullptr && ag_error(c.p) != nullptr, "[3] + [5] is an error");
    return harness_finish("cpp_smoke");
}
