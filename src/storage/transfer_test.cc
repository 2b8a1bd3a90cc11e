// The transfer engine and LocalObjectStore, end to end on the local filesystem (the S3 side is
// covered by s3_object_store_test and the SeaweedFS integration tests).
#include "storage/transfer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "core/testing/small_disk.h"
#include "storage/local_object_store.h"
#include "storage/testing/files.h"

namespace sdxl::storage {
namespace {

namespace fs = std::filesystem;

using ::sdxl::storage::testing::RandomBytes;
using ::sdxl::storage::testing::ReadFile;
using ::sdxl::storage::testing::WriteFile;

std::vector<std::string> TempFilesUnder(const fs::path& dir) {
  std::vector<std::string> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.path().filename().string().find(kTempMarker) != std::string::npos) {
      out.push_back(e.path().string());
    }
  }
  return out;
}

class TransferTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("transfer-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "bucket");
    store_ = std::make_unique<LocalObjectStore>(dir_ / "bucket");
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  std::unique_ptr<LocalObjectStore> store_;
};

TEST(PlanRanges, CoversEveryByteOnce) {
  auto r = PlanRanges(10, 4);
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].offset, 0u);
  EXPECT_EQ(r[2].offset, 8u);
  EXPECT_EQ(r[2].length, 2u);
  EXPECT_EQ(PlanRanges(8, 4).size(), 2u);
  ASSERT_EQ(PlanRanges(0, 4).size(), 1u);  // an empty object still gets one (empty) task
  EXPECT_EQ(PlanRanges(0, 4)[0].length, 0u);
}

TEST(ChoosePartSize, RespectsMinimumAndPartLimit) {
  EXPECT_EQ(ChoosePartSize(100 * kMiB, 1 * kMiB), 5 * kMiB);
  EXPECT_EQ(ChoosePartSize(100 * kMiB, 16 * kMiB), 16 * kMiB);
  const std::uint64_t huge = 200ull * 1024 * kMiB;  // 200 GiB
  const std::uint64_t part = ChoosePartSize(huge, 16 * kMiB);
  EXPECT_LE((huge + part - 1) / part, 10000u);
  EXPECT_EQ(part % kMiB, 0u);
}

TEST_F(TransferTest, UploadMultipartThenDownloadInParallelRanges) {
  const std::string data = RandomBytes(23 * kMiB + 17, 1);
  WriteFile(dir_ / "src.bin", data);
  TransferOptions o;
  o.part_size = 5 * kMiB;
  o.multipart_threshold = 5 * kMiB;
  o.concurrency = 4;
  std::atomic<std::uint64_t> progressed{0}, total{0};
  o.on_progress = [&](std::uint64_t n) { progressed += n; };
  o.on_total = [&](std::uint64_t n) { total = n; };
  auto up = UploadFile(*store_, dir_ / "src.bin", "models/x/unet.bin", o);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->bytes, data.size());
  EXPECT_EQ(progressed.load(), data.size());
  EXPECT_EQ(total.load(), data.size());
  EXPECT_EQ(ReadFile(dir_ / "bucket/models/x/unet.bin"), data);
  EXPECT_FALSE(fs::exists(dir_ / "bucket/.sdxl-uploads") &&
               !fs::is_empty(dir_ / "bucket/.sdxl-uploads"));

  progressed = 0;
  o.range_size = 1 * kMiB;  // 24 ranges on 4 workers
  auto down = DownloadFile(*store_, "models/x/unet.bin", dir_ / "out/unet.bin", o);
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_EQ(ReadFile(dir_ / "out/unet.bin"), data);
  EXPECT_EQ(progressed.load(), data.size());
  EXPECT_TRUE(TempFilesUnder(dir_ / "out").empty());
}

