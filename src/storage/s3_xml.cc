#include "storage/s3_xml.h"

#include <pugixml.hpp>

#include <cstdlib>

#include "http/retry.h"
#include "http/url.h"
#include "storage/s3_xml_nodes.h"

namespace sdxl::storage {
namespace {

using xml::Bool;
using xml::Child;
using xml::Children;
using xml::ErrorElement;
using xml::Root;
using xml::Text;
using xml::Trim;
using xml::Uint;

core::Status BadXml(std::string_view what, std::string_view body) {
  std::string snippet(body.substr(0, 120));
  for (char& c : snippet) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return core::Status(
      core::Code::kDataLoss,
      "malformed " + std::string(what) + " response from the server: \"" + snippet + "\"",
      /*retryable=*/true);
}

bool Load(pugi::xml_document& doc, std::string_view body) {
  // S3 may send white space before the document to keep a long CompleteMultipartUpload (or
  // CopyObject) connection open; an XML declaration after it is still the document's.
  body = xml::Trim(body);
  return doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
}

S3Error ErrorFrom(const pugi::xml_node& err) {
  S3Error e;
  e.code = std::string(Trim(Text(err, "Code")));
  e.message = Text(err, "Message");
  e.resource = Text(err, "Resource");
  e.request_id = Text(err, "RequestId");
  return e;
}

// A 2xx answer whose body is an <Error> document: CompleteMultipartUpload, CopyObject and
// UploadPartCopy report failures this way, because the server sent "200 OK" before it knew.
// Retryable when the code says the server may succeed next time (InternalError, SlowDown, ...),
// like the AWS SDKs, which retry these as 500s; a code that cannot change (InvalidPart,
// NoSuchUpload, AccessDenied, ...) fails at once.
core::Status ErrorIn200(const pugi::xml_node& err, std::string_view operation) {
  const S3Error e = ErrorFrom(err);
  const bool retry = e.code.empty() || http::IsRetryableHttp(200, e.code) ||
                     e.code == "ServiceUnavailable" || e.code == "SlowDown";
  core::Status st = S3ErrorToStatus(retry ? 500 : 400, e,
                                    std::string(operation) + " (200 OK with an error body)");
  return core::Status(st.code(), st.message(), retry).WithHttp(200, e.code);
}

std::string Escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\r':
        out += "&#13;";
        break;
      case '\n':
        out += "&#10;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// A key from a listing answered with EncodingType=url: form-style encoding, as botocore decodes
// it (unquote_plus), so '+' is a space.
core::Result<std::string> ListedKey(std::string key, bool url_encoded) {
  if (!url_encoded) return key;
  for (char& ch : key) {
    if (ch == '+') ch = ' ';
  }
  return http::UriDecode(key);
}

}  // namespace

std::string StripQuotes(std::string_view etag) {
  etag = Trim(etag);
  if (etag.starts_with("W/")) etag.remove_prefix(2);  // a weak ETag, as some proxies rewrite it
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.starts_with("&quot;") && etag.ends_with("&quot;") && etag.size() >= 12) {
    etag = etag.substr(6, etag.size() - 12);
  }
  return std::string(etag);
}

S3Error ParseS3Error(std::string_view body) {
  pugi::xml_document doc;
  if (body.empty() || !Load(doc, body)) return {};
  pugi::xml_node err = ErrorElement(doc);
  if (!err) return {};
  return ErrorFrom(err);
}

