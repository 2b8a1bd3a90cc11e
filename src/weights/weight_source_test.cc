// StreamFileRange: every byte of the range reaches the sink once, whether the file is in the page
// cache (served from the mapping) or not (read with O_DIRECT, around the page cache).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/unique_fd.h"
#include "weights/test_util.h"
#include "weights/weight_source.h"

namespace sdxl::weights {
namespace {

using testing::TempDir;

// Pages of `path` in the page cache (mincore over a mapping; no I/O).
std::size_t ResidentPages(const std::filesystem::path& path) {
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  const auto size = static_cast<std::size_t>(std::filesystem::file_size(path));
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd.get(), 0);
  EXPECT_NE(map, MAP_FAILED);
  if (map == MAP_FAILED) return 0;
  const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> pages((size + page - 1) / page);
  EXPECT_EQ(::mincore(map, size, pages.data()), 0);
  ::munmap(map, size);
  return static_cast<std::size_t>(
      std::count_if(pages.begin(), pages.end(), [](unsigned char p) { return (p & 1) != 0; }));
}

// Writes the file to disk and drops it from the page cache; false when the file system keeps it
// (e.g. tmpfs).
bool Evict(const std::filesystem::path& path) {
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (::fsync(fd.get()) != 0) return false;
  ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_DONTNEED);
  return ResidentPages(path) == 0;
}

bool DirectIoSupported(const std::filesystem::path& path) {
  core::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
  return fd.valid();
}

class StreamFileRangeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Three 16 MiB pieces and an odd tail, so the last direct read runs past the file's end.
    content_.resize((40u << 20) + 1237);
    std::mt19937_64 rng(7);
    for (auto& c : content_) c = static_cast<char>(rng());
    dir_.Write("w.safetensors", content_);
    path_ = dir_ / "w.safetensors";
  }

  // Streams [begin, end) with 3 readers and checks the sink saw each byte once, and the right one.
  void StreamAndCheck(std::uint64_t begin, std::uint64_t end) {
    std::mutex mu;
    std::vector<std::pair<std::uint64_t, std::uint64_t>> pieces;
    std::string got(content_.size(), '\0');
    const WeightSink sink = [&](std::uint64_t offset, std::span<const std::byte> bytes) {
      std::memcpy(got.data() + offset, bytes.data(), bytes.size());
      std::lock_guard<std::mutex> lock(mu);
      pieces.emplace_back(offset, offset + bytes.size());
      return core::Status::Ok();
    };
    ASSERT_TRUE(StreamFileRange(path_, begin, end, sink, 3).ok());
    std::sort(pieces.begin(), pieces.end());
    std::uint64_t at = begin;
    for (const auto& [a, b] : pieces) {
      EXPECT_EQ(a, at) << "a gap or an overlap";
      at = b;
    }
    EXPECT_EQ(at, end);
    EXPECT_EQ(got.compare(begin, end - begin, content_, begin, end - begin), 0);
  }

  TempDir dir_;
  std::filesystem::path path_;
  std::string content_;
};

TEST_F(StreamFileRangeTest, DeliversEveryByteOnceFromThePageCache) {
  ASSERT_GT(ResidentPages(path_), 0u);  // just written
  StreamAndCheck(777, content_.size());
  StreamAndCheck(0, 5000);
}

TEST_F(StreamFileRangeTest, ReadsAColdFileAroundThePageCache) {
  if (!DirectIoSupported(path_) || !Evict(path_)) {
    GTEST_SKIP() << "the temporary folder's file system has no direct I/O or keeps pages cached";
  }
  StreamAndCheck(777, content_.size());
  // Read with O_DIRECT: the page cache did not fill (the mapped path's readahead would have
  // brought in every page).
  EXPECT_EQ(ResidentPages(path_), 0u);
  // Partly cached: the cached pieces come from the mapping, the others from the disk.
  std::string head(1u << 20, '\0');
  core::UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC));
  ASSERT_EQ(::pread(fd.get(), head.data(), head.size(), 0), static_cast<ssize_t>(head.size()));
  ASSERT_GT(ResidentPages(path_), 0u);
  StreamAndCheck(100, content_.size() - 3);
}

}  // namespace
}  // namespace sdxl::weights
