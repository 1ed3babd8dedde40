// Uses the installed headers and library: a 2×2 product through the API's API.
#include <cstdio>

#include <neuroperf/mkl_optimizer.hpp>
#include <neuroperf/version.hpp>

int main() {
    neuroperf::MKLConfig cfg;
    cfg.backend = "builtin";
    neuroperf::MKLOptimizer opt(cfg);
    neuroperf::Array<double> a({2, 2}), b({2, 2});
    a(0, 0) = 1; a(0, 1) = 2; a(1, 0) = 3; a(1, 1) = 4;
    b(0, 0) = 5; b(0, 1) = 6; b(1, 0) = 7; b(1, 1) = 8;
    auto c = opt.optimize_matrix_multiply<double>(a.view(), b.view());
    bool ok = c(0, 0) == 19 && c(0, 1) == 22 && c(1, 0) == 43 && c(1, 1) == 50;
    std::printf("neuroperf %s consumer: %s\n", neuroperf::version(), ok ? "ok" : "WRONG RESULT");
    return ok ? 0 : 1;
}
