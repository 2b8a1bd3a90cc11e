#pragma once
// LocalObjectStore: ObjectStore over a local directory (tests, air-gapped use, caches).
//
// Keys map to files under the root ("a/b.bin" -> ROOT/a/b.bin); keys with "." or ".." segments,
// empty segments or a leading '/' are rejected. Writes are atomic (core::WriteFileAtomically and
// core::AtomicFileWriter: a temporary file in the same directory, fsync, rename(2)). Multipart
// uploads keep their parts under ROOT/.sdxl-uploads/ (written without fsync: they are scratch).
// Thread-safe: every call works on its own file descriptors; concurrent writers of one key race
// like rename does (the last one wins, never a mix).

#include <filesystem>
#include <memory>
#include <string>

#include "core/file_util.h"
#include "storage/object_store.h"

namespace sdxl::storage {

class LocalObjectStore final : public ObjectStore {
 public:
  explicit LocalObjectStore(std::filesystem::path root);

  std::string Describe() const override;
  std::string DescribeKey(std::string_view key) const override;
  core::Result<ObjectInfo> Head(std::string_view key) override;
  core::Status GetRange(std::string_view key, std::uint64_t offset,
                        std::optional<std::uint64_t> length, const ChunkSink& sink,
                        const ReadOptions& options = {}) override;
  core::Result<std::string> Put(std::string_view key, std::string_view data,
                                std::string_view content_type = {}) override;
  core::Result<std::string> CreateMultipartUpload(std::string_view key) override;
  core::Result<std::string> UploadPart(std::string_view key, std::string_view upload_id,
                                       int part_number, std::string_view data) override;
  core::Result<std::string> CompleteMultipartUpload(std::string_view key,
                                                    std::string_view upload_id,
                                                    std::span<const PartInfo> parts) override;
  core::Status AbortMultipartUpload(std::string_view key, std::string_view upload_id) override;
  core::Result<std::vector<PartInfo>> ListParts(std::string_view key,
                                                std::string_view upload_id) override;
  core::Result<std::vector<UploadInfo>> ListMultipartUploads(std::string_view prefix) override;
  core::Result<std::vector<ObjectInfo>> List(std::string_view prefix) override;
  core::Status Delete(std::string_view key) override;
  core::Status CreateBucket() override;
  core::Result<std::string> Presign(std::string_view key, PresignMethod method,
                                    std::chrono::seconds expires) override;

  const std::filesystem::path& root() const { return root_; }

 private:
  core::Result<std::filesystem::path> PathFor(std::string_view key) const;
  core::Result<std::filesystem::path> UploadDir(std::string_view upload_id) const;

  std::filesystem::path root_;
};

// The temporary names of core's atomic writers (".NAME.sdxl-tmp-XXXXXXXX"): the store's List(),
// the transfer engine and the model cache skip them.
using core::kTempMarker;
using core::TempPathFor;

}  // namespace sdxl::storage