TEST_F(TransferTest, DirectoryRoundTripWithManySmallAndEmptyFiles) {
  std::map<std::string, std::string> files;
  for (int i = 0; i < 150; ++i) {
    files["sub" + std::to_string(i % 7) + "/f" + std::to_string(i) + ".json"] =
        RandomBytes(static_cast<std::size_t>(i * 37), static_cast<unsigned>(i));
  }
  files["big/w.safetensors"] = RandomBytes(11 * kMiB, 99);
  files["with space+plus%.txt"] = "x";
  for (const auto& [rel, data] : files) WriteFile(dir_ / "src" / rel, data);
  TransferOptions o;
  o.part_size = 5 * kMiB;
  o.multipart_threshold = 5 * kMiB;
  o.concurrency = 8;
  auto up = UploadDirectory(*store_, dir_ / "src", "pipe", o);
  ASSERT_TRUE(up.ok()) << up.status().ToString();
  EXPECT_EQ(up->objects, files.size());
  auto listed = store_->List("pipe/");
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), files.size());

  ASSERT_TRUE(store_->Put("pipeline/not-mine.txt", "x").ok());  // shares the string prefix
  auto down = DownloadPrefix(*store_, "pipe", dir_ / "dst", o);
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_EQ(down->objects, files.size());
  for (const auto& [rel, data] : files) EXPECT_EQ(ReadFile(dir_ / "dst" / rel), data) << rel;
  EXPECT_FALSE(fs::exists(dir_ / "dst/line"));
  EXPECT_TRUE(TempFilesUnder(dir_ / "dst").empty());
}

TEST_F(TransferTest, CancelLeavesNoPartialFileAndAbortsUploads) {
  const std::string data = RandomBytes(40 * kMiB, 3);
  WriteFile(dir_ / "src.bin", data);
  ASSERT_TRUE(store_->Put("obj.bin", data).ok());

  std::atomic<bool> cancel{false};
  TransferOptions o;
  o.part_size = 5 * kMiB;
  o.range_size = 5 * kMiB;
  o.multipart_threshold = 5 * kMiB;
  o.concurrency = 2;
  o.cancel = &cancel;
  o.on_progress = [&](std::uint64_t) { cancel = true; };
  auto down = DownloadFile(*store_, "obj.bin", dir_ / "out/obj.bin", o);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), core::Code::kCancelled);
  EXPECT_FALSE(fs::exists(dir_ / "out/obj.bin"));
  EXPECT_TRUE(TempFilesUnder(dir_ / "out").empty());

  cancel = false;
  auto up = UploadFile(*store_, dir_ / "src.bin", "up.bin", o);
  ASSERT_FALSE(up.ok());
  EXPECT_EQ(up.status().code(), core::Code::kCancelled);
  EXPECT_FALSE(fs::exists(dir_ / "bucket/up.bin"));
  // The multipart upload was aborted: no parts left behind.
  const fs::path uploads = dir_ / "bucket/.sdxl-uploads";
  EXPECT_TRUE(!fs::exists(uploads) || fs::is_empty(uploads));
}

TEST_F(TransferTest, ObjectChangedDuringDownloadFailsCleanly) {
  ASSERT_TRUE(store_->Put("k.bin", RandomBytes(3 * kMiB, 5)).ok());
  TransferOptions o;
  o.range_size = 1 * kMiB;
  o.concurrency = 1;
  bool replaced = false;
  o.on_progress = [&](std::uint64_t) {
    if (!replaced) {
      replaced = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a new mtime
      ASSERT_TRUE(store_->Put("k.bin", RandomBytes(3 * kMiB, 6)).ok());
    }
  };
  auto down = DownloadFile(*store_, "k.bin", dir_ / "k.bin", o);
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), core::Code::kFailedPrecondition);
  EXPECT_FALSE(fs::exists(dir_ / "k.bin"));
  EXPECT_TRUE(TempFilesUnder(dir_).empty());
}

