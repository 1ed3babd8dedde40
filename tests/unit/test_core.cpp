// Core layer: layouts, views, arrays, CSR matrices, cache directory and atomic file writes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "neuroperf/array.hpp"
#include "neuroperf/error.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/sparse.hpp"

namespace fs = std::filesystem;
using namespace neuroperf;
using neuroperf::test_support::EnvGuard;
using neuroperf::test_support::TempDir;
using neuroperf::test_support::expect_throw_msg;

namespace {

}  // namespace

// ---------------------------------------------------------------- Layout
TEST(CoreLayout, ContiguousStrides) {
    std::vector<index_t> s{2, 3, 4};
    Layout l = Layout::contiguous(s);
    EXPECT_EQ(l.rank, 3);
    EXPECT_EQ(l.strides[0], 12);
    EXPECT_EQ(l.strides[1], 4);
    EXPECT_EQ(l.strides[2], 1);
    EXPECT_EQ(l.size(), 24);
    EXPECT_TRUE(l.is_c_contiguous());
    EXPECT_EQ(l.shape_string(), "(2, 3, 4)");
    Layout r0 = Layout::contiguous({});
    EXPECT_EQ(r0.rank, 0);
    EXPECT_EQ(r0.size(), 1);
    std::vector<index_t> z{3, 0};
    EXPECT_EQ(Layout::contiguous(z).size(), 0);
}

TEST(CoreLayout, Errors) {
    std::vector<index_t> neg{2, -1};
    auto msg = expect_throw_msg<ShapeError>([&] { Layout::contiguous(neg); });
    EXPECT_NE(msg.find("-1"), std::string::npos) << msg;
    std::vector<index_t> r5{1, 1, 1, 1, 1};
    msg = expect_throw_msg<ShapeError>([&] { Layout::contiguous(r5); });
    EXPECT_NE(msg.find("5"), std::string::npos) << msg;
    EXPECT_THROW(Array<float>({2, -3}), ShapeError);
}

// ---------------------------------------------------------------- ArrayView
TEST(CoreArrayView, StridesTransposeSlice) {
    Array<double> a({3, 4});
    for (index_t i = 0; i < 3; ++i)
        for (index_t j = 0; j < 4; ++j) a(i, j) = static_cast<double>(10 * i + j);
    ArrayView<const double> v = a.view();
    EXPECT_EQ(v.stride(0), 4);
    EXPECT_EQ(v.stride(1), 1);
    EXPECT_TRUE(v.is_contiguous());
    auto t = v.transposed();
    EXPECT_EQ(t.shape(0), 4);
    EXPECT_EQ(t.shape(1), 3);
    EXPECT_EQ(t.stride(0), 1);
    EXPECT_EQ(t.stride(1), 4);
    EXPECT_FALSE(t.is_contiguous());
    EXPECT_EQ(t(3, 2), 23.0);
    auto s = v.slice(1, 1, 4, 2);  // columns 1, 3
    EXPECT_EQ(s.shape(1), 2);
    EXPECT_EQ(s.stride(1), 2);
    EXPECT_EQ(s(2, 0), 21.0);
    EXPECT_EQ(s(2, 1), 23.0);
    auto r = v.slice(0, 1, 3);
    EXPECT_EQ(r.shape(0), 2);
    EXPECT_EQ(r(0, 0), 10.0);
    auto e = v.slice(0, 2, 2);
    EXPECT_EQ(e.shape(0), 0);
    EXPECT_TRUE(e.empty());
}

