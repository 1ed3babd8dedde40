#include "blas/registry.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <cstdlib>
#include <filesystem>
#include <type_traits>

#include <dlfcn.h>
#include <omp.h>

#include <fmt/format.h>

#include "blas/builtin_gemm.hpp"
#include "blas/xsmm.hpp"
#include "core/json_fields.hpp"
#include "neuroperf/version.hpp"

namespace neuroperf::blas {
namespace {

constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

// Row-major thunk over a CBLAS gemm with integer type Int. Sizes beyond Int, or beyond the
// backend's limit, go to the builtin GEMM rather than overflow.
template <class T, class Int>
void cblas_gemm_thunk(const void* state, int threads, bool ta, bool tb, index_t m, index_t n,
                      index_t k, T alpha, const T* a, index_t lda, const T* b, index_t ldb, T beta,
                      T* c, index_t ldc) {
    if (m == 0 || n == 0) return;
    const auto* be = static_cast<const Backend*>(state);
    constexpr index_t lim = std::numeric_limits<Int>::max();
    if (std::max({m, n, k, lda, ldb, ldc}) > lim) {
        builtin::gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads);
        return;
    }
    be->apply_threads(threads);
    using Fn = void (*)(int, int, int, Int, Int, Int, T, const T*, Int, const T*, Int, T, T*, Int);
    auto fn = reinterpret_cast<Fn>(std::is_same_v<T, float> ? be->cblas_sgemm : be->cblas_dgemm);
    // BLAS insists on ld >= max(1, columns) even when nothing is read.
    index_t min_lda = std::max<index_t>(1, ta ? m : k), min_ldb = std::max<index_t>(1, tb ? k : n);
    fn(kRowMajor, ta ? kTrans : kNoTrans, tb ? kTrans : kNoTrans, static_cast<Int>(m),
       static_cast<Int>(n), static_cast<Int>(k), alpha, a, static_cast<Int>(std::max(lda, min_lda)), b,
       static_cast<Int>(std::max(ldb, min_ldb)), beta, c, static_cast<Int>(std::max<index_t>(ldc, n)));
}

template <class T>
void builtin_gemm_thunk(const void* state, int threads, bool ta, bool tb, index_t m, index_t n, index_t k,
                        T alpha, const T* a, index_t lda, const T* b, index_t ldb, T beta, T* c,
                        index_t ldc) {
    builtin::gemm<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, threads, static_cast<const Backend*>(state)->isa);
}

const char* env_nonempty(const char* name) {
    const char* v = std::getenv(name);
    return (v && *v) ? v : nullptr;
}

std::vector<std::string> split_path(const char* s) {
    std::vector<std::string> out;
    std::string cur;
    for (const char* p = s;; ++p) {
        if (*p == ':' || *p == '\0') {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
            if (*p == '\0') break;
        } else {
            cur += *p;
        }
    }
    return out;
}

// RTLD_DEEPBIND makes a BLAS resolve its own symbols first: BLIS's CBLAS layer calls dgemm_
// through its PLT, which would otherwise bind to any dgemm_ already global in the process (MKL
// loads its layers RTLD_GLOBAL). MKL itself is opened last and without it (it interposes
// libgomp/libc symbols by design); AddressSanitizer cannot run with DEEPBIND at all.
int dlopen_flags(const char* backend) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    (void)backend;
    return RTLD_NOW | RTLD_LOCAL;
#else
    return std::string_view(backend) == "mkl" ? (RTLD_NOW | RTLD_LOCAL) : (RTLD_NOW | RTLD_LOCAL | RTLD_DEEPBIND);
#endif
}

struct Candidate {
    const char* name;
    std::vector<const char*> files;      // file names tried in each directory
    std::vector<const char*> system;     // absolute paths or sonames for the system loader
};