TEST_F(TransferTest, DownloadObjectsUsesListedInfoAndReportsEachFile) {
  ASSERT_TRUE(store_->Put("m/a.bin", RandomBytes(3 * kMiB + 5, 7)).ok());
  ASSERT_TRUE(store_->Put("m/sub/b.bin", RandomBytes(100, 8)).ok());
  ASSERT_TRUE(store_->Put("m/empty", "").ok());
  auto listed = store_->List("m/");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 3u);
  std::vector<DownloadJob> jobs;
  for (const auto& o : *listed) jobs.push_back({o, dir_ / "out" / ("x-" + o.key.substr(2))});
  TransferOptions o;
  o.range_size = 1 * kMiB;
  o.concurrency = 3;
  std::mutex mu;
  std::map<std::string, std::string> seen;  // key -> content when reported
  o.on_downloaded = [&](const ObjectInfo& info, const fs::path& file) {
    std::lock_guard<std::mutex> lock(mu);
    seen[info.key] = ReadFile(file);
    return core::Status::Ok();
  };
  auto down = DownloadObjects(*store_, jobs, o);
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_EQ(down->objects, 3u);
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen["m/a.bin"], RandomBytes(3 * kMiB + 5, 7));
  EXPECT_EQ(seen["m/sub/b.bin"], RandomBytes(100, 8));
  EXPECT_EQ(seen["m/empty"], "");
  EXPECT_EQ(ReadFile(dir_ / "out" / "x-sub/b.bin"), RandomBytes(100, 8));

  // A callback failure fails the transfer with its status; nothing partial is left.
  o.on_downloaded = [&](const ObjectInfo& info, const fs::path& file) {
    fs::remove(file);
    return core::DataLoss(info.key + " is corrupt");
  };
  o.concurrency = 1;
  auto bad = DownloadObjects(*store_, jobs, o);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), core::Code::kDataLoss);
  EXPECT_TRUE(TempFilesUnder(dir_).empty());

  // An object replaced after it was listed: the listed ETag no longer matches.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(store_->Put("m/sub/b.bin", RandomBytes(100, 9)).ok());
  o.on_downloaded = nullptr;
  auto stale = DownloadObjects(*store_, {jobs[2]}, o);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.status().code(), core::Code::kFailedPrecondition);
}

// Collects what on_data hands out, to check that every byte came exactly once.
struct Received {
  std::mutex mu;
  std::map<std::string, std::string> bytes;    // key -> content assembled from on_data
  std::map<std::string, std::uint64_t> count;  // key -> bytes handed out
  std::map<std::string, fs::path> downloaded;  // key -> on_downloaded's path
  std::vector<std::string> disk_full;          // keys on_disk_full was called for

  void Attach(TransferOptions& o, const std::map<std::string, std::uint64_t>& sizes,
              bool allow_no_file) {
    for (const auto& [key, size] : sizes) bytes[key].assign(size, '\0');
    o.on_data = [this](const ObjectInfo& info, std::uint64_t offset, std::span<const std::byte> b) {
      std::lock_guard<std::mutex> lock(mu);
      std::string& out = bytes[info.key];
      if (offset + b.size() > out.size()) return core::DataLoss("past the end");
      std::memcpy(out.data() + offset, b.data(), b.size());
      count[info.key] += b.size();
      return core::Status::Ok();
    };
    o.on_downloaded = [this](const ObjectInfo& info, const fs::path& file) {
      std::lock_guard<std::mutex> lock(mu);
      downloaded[info.key] = file;
      return core::Status::Ok();
    };
    o.on_disk_full = [this, allow_no_file](const ObjectInfo& info, const core::Status& why) {
      std::lock_guard<std::mutex> lock(mu);
      disk_full.push_back(info.key + " " + std::string(core::CodeName(why.code())));
      return allow_no_file;
    };
  }
};

TEST_F(TransferTest, EmptyDestinationReceivesForOnDataOnly) {
  const std::string data = RandomBytes(5 * kMiB + 3, 11);
  ASSERT_TRUE(store_->Put("w.bin", data).ok());
  auto listed = store_->List("w.bin");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 1u);
  TransferOptions o;
  o.range_size = 1 * kMiB;
  o.concurrency = 4;
  Received got;
  got.Attach(o, {{"w.bin", data.size()}}, false);
  auto down = DownloadObjects(*store_, {{(*listed)[0], fs::path()}}, o);
  ASSERT_TRUE(down.ok()) << down.status().ToString();
  EXPECT_EQ(got.bytes["w.bin"], data);
  EXPECT_EQ(got.count["w.bin"], data.size());  // each byte once
  ASSERT_EQ(got.downloaded.count("w.bin"), 1u);
  EXPECT_TRUE(got.downloaded["w.bin"].empty());
  EXPECT_TRUE(got.disk_full.empty());
  for (const auto& e : fs::directory_iterator(dir_)) {
    EXPECT_EQ(e.path(), dir_ / "bucket");  // nothing was written beside the bucket
  }

  TransferOptions bare;
  auto refused = DownloadObjects(*store_, {{(*listed)[0], fs::path()}}, bare);
  EXPECT_EQ(refused.status().code(), core::Code::kInvalidArgument);
}