TEST(CoreArrayView, Errors) {
    Array<float> a({3, 4});
    auto v = a.view();
    auto m = expect_throw_msg<ShapeError>([&] { v.slice(2, 0, 1); });
    EXPECT_NE(m.find("axis"), std::string::npos) << m;
    m = expect_throw_msg<ValueError>([&] { v.slice(0, 0, 1, 0); });
    EXPECT_NE(m.find("step"), std::string::npos) << m;
    m = expect_throw_msg<ShapeError>([&] { v.slice(0, 0, 4); });
    EXPECT_NE(m.find("stop"), std::string::npos) << m;
    EXPECT_THROW(v.slice(0, 2, 1), ShapeError);
    EXPECT_THROW(v.slice(0, -1, 1), ShapeError);
    Array<float> r1({5});
    m = expect_throw_msg<ShapeError>([&] { r1.view().transposed(); });
    EXPECT_NE(m.find("transposed"), std::string::npos) << m;
    std::vector<index_t> sh{2, 2}, st{1};
    m = expect_throw_msg<ShapeError>([&] { ArrayView<float>(a.data(), sh, st); });
    EXPECT_NE(m.find("strides"), std::string::npos) << m;
}

// ---------------------------------------------------------------- Array
TEST(CoreArray, ZeroInitAndAligned) {
    for (index_t n : {1, 3, 17, 1000}) {
        Array<float> a({n, 3});
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % 64, 0u);
        for (index_t i = 0; i < a.size(); ++i) ASSERT_EQ(a.data()[i], 0.0f);
        Array<double> d({n});
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(d.data()) % 64, 0u);
        for (index_t i = 0; i < d.size(); ++i) ASSERT_EQ(d.data()[i], 0.0);
    }
    Array<double> empty({0, 5});
    EXPECT_EQ(empty.size(), 0);
}

// Large blocks come back from the cache: a freed 8 MiB array is reused by the next allocation of
// a similar size, zero-initialised again by the zeroing constructor; a much smaller or larger
// request never gets it; free_cached_buffers empties the cache. (Off under AddressSanitizer.)
TEST(CoreArray, LargeBlockCacheReuse) {
    neuroperf::free_cached_buffers();
    const index_t n = (8 << 20) / static_cast<index_t>(sizeof(double));
    const double* first = nullptr;
    {
        auto a = Array<double>::uninitialized({n});
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.data()) % (2u << 20), 0u);
        a.fill(7.0);
        first = a.data();
    }
    const bool caching = neuroperf::cached_buffer_bytes() > 0;
    if (caching) {
        EXPECT_EQ(neuroperf::cached_buffer_bytes(), static_cast<std::size_t>(8 << 20));
        Array<double> big({2 * n});  // twice the size: not a fit
        EXPECT_NE(big.data(), first);
        Array<double> zeroed({n - 1000});  // within 25%: reused, and zeroed by this constructor
        EXPECT_EQ(zeroed.data(), first);
        for (index_t i = 0; i < zeroed.size(); i += 4099) ASSERT_EQ(zeroed.data()[i], 0.0);
        EXPECT_EQ(neuroperf::cached_buffer_bytes(), 0u);
    }
    // The zeroing constructor of a fresh or a reused block always gives zeros.
    for (int rep = 0; rep < 3; ++rep) {
        Array<float> z({3, n / 3});
        for (index_t i = 0; i < z.size(); i += 7919) ASSERT_EQ(z.data()[i], 0.0f);
        z.fill(1.0f);
    }
    neuroperf::free_cached_buffers();
    EXPECT_EQ(neuroperf::cached_buffer_bytes(), 0u);
    auto empty = Array<float>::uninitialized({0, 4});
    EXPECT_EQ(empty.size(), 0);
}

TEST(CoreArray, CopyOfNonContiguousView) {
    Array<double> a({4, 6});
    for (index_t i = 0; i < a.size(); ++i) a.data()[i] = static_cast<double>(i);
    auto v = ArrayView<const double>(a.view()).slice(1, 1, 6, 2).transposed();  // 3x4
    ASSERT_EQ(v.shape(0), 3);
    ASSERT_EQ(v.shape(1), 4);
    Array<double> c = Array<double>::copy_of(v);
    EXPECT_EQ(c.shape(0), 3);
    EXPECT_EQ(c.shape(1), 4);
    EXPECT_TRUE(c.view().is_contiguous());
    for (index_t i = 0; i < 3; ++i)
        for (index_t j = 0; j < 4; ++j) EXPECT_EQ(c(i, j), a(j, 1 + 2 * i));
    Array<double> cl = c.clone();
    EXPECT_NE(cl.data(), c.data());
    EXPECT_EQ(cl(2, 3), c(2, 3));
}

