// neuroperf-worker: a worker process of ParallelProcessor's "process" strategy, started by the
// library with posix_spawn. The loop lives in the library (src/api/worker_loop.cpp), so the
// worker runs exactly the library's code.
extern "C" int neuroperf_worker_main(void);

int main() { return neuroperf_worker_main(); }
