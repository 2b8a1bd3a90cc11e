#include "storage/s3_list_buckets.h"

#include <pugixml.hpp>

#include "storage/s3_xml.h"
#include "storage/s3_xml_nodes.h"

namespace sdxl::storage {

core::Result<BucketsPage> ParseListBuckets(std::string_view body) {
  pugi::xml_document doc;
  const auto parsed =
      doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
  if (parsed && xml::ErrorElement(doc)) {  // an <Error> in a 2xx answer (some gateways)
    const S3Error e = ParseS3Error(body);
    return S3ErrorToStatus(e.code.empty() ? 500 : 400, e, "ListBuckets");
  }
  // Any namespace or prefix, any element order, unknown elements (Owner, Prefix) ignored.
  pugi::xml_node root = xml::Root(doc, {"ListAllMyBuckets", "ListBuckets"});
  if (!parsed || !root) {
    return core::Status(core::Code::kDataLoss,
                        "ListBuckets: the response is not a ListAllMyBucketsResult document "
                        "(truncated by a proxy, or the endpoint is not S3?)",
                        /*retryable=*/true);
  }
  BucketsPage page;
  for (const pugi::xml_node& b : xml::Children(xml::Child(root, "Buckets"), "Bucket")) {
    BucketInfo info;
    info.name = std::string(xml::Trim(xml::Text(b, "Name")));
    info.creation_date = std::string(xml::Trim(xml::Text(b, "CreationDate")));  // optional
    if (!info.name.empty()) page.buckets.push_back(std::move(info));
  }
  page.continuation_token = std::string(xml::Trim(xml::Text(root, "ContinuationToken")));
  return page;
}

}  // namespace sdxl::storage