core::Status S3ErrorToStatus(int http_status, const S3Error& error, std::string_view what_view) {
  const std::string what(what_view);
  const std::string& code = error.code;
  std::string detail = code.empty() ? "HTTP " + std::to_string(http_status) : code;
  if (!error.message.empty()) detail += " (" + error.message + ")";
  core::Status st;
  if (code == "NoSuchBucket") {
    st = core::NotFound(what +
                        ": bucket does not exist; create it with `sdxl-tigris mb` or "
                        "check the bucket name and endpoint");
  } else if (code == "NoSuchKey" || (code.empty() && http_status == 404)) {
    st = core::NotFound(what + ": no such object; check the key (ls lists what exists)");
  } else if (code == "NoSuchUpload") {
    st = core::NotFound(what + ": the multipart upload no longer exists (aborted or expired)");
  } else if (code == "SignatureDoesNotMatch") {
    st = core::Unauthenticated(what +
                               ": signature does not match; check "
                               "AWS_SECRET_ACCESS_KEY, the endpoint URL and the region");
  } else if (code == "InvalidAccessKeyId") {
    st = core::Unauthenticated(what +
                               ": access key is unknown to this endpoint; check "
                               "AWS_ACCESS_KEY_ID and AWS_ENDPOINT_URL_S3");
  } else if (code == "RequestTimeTooSkewed") {
    st = core::Unauthenticated(what +
                               ": the local clock is too far from the server's; sync it "
                               "(e.g. with NTP)");
  } else if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired") {
    st = core::Unauthenticated(what +
                               ": session token expired or invalid; refresh "
                               "AWS_SESSION_TOKEN");
  } else if (code.empty() && http_status == 403) {
    // A HEAD answer has no body to say why: bad credentials and a denying policy look alike.
    st = core::PermissionDenied(what +
                                ": access denied (HTTP 403 without details); check "
                                "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the endpoint, and "
                                "that the key's policy allows this bucket and action");
  } else if (code == "AccessDenied" || code == "AllAccessDisabled" || http_status == 403) {
    st = core::PermissionDenied(what + ": access denied (" + detail +
                                "); check that the key's policy allows this bucket and action");
  } else if (code == "PreconditionFailed" || http_status == 412) {
    st = core::FailedPrecondition(what + ": the object changed during the transfer; run again");
  } else if (code == "InvalidRange" || http_status == 416) {
    st = core::Status(core::Code::kFailedPrecondition,
                      what + ": requested range is outside the object (it changed?); run again");
  } else if (code == "BucketAlreadyExists") {
    st = core::Status(core::Code::kAlreadyExists,
                      what + ": bucket name is taken by another account; pick another name");
  } else if (code == "EntityTooSmall") {
    st = core::InvalidArgument(what + ": multipart part too small (" + detail +
                               "); use a part size of at least 5 MiB");
  } else if (code == "EntityTooLarge") {
    st = core::InvalidArgument(what + ": object or part too large (" + detail + ")");
  } else if (code == "BucketNotEmpty") {
    st = core::FailedPrecondition(what + ": bucket is not empty; delete its objects first");
  } else if (code == "PermanentRedirect" || code == "AuthorizationHeaderMalformed" ||
             http_status == 301) {
    st = core::InvalidArgument(what + ": wrong region or endpoint for this bucket (" + detail +
                               "); set AWS_REGION / AWS_ENDPOINT_URL_S3");
  } else {
    const bool retry = http::IsRetryableHttp(http_status, code);
    st = core::Status(retry ? core::Code::kUnavailable : core::Code::kInternal,
                      what + " failed: " + detail, retry);
    if (!retry && http_status >= 400 && http_status < 500) {
      st = core::Status(core::Code::kInvalidArgument, what + " rejected: " + detail, false);
    }
  }
  return std::move(st).WithHttp(http_status, code);
}

core::Result<ListPage> ParseListObjectsV2(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("ListObjectsV2", body);
  if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, "ListObjectsV2");
  pugi::xml_node root = Root(doc, {"ListBucketResult", "ListObjectsV2"});
  if (!root) return BadXml("ListObjectsV2", body);
  ListPage page;
  const bool url_encoded = Trim(Text(root, "EncodingType")) == "url";
  page.truncated = Bool(root, "IsTruncated");
  page.next_continuation_token = std::string(Trim(Text(root, "NextContinuationToken")));
  for (const pugi::xml_node& c : Children(root, "Contents")) {
    ObjectInfo info;
    info.key = Text(c, "Key");
    SDXL_ASSIGN_OR_RETURN(info.key, ListedKey(std::move(info.key), url_encoded));
    if (info.key.empty()) return BadXml("ListObjectsV2 (Contents without Key)", body);
    // Size is what every listing consumer needs (transfer planning, ls): required.
    const auto size = Uint(c, "Size");
    if (!size) return BadXml("ListObjectsV2 (Size)", body);
    info.size = *size;
    info.etag = StripQuotes(Text(c, "ETag"));                         // optional, quoted or not
    info.last_modified = std::string(Trim(Text(c, "LastModified")));  // optional
    page.objects.push_back(std::move(info));
  }
  if (page.truncated && page.next_continuation_token.empty()) {
    return BadXml("ListObjectsV2 (truncated without NextContinuationToken)", body);
  }
  return page;
}

core::Result<std::string> ParseInitiateMultipartUpload(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("CreateMultipartUpload", body);
  if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, "CreateMultipartUpload");
  pugi::xml_node root = doc.document_element();  // any name: the UploadId is what matters
  std::string id(Trim(Text(root, "UploadId")));
  if (id.empty()) return BadXml("CreateMultipartUpload", body);
  return id;
}

