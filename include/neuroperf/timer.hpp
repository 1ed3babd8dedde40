// Monotonic wall-clock timing.
#pragma once

#include <chrono>
#include <cstdint>

namespace neuroperf {

/// Stopwatch on std::chrono::steady_clock (monotonic, unaffected by clock changes).
class Timer {
public:
    using clock = std::chrono::steady_clock;
    Timer() : start_(clock::now()) {}
    void reset() { start_ = clock::now(); }
    double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }
    std::int64_t nanoseconds() const {
        return std::chrono::duration_cast<std::chrono::nanoseconds>(clock::now() - start_).count();
    }

private:
    clock::time_point start_;
};

}  // namespace neuroperf
