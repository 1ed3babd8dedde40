// Spike propagation of the run loop (propagation.cpp): every spiking source's CSR row part that
// falls in a thread's target range, added into the delay rings in ascending source order (the
// order the sums depend on), so the results are the same at any thread count.
#pragma once

#include <cstdint>

#include "snn/network_impl.hpp"

namespace neuroperf::snn {

// Thread tid's part of row j: [s0, s1) within the CSR columns (the whole row with one thread).
struct RowPart {
    const std::int32_t* split;  // null: whole rows
    int stride, tid;
    void operator()(const std::int64_t* rp, std::int32_t j, std::int64_t& s0, std::int64_t& s1) const {
        s0 = rp[j];
        s1 = rp[j + 1];
        if (split) {
            const std::int32_t* o = split + static_cast<std::ptrdiff_t>(j) * stride + tid;
            s1 = s0 + o[1];
            s0 += o[0];
        }
    }
};

/// Adds the shared weight of every synapse in this thread's part of each spiking row of `pr`
/// (spikes of step buffer `buf` of `src`) to `ring` (the slot of the projection's delay).
void propagate_uniform(const Projection& pr, const Population& src, int buf, float* __restrict ring, const RowPart& part,
                       int T);
/// The same with per-synapse weights and/or delays: synapse q adds its weight to ring slot
/// (slot0 + delays[q]) mod D of `rings` (D × n_t).
void propagate_heterogeneous(const Projection& pr, const Population& src, int buf, float* rings, std::int64_t slot0,
                             std::int64_t D, index_t n_t, const RowPart& part, int T);

}  // namespace neuroperf::snn