// Tries the search rules in order; returns the handle and fills `path`, or records why not.
void* open_backend(const Candidate& cand, std::string& path, std::string& reason) {
    std::string env_var = fmt::format("NEUROPERF_{}_LIBRARY", cand.name);
    std::transform(env_var.begin(), env_var.end(), env_var.begin(), [](unsigned char ch) { return std::toupper(ch); });
    std::vector<std::string> tries;
    if (const char* file = env_nonempty(env_var.c_str())) {
        tries.emplace_back(file);
    } else {
        std::vector<std::string> dirs;
        if (const char* lp = env_nonempty("NEUROPERF_LIBRARY_PATH")) {
            dirs = split_path(lp);
        } else {
            if (const char* ve = env_nonempty("VIRTUAL_ENV")) dirs.push_back(std::string(ve) + "/lib");
            dirs.push_back(std::string(NEUROPERF_DEFAULT_VENV_DIR) + "/lib");
            if (const char* mr = env_nonempty("MKLROOT")) {
                dirs.push_back(std::string(mr) + "/lib");
                dirs.push_back(std::string(mr) + "/lib/intel64");
            }
        }
        for (const auto& d : dirs)
            for (const char* f : cand.files) tries.push_back(d + "/" + f);
        if (!env_nonempty("NEUROPERF_LIBRARY_PATH"))
            for (const char* s : cand.system) tries.emplace_back(s);
    }
    std::string errors;
    for (const auto& t : tries) {
        bool is_path = t.find('/') != std::string::npos;
        if (is_path && !std::filesystem::exists(t)) continue;
        // Open the file itself, not a symlink to it: MKL finds its layer libraries beside the
        // path it was opened by.
        std::string target = t;
        if (is_path) {
            std::error_code ec;
            auto canon = std::filesystem::canonical(t, ec);
            if (!ec) target = canon.string();
        }
        dlerror();
        if (void* h = dlopen(target.c_str(), dlopen_flags(cand.name))) {
            path = target;
            if (Dl_info info{}; !is_path && dladdr(dlsym(h, "cblas_sgemm"), &info) && info.dli_fname)
                path = info.dli_fname;
            return h;
        }
        const char* e = dlerror();
        errors += fmt::format("{}{}", errors.empty() ? "" : "; ", e ? e : t.c_str());
    }
    if (const char* file = env_nonempty(env_var.c_str()); file && errors.empty())
        reason = fmt::format("{}={} does not exist", env_var, file);
    else if (tries.empty() || errors.empty())
        reason = fmt::format("not found (looked for {} in {})", fmt::join(cand.files, ", "),
                             env_nonempty("NEUROPERF_LIBRARY_PATH") ? "NEUROPERF_LIBRARY_PATH" : "the system and .venv");
    else
        reason = "could not be loaded: " + errors;
    return nullptr;
}

template <class F>
F sym(void* h, const char* name) {
    return reinterpret_cast<F>(dlsym(h, name));
}

// Fills the common CBLAS/LAPACK part of a dlopen'ed backend; false (with reason) if unusable.
bool bind_cblas(Backend& be, bool int64) {
    be.cblas_sgemm = dlsym(be.handle, "cblas_sgemm");
    be.cblas_dgemm = dlsym(be.handle, "cblas_dgemm");
    be.cblas_sgemv = dlsym(be.handle, "cblas_sgemv");
    be.cblas_dgemv = dlsym(be.handle, "cblas_dgemv");
    be.lapack = {dlsym(be.handle, "sgeev_"), dlsym(be.handle, "dgeev_"), dlsym(be.handle, "ssyevd_"),
                 dlsym(be.handle, "dsyevd_")};
    if (!be.cblas_sgemm || !be.cblas_dgemm) {
        be.info.reason = "library has no cblas_sgemm/cblas_dgemm";
        return false;
    }
    be.blas_int64 = int64;
    if (int64) {
        be.sgemm = &cblas_gemm_thunk<float, std::int64_t>;
        be.dgemm = &cblas_gemm_thunk<double, std::int64_t>;
    } else {
        be.sgemm = &cblas_gemm_thunk<float, int>;
        be.dgemm = &cblas_gemm_thunk<double, int>;
    }
    std::pair<const char*, void*> routines[] = {
        {"sgemm", be.cblas_sgemm}, {"dgemm", be.cblas_dgemm}, {"sgemv", be.cblas_sgemv},
        {"dgemv", be.cblas_dgemv}, {"sgeev", be.lapack.sgeev}, {"dgeev", be.lapack.dgeev},
        {"ssyevd", be.lapack.ssyevd}, {"dsyevd", be.lapack.dsyevd}};
    for (auto& [name, p] : routines)
        if (p) be.info.routines.emplace_back(name);
    return true;
}

