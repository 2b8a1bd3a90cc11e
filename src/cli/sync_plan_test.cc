#include "cli/sync_plan.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

namespace sdxl::cli {
namespace {

TEST(ParseS3Time, ListingAndHeadForms) {
  // 2024-05-01T12:00:00Z = 1714564800
  EXPECT_EQ(ParseS3Time("2024-05-01T12:00:00.000Z"), 1714564800);
  EXPECT_EQ(ParseS3Time("2024-05-01T12:00:00Z"), 1714564800);  // SeaweedFS: no fraction
  EXPECT_EQ(ParseS3Time("Wed, 01 May 2024 12:00:00 GMT"), 1714564800);
  EXPECT_EQ(ParseS3Time(""), std::nullopt);
  EXPECT_EQ(ParseS3Time("yesterday"), std::nullopt);
  EXPECT_EQ(ParseS3Time("Wed, 01 Foo 2024 12:00:00 GMT"), std::nullopt);
  EXPECT_EQ(ParseS3Time("Wed, 01 May 2024 12:00:00 PST"), std::nullopt);
}

SyncEntry E(std::string rel, std::uint64_t size, std::optional<std::int64_t> t) {
  return {std::move(rel), size, t};
}

TEST(NeedsCopy, UploadSizeOrNewerLocalFile) {
  const auto up = SyncDirection::kUpload;
  const auto def = SyncCompare::kSizeAndTime;
  EXPECT_TRUE(NeedsCopy(up, def, E("a", 2, 100), E("a", 3, 100)));           // size differs
  EXPECT_TRUE(NeedsCopy(up, def, E("a", 2, 101), E("a", 2, 100)));           // local newer
  EXPECT_FALSE(NeedsCopy(up, def, E("a", 2, 100), E("a", 2, 100)));          // same second
  EXPECT_FALSE(NeedsCopy(up, def, E("a", 2, 99), E("a", 2, 100)));           // object newer: keep
  EXPECT_TRUE(NeedsCopy(up, def, E("a", 2, 100), E("a", 2, std::nullopt)));  // time unknown
  EXPECT_FALSE(NeedsCopy(up, SyncCompare::kSizeOnly, E("a", 2, 500), E("a", 2, 100)));
  EXPECT_TRUE(NeedsCopy(up, SyncCompare::kSizeOnly, E("a", 1, 1), E("a", 2, 100)));
}

TEST(NeedsCopy, DownloadSizeOrNewerObject) {
  const auto down = SyncDirection::kDownload;
  const auto def = SyncCompare::kSizeAndTime;
  EXPECT_TRUE(NeedsCopy(down, def, E("a", 5, 200), E("a", 5, 100)));   // object newer
  EXPECT_FALSE(NeedsCopy(down, def, E("a", 5, 100), E("a", 5, 100)));  // mtime set by download
  EXPECT_FALSE(NeedsCopy(down, def, E("a", 5, 100), E("a", 5, 300)));  // local newer: keep
  EXPECT_TRUE(NeedsCopy(down, SyncCompare::kExactTimestamps, E("a", 5, 100), E("a", 5, 300)));
  EXPECT_FALSE(NeedsCopy(down, SyncCompare::kExactTimestamps, E("a", 5, 100), E("a", 5, 100)));
  EXPECT_FALSE(NeedsCopy(down, SyncCompare::kSizeOnly, E("a", 5, 900), E("a", 5, 100)));
}

TEST(PlanSync, CopiesMissingAndChangedDeletesExtraOnlyWithDelete) {
  const std::vector<SyncEntry> src = {E("a", 1, 10), E("b", 2, 10), E("dir/c d", 3, 50)};
  const std::vector<SyncEntry> dst = {E("b", 2, 10), E("dir/c d", 3, 20), E("old", 4, 10)};
  const SyncPlan keep =
      PlanSync(SyncDirection::kUpload, SyncCompare::kSizeAndTime, src, dst, false);
  EXPECT_EQ(keep.copies, (std::vector<std::size_t>{0, 2}));
  EXPECT_TRUE(keep.deletes.empty());
  const SyncPlan del = PlanSync(SyncDirection::kUpload, SyncCompare::kSizeAndTime, src, dst, true);
  EXPECT_EQ(del.copies, (std::vector<std::size_t>{0, 2}));
  EXPECT_EQ(del.deletes, (std::vector<std::size_t>{2}));
  const SyncPlan same = PlanSync(SyncDirection::kUpload, SyncCompare::kSizeAndTime, dst, dst, true);
  EXPECT_TRUE(same.copies.empty() && same.deletes.empty());
}

TEST(SetMtimeFromLastModified, StampsTheFile) {
  const auto path = std::filesystem::path(::testing::TempDir()) / "sync_plan_mtime.txt";
  std::ofstream(path) << "x";
  ASSERT_TRUE(SetMtimeFromLastModified(path, "2024-05-01T12:00:00.000Z").ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1714564800);
  EXPECT_EQ(st.st_mtim.tv_nsec, 0);
  // An unparsable time leaves the file alone.
  ASSERT_TRUE(SetMtimeFromLastModified(path, "").ok());
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mtim.tv_sec, 1714564800);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace sdxl::cli
