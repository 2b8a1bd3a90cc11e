#include "core/file_util.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sdxl::core {
namespace {

namespace fs = std::filesystem;

class FileUtilTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sdxl-file-util-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      out.push_back(e.path().lexically_relative(dir_).string());
    }
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
};

TEST_F(FileUtilTest, WritesCreatesParentsAndReplaces) {
  const fs::path p = dir_ / "a" / "b" / "state.json";
  ASSERT_TRUE(WriteFileAtomically(p, "first").ok());
  auto text = ReadFile(p);
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  EXPECT_EQ(*text, "first");
  ASSERT_TRUE(WriteFileAtomically(p, std::string(200000, 'x')).ok());
  text = ReadFile(p);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, std::string(200000, 'x'));
  ASSERT_TRUE(WriteFileAtomically(p, "").ok());
  EXPECT_EQ(*ReadFile(p), "");
  // No temporary file is left next to it.
  EXPECT_EQ(Names(), (std::vector<std::string>{"a", "a/b", "a/b/state.json"}));
}

TEST_F(FileUtilTest, BinaryContentRoundTrips) {
  std::string data;
  for (int i = 0; i < 1000; ++i) data.push_back(static_cast<char>(i & 0xFF));
  ASSERT_TRUE(WriteFileAtomically(dir_ / "bin", data).ok());
  EXPECT_EQ(*ReadFile(dir_ / "bin"), data);
}

TEST_F(FileUtilTest, FailureLeavesTargetUntouchedAndNoTemp) {
  const fs::path p = dir_ / "keep.txt";
  ASSERT_TRUE(WriteFileAtomically(p, "old").ok());
  // The target is a directory: the rename fails, the temp file is removed.
  const fs::path d = dir_ / "sub";
  fs::create_directories(d / "x");
  const Status st = WriteFileAtomically(d, "new");
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(d.string()), std::string::npos) << st.message();
  EXPECT_EQ(*ReadFile(p), "old");
  EXPECT_EQ(Names(), (std::vector<std::string>{"keep.txt", "sub", "sub/x"}));
}

TEST_F(FileUtilTest, ReadErrors) {
  auto missing = ReadFile(dir_ / "nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_NE(missing.status().message().find("nope"), std::string::npos);

  auto dir = ReadFile(dir_);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), Code::kInvalidArgument);

  ASSERT_TRUE(WriteFileAtomically(dir_ / "big", std::string(100, 'b')).ok());
  auto big = ReadFile(dir_ / "big", 99);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(ReadFile(dir_ / "big", 100).ok());
}

TEST_F(FileUtilTest, UnwritableDirectoryIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  const fs::path ro = dir_ / "ro";
  fs::create_directories(ro);
  ::chmod(ro.c_str(), 0555);
  const Status st = WriteFileAtomically(ro / "f", "x");
  ::chmod(ro.c_str(), 0755);
  EXPECT_EQ(st.code(), Code::kPermissionDenied) << st.ToString();
}

TEST_F(FileUtilTest, TempNamesAreHiddenMarkedAndUnique) {
  const fs::path a = TempPathFor(dir_ / "x.bin");
  const fs::path b = TempPathFor(dir_ / "x.bin");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.parent_path(), dir_);
  const std::string name = a.filename().string();
  EXPECT_EQ(name.rfind(".x.bin", 0), 0u) << name;
  EXPECT_NE(name.find(kTempMarker), std::string::npos) << name;
  EXPECT_EQ(name.size(), std::string(".x.bin").size() + kTempMarker.size() + 8);
}

TEST_F(FileUtilTest, StreamingWriterCommitsOnlyOnCommit) {
  const fs::path p = dir_ / "big.bin";
  ASSERT_TRUE(WriteFileAtomically(p, "old").ok());
  auto w = AtomicFileWriter::Create(p);
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  std::string expect;
  for (int i = 0; i < 50; ++i) {
    const std::string piece(1000 + i, static_cast<char>('a' + i % 26));
    ASSERT_TRUE(w->Write(piece).ok());
    expect += piece;
  }
  EXPECT_EQ(*ReadFile(p), "old");  // untouched until Commit
  EXPECT_EQ(Names().size(), 2u);   // the target and the temporary file
  EXPECT_NE(w->temp_path().filename().string().find(kTempMarker), std::string::npos);
  ASSERT_TRUE(w->Commit().ok());
  EXPECT_EQ(*ReadFile(p), expect);
  EXPECT_EQ(Names(), (std::vector<std::string>{"big.bin"}));
  EXPECT_FALSE(w->Commit().ok());
  EXPECT_FALSE(w->Write("more").ok());
}

