// What the convolution kernels share (private to kernels/conv_*.cpp): channel rows made
// contiguous and written back, the thread-team decision, non-temporal output, argument checks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <fmt/format.h>

#include "kernels/convolution.hpp"
#include "neuroperf/error.hpp"

namespace neuroperf::kernels::conv {

using i64 = std::int64_t;

inline bool parallel_worth(int threads, i64 channels, double ns_total) {
    return threads > 1 && channels > 1 && ns_total > 2e4;
}

// Threads for a batch: split only when the work pays for waking the team.
inline int team_size(int threads, i64 channels, double ns_per_channel) {
    double total = ns_per_channel * static_cast<double>(channels);
    if (!parallel_worth(threads, channels, total)) return 1;
    return static_cast<int>(std::min<i64>(threads, channels));
}

// Scratch row of one channel: the input made contiguous, or an output row before scattering.
template <class T>
struct RowBuffers {
    std::vector<T> x, y;
};

template <class T>
const T* contiguous_input(const ConvBatch<T>& b, i64 c, i64 n, std::vector<T>& buf) {
    const T* src = b.x + c * b.x_cs;
    if (b.x_ts == 1) return src;
    buf.resize(static_cast<std::size_t>(n));
    for (i64 t = 0; t < n; ++t) buf[static_cast<std::size_t>(t)] = src[t * b.x_ts];
    return buf.data();
}

template <class T>
T* output_row(const ConvBatch<T>& b, i64 c, i64 len, std::vector<T>& buf) {
    if (b.o_ts == 1) return b.out + c * b.o_cs;
    buf.resize(static_cast<std::size_t>(len));
    return buf.data();
}

template <class T>
void finish_row(const ConvBatch<T>& b, i64 c, i64 len, const T* row) {
    if (b.o_ts == 1) return;
    T* dst = b.out + c * b.o_cs;
    for (i64 j = 0; j < len; ++j) dst[j * b.o_ts] = row[j];
}

// Runs row_fn(x_row, y_row) for every channel, on `team` threads.
template <class T, class RowFn>
void for_each_channel(const ConvBatch<T>& b, const ConvGeometry& g, int team, RowFn row_fn) {
#pragma omp parallel num_threads(team) if (team > 1)
    {
        RowBuffers<T> buf;
#pragma omp for schedule(static)
        for (i64 c = 0; c < b.channels; ++c) {
            const T* x = contiguous_input(b, c, g.n, buf.x);
            T* y = output_row(b, c, g.out_len, buf.y);
            row_fn(x, y);
            finish_row(b, c, g.out_len, y);
        }
    }
}

// Non-temporal stores for results larger than the last-level cache: writing them through the
// cache first reads every line from memory (read-for-ownership), a third more DRAM traffic than
// the result itself. SSE2 (baseline x86-64), so every clone can use them; 16-byte aligned.
inline constexpr i64 kStreamBytes = i64{32} << 20;

inline bool stream_output(i64 elements, std::size_t element_size) {
    return elements * static_cast<i64>(element_size) >= kStreamBytes;
}

#if defined(__x86_64__)
inline void stream2(float* p, const float* s) { _mm_stream_ps(p, _mm_loadu_ps(s)); }
inline void stream2(double* p, const double* s) { _mm_stream_pd(p, _mm_loadu_pd(s)); }
inline void stream_fence() { _mm_sfence(); }
inline constexpr bool kCanStream = true;
#else
inline void stream_fence() {}
inline constexpr bool kCanStream = false;
#endif

// dst[0, len) = src[0, len), streamed from the first 16-byte boundary of dst.
template <class T>
void stream_row(T* dst, const T* src, i64 len) {
    if constexpr (!kCanStream) {
        std::memcpy(dst, src, static_cast<std::size_t>(len) * sizeof(T));
    } else {
        constexpr i64 per = 16 / static_cast<i64>(sizeof(T));
        i64 j = 0;
        for (; j < len && (reinterpret_cast<std::uintptr_t>(dst + j) & 15) != 0; ++j) dst[j] = src[j];
        for (; j + per <= len; j += per) stream2(dst + j, src + j);
        for (; j < len; ++j) dst[j] = src[j];
    }
}

template <class T>
void check_batch(const ConvBatch<T>& b, const ConvGeometry& g) {
    if (g.n < 1 || g.k < 1 || g.out_len < 0)
        throw ValueError(fmt::format("convolution: expected n >= 1 and k >= 1, got n={}, k={}", g.n, g.k));
    (void)b;
}

}  // namespace neuroperf::kernels::conv
