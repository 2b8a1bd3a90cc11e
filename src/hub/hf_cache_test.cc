#include "hub/hf_cache.h"

#include <gtest/gtest.h>

#include <fstream>

namespace sdxl::hub {
namespace {
namespace fs = std::filesystem;

TEST(HfCache, RefsBlobsAndRelativeSnapshotLinks) {
  fs::path root = fs::temp_directory_path() / "sdxl_hf_cache_test";
  fs::remove_all(root);
  HfCache cache(root);
  const std::string commit = "0123456789abcdef0123456789abcdef01234567";
  EXPECT_FALSE(cache.ReadRef("org/m", "main").has_value());
  ASSERT_TRUE(cache.WriteRef("org/m", "main", commit).ok());
  EXPECT_EQ(cache.ReadRef("org/m", "main").value(), commit);

  RepoFile f{"unet/config.json", 5, "deadbeef", std::nullopt};
  EXPECT_FALSE(cache.Find("org/m", commit, f).has_value());
  fs::create_directories(cache.BlobPath("org/m", "x").parent_path());
  std::ofstream(cache.BlobPath("org/m", "deadbeef")) << "hello";
  auto p = cache.Find("org/m", commit, f);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(*p, root / "models--org--m/snapshots" / commit / "unet/config.json");
  EXPECT_EQ(fs::read_symlink(*p), fs::path("../../../blobs/deadbeef"));
  std::ifstream in(*p);
  std::string s;
  in >> s;
  EXPECT_EQ(s, "hello");

  // Wrong size: not a hit.
  RepoFile g{"other.json", 6, "deadbeef", std::nullopt};
  EXPECT_FALSE(cache.Find("org/m", commit, g).has_value());

  auto listed = cache.ListSnapshot("org/m", commit);
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].path, "unet/config.json");
  EXPECT_EQ((*listed)[0].etag(), "deadbeef");
  EXPECT_FALSE(cache.ListSnapshot("org/m", std::string(40, 'f')).ok());
  fs::remove_all(root);
}

}  // namespace
}  // namespace sdxl::hub
