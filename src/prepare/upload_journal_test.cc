// The upload journal: its JSON form, and a corrupt journal reported (named, ignored) rather than
// swallowed.
#include "prepare/upload_journal.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <filesystem>
#include <memory>

#include "storage/local_object_store.h"

namespace sdxl::prepare {
namespace {

namespace fs = std::filesystem;

TEST(UploadJournal, RoundTrips) {
  Journal j;
  j["unet/diffusion_pytorch_model.safetensors"] = {std::string(64, 'a'), 1234, "\"etag-1\""};
  j["vae/config.json"] = {std::string(64, 'b'), 0, "e2"};
  auto back = ParseJournal(JournalToJson(j));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ(back->at("unet/diffusion_pytorch_model.safetensors").size, 1234u);
  EXPECT_EQ(back->at("unet/diffusion_pytorch_model.safetensors").etag, "\"etag-1\"");
  EXPECT_EQ(back->at("vae/config.json").sha256, std::string(64, 'b'));
  EXPECT_TRUE(ParseJournal(JournalToJson({}))->empty());
}

TEST(UploadJournal, CorruptTextIsAnErrorWithTheReason) {
  for (const char* bad : {"", "{", "[]", R"({"files": 3})", R"({"format_version": 1})",
                          R"({"files": {"a": {"sha256": "x", "size": "big", "etag": "e"}}})",
                          R"({"files": {"a": {"sha256": "x", "size": 1}}})"}) {
    auto j = ParseJournal(bad);
    ASSERT_FALSE(j.ok()) << bad;
    EXPECT_EQ(j.status().code(), core::Code::kDataLoss) << bad;
    EXPECT_NE(j.status().message().find("not an upload journal"), std::string::npos);
  }
}

// A local store in a fresh folder, and the warnings logged while the test runs.
class JournalInStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("upload-journal-test-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    store_ = std::make_unique<storage::LocalObjectStore>(dir_);
    sink_ = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(16);
    old_ = spdlog::default_logger();
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink_));
  }
  void TearDown() override {
    spdlog::set_default_logger(old_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Logged() const {
    std::string all;
    for (const auto& line : sink_->last_formatted()) all += line;
    return all;
  }
  fs::path dir_;
  std::unique_ptr<storage::LocalObjectStore> store_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> old_;
};

TEST_F(JournalInStore, SavedJournalReadsBack) {
  Journal j;
  j["a.json"] = {std::string(64, 'c'), 7, "e"};
  ASSERT_TRUE(SaveUploadJournal(*store_, j).ok());
  Journal back = ReadUploadJournal(*store_, /*listed=*/true);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back["a.json"].size, 7u);
  EXPECT_TRUE(ReadUploadJournal(*store_, /*listed=*/false).empty());
  EXPECT_EQ(Logged(), "");
}

TEST_F(JournalInStore, CorruptJournalIsReportedByNameAndIgnored) {
  ASSERT_TRUE(store_->Put(kUploadJournalName, "{\"files\": {\"a\": tru", "application/json").ok());
  Journal j = ReadUploadJournal(*store_, /*listed=*/true);
  EXPECT_TRUE(j.empty());
  const std::string log = Logged();
  EXPECT_NE(log.find("warning"), std::string::npos) << log;
  EXPECT_NE(log.find(store_->DescribeKey(kUploadJournalName)), std::string::npos) << log;
  EXPECT_NE(log.find("corrupt"), std::string::npos) << log;
  EXPECT_NE(log.find("ignored"), std::string::npos) << log;
  EXPECT_NE(log.find("uploaded again"), std::string::npos) << log;
}

}  // namespace
}  // namespace sdxl::prepare