void load_mkl(Backend& be) {
    // libmkl_rt loads its core and threading layers on the first call and exits the process if
    // they are missing: check they are beside it before calling anything.
    auto dir = std::filesystem::path(be.info.path).parent_path();
    bool core = false, gnu = false;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        auto name = entry.path().filename().string();
        core = core || name.rfind("libmkl_core.so", 0) == 0;
        gnu = gnu || name.rfind("libmkl_gnu_thread.so", 0) == 0;
    }
    if (!core || !gnu) {
        be.info.reason = fmt::format("{} has no {} beside it (MKL would abort the process on first use)",
                                     be.info.path, !core ? "libmkl_core" : "libmkl_gnu_thread (GNU OpenMP layer)");
        return;
    }
    // The GNU threading layer runs MKL on libgomp, the runtime our OpenMP code uses: one pool.
    if (auto set_layer = sym<int (*)(int)>(be.handle, "MKL_Set_Threading_Layer")) {
        constexpr int kMklThreadingGnu = 3;
        set_layer(kMklThreadingGnu);
        be.info.threading = "gnu (libgomp)";
    }
    if (auto set_iface = sym<int (*)(int)>(be.handle, "MKL_Set_Interface_Layer")) set_iface(0 /* LP64 */);
    if (auto ver = sym<void (*)(char*, int)>(be.handle, "MKL_Get_Version_String")) {
        std::array<char, 256> buf{};
        ver(buf.data(), static_cast<int>(buf.size()));
        be.info.version = buf.data();
        while (!be.info.version.empty() && be.info.version.back() == ' ') be.info.version.pop_back();
    }
    be.set_threads = sym<void (*)(int)>(be.handle, "MKL_Set_Num_Threads");
    be.get_threads = sym<int (*)()>(be.handle, "MKL_Get_Max_Threads");
    be.info.available = bind_cblas(be, false);
}

void load_openblas(Backend& be) {
    if (auto cfg = sym<char* (*)()>(be.handle, "openblas_get_config")) be.info.version = cfg();
    if (auto par = sym<int (*)()>(be.handle, "openblas_get_parallel")) {
        int p = par();
        be.info.threading = p == 2 ? "openmp (libgomp)" : p == 1 ? "pthreads (own pool: may oversubscribe with OpenMP)" : "sequential";
    }
    be.set_threads = sym<void (*)(int)>(be.handle, "openblas_set_num_threads");
    be.get_threads = sym<int (*)()>(be.handle, "openblas_get_num_threads");
    be.info.available = bind_cblas(be, false);
}

void load_blis(Backend& be) {
    if (auto v = sym<const char* (*)()>(be.handle, "bli_info_get_version_str")) be.info.version = std::string("BLIS ") + v();
    bool int64 = false;
    if (auto isz = sym<long (*)()>(be.handle, "bli_info_get_blas_int_type_size")) int64 = isz() == 64;
    if (auto omp = sym<long (*)()>(be.handle, "bli_info_get_enable_openmp"); omp && omp())
        be.info.threading = "openmp (libgomp)";
    else if (auto pth = sym<long (*)()>(be.handle, "bli_info_get_enable_pthreads"); pth && pth())
        be.info.threading = "pthreads (own pool: may oversubscribe with OpenMP)";
    else
        be.info.threading = "sequential";
    // BLIS counts threads in dim_t (64-bit): calling through an int signature would leave the
    // upper half of the argument register undefined. The library is process-wide, so are these.
    static void* blis_set = nullptr;
    static void* blis_get = nullptr;
    blis_set = dlsym(be.handle, "bli_thread_set_num_threads");
    blis_get = dlsym(be.handle, "bli_thread_get_num_threads");
    if (blis_set) be.set_threads = [](int n) { reinterpret_cast<void (*)(long)>(blis_set)(n); };
    if (blis_get) be.get_threads = [] { return static_cast<int>(reinterpret_cast<long (*)()>(blis_get)()); };
    be.info.available = bind_cblas(be, int64);
}