// A disk too small for one object: with on_disk_full saying "go on", the object is received for
// on_data only and the one that fits still lands as a file; without it the transfer fails with
// ResourceExhausted. Nothing half-written is left either way. Runs in a child with a 2 MiB tmpfs.
TEST_F(TransferTest, FullDiskContinuesWithoutTheFileWhenAllowed) {
  const std::string big = RandomBytes(6 * kMiB + 1, 12), small = RandomBytes(300 * 1024, 13);
  ASSERT_TRUE(store_->Put("m/big.bin", big).ok());
  ASSERT_TRUE(store_->Put("m/small.bin", small).ok());
  auto listed = store_->List("m/");
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->size(), 2u);
  const fs::path disk = dir_ / "disk";
  fs::create_directories(disk);
  const auto run = [&](bool allow) {
    return core::testing::RunOnSmallDisk(2 * kMiB, disk, [&](const fs::path& d) -> std::string {
      std::vector<DownloadJob> jobs;
      for (const auto& o : *listed) jobs.push_back({o, d / o.key.substr(2)});
      TransferOptions o;
      o.range_size = 1 * kMiB;
      o.concurrency = 3;
      Received got;
      got.Attach(o, {{"m/big.bin", big.size()}, {"m/small.bin", small.size()}}, allow);
      auto down = DownloadObjects(*store_, jobs, o);
      std::string report = down.ok() ? "ok" : down.status().ToString();
      report += "|full=" + std::to_string(got.disk_full.size());
      if (!got.disk_full.empty()) report += ":" + got.disk_full[0];
      report += "|big=" + std::string(got.bytes["m/big.bin"] == big ? "same" : "differs") + "," +
                std::to_string(got.count["m/big.bin"]);
      report += "|big_path=" + got.downloaded["m/big.bin"].string();
      report += "|small_file=" +
                std::string(fs::exists(d / "small.bin") && ReadFile(d / "small.bin") == small
                                ? "same"
                                : "missing");
      std::vector<std::string> names;
      for (const auto& e : fs::directory_iterator(d)) names.push_back(e.path().filename());
      std::sort(names.begin(), names.end());
      report += "|files=";
      for (const auto& n : names) report += n + ",";
      return report;
    });
  };
  auto allowed = run(true);
  if (!allowed) GTEST_SKIP() << "cannot mount a small tmpfs here (no mount namespace)";
  EXPECT_EQ(*allowed, "ok|full=1:m/big.bin RESOURCE_EXHAUSTED|big=same," +
                          std::to_string(big.size()) +
                          "|big_path=|small_file=same|files=small.bin,");

  auto refused = run(false);
  ASSERT_TRUE(refused.has_value());
  EXPECT_EQ(refused->rfind("RESOURCE_EXHAUSTED: cannot reserve space for ", 0), 0u) << *refused;
  EXPECT_NE(refused->find("|full=1:m/big.bin"), std::string::npos) << *refused;
  const std::string files = refused->substr(refused->find("|files="));
  EXPECT_EQ(files.find(std::string(kTempMarker)), std::string::npos) << *refused;
  EXPECT_EQ(files.find("big.bin"), std::string::npos) << *refused;  // no file, no temp
}

TEST_F(TransferTest, MissingObjectsAndEmptyPrefixesAreClearErrors) {
  TransferOptions o;
  auto a = DownloadFile(*store_, "nope.bin", dir_ / "x", o);
  EXPECT_EQ(a.status().code(), core::Code::kNotFound);
  auto b = DownloadPrefix(*store_, "nothing/", dir_ / "y", o);
  EXPECT_EQ(b.status().code(), core::Code::kNotFound);
  auto c = UploadFile(*store_, dir_ / "missing.bin", "k", o);
  EXPECT_EQ(c.status().code(), core::Code::kNotFound);
}

