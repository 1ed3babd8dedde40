// A ProcessPlugin for the parallel processor's tests: out = cumulative sum of in; a negative
// first element makes it fail (return 3), NaN makes the process crash (abort), as a buggy
// plug-in would, and 1000 makes it hang for 5 s (to be killed or timed out).
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include <unistd.h>

extern "C" int neuroperf_test_cumsum(const float* in, std::int64_t n, float* out, std::int64_t out_capacity,
                                     std::int64_t* out_n) {
    if (n > 0 && in[0] < 0) return 3;
    if (n > 0 && std::isnan(in[0])) std::abort();
    if (n > 0 && in[0] == 1000.0f) ::sleep(5);
    if (n > out_capacity) return 2;
    float s = 0;
    for (std::int64_t i = 0; i < n; ++i) out[i] = (s += in[i]);
    *out_n = n;
    return 0;
}
