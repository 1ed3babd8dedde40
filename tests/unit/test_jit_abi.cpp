// The generated kernels' argument structs, declared from the C++ field lists with a static_assert
// on every offset (jit/abi_source.hpp): a struct that matches compiles, one that does not is
// refused by the compiler.
#include <gtest/gtest.h>

#include <string>

#include "jit/abi_source.hpp"
#include "jit/reservoir_codegen.hpp"
#include "neuroperf/files.hpp"
#include "neuroperf/kernel_specs.hpp"
#include "neuroperf/subprocess.hpp"
#include "test_support.hpp"

namespace neuroperf {
namespace {

using test_support::TempDir;

TEST(JitAbi, DeclarationsSpellTheMemberTypes) {
    EXPECT_EQ((jit::c_declaration<float*, float>("v")), "T *v");
    EXPECT_EQ((jit::c_declaration<const std::int64_t*, float>("row_ptr")), "const i64 *row_ptr");
    EXPECT_EQ((jit::c_declaration<std::int64_t, double>("step")), "i64 step");
    EXPECT_EQ((jit::c_declaration<void (*)(int, int, std::int64_t, double*), double>("activation")),
              "void (*activation)(int, int, i64, T*)");
    const std::string s = jit::struct_source<SpikeStepArgs<float>, float>("Args");
    int members = 0;
    for_each_field<SpikeStepArgs<float>>([&](const auto& f) {
        ++members;
        EXPECT_NE(s.find(std::string(f.name) + ";"), std::string::npos) << f.name;
        EXPECT_NE(s.find(fmt::format("__builtin_offsetof(Args, {})", f.name)), std::string::npos) << f.name;
    });
    EXPECT_EQ(members, 17);
    EXPECT_NE(s.find(fmt::format("sizeof(Args) == {}", sizeof(SpikeStepArgs<float>))), std::string::npos);
}

// Compiles `source` after the generated code's typedefs; true when the compiler accepts it.
bool compiles(const std::string& cxx, const std::string& t, const std::string& source, const TempDir& dir) {
    const auto file = dir.path() / "abi.cpp";
    write_file_atomic(file, "typedef long long i64;\ntypedef int i32;\ntypedef " + t + " T;\n" + source);
    auto r = run_process({cxx, "-std=c++17", "-fsyntax-only", file.string()},
                         {.search_path = true, .stdout_file = dir.path() / "log.txt", .stderr_to_stdout = true});
    return r.started && r.exit_code == 0;
}

TEST(JitAbi, TheCompilerChecksTheLayout) {
    TempDir dir;
    int ran = test_support::for_each_jit_compiler([&](const std::string& cxx) {
        const std::string spike = jit::struct_source<SpikeStepArgs<double>, double>("Args");
        EXPECT_TRUE(compiles(cxx, "double", spike, dir)) << read_file(dir.path() / "log.txt").value_or("");
        EXPECT_TRUE(compiles(cxx, "float", jit::struct_source<jit::ReservoirJitArgs<float>, float>("Args"), dir));
        // A struct whose layout is not the caller's (two members swapped, as a struct retyped by
        // hand could be): the static_assert on the offsets trips.
        std::string wrong = spike;
        const std::string pair = "    T *g_e;\n    T *g_i;\n";
        ASSERT_NE(wrong.find(pair), std::string::npos);
        wrong.replace(wrong.find(pair), pair.size(), "    T *g_i;\n    T *g_e;\n");
        EXPECT_FALSE(compiles(cxx, "double", wrong, dir));
        EXPECT_NE(read_file(dir.path() / "log.txt").value_or("").find("differs from the caller"), std::string::npos);
    });
    if (ran == 0) GTEST_SKIP() << "no C++ compiler on PATH";
}

}  // namespace
}  // namespace neuroperf
