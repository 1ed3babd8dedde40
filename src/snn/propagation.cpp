#include "snn/propagation.hpp"

#include <algorithm>

#include <omp.h>

namespace neuroperf::snn {
namespace {

// Spiking rows are prefetched this many spikes ahead of use (at most kRowPrefetchLines cache
// lines of each), and their bounds twice as far.
inline constexpr std::int64_t kRowPrefetch = 4, kRowPrefetchLines = 8;

// The spikes of step buffer `buf` in ascending order (chunk by chunk), one at a time; -1 after
// the last.
struct SpikeCursor {
    const Population& src;
    const std::int32_t* spikes;
    std::size_t T, c = 0;
    int buf;
    std::int64_t q = 0, nq;
    SpikeCursor(const Population& p, int u, int threads)
        : src(p), spikes(p.spikes.data() + u * p.size()), T(static_cast<std::size_t>(threads)), buf(u), nq(count_of(0)) {}
    std::int64_t count_of(std::size_t chunk) const {
        return src.count[(static_cast<std::size_t>(buf) * T + chunk) * static_cast<std::size_t>(kPad)];
    }
    std::int32_t next() {
        while (q >= nq) {
            if (++c >= T) return -1;
            q = 0;
            nq = count_of(c);
        }
        return spikes[src.chunk[c] + q++];
    }
};

// Calls f(s0, s1) with this thread's part [s0, s1) of the CSR row of every spike of step buffer
// `buf`, spikes in ascending source order (the order the sums depend on). A row sits at a random
// place in a synapse table larger than the L2, and so do its bounds (row_ptr, split): without
// prefetching, each spike waited for them in turn. Two cursors run ahead of the loop: one
// 2·kRowPrefetch spikes ahead prefetches the bounds, one kRowPrefetch ahead reads them (the part
// is kept for its use) and prefetches the lines of the row part.
template <class F>
void for_each_spiking_row(const Population& src, int buf, int T, const RowPart& part, const std::int64_t* rp,
                          const std::int32_t* col, F&& f) {
    constexpr unsigned kParts = 8;  // ≥ kRowPrefetch + 1 parts in flight, a power of two
    static_assert(kRowPrefetch + 1 <= kParts && (kParts & (kParts - 1)) == 0);
    SpikeCursor bounds(src, buf, T), rows(src, buf, T);
    std::int64_t s0s[kParts], s1s[kParts];
    unsigned head = 0, tail = 0;  // parts [tail, head) are read and waiting for their use
    auto prefetch_bounds = [&] {
        const std::int32_t j = bounds.next();
        if (j < 0) return;
        __builtin_prefetch(rp + j);
        if (part.split) __builtin_prefetch(part.split + static_cast<std::ptrdiff_t>(j) * part.stride + part.tid);
    };
    auto prefetch_row = [&] {
        const std::int32_t j = rows.next();
        if (j < 0) return;
        std::int64_t& s0 = s0s[head % kParts];
        std::int64_t& s1 = s1s[head % kParts];
        ++head;
        part(rp, j, s0, s1);
        // Columns [s0, end): every 16th and the last (lines need not start at multiples of 16
        // columns); beyond kRowPrefetchLines lines the hardware prefetcher follows the row.
        const std::int64_t end = std::min(s1, s0 + 16 * kRowPrefetchLines);
        for (std::int64_t k = s0; k < end; k += 16) __builtin_prefetch(col + k);
        if (end > s0) __builtin_prefetch(col + end - 1);
    };
    for (std::int64_t k = 0; k < 2 * kRowPrefetch; ++k) prefetch_bounds();
    for (std::int64_t k = 0; k < kRowPrefetch; ++k) prefetch_row();
    while (tail != head) {
        prefetch_bounds();
        prefetch_row();
        f(s0s[tail % kParts], s1s[tail % kParts]);
        ++tail;
    }
}

// Propagation of a projection with per-synapse weights and/or delays into this thread's target
// range: synapse q of a spiking source adds weights[q] (or the shared weight) to ring slot
// (t + delays[q]) mod D. Same order of additions per ring element as the uniform path (spikes in
// ascending source order, synapses in row order), hence bit-identical at any thread count.
template <bool PerWeight, bool PerDelay>
void propagate_rows(const Projection& pr, const Population& src, int buf, float* rings, std::int64_t slot0,
                    std::int64_t D, index_t n_t, const RowPart& part, int T) {
    const std::int64_t* rp = pr.row_ptr.data();
    const std::int32_t* col = pr.col.data();
    const float* wv = pr.weights.data();
    const std::int32_t* dv = pr.delays.data();
    const float w = pr.weight;
    float* const fixed_ring = rings + ((slot0 + pr.delay) % D) * n_t;
    for_each_spiking_row(src, buf, T, part, rp, col, [&](std::int64_t s0, std::int64_t s1) {
        for (std::int64_t k = s0; k < s1; ++k) {
            float* ring = fixed_ring;
            if constexpr (PerDelay) {
                std::int64_t slot = slot0 + dv[k];  // 1 ≤ delay ≤ D: one subtraction wraps
                if (slot >= D) slot -= D;
                ring = rings + slot * n_t;
            }
            ring[col[k]] += PerWeight ? wv[k] : w;
        }
    });
}

}  // namespace

void propagate_heterogeneous(const Projection& pr, const Population& src, int buf, float* rings, std::int64_t slot0,
                             std::int64_t D, index_t n_t, const RowPart& part, int T) {
    const bool pw = !pr.weights.empty(), pd = !pr.delays.empty();
    if (pw && pd) propagate_rows<true, true>(pr, src, buf, rings, slot0, D, n_t, part, T);
    else if (pw) propagate_rows<true, false>(pr, src, buf, rings, slot0, D, n_t, part, T);
    else propagate_rows<false, true>(pr, src, buf, rings, slot0, D, n_t, part, T);
}

// Uniform weight and delay: ring[col] += w over the thread's part of every spiking row.
void propagate_uniform(const Projection& pr, const Population& src, int buf, float* __restrict ring, const RowPart& part,
                       int T) {
    const std::int64_t* rp = pr.row_ptr.data();
    const std::int32_t* col = pr.col.data();
    const float w = pr.weight;
    for_each_spiking_row(src, buf, T, part, rp, col, [ring, col, w](std::int64_t s0, std::int64_t s1) {
        // Columns strictly increase within a row: no two lanes hit one element.
#pragma omp simd
        for (std::int64_t k = s0; k < s1; ++k) ring[col[k]] += w;
    });
}

// Thread partition: every population's ranges and spike counters, every projection's row splits.
void NetworkImpl::partition(int T) {
    for (Population& p : pops) {
        p.chunk.resize(static_cast<std::size_t>(T + 1));
        const index_t n = p.size();
        for (int c = 0; c <= T; ++c) {
            index_t b = (n * c / T + kChunkAlign - 1) / kChunkAlign * kChunkAlign;
            p.chunk[static_cast<std::size_t>(c)] = std::min(n, b);
        }
        p.count.assign(static_cast<std::size_t>(2 * T * kPad), 0);
    }
    for (Projection& pr : projs) {
        if (T == 1) {
            pr.split = {};
            pr.split_threads = 1;
            continue;
        }
        if (pr.split_threads == T) continue;  // ranges depend only on the sizes and T
        const Population& tgt = pops[static_cast<std::size_t>(pr.spec.target)];
        const auto rows = static_cast<index_t>(pr.row_ptr.size()) - 1;
        pr.split.assign(static_cast<std::size_t>(rows * (T + 1)), 0);
#pragma omp parallel for schedule(static) num_threads(T)
        for (index_t j = 0; j < rows; ++j) {
            const std::int32_t* r0 = pr.col.data() + pr.row_ptr[static_cast<std::size_t>(j)];
            const std::int32_t* r1 = pr.col.data() + pr.row_ptr[static_cast<std::size_t>(j + 1)];
            std::int32_t* o = pr.split.data() + j * (T + 1);
            for (int c = 0; c <= T; ++c) {
                const auto lo = static_cast<std::int32_t>(tgt.chunk[static_cast<std::size_t>(c)]);
                o[c] = static_cast<std::int32_t>(std::lower_bound(r0, r1, lo) - r0);
            }
            o[T] = static_cast<std::int32_t>(r1 - r0);
        }
        pr.split_threads = T;
    }
}

}  // namespace neuroperf::snn