core::Result<std::string> ParseCompleteMultipartUpload(std::string_view body) {
  // Empty or cut short: the server may have failed after "200 OK" (botocore retries this too).
  if (Trim(body).empty()) {
    return core::Unavailable("CompleteMultipartUpload: 200 OK with an empty body; retrying");
  }
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("CompleteMultipartUpload", body);
  if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, "CompleteMultipartUpload");
  pugi::xml_node r = Root(doc, {"CompleteMultipartUpload"});
  if (!r) return BadXml("CompleteMultipartUpload", body);
  return StripQuotes(Text(r, "ETag"));  // "" when a server leaves the optional ETag out
}

core::Result<std::string> ParseCopyResult(std::string_view body, std::string_view operation) {
  if (Trim(body).empty()) {
    return core::Unavailable(std::string(operation) + ": 200 OK with an empty body; retrying");
  }
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml(operation, body);
  if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, operation);
  pugi::xml_node r = Root(doc, {"CopyObjectResult", "CopyPartResult"});
  if (!r) return BadXml(operation, body);
  return StripQuotes(Text(r, "ETag"));
}

core::Result<PartsPage> ParseListParts(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("ListParts", body);
  if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, "ListParts");
  pugi::xml_node r = Root(doc, {"ListParts"});
  if (!r) return BadXml("ListParts", body);
  PartsPage page;
  page.truncated = Bool(r, "IsTruncated");
  page.next_part_number_marker = std::string(Trim(Text(r, "NextPartNumberMarker")));
  for (const pugi::xml_node& p : Children(r, "Part")) {
    const auto number = Uint(p, "PartNumber");
    if (!number || *number < 1 || *number > 10000) return BadXml("ListParts (PartNumber)", body);
    PartInfo part;
    part.number = static_cast<int>(*number);
    part.etag = StripQuotes(Text(p, "ETag"));
    part.size = Uint(p, "Size").value_or(0);
    page.parts.push_back(std::move(part));
  }
  return page;
}

core::Result<UploadsPage> ParseListMultipartUploads(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("ListMultipartUploads", body);
  if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, "ListMultipartUploads");
  pugi::xml_node r = Root(doc, {"ListMultipartUploads"});
  if (!r) return BadXml("ListMultipartUploads", body);
  UploadsPage page;
  const bool url_encoded = Trim(Text(r, "EncodingType")) == "url";
  page.truncated = Bool(r, "IsTruncated");
  SDXL_ASSIGN_OR_RETURN(page.next_key_marker,
                        ListedKey(std::string(Trim(Text(r, "NextKeyMarker"))), url_encoded));
  page.next_upload_id_marker = std::string(Trim(Text(r, "NextUploadIdMarker")));
  for (const pugi::xml_node& u : Children(r, "Upload")) {
    UploadInfo info;
    SDXL_ASSIGN_OR_RETURN(info.key, ListedKey(Text(u, "Key"), url_encoded));
    info.upload_id = std::string(Trim(Text(u, "UploadId")));
    if (info.key.empty() || info.upload_id.empty()) {
      return BadXml("ListMultipartUploads (Upload without Key or UploadId)", body);
    }
    info.initiated = std::string(Trim(Text(u, "Initiated")));  // optional
    page.uploads.push_back(std::move(info));
  }
  if (page.truncated && page.next_key_marker.empty() && page.next_upload_id_marker.empty()) {
    return BadXml("ListMultipartUploads (truncated without a next marker)", body);
  }
  return page;
}

core::Result<std::vector<std::string>> ParseDeleteResult(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("DeleteObjects", body);
  pugi::xml_node r = Root(doc, {"DeleteResult", "DeleteObjects"});
  if (!r) {
    if (pugi::xml_node err = ErrorElement(doc)) return ErrorIn200(err, "DeleteObjects");
    return BadXml("DeleteObjects", body);
  }
  std::vector<std::string> failed;
  for (const pugi::xml_node& e : Children(r, "Error")) {
    const std::string code(Trim(Text(e, "Code")));
    if (code == "NoSuchKey") continue;  // already gone: what a delete wants
    failed.push_back(Text(e, "Key") + ": " + code + " " + Text(e, "Message"));
  }
  return failed;
}

std::string BuildCompleteMultipartUpload(std::span<const PartInfo> parts) {
  std::string out = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
  for (const auto& p : parts) {
    out += "<Part><PartNumber>" + std::to_string(p.number) + "</PartNumber><ETag>\"" +
           Escape(p.etag) + "\"</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

std::string BuildDeleteObjects(std::span<const std::string> keys) {
  std::string out = "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Quiet>true</Quiet>";
  for (const auto& k : keys) out += "<Object><Key>" + Escape(k) + "</Key></Object>";
  out += "</Delete>";
  return out;
}

}  // namespace sdxl::storage
