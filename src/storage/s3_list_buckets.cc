#include "storage/s3_list_buckets.h"

#include <pugixml.hpp>

namespace sdxl::storage {

core::Result<BucketsPage> ParseListBuckets(std::string_view body) {
  pugi::xml_document doc;
  const auto parsed =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
  pugi::xml_node root = doc.child("ListAllMyBucketsResult");
  if (!parsed || !root) {
    return core::Status(core::Code::kDataLoss,
                        "ListBuckets: the response is not a ListAllMyBucketsResult document "
                        "(truncated by a proxy, or the endpoint is not S3?)",
                        /*retryable=*/true);
  }
  BucketsPage page;
  for (pugi::xml_node b = root.child("Buckets").child("Bucket"); b; b = b.next_sibling("Bucket")) {
    BucketInfo info;
    info.name = b.child_value("Name");
    info.creation_date = b.child_value("CreationDate");
    if (!info.name.empty()) page.buckets.push_back(std::move(info));
  }
  page.continuation_token = root.child_value("ContinuationToken");
  return page;
}

}  // namespace sdxl::storage