std::unique_ptr<Backend> make_dlopen_backend(const Candidate& cand, void (*bind)(Backend&)) {
    auto be = std::make_unique<Backend>();
    be->info.name = cand.name;
    be->handle = open_backend(cand, be->info.path, be->info.reason);
    if (!be->handle) return be;
    bind(*be);
    if (!be->info.available) {
        dlclose(be->handle);
        be->handle = nullptr;
    }
    return be;
}

}  // namespace

void Backend::apply_threads(int threads) const {
    if (!set_threads || applied_threads.load(std::memory_order_relaxed) == threads || omp_in_parallel()) return;
    set_threads(threads);
    applied_threads.store(threads, std::memory_order_relaxed);
}

std::shared_ptr<const Registry> process_registry() {
    static const std::shared_ptr<const Registry> registry = std::make_shared<Registry>();
    return registry;
}

const std::vector<std::string>& known_backend_names() {
    static const std::vector<std::string> names{"mkl", "openblas", "blis", "libxsmm", "builtin"};
    return names;
}

Registry::Registry() {
    backends_.push_back(make_dlopen_backend(
        {"openblas", {"libopenblas.so.0", "libopenblas.so"},
         {"/usr/lib/x86_64-linux-gnu/openblas-openmp/libopenblas.so.0", "libopenblas.so.0", "libopenblas.so"}},
        &load_openblas));
    backends_.push_back(make_dlopen_backend(
        {"blis", {"libblis.so.4", "libblis.so.3", "libblis.so"},
         {"/usr/lib/x86_64-linux-gnu/blis-openmp/libblis.so.4", "libblis.so.4", "libblis.so"}},
        &load_blis));
    backends_.push_back(xsmm::make_backend());
    // MKL is opened after the others (see dlopen_flags) but listed first: the API's preference.
    backends_.insert(backends_.begin(), make_dlopen_backend(
        {"mkl", {"libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"}, {"libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so"}},
        &load_mkl));

    // One builtin entry per kernel variant; the best one this CPU runs is listed, the others
    // serve contexts made with a narrower ContextOptions::isa.
    for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
        auto bi = std::make_unique<Backend>();
        bi->info = {"builtin", true, fmt::format("neuroperf {} ({})", version(), isa_name(isa)),
                    "", "openmp (libgomp)", 0, "", {"sgemm", "dgemm"}};
        bi->sgemm = &builtin_gemm_thunk<float>;
        bi->dgemm = &builtin_gemm_thunk<double>;
        bi->isa = isa;
        builtins_[static_cast<std::size_t>(isa)] = bi.get();
        if (isa == best_isa()) backends_.push_back(std::move(bi));
        else other_builtins_.push_back(std::move(bi));
    }
    for (auto& be : backends_)
        if (be->info.available) be->info.threads = be->get_threads ? be->get_threads() : 1;
    for (auto& be : other_builtins_) be->info.threads = 1;
}

Registry::~Registry() {
    // dlopen'ed libraries stay loaded: their OpenMP/TLS state may outlive us in worker threads.
}

const Backend* Registry::find(std::string_view name) const {
    for (const auto& be : backends_)
        if (be->info.available && be->info.name == name) return be.get();
    return nullptr;
}

std::string Registry::available_names() const {
    std::string s;
    for (const auto& be : backends_)
        if (be->info.available) s += (s.empty() ? "" : ", ") + be->info.name;
    return s;
}

}  // namespace neuroperf::blas

namespace neuroperf {

const char* blas_op_name(BlasOp op) { return op == BlasOp::sgemm ? "sgemm" : "dgemm"; }

int gemm_bucket(index_t m, index_t n, index_t k) {
    if (m <= kGemmThinRows && static_cast<double>(n) * static_cast<double>(k) >= static_cast<double>(kGemmThinPanel))
        return kGemmThinBucket;
    // Cube root of m·n·k compared through cubes; double holds the product without overflow and
    // exactly below 2^53, far beyond the last edge.
    double v = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    for (int b = 0; b < kGemmThinBucket - 1; ++b) {
        auto e = static_cast<double>(kGemmBucketEdges[b]);
        if (v <= e * e * e) return b;
    }
    return kGemmThinBucket - 1;
}

NEUROPERF_INSTANTIATE_TO_JSON(BackendInfo);

}  // namespace neuroperf
