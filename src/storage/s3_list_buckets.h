#pragma once
// ListBuckets (GET / on the service endpoint): the parser of its ListAllMyBucketsResult body.
// Pure function (pugixml), thread-safe. Malformed XML is a retryable DataLoss, as for the other
// S3 bodies (s3_xml.h).

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace sdxl::storage {

struct BucketInfo {
  std::string name;
  std::string creation_date;  // as sent: "2024-05-01T12:00:00.000Z"
};

struct BucketsPage {
  std::vector<BucketInfo> buckets;
  std::string continuation_token;  // empty: last page
};

core::Result<BucketsPage> ParseListBuckets(std::string_view body);

}  // namespace sdxl::storage
