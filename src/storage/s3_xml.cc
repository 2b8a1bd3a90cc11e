#include "storage/s3_xml.h"

#include <pugixml.hpp>

#include <cstdlib>
#include <sstream>

#include "http/retry.h"
#include "http/url.h"

namespace sdxl::storage {
namespace {

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
  return doc.load_buffer(body.data(), body.size(), pugi::parse_default, pugi::encoding_utf8);
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

}  // namespace

std::string StripQuotes(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  if (etag.starts_with("&quot;") && etag.ends_with("&quot;") && etag.size() >= 12) {
    etag = etag.substr(6, etag.size() - 12);
  }
  return std::string(etag);
}

S3Error ParseS3Error(std::string_view body) {
  S3Error e;
  pugi::xml_document doc;
  if (body.empty() || !Load(doc, body)) return e;
  pugi::xml_node err = doc.child("Error");
  if (!err) return e;
  e.code = err.child_value("Code");
  e.message = err.child_value("Message");
  e.resource = err.child_value("Resource");
  e.request_id = err.child_value("RequestId");
  return e;
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
  pugi::xml_node root = doc.child("ListBucketResult");
  if (!root) return BadXml("ListObjectsV2", body);
  ListPage page;
  const bool url_encoded = std::string_view(root.child_value("EncodingType")) == "url";
  page.truncated = std::string_view(root.child_value("IsTruncated")) == "true";
  page.next_continuation_token = root.child_value("NextContinuationToken");
  for (pugi::xml_node c = root.child("Contents"); c; c = c.next_sibling("Contents")) {
    ObjectInfo info;
    info.key = c.child_value("Key");
    if (url_encoded) {
      // Form-style encoding, as botocore decodes it (unquote_plus): '+' is a space.
      std::string plus_fixed = info.key;
      for (char& ch : plus_fixed) {
        if (ch == '+') ch = ' ';
      }
      SDXL_ASSIGN_OR_RETURN(info.key, http::UriDecode(plus_fixed));
    }
    const char* size = c.child_value("Size");
    char* end = nullptr;
    info.size = std::strtoull(size, &end, 10);
    if (end == size) return BadXml("ListObjectsV2 (Size)", body);
    info.etag = StripQuotes(c.child_value("ETag"));
    info.last_modified = c.child_value("LastModified");
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
  std::string id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  if (id.empty()) return BadXml("CreateMultipartUpload", body);
  return id;
}

core::Result<std::string> ParseCompleteMultipartUpload(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("CompleteMultipartUpload", body);
  if (doc.child("Error")) {
    const S3Error e = ParseS3Error(body);
    return S3ErrorToStatus(e.code == "InternalError" || e.code == "SlowDown" ? 500 : 400, e,
                           "CompleteMultipartUpload (200 with an error body)");
  }
  pugi::xml_node r = doc.child("CompleteMultipartUploadResult");
  if (!r) return BadXml("CompleteMultipartUpload", body);
  return StripQuotes(r.child_value("ETag"));
}

core::Result<PartsPage> ParseListParts(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("ListParts", body);
  pugi::xml_node r = doc.child("ListPartsResult");
  if (!r) return BadXml("ListParts", body);
  PartsPage page;
  page.truncated = std::string_view(r.child_value("IsTruncated")) == "true";
  page.next_part_number_marker = r.child_value("NextPartNumberMarker");
  for (pugi::xml_node p = r.child("Part"); p; p = p.next_sibling("Part")) {
    PartInfo part;
    part.number = std::atoi(p.child_value("PartNumber"));
    part.etag = StripQuotes(p.child_value("ETag"));
    part.size = std::strtoull(p.child_value("Size"), nullptr, 10);
    page.parts.push_back(std::move(part));
  }
  return page;
}

core::Result<std::vector<std::string>> ParseDeleteResult(std::string_view body) {
  pugi::xml_document doc;
  if (!Load(doc, body)) return BadXml("DeleteObjects", body);
  pugi::xml_node r = doc.child("DeleteResult");
  if (!r) return BadXml("DeleteObjects", body);
  std::vector<std::string> failed;
  for (pugi::xml_node e = r.child("Error"); e; e = e.next_sibling("Error")) {
    failed.push_back(std::string(e.child_value("Key")) + ": " + e.child_value("Code") + " " +
                     e.child_value("Message"));
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
