// Event-driven batch product and the cost model that chooses it over a dense GEMM.
//
// Layout of the work: output columns are cut into tiles whose W panel (N × width) fits in
// half the L3, so W's active row pieces are fetched from memory about once per call and then
// re-read from L3 by every other batch row that uses them (blocking across b). For each
// (tile, batch row) the batch row's events, in ascending input order, are summed into an
// L1-resident accumulator four W rows per pass (one load/store of the accumulator per four
// rows). Items (tile, chunk of batch rows) are spread over the threads; an output element is
// always computed by one thread with the same additions in the same order, so the result does
// not depend on the thread count or the tiling: bit-identical.
#include "kernels/batch.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <omp.h>

#include <fmt/format.h>

#include "core/simd.hpp"

namespace neuroperf::kernels {
namespace {

double element_bytes(DType d) { return d == DType::float32 ? 4.0 : 8.0; }

// Columns per tile: the W panel N × width within half the L3 (at least 256 columns, so each
// W row piece is several cache lines long for the prefetcher), a multiple of 64 bytes. When the
// rows the call can touch (at most nnz) fit that budget whole, one tile: rows stream unbroken.
// At most 16 KiB of accumulator (half the L1). At least `min_tiles` tiles, so a thread team
// has work when there are few chunks of batch rows.
constexpr double kPanelBytes = 16.0 * 1024 * 1024;
constexpr index_t kRowsPerItem = 16;  // batch rows per work item
constexpr index_t kAccumulatorBytes = 16 * 1024;

index_t tile_width(index_t N, index_t M, index_t nnz, index_t bytes, index_t min_tiles) {
    const index_t lane = 64 / bytes;
    const index_t full = (M + lane - 1) / lane * lane;
    index_t w = full;
    const double rows = static_cast<double>(std::min(N, nnz));
    if (rows * static_cast<double>(M * bytes) > kPanelBytes) {
        w = static_cast<index_t>(kPanelBytes / static_cast<double>(std::max<index_t>(N, 1) * bytes));
        w = std::max<index_t>(w / lane * lane, 256);
    }
    w = std::min(w, kAccumulatorBytes / bytes);  // the accumulator row stays in L1
    if (min_tiles > 1) w = std::min(w, std::max<index_t>(((M + min_tiles - 1) / min_tiles + lane - 1) / lane * lane, lane));
    return std::min(w, full);
}

// ---- the tile kernel, one source for every ISA ------------------------------------------------
// For batch rows [b0, b1) and one column tile: out[b, c0:c0+n] = Σ value·W[i, c0:c0+n] over the
// row's events in order. Left-associated sums, so folding four events per pass keeps exactly the
// arithmetic of adding them one by one.
template <class T>
struct TileArgs {
    const index_t* row_ptr;
    const std::int32_t* index;
    const T* value;    // null when every value is 1
    index_t b0, b1;
    const T* w;        // &W[0, c0]
    index_t ws0, ws1;  // W strides
    index_t n;         // columns in the tile
    T* acc;            // n elements, 64-byte aligned
    T* out;            // &out[0, c0]
    index_t os0, os1;
};

template <Isa V, class T, bool Unit, bool Contig>
NP_INLINE void tile_loops(const TileArgs<T>& a) {
    using core::madd;
    const index_t n = a.n, s1 = a.ws1;
    T* __restrict acc = a.acc;
    auto row = [&](index_t e) { return a.w + static_cast<index_t>(a.index[e]) * a.ws0; };
    for (index_t b = a.b0; b < a.b1; ++b) {
        std::memset(acc, 0, static_cast<std::size_t>(n) * sizeof(T));
        index_t e = a.row_ptr[b];
        const index_t end = a.row_ptr[b + 1];
        for (; e + 4 <= end; e += 4) {
            const T* __restrict w0 = row(e);
            const T* __restrict w1 = row(e + 1);
            const T* __restrict w2 = row(e + 2);
            const T* __restrict w3 = row(e + 3);
            if (Unit) {
#pragma omp simd aligned(acc : 64)
                for (index_t j = 0; j < n; ++j) {
                    const index_t k = Contig ? j : j * s1;
                    acc[j] = acc[j] + w0[k] + w1[k] + w2[k] + w3[k];
                }
            } else {
                const T v0 = a.value[e], v1 = a.value[e + 1], v2 = a.value[e + 2], v3 = a.value[e + 3];
#pragma omp simd aligned(acc : 64)
                for (index_t j = 0; j < n; ++j) {
                    const index_t k = Contig ? j : j * s1;
                    acc[j] = madd<V>(v3, w3[k], madd<V>(v2, w2[k], madd<V>(v1, w1[k], madd<V>(v0, w0[k], acc[j]))));
                }
            }
        }
        for (; e < end; ++e) {
            const T* __restrict w0 = row(e);
            const T v = Unit ? T(1) : a.value[e];
#pragma omp simd aligned(acc : 64)
            for (index_t j = 0; j < n; ++j) {
                const index_t k = Contig ? j : j * s1;
                acc[j] = Unit ? acc[j] + w0[k] : madd<V>(v, w0[k], acc[j]);
            }
        }
        T* o = a.out + b * a.os0;
        if (a.os1 == 1) {
            std::memcpy(o, acc, static_cast<std::size_t>(n) * sizeof(T));
        } else {
            for (index_t j = 0; j < n; ++j) o[j * a.os1] = acc[j];
        }
    }
}

template <class T>
using TileFn = void (*)(const TileArgs<T>&);

// The variants (core/simd.hpp): the same loops vectorised for each ISA. Sums of products are
// fused in avx2 and avx512 (core::madd: the same bits on both), not in generic.
template <Isa V, class T>
NP_INLINE void tile_body(const TileArgs<T>& a) {
    const bool unit = a.value == nullptr, contig = a.ws1 == 1;
    if (unit) contig ? tile_loops<V, T, true, true>(a) : tile_loops<V, T, true, false>(a);
    else contig ? tile_loops<V, T, false, true>(a) : tile_loops<V, T, false, false>(a);
}
NP_ISA_VARIANTS((template <class T>), void, tile, (const TileArgs<T>& a), (a), T)
template <class T>
constexpr core::IsaTable<TileFn<T>> kTile = NP_ISA_TABLE(tile, <T>);

}  // namespace

const char* batch_path_name(BatchPath p) {
    switch (p) {
        case BatchPath::gemm: return "gemm";
        case BatchPath::event: return "event";
        default: return "auto";
    }
}

BatchCostModel default_batch_cost_model(DType dtype, int threads) {
    // Fitted to bench/bench_batch.cpp (N = M = 4000, B 1..256, density 0.5 %..50 %, CPU time)
    // on AMD EPYC Zen 4 (2 cores, AVX-512, 1 MiB L2, 32 MiB L3), float; double = same bytes/s,
    // half the elements/s; two-thread figures scaled from the one-thread fit.
    const bool two = threads >= 2;
    BatchCostModel m = two ? BatchCostModel{150e9, 8e9, 21e9, 15e9, 2e-6, 1e-6} : BatchCostModel{80e9, 5.8e9, 16e9, 8.5e9, 2e-6, 1e-6};
    if (dtype == DType::float64) {
        m.gemm_flops /= 2;
        m.event_adds /= 2;
    }
    return m;
}

double batch_gemm_seconds(index_t B, index_t N, index_t M, DType dtype, const BatchCostModel& r) {
    double b = static_cast<double>(B), n = static_cast<double>(N), m = static_cast<double>(M);
    double compute = 2.0 * b * n * m / r.gemm_flops;
    double memory = (n * m + b * (n + m)) * element_bytes(dtype) / r.gemm_bytes;
    // Packing W overlaps the arithmetic only partly: max plus 30 % of the smaller term.
    return r.gemm_call_seconds + std::max(compute, memory) + 0.3 * std::min(compute, memory);
}

double batch_event_seconds(index_t B, index_t N, index_t M, index_t nnz, DType dtype, const BatchCostModel& r) {
    double b = static_cast<double>(B), n = static_cast<double>(N), m = static_cast<double>(M);
    double z = static_cast<double>(nnz);
    if (B == 0 || N == 0 || M == 0) return r.event_call_seconds;
    // W row pieces fetched from memory: each distinct active input once per call (later batch
    // rows re-read it from L3, counted in the add rate).
    double p = std::min(1.0, z / (b * n));
    double touched = n * (1.0 - std::pow(1.0 - p, b));
    double fetch = touched * m * element_bytes(dtype) / r.event_bytes;
    double adds = z * m / r.event_adds;
    double scan = b * n * element_bytes(dtype) / r.event_bytes;  // reading a dense spike matrix
    return r.event_call_seconds + fetch + adds + scan;
}

BatchPath choose_batch_path(index_t B, index_t N, index_t M, index_t nnz, DType dtype, const BatchCostModel& m) {
    return batch_event_seconds(B, N, M, nnz, dtype, m) < batch_gemm_seconds(B, N, M, dtype, m) ? BatchPath::event
                                                                                               : BatchPath::gemm;
}

double batch_gemm_seconds(index_t B, index_t N, index_t M, DType dtype, int threads) {
    return batch_gemm_seconds(B, N, M, dtype, default_batch_cost_model(dtype, std::max(threads, 1)));
}

double batch_event_seconds(index_t B, index_t N, index_t M, index_t nnz, DType dtype, int threads) {
    return batch_event_seconds(B, N, M, nnz, dtype, default_batch_cost_model(dtype, std::max(threads, 1)));
}

BatchPath choose_batch_path(index_t B, index_t N, index_t M, index_t nnz, DType dtype, int threads) {
    return choose_batch_path(B, N, M, nnz, dtype, default_batch_cost_model(dtype, std::max(threads, 1)));
}

template <class T>
SpikeEvents<T> events_from_dense(ArrayView<const T> spikes) {
    if (spikes.rank() != 2)
        throw ShapeError(fmt::format("spike_batches: expected a rank-2 array (B × N), got shape {}",
                                     spikes.layout().shape_string()));
    if (spikes.shape(1) > std::numeric_limits<std::int32_t>::max())
        throw ShapeError(fmt::format("spike_batches: expected at most {} inputs (columns), got shape {}",
                                     std::numeric_limits<std::int32_t>::max(), spikes.layout().shape_string()));
    SpikeEvents<T> ev;
    ev.batches = spikes.shape(0);
    ev.inputs = spikes.shape(1);
    ev.row_ptr.reserve(static_cast<std::size_t>(ev.batches) + 1);
    ev.row_ptr.push_back(0);
    std::vector<T> values;
    for (index_t b = 0; b < ev.batches; ++b) {
        for (index_t i = 0; i < ev.inputs; ++i) {
            T x = spikes(b, i);
            if (x != T(0)) {  // NaN != 0: kept, so it propagates as in the dense product
                ev.index.push_back(static_cast<std::int32_t>(i));
                values.push_back(x);
                if (x != T(1)) ev.unit = false;
            }
        }
        ev.row_ptr.push_back(static_cast<index_t>(ev.index.size()));
    }
    if (!ev.unit) ev.value = std::move(values);
    return ev;
}

template <class T>
SpikeEvents<T> events_from_lists(const std::vector<std::vector<std::int32_t>>& lists, index_t inputs) {
    SpikeEvents<T> ev;
    ev.batches = static_cast<index_t>(lists.size());
    ev.inputs = inputs;
    ev.row_ptr.reserve(lists.size() + 1);
    ev.row_ptr.push_back(0);
    std::size_t total = 0;
    for (const auto& l : lists) total += l.size();
    ev.index.reserve(total);
    for (std::size_t b = 0; b < lists.size(); ++b) {
        for (std::size_t k = 0; k < lists[b].size(); ++k) {
            std::int32_t i = lists[b][k];
            if (i < 0 || i >= inputs)
                throw ValueError(fmt::format("spike_indices[{}][{}]: expected an input index in [0, {}) (the rows of "
                                             "weight_matrix), got {}", b, k, inputs, i));
            ev.index.push_back(i);
        }
        ev.row_ptr.push_back(static_cast<index_t>(ev.index.size()));
    }
    return ev;
}

template <class T>
Array<T> events_to_dense(const SpikeEvents<T>& ev) {
    Array<T> d({ev.batches, ev.inputs});
    for (index_t b = 0; b < ev.batches; ++b)
        for (index_t e = ev.row_ptr[static_cast<std::size_t>(b)]; e < ev.row_ptr[static_cast<std::size_t>(b + 1)]; ++e)
            d(b, ev.index[static_cast<std::size_t>(e)]) += ev.unit ? T(1) : ev.value[static_cast<std::size_t>(e)];
    return d;
}

template <class T>
void event_batch_product(const SpikeEvents<T>& ev, ArrayView<const T> w, ArrayView<T> out, int threads, Isa isa) {
    const index_t B = ev.batches, N = ev.inputs, M = w.shape(1);
    if (w.rank() != 2 || w.shape(0) != N)
        throw ShapeError(fmt::format("weight_matrix: expected shape ({}, M), got {}", N, w.layout().shape_string()));
    if (out.rank() != 2 || out.shape(0) != B || out.shape(1) != M)
        throw ShapeError(fmt::format("out: expected shape ({}, {}), got {}", B, M, out.layout().shape_string()));
    if (B == 0 || M == 0) return;
    threads = std::max(threads, 1);

    const auto bytes = static_cast<index_t>(sizeof(T));
    const index_t chunks = (B + kRowsPerItem - 1) / kRowsPerItem;
    // Below ~4e6 accumulated elements (~0.5 ms) a thread team costs more than it saves on a
    // shared machine (a descheduled worker stalls the whole call at the barrier).
    const double work = static_cast<double>(ev.nnz()) * static_cast<double>(M);
    const int want = work < 4e6 ? 1 : threads;
    const index_t width = tile_width(N, M, ev.nnz(), bytes, want > chunks ? 2 * want : 1);
    const index_t ntiles = (M + width - 1) / width;
    const index_t items = ntiles * chunks;
    const TileFn<T> kernel = kTile<T>[isa];
    const int team = static_cast<int>(std::min<index_t>(want, items));

#pragma omp parallel num_threads(team) if (team > 1)
    {
        Array<T> acc({width});
        // Tile-major order: consecutive items share a W panel (kept in L3 across batch rows).
        // Dynamic: a thread that loses its core (shared machine) takes fewer items; which
        // thread computes an item never changes its arithmetic.
#pragma omp for schedule(dynamic, 1)
        for (index_t it = 0; it < items; ++it) {
            const index_t c0 = (it / chunks) * width, b0 = (it % chunks) * kRowsPerItem;
            TileArgs<T> args{ev.row_ptr.data(), ev.index.data(), ev.unit ? nullptr : ev.value.data(),
                             b0, std::min(B, b0 + kRowsPerItem), w.data() + c0 * w.stride(1), w.stride(0), w.stride(1),
                             std::min(width, M - c0), acc.data(), out.data() + c0 * out.stride(1), out.stride(0),
                             out.stride(1)};
            kernel(args);
        }
    }
}

#define NEUROPERF_INSTANTIATE(T)                                                                              \
    template SpikeEvents<T> events_from_dense<T>(ArrayView<const T>);                                         \
    template SpikeEvents<T> events_from_lists<T>(const std::vector<std::vector<std::int32_t>>&, index_t);     \
    template Array<T> events_to_dense<T>(const SpikeEvents<T>&);                                              \
    template void event_batch_product<T>(const SpikeEvents<T>&, ArrayView<const T>, ArrayView<T>, int, Isa);
NEUROPERF_INSTANTIATE(float)
NEUROPERF_INSTANTIATE(double)
#undef NEUROPERF_INSTANTIATE

}  // namespace neuroperf::kernels
