// libFuzzer target: every S3 XML response parser over the same bytes (ListObjectsV2, Error,
// CreateMultipartUpload, CompleteMultipartUpload, ListParts, DeleteObjects, ListBuckets).
// Beyond "no crash": failures carry a message, accepted pages keep their invariants, and what the
// client would send back (DeleteObjects keys, CompleteMultipartUpload parts) parses to exactly
// the values it was built from.
#include <pugixml.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "storage/s3_list_buckets.h"
#include "storage/s3_xml.h"

namespace {

using namespace sdxl::storage;

void Check(bool ok) {
  if (!ok) std::abort();
}

template <typename T>
void CheckFailure(const sdxl::core::Result<T>& r) {
  if (!r.ok()) Check(!r.status().message().empty());
}

pugi::xml_node LoadRequest(pugi::xml_document& doc, const std::string& xml, const char* root) {
  // parse_ws_pcdata: a key of spaces is a key, as it is for the server.
  Check(doc.load_buffer(xml.data(), xml.size(), pugi::parse_default | pugi::parse_ws_pcdata,
                        pugi::encoding_utf8));
  pugi::xml_node node = doc.child(root);
  Check(node);
  return node;
}

// Keys from a listing -> the DeleteObjects body we would send -> the same keys.
void CheckDeleteRoundTrip(const ListPage& page) {
  std::vector<std::string> keys;
  for (const ObjectInfo& o : page.objects) {
    // XML cannot carry NUL (a url-encoded listing can name one); such keys are not comparable.
    if (o.key.find('\0') == std::string::npos) keys.push_back(o.key);
  }
  const std::string xml = BuildDeleteObjects(keys);
  pugi::xml_document doc;
  pugi::xml_node del = LoadRequest(doc, xml, "Delete");
  size_t i = 0;
  for (pugi::xml_node o = del.child("Object"); o; o = o.next_sibling("Object"), ++i) {
    Check(i < keys.size() && keys[i] == o.child_value("Key"));
  }
  Check(i == keys.size());
}

// Parts from ListParts -> the CompleteMultipartUpload body we would send -> the same parts.
void CheckCompleteRoundTrip(const PartsPage& page) {
  std::vector<PartInfo> parts;
  for (const PartInfo& p : page.parts) {
    if (p.etag.find('\0') == std::string::npos) parts.push_back(p);
  }
  const std::string xml = BuildCompleteMultipartUpload(parts);
  pugi::xml_document doc;
  pugi::xml_node done = LoadRequest(doc, xml, "CompleteMultipartUpload");
  size_t i = 0;
  for (pugi::xml_node p = done.child("Part"); p; p = p.next_sibling("Part"), ++i) {
    Check(i < parts.size());
    Check(std::string(p.child_value("PartNumber")) == std::to_string(parts[i].number));
    Check(std::string(p.child_value("ETag")) == "\"" + parts[i].etag + "\"");
  }
  Check(i == parts.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);

  const S3Error error = ParseS3Error(body);
  for (int http_status : {200, 301, 403, 404, 416, 500, 503}) {
    const sdxl::core::Status st = S3ErrorToStatus(http_status, error, "GET s3://b/k");
    Check(!st.ok() && !st.message().empty());
  }

  auto list = ParseListObjectsV2(body);
  CheckFailure(list);
  if (list.ok()) {
    Check(!list->truncated || !list->next_continuation_token.empty());
    CheckDeleteRoundTrip(*list);
  }

  auto upload_id = ParseInitiateMultipartUpload(body);
  CheckFailure(upload_id);
  if (upload_id.ok()) Check(!upload_id->empty());

  auto etag = ParseCompleteMultipartUpload(body);
  CheckFailure(etag);
  // A 200 with an <Error> body is never a success.
  if (!error.code.empty()) Check(!etag.ok());

  auto parts = ParseListParts(body);
  CheckFailure(parts);
  if (parts.ok()) CheckCompleteRoundTrip(*parts);

  auto failed = ParseDeleteResult(body);
  CheckFailure(failed);

  auto uploads = ParseListMultipartUploads(body);
  CheckFailure(uploads);
  if (uploads.ok()) {
    for (const UploadInfo& u : uploads->uploads) Check(!u.key.empty() && !u.upload_id.empty());
    // A truncated page always says where the next one starts.
    if (uploads->truncated) {
      Check(!uploads->next_key_marker.empty() || !uploads->next_upload_id_marker.empty());
    }
  }

  auto buckets = ParseListBuckets(body);
  CheckFailure(buckets);
  if (buckets.ok()) {
    for (const BucketInfo& b : buckets->buckets) Check(!b.name.empty());
  }

  Check(StripQuotes(body).size() <= body.size());
  return 0;
}
