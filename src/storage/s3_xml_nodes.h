#pragma once
// Namespace-blind helpers over pugixml nodes for the S3 response parsers (s3_xml.cc,
// s3_list_buckets.cc): look elements up by local name in any order, read text, booleans and
// numbers leniently, and recognise a root element or an <Error> document the way the AWS SDKs
// do. Pure inline functions, thread-safe; the nodes belong to the caller's pugi::xml_document.

#include <pugixml.hpp>

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sdxl::storage::xml {

// Element names are compared without their namespace prefix ("s3:Key" is "Key"), as the AWS
// SDKs do; the default namespace (xmlns="...") never shows in pugixml's names anyway.
inline std::string_view LocalName(const pugi::xml_node& n) {
  std::string_view name = n.name();
  const size_t colon = name.rfind(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

// The first child element called `local` (any prefix, any position); null when absent.
inline pugi::xml_node Child(const pugi::xml_node& parent, std::string_view local) {
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) == local) return c;
  }
  return {};
}

// Every child element called `local`, in document order (other elements in between ignored).
inline std::vector<pugi::xml_node> Children(const pugi::xml_node& parent, std::string_view local) {
  std::vector<pugi::xml_node> out;
  for (pugi::xml_node c = parent.first_child(); c; c = c.next_sibling()) {
    if (c.type() == pugi::node_element && LocalName(c) == local) out.push_back(c);
  }
  return out;
}

// The text of child `local` ("" when absent): text and CDATA pieces joined, untrimmed (keys may
// start or end with spaces).
inline std::string Text(const pugi::xml_node& parent, std::string_view local) {
  pugi::xml_node c = Child(parent, local);
  std::string out;
  for (pugi::xml_node t = c.first_child(); t; t = t.next_sibling()) {
    if (t.type() == pugi::node_pcdata || t.type() == pugi::node_cdata) out += t.value();
  }
  return out;
}

inline std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// "true" in any case, surrounding white space allowed; anything else (or absent) is false.
inline bool Bool(const pugi::xml_node& parent, std::string_view local) {
  std::string v(Trim(Text(parent, local)));
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v == "true";
}

// A non-negative decimal integer; nullopt when absent or not a number.
inline std::optional<std::uint64_t> Uint(const pugi::xml_node& parent, std::string_view local) {
  const std::string v(Trim(Text(parent, local)));
  if (v.empty() || !std::isdigit(static_cast<unsigned char>(v.front()))) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return std::nullopt;
  return static_cast<std::uint64_t>(n);
}

// The document element when its local name starts with one of `stems` (so both
// "CompleteMultipartUploadResult", AWS's name, and "CompleteMultipartUploadResponse", moto's, are
// accepted); null otherwise.
inline pugi::xml_node Root(const pugi::xml_document& doc,
                           std::initializer_list<std::string_view> stems) {
  pugi::xml_node root = doc.document_element();
  if (!root) return {};
  const std::string_view name = LocalName(root);
  for (std::string_view stem : stems) {
    if (name.starts_with(stem)) return root;
  }
  return {};
}

// The <Error> element of an error document (<Error> at the top, or inside <ErrorResponse> as the
// query-protocol services and some gateways send it); null for other documents.
inline pugi::xml_node ErrorElement(const pugi::xml_document& doc) {
  pugi::xml_node root = doc.document_element();
  if (!root) return {};
  if (LocalName(root) == "Error") return root;
  if (LocalName(root) == "ErrorResponse") return Child(root, "Error");
  return {};
}

}  // namespace sdxl::storage::xml
