// Parallel processing example in C++ (examples/parallel_processing_example.py is the Python
// version): spike batches through a C++ function, K echo state networks in parallel (checked
// bit-identical to serial runs), and load-balanced multi-modal reasoning with its report.
//
//   build/release/examples/parallel_processing_example [--quick]
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include <neuroperf/error.hpp>
#include <neuroperf/mkl_optimizer.hpp>
#include <neuroperf/parallel_processor.hpp>
#include <neuroperf/spectral.hpp>
#include <neuroperf/timer.hpp>

namespace np = neuroperf;

int main(int argc, char** argv) {
    bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
    std::mt19937_64 rng(1);
    std::normal_distribution<float> normal;
    std::uniform_real_distribution<float> uniform;
    try {
        np::ParallelConfig config{.num_threads = 0, .parallel_strategy = "thread", .enable_load_balancing = true,
                                  .load_balance_threshold = 0.8};
        np::ParallelProcessor processor = np::enable_parallel_processing(config);
        std::printf("neuroperf: ParallelProcessor with %d workers\n", processor.num_threads());

        // 1. Spike batches: spike count per neuron of each (neurons x time) batch.
        const np::index_t batches_n = quick ? 8 : 32, neurons = quick ? 50 : 200, steps = quick ? 2000 : 20000;
        std::vector<np::Array<float>> batches;
        for (np::index_t b = 0; b < batches_n; ++b) {
            np::Array<float> s({neurons, steps});
            for (np::index_t i = 0; i < s.size(); ++i) s.data()[i] = uniform(rng) < 0.02f ? 1.f : 0.f;
            batches.push_back(std::move(s));
        }
        auto counts = [](const np::Array<float>& s) {
            double total = 0;
            for (np::index_t i = 0; i < s.size(); ++i) total += s.data()[i];
            return total;
        };
        np::Timer timer;
        std::vector<double> totals = processor.parallel_spike_processing(batches, counts);
        std::printf("spike processing: %lld batches in %.2f ms, first batch %.0f spikes\n",
                    static_cast<long long>(batches_n), timer.seconds() * 1e3, totals[0]);
        for (std::size_t b = 0; b < batches.size(); ++b)
            if (totals[b] != counts(batches[b])) throw np::ValueError("a batch result is out of order");

        // 2. K reservoirs in parallel, compared with serial single-threaded runs.
        const np::index_t k = quick ? 4 : 8, n = quick ? 300 : 2000, t_steps = quick ? 100 : 200, d = 10;
        std::vector<np::CsrMatrix<float>> ws;
        for (np::index_t r = 0; r < k; ++r) {
            np::Array<float> dense({n, n});
            for (np::index_t i = 0; i < n * n; ++i) dense.data()[i] = uniform(rng) < 0.1f ? normal(rng) : 0.f;
            ws.push_back(np::CsrMatrix<float>::from_dense(dense.view()));
            np::scale_to_spectral_radius(ws.back(), 0.9, processor.context());
        }
        np::Array<float> w_in({n, d});
        for (np::index_t i = 0; i < n * d; ++i) w_in.data()[i] = 0.5f * normal(rng);
        std::vector<np::Array<float>> inputs, states0;
        for (np::index_t r = 0; r < k; ++r) {
            np::Array<float> u({t_steps, d});
            for (np::index_t i = 0; i < u.size(); ++i) u.data()[i] = normal(rng);
            inputs.push_back(std::move(u));
            states0.emplace_back(np::Array<float>({n}));
        }
        std::vector<np::ArrayView<const float>> x0, win{w_in.view()}, us;
        for (np::index_t r = 0; r < k; ++r) {
            x0.push_back(states0[static_cast<std::size_t>(r)].view());
            us.push_back(inputs[static_cast<std::size_t>(r)].view());
        }
        np::ReservoirOptions<float> ro;
        ro.leak_rate = 0.3f;
        timer.reset();
        auto states = processor.parallel_reservoir_computation<float>(x0, win, std::span<const np::CsrMatrix<float>>(ws),
                                                                      us, ro);
        double t_par = timer.seconds();
        np::MKLOptimizer single(np::MKLConfig{.num_threads = 1});
        timer.reset();
        bool identical = true;
        for (np::index_t r = 0; r < k; ++r) {
            auto ref = single.run_reservoir<float>(x0[static_cast<std::size_t>(r)], w_in.view(),
                                                   ws[static_cast<std::size_t>(r)], us[static_cast<std::size_t>(r)], ro);
            identical &= std::memcmp(ref.data(), states[static_cast<std::size_t>(r)].data(),
                                     static_cast<std::size_t>(ref.size()) * sizeof(float)) == 0;
        }
        std::printf("reservoirs: %lld x N=%lld x %lld steps in %.1f ms (serial %.1f ms), bit-identical: %s\n",
                    static_cast<long long>(k), static_cast<long long>(n), static_cast<long long>(t_steps), t_par * 1e3,
                    timer.seconds() * 1e3, identical ? "yes" : "NO");
        if (!identical) throw np::ValueError("parallel reservoirs differ from the serial runs");

        // 3. Multi-modal reasoning with cores of very different cost.
        const np::index_t scale = quick ? 1 : 4;
        auto core = [&](const char* name, np::index_t size, np::index_t dim, std::uint64_t seed) {
            return std::make_shared<const np::ReservoirReasoningCore>(
                name, np::ReservoirCoreSpec{.reservoir_size = size * scale, .input_dim = dim, .output_dim = 10,
                                            .seed = seed});
        };
        std::vector<std::shared_ptr<const np::ReasoningCore>> cores{core("visual", 400, 64, 1), core("audio", 150, 16, 2),
                                                                     core("text", 50, 8, 3)};
        std::vector<np::Array<float>> data;
        for (np::index_t dim : {64, 16, 8}) {
            np::Array<float> x({100, dim});
            for (np::index_t i = 0; i < x.size(); ++i) x.data()[i] = normal(rng);
            data.push_back(std::move(x));
        }
        std::vector<np::ArrayView<const float>> views;
        for (const auto& x : data) views.push_back(x.view());
        np::MultiModalResult result;
        for (int call = 0; call < 3; ++call) result = processor.parallel_multi_modal_reasoning(cores, views, true);
        std::printf("multi-modal: %s\n", result.report.summary().c_str());
        auto stats = processor.get_performance_stats();
        std::printf("stats: %zu calls, %zu tasks, speed-up %.2fx, mean imbalance %.2f\n", stats.calls, stats.tasks,
                    stats.speedup, stats.mean_imbalance);
        return 0;
    } catch (const np::Error& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