TEST_F(TransferTest, LocalStoreRejectsEscapingKeys) {
  EXPECT_EQ(store_->Put("../evil", "x").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(store_->Put("/abs", "x").status().code(), core::Code::kInvalidArgument);
  EXPECT_EQ(store_->Put("a//b", "x").status().code(), core::Code::kInvalidArgument);
  EXPECT_FALSE(fs::exists(dir_ / "evil"));
}

TEST_F(TransferTest, LocalStoreBasics) {
  ASSERT_TRUE(store_->Put("a/b.txt", "hello world").ok());
  auto head = store_->Head("a/b.txt");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, 11u);
  char buf[5];
  ASSERT_TRUE(store_->ReadRange("a/b.txt", 6, std::span<char>(buf, 5)).ok());
  EXPECT_EQ(std::string(buf, 5), "world");
  EXPECT_EQ(*store_->GetObject("a/b.txt"), "hello world");
  EXPECT_EQ(store_->ReadRange("a/b.txt", 8, std::span<char>(buf, 5)).code(),
            core::Code::kFailedPrecondition);
  ASSERT_TRUE(store_->Delete("a/b.txt").ok());
  ASSERT_TRUE(store_->Delete("a/b.txt").ok());  // idempotent, like S3
  EXPECT_EQ(store_->Head("a/b.txt").status().code(), core::Code::kNotFound);
  EXPECT_EQ(store_->Presign("k", PresignMethod::kGet, std::chrono::seconds(60)).status().code(),
            core::Code::kUnimplemented);
}

TEST_F(TransferTest, LocalStoreListsIncompleteMultipartUploads) {
  auto a = store_->CreateMultipartUpload("models/a.bin");
  auto b = store_->CreateMultipartUpload("other/b.bin");
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_TRUE(store_->UploadPart("models/a.bin", *a, 1, "part one").ok());
  auto all = store_->ListMultipartUploads("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].key, "models/a.bin");
  EXPECT_EQ((*all)[0].upload_id, *a);
  EXPECT_EQ((*all)[0].initiated.size(), 24u) << (*all)[0].initiated;  // 2026-12-05T12:00:00.000Z
  auto models = store_->ListMultipartUploads("models/");
  ASSERT_TRUE(models.ok());
  ASSERT_EQ(models->size(), 1u);
  // Completed and aborted uploads are no longer listed; nor are they objects while open.
  EXPECT_TRUE(store_->List("")->empty());
  ASSERT_TRUE(store_->AbortMultipartUpload("other/b.bin", *b).ok());
  const std::vector<PartInfo> parts = {{1, store_->ListParts("models/a.bin", *a)->at(0).etag, 0}};
  ASSERT_TRUE(store_->CompleteMultipartUpload("models/a.bin", *a, parts).ok());
  EXPECT_TRUE(store_->ListMultipartUploads("")->empty());
}

TEST(ParseLocation, Forms) {
  auto s3 = ParseLocation("s3://bucket/models/x");
  ASSERT_TRUE(s3.ok());
  EXPECT_EQ(s3->kind, Location::Kind::kS3);
  EXPECT_EQ(s3->bucket, "bucket");
  EXPECT_EQ(s3->prefix, "models/x");
  auto bare = ParseLocation("my-model-bucket");
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->kind, Location::Kind::kS3);
  EXPECT_EQ(bare->bucket, "my-model-bucket");
  auto file = ParseLocation("file:///tmp/x");
  ASSERT_TRUE(file.ok());
  EXPECT_EQ(file->kind, Location::Kind::kLocal);
  EXPECT_EQ(file->path, "/tmp/x");
  EXPECT_EQ(ParseLocation("./rel")->kind, Location::Kind::kLocal);
  EXPECT_FALSE(ParseLocation("s3://").ok());
  EXPECT_FALSE(ParseLocation("gs://b").ok());
  EXPECT_FALSE(ParseLocation("").ok());
}

}  // namespace
}  // namespace sdxl::storage
