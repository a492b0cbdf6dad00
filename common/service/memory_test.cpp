#include "common/service/memory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

using postline::service::buffer_budget_for;
using postline::service::memory_limit_bytes;

namespace {

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("postline-memory-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string file(const std::string& name, const std::string& text) {
    const auto p = dir_ / name;
    std::ofstream(p) << text;
    return p.string();
  }
  std::string missing() const { return (dir_ / "missing").string(); }
  std::filesystem::path dir_;
};

const char* kMeminfo = "MemTotal:       24000000 kB\nMemFree:         1000 kB\n";

}  // namespace

TEST_F(Files, TheCgroupLimitWinsOverTheMachine) {
  const auto meminfo = file("meminfo", kMeminfo);
  EXPECT_EQ(memory_limit_bytes(file("v2", "1073741824\n"), missing(), meminfo), 1073741824u);
  EXPECT_EQ(memory_limit_bytes(missing(), file("v1", "536870912\n"), meminfo), 536870912u);
}

TEST_F(Files, NoLimitMeansTheMachinesMemory) {
  const auto meminfo = file("meminfo", kMeminfo);
  EXPECT_EQ(memory_limit_bytes(file("v2", "max\n"), missing(), meminfo), 24000000ull * 1024);
  EXPECT_EQ(memory_limit_bytes(missing(), file("v1", "9223372036854771712\n"), meminfo), 24000000ull * 1024);
  EXPECT_EQ(memory_limit_bytes(missing(), missing(), missing()), 0u);
}

TEST(BufferBudget, AQuarterWithinBoundsAndAlwaysOneWholeMessage) {
  constexpr uint64_t MiB = 1 << 20;
  EXPECT_EQ(buffer_budget_for(1024 * MiB, 50 * MiB), 256 * MiB);       // a 1 GiB container
  EXPECT_EQ(buffer_budget_for(24000 * MiB, 50 * MiB), 1024 * MiB);     // a big machine: 1 GiB at most
  EXPECT_EQ(buffer_budget_for(128 * MiB, 0), 64 * MiB);                // small: 64 MiB at least
  EXPECT_EQ(buffer_budget_for(128 * MiB, 100 * MiB), 100 * MiB);       // one message must fit
  EXPECT_EQ(buffer_budget_for(0, 50 * MiB), 1024 * MiB);               // unknown
}