TEST_F(FileUtilTest, StreamingWriterDroppedOrMovedLeavesNoTemp) {
  const fs::path p = dir_ / "f";
  {
    auto w = AtomicFileWriter::Create(p, {.sync = false});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Write("partial").ok());
    AtomicFileWriter moved = std::move(w).value();
    ASSERT_TRUE(moved.Write(" more").ok());
  }
  EXPECT_TRUE(Names().empty());
  {
    auto w = AtomicFileWriter::Create(p, {.sync = false});
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE(w->Write("kept").ok());
    AtomicFileWriter moved = std::move(w).value();
    ASSERT_TRUE(moved.Commit().ok());
  }
  EXPECT_EQ(*ReadFile(p), "kept");
  EXPECT_EQ(Names(), (std::vector<std::string>{"f"}));
}

TEST_F(FileUtilTest, StreamingWriterNeedsTheFolderAndCleansUpAFailedCommit) {
  auto missing = AtomicFileWriter::Create(dir_ / "missing" / "f");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_TRUE(Names().empty());

  const fs::path d = dir_ / "sub";
  fs::create_directories(d / "x");  // renaming a file onto a non-empty folder fails
  auto w = AtomicFileWriter::Create(d);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE(w->Write("x").ok());
  const Status st = w->Commit();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find(d.string()), std::string::npos) << st.message();
  EXPECT_EQ(Names(), (std::vector<std::string>{"sub", "sub/x"}));
}

TEST_F(FileUtilTest, AbandonedTempsAreRemovedAndRunningWritersKept) {
  const fs::path target = dir_ / "model.bin";
  // A writer that is running holds its lock; one that was killed left a temp nobody holds.
  auto running = AtomicFileWriter::Create(target);
  ASSERT_TRUE(running.ok());
  ASSERT_TRUE(running->Write("partial").ok());
  const fs::path dead = TempPathFor(target);
  std::ofstream(dead) << "bytes of a killed download";
  const fs::path other = TempPathFor(dir_ / "other.bin");  // another file's temp: not ours
  std::ofstream(other) << "x";
  const fs::path lookalike = dir_ / ".model.bin.sdxl-tmp-notours!";  // not 8 hex digits
  std::ofstream(lookalike) << "x";

  EXPECT_EQ(RemoveAbandonedTemps(target, /*min_age_s=*/0), 1u);
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_TRUE(fs::exists(running->temp_path()));
  EXPECT_TRUE(fs::exists(other));
  EXPECT_TRUE(fs::exists(lookalike));
  // Just written: spared by the default age guard (a writer between open and flock).
  std::ofstream(dead) << "again";
  EXPECT_EQ(RemoveAbandonedTemps(target), 0u);
  EXPECT_TRUE(fs::exists(dead));
  ASSERT_TRUE(running->Commit().ok());
  EXPECT_EQ(ReadFile(target).value(), "partial");
}

TEST_F(FileUtilTest, NewWriterClearsTheTempsOfAKilledOne) {
  const fs::path target = dir_ / "out.png";
  const fs::path dead = TempPathFor(target);
  std::ofstream(dead) << "left by SIGKILL";
  ::sleep(1);  // ctime cannot be set back: let the default one-second guard pass
  ASSERT_TRUE(WriteFileAtomically(target, "new").ok());
  EXPECT_FALSE(fs::exists(dead));
  EXPECT_EQ(Names(), std::vector<std::string>{"out.png"});
}

TEST_F(FileUtilTest, ReadsFilesLargerThanOneBuffer) {
  std::string data;
  for (int i = 0; i < 300000; ++i) data.push_back(static_cast<char>((i * 7) & 0xFF));
  ASSERT_TRUE(WriteFileAtomically(dir_ / "d", data).ok());
  EXPECT_EQ(*ReadFile(dir_ / "d"), data);
  EXPECT_EQ(ReadFile(dir_ / "d", data.size() - 1).status().code(), Code::kInvalidArgument);
}

}  // namespace
}  // namespace sdxl::core