TEST(CoreArray, MayAlias) {
    Array<float> a({4, 4});
    auto v = a.view();
    EXPECT_TRUE(may_alias(v, v));
    EXPECT_TRUE(may_alias(v.slice(0, 0, 2), v.slice(0, 1, 3)));
    EXPECT_FALSE(may_alias(v.slice(0, 0, 2), v.slice(0, 2, 4)));
    EXPECT_FALSE(may_alias(v.slice(0, 0, 0), v));
    EXPECT_FALSE(may_alias(v, v.slice(1, 2, 2)));
    Array<float> b({4, 4});
    EXPECT_FALSE(may_alias(a.view(), b.view()));
    // The transposed view spans the same memory.
    EXPECT_TRUE(may_alias(v.transposed(), v.slice(0, 3, 4)));
}

TEST(CoreArray, DynViewWrongDtype) {
    Array<float> a({2, 2});
    DynView dv = DynView::of(a.view());
    EXPECT_EQ(dv.dtype, DType::float32);
    EXPECT_TRUE(dv.writable);
    EXPECT_NO_THROW(dv.as<float>("x"));
    auto m = expect_throw_msg<ShapeError>([&] { dv.as<double>("myarg"); });
    EXPECT_NE(m.find("myarg"), std::string::npos) << m;
    DynArray da(Array<double>({3}));
    EXPECT_THROW(da.get<float>(), ShapeError);
    EXPECT_NO_THROW(da.get<double>());
}

// ---------------------------------------------------------------- CSR
TEST(CoreCsr, ValidateErrors) {
    using V = std::vector<double>;
    using R = std::vector<std::int64_t>;
    using C = std::vector<std::int32_t>;
    EXPECT_NO_THROW(CsrMatrix<double>(2, 3, R{0, 1, 2}, C{0, 2}, V{1, 2}));
    EXPECT_THROW(CsrMatrix<double>(2, 3, R{0, 1}, C{0}, V{1}), ShapeError);               // row_ptr size
    EXPECT_THROW(CsrMatrix<double>(2, 3, R{0, 2, 1}, C{0, 1}, V{1, 2}), ValueError);      // end != nnz / non-monotone
    EXPECT_THROW(CsrMatrix<double>(3, 3, R{0, 2, 1, 2}, C{0, 1}, V{1, 2}), ValueError);   // non-monotone
    EXPECT_THROW(CsrMatrix<double>(2, 3, R{0, 1, 2}, C{0, 3}, V{1, 2}), ValueError);      // column out of range
    EXPECT_THROW(CsrMatrix<double>(2, 3, R{0, 1, 2}, C{0, -1}, V{1, 2}), ValueError);     // negative column
    EXPECT_THROW(CsrMatrix<double>(1, 3, R{0, 2}, C{2, 1}, V{1, 2}), ValueError);         // unsorted
    EXPECT_THROW(CsrMatrix<double>(1, 3, R{0, 2}, C{1, 1}, V{1, 2}), ValueError);         // duplicate
    EXPECT_THROW(CsrMatrix<double>(1, 3, R{0, 1}, C{1}, V{1, 2}), ShapeError);            // values size
}

TEST(CoreCsr, DenseRoundTripAndMultiply) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> u(-1, 1);
    Array<float> d({7, 9});
    for (index_t i = 0; i < d.size(); ++i) d.data()[i] = u(rng) > 0.4f ? u(rng) : 0.0f;
    d(3, 4) = std::numeric_limits<float>::quiet_NaN();
    d(0, 0) = 0.0f;
    auto csr = CsrMatrix<float>::from_dense(d.view());
    EXPECT_NO_THROW(csr.validate());
    EXPECT_EQ(csr.rows(), 7);
    EXPECT_EQ(csr.cols(), 9);
    index_t nz = 0;
    for (index_t i = 0; i < d.size(); ++i) nz += d.data()[i] != 0.0f;  // NaN != 0 -> stored
    EXPECT_EQ(csr.nnz(), nz);
    Array<float> back = csr.to_dense();
    for (index_t i = 0; i < 7; ++i)
        for (index_t j = 0; j < 9; ++j) {
            if (std::isnan(d(i, j))) EXPECT_TRUE(std::isnan(back(i, j)));
            else EXPECT_EQ(back(i, j), d(i, j)) << i << "," << j;
        }
    d(3, 4) = 0.5f;
    auto csr2 = CsrMatrix<float>::from_dense(d.view());
    Array<float> x({9}), y({7});
    for (index_t j = 0; j < 9; ++j) x(j) = u(rng);
    csr2.multiply(x.view(), y.view());
    for (index_t i = 0; i < 7; ++i) {
        double ref = 0;
        for (index_t j = 0; j < 9; ++j) ref += static_cast<double>(d(i, j)) * x(j);
        EXPECT_NEAR(y(i), ref, 1e-5);
    }
    Array<float> badx({8});
    EXPECT_THROW(csr2.multiply(badx.view(), y.view()), ShapeError);
    // Transposed (non-contiguous) dense input.
    auto csrT = CsrMatrix<float>::from_dense(ArrayView<const float>(d.view()).transposed());
    Array<float> bt = csrT.to_dense();
    for (index_t i = 0; i < 9; ++i)
        for (index_t j = 0; j < 7; ++j) EXPECT_EQ(bt(i, j), d(j, i));
}

// ---------------------------------------------------------------- cache_dir & files
TEST(CoreFiles, CacheDirRules) {
    EnvGuard np("NEUROPERF_CACHE_DIR"), xdg("XDG_CACHE_HOME"), home("HOME");
    np.set("/tmp/np-explicit");
    xdg.set("/tmp/xdg");
    home.set("/tmp/home");
    EXPECT_EQ(cache_dir(), fs::path("/tmp/np-explicit"));
    np.set("");
    EXPECT_EQ(cache_dir(), fs::path("/tmp/xdg") / "neuroperf");
    np.unset();
    EXPECT_EQ(cache_dir(), fs::path("/tmp/xdg") / "neuroperf");
    xdg.set("");
    EXPECT_EQ(cache_dir(), fs::path("/tmp/home") / ".cache" / "neuroperf");
    xdg.unset();
    EXPECT_EQ(cache_dir(), fs::path("/tmp/home") / ".cache" / "neuroperf");
    home.set("");
    EXPECT_FALSE(cache_dir().empty());
}

TEST(CoreFiles, WriteFileAtomic) {
    TempDir td;
    fs::path p = td.path() / "a" / "b" / "file.txt";
    write_file_atomic(p, "hello");
    EXPECT_EQ(read_file(p).value_or(""), "hello");
    write_file_atomic(p, "second content, longer");
    EXPECT_EQ(read_file(p).value_or(""), "second content, longer");
    write_file_atomic(p, "");
    EXPECT_EQ(read_file(p).value_or("x"), "");
    int n = 0;
    for (const auto& e : fs::directory_iterator(p.parent_path())) {
        ++n;
        EXPECT_EQ(e.path().filename(), "file.txt");
    }
    EXPECT_EQ(n, 1);
    // Unwritable: a path under a regular file.
    fs::path reg = td.path() / "regular";
    write_file_atomic(reg, "x");
    EXPECT_THROW(write_file_atomic(reg / "sub" / "f.txt", "y"), IOError);
    EXPECT_THROW(write_file_atomic(reg / "f.txt", "y"), IOError);
    EXPECT_THROW(ensure_directory(reg), IOError);
    EXPECT_EQ(read_file(reg).value_or(""), "x");
}

TEST(CoreFiles, ReadMissing) {
    TempDir td;
    EXPECT_FALSE(read_file(td.path() / "does-not-exist").has_value());
}
