#include "hub/hub_protocol.h"

#include <cctype>
#include <nlohmann/json.hpp>

#include "http/url.h"

namespace sdxl::hub {
namespace {

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string HeaderOr(const http::Headers& h, std::string_view name) {
  return http::FindHeader(h, name).value_or("");
}

bool IsHex40(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

}  // namespace

core::Status ValidateRepoId(std::string_view repo_id) {
  auto bad = [&](const std::string& why) {
    std::string message = "'";  // built by appends: GCC 12 warns (-Wrestrict) on "x" + string&&
    message.append(repo_id).append("' is not a Hugging Face repo id (").append(why);
    message += "): use the form org/name, e.g. ByteDance/SDXL-Lightning";
    return core::InvalidArgument(std::move(message));
  };
  if (repo_id.empty() || repo_id.size() > 96) return bad("1 to 96 characters");
  size_t slash = repo_id.find('/');
  if (slash != std::string_view::npos && repo_id.find('/', slash + 1) != std::string_view::npos) {
    return bad("at most one '/'");
  }
  if (repo_id.find("--") != std::string_view::npos ||
      repo_id.find("..") != std::string_view::npos) {
    return bad("'--' and '..' are not allowed");
  }
  auto check_part = [&](std::string_view p) -> bool {
    if (p.empty()) return false;
    for (unsigned char c : p) {
      if (!(std::isalnum(c) || c == '-' || c == '_' || c == '.')) return false;
    }
    return p.front() != '-' && p.front() != '.' && p.back() != '-' && p.back() != '.';
  };
  if (slash == std::string_view::npos) {
    if (!check_part(repo_id)) return bad("letters, digits, '-', '_' and '.' only");
  } else if (!check_part(repo_id.substr(0, slash)) || !check_part(repo_id.substr(slash + 1))) {
    return bad("letters, digits, '-', '_' and '.' only");
  }
  return core::Status::Ok();
}

std::string RepoFolderName(std::string_view repo_id) {
  std::string out = "models--";
  for (char c : repo_id) {
    if (c == '/') {
      out += "--";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string RevisionUrl(std::string_view endpoint, std::string_view repo_id,
                        std::string_view revision) {
  return std::string(endpoint) + "/api/models/" + std::string(repo_id) + "/revision/" +
         http::UriEncode(revision, /*keep_slash=*/false);
}

std::string TreeUrl(std::string_view endpoint, std::string_view repo_id,
                    std::string_view revision) {
  return std::string(endpoint) + "/api/models/" + std::string(repo_id) + "/tree/" +
         http::UriEncode(revision, /*keep_slash=*/false) + "?recursive=true&expand=false";
}

std::string ResolveUrl(std::string_view endpoint, std::string_view repo_id,
                       std::string_view revision, std::string_view path) {
  return std::string(endpoint) + "/" + std::string(repo_id) + "/resolve/" +
         http::UriEncode(revision, /*keep_slash=*/false) + "/" +
         http::UriEncode(path, /*keep_slash=*/true);
}

std::string RepoPageUrl(std::string_view endpoint, std::string_view repo_id) {
  return std::string(endpoint) + "/" + std::string(repo_id);
}

std::optional<std::string> ParseLinkNext(std::string_view link) {
  // <url>; rel="next", <url2>; rel="prev"
  size_t pos = 0;
  while (pos < link.size()) {
    size_t lt = link.find('<', pos);
    if (lt == std::string_view::npos) break;
    size_t gt = link.find('>', lt);
    if (gt == std::string_view::npos) break;
    std::string url(link.substr(lt + 1, gt - lt - 1));
    size_t next = link.find('<', gt);
    std::string_view params =
        link.substr(gt + 1, (next == std::string_view::npos ? link.size() : next) - gt - 1);
    std::string p(params);
    for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (p.find("rel=\"next\"") != std::string::npos || p.find("rel=next") != std::string::npos) {
      return url;
    }
    if (next == std::string_view::npos) break;
    pos = next;
  }
  return std::nullopt;
}

std::string NormalizeEtag(std::string_view etag) {
  std::string_view e = etag;
  if (e.substr(0, 2) == "W/") e.remove_prefix(2);
  std::string t = Trim(e);
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  return t;
}

bool IsRetryableHttpStatus(long s) {
  return s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;
}

core::Result<std::vector<RepoFile>> ParseTreePage(std::string_view json) {
  try {
    auto j = nlohmann::json::parse(json);
    if (!j.is_array()) return core::DataLoss("Hub tree listing is not a JSON array");
    std::vector<RepoFile> out;
    for (const auto& item : j) {
      if (!item.is_object()) return core::DataLoss("Hub tree listing has a non-object entry");
      if (item.value("type", "") != "file") continue;
      RepoFile f;
      f.path = item.at("path").get<std::string>();
      // Sizes are non-negative integers; get<uint64_t>() of -1, 1.5 or 1e30 would be undefined
      // behaviour (found by fuzz/hub_json_fuzz.cc), so anything else is a malformed listing.
      auto size_field = [&](const nlohmann::json& holder) -> core::Status {
        if (!holder.contains("size")) return core::Status::Ok();
        if (!holder["size"].is_number_unsigned()) {
          return core::DataLoss("Hub tree listing has an invalid size for '" + f.path +
                                "': " + holder["size"].dump());
        }
        f.size = holder["size"].get<uint64_t>();
        return core::Status::Ok();
      };
      SDXL_RETURN_IF_ERROR(size_field(item));
      f.oid = item.value("oid", "");
      if (item.contains("lfs") && item["lfs"].is_object()) {
        const auto& lfs = item["lfs"];
        if (lfs.contains("oid")) f.lfs_sha256 = lfs["oid"].get<std::string>();
        SDXL_RETURN_IF_ERROR(size_field(lfs));
      }
      if (f.path.empty() || f.path.front() == '/' || f.path.find("..") != std::string::npos) {
        return core::DataLoss("Hub tree listing has an unsafe path '" + f.path + "'");
      }
      out.push_back(std::move(f));
    }
    return out;
  } catch (const std::exception& e) {
    return core::DataLoss(std::string("cannot parse the Hub tree listing: ") + e.what());
  }
}

core::Result<std::string> ParseRevisionCommit(std::string_view json) {
  try {
    auto j = nlohmann::json::parse(json);
    std::string sha = j.value("sha", "");
    if (!IsHex40(sha)) return core::DataLoss("Hub revision answer has no 40-hex 'sha' field");
    return sha;
  } catch (const std::exception& e) {
    return core::DataLoss(std::string("cannot parse the Hub revision answer: ") + e.what());
  }
}

core::Status ErrorForResponse(long status, const http::Headers& headers,
                              const RequestContext& ctx) {
  std::string code = HeaderOr(headers, "x-error-code");
  std::string msg = HeaderOr(headers, "x-error-message");
  std::string page = RepoPageUrl(ctx.endpoint, ctx.repo_id);
  std::string token_hint = ctx.has_token
                               ? "check that your HF_TOKEN has read access to it"
                               : "if it is private, set HF_TOKEN (or run `hf auth login`)";
  auto with = [&](core::Status s) { return std::move(s).WithHttp(static_cast<int>(status), code); };
  if (code == "RevisionNotFound") {
    return with(core::NotFound("revision '" + ctx.revision + "' not found in Hugging Face repo '" +
                               ctx.repo_id + "': pass a branch, tag or commit that exists (see " +
                               page + "/tree/main)"));
  }
  if (code == "EntryNotFound") {
    return with(core::NotFound("file '" + ctx.path + "' not found in Hugging Face repo '" +
                               ctx.repo_id + "' at revision '" + ctx.revision +
                               "': check the file name at " + page));
  }
  if (code == "GatedRepo") {
    return with(core::PermissionDenied(
        "Hugging Face repo '" + ctx.repo_id + "' is gated: ask for access at " + page +
        (ctx.has_token ? ", then retry with the same HF_TOKEN"
                       : ", then set HF_TOKEN to a token of the account that was granted access")));
  }
  if (msg == "Access to this resource is disabled.") {
    return with(core::PermissionDenied("Hugging Face repo '" + ctx.repo_id +
                                       "' has been disabled by the Hub: use another repo"));
  }
  if (status == 401 && msg == "Invalid credentials in Authorization header") {
    return with(core::Unauthenticated(
        "the Hugging Face token was rejected (invalid credentials): fix or unset HF_TOKEN / "
        "the token file"));
  }
  if (code == "RepoNotFound" || status == 401 || (status == 404 && ctx.path.empty())) {
    return with(core::NotFound("Hugging Face repo '" + ctx.repo_id +
                               "' not found or not accessible: check the name, and " + token_hint));
  }
  if (status == 404) {
    return with(core::NotFound("file '" + ctx.path + "' not found in Hugging Face repo '" +
                               ctx.repo_id + "' at revision '" + ctx.revision + "'"));
  }
  if (status == 403) {
    return with(core::PermissionDenied("access to Hugging Face repo '" + ctx.repo_id +
                                       "' is forbidden: make sure your token has the correct "
                                       "permissions" +
                                       (msg.empty() ? "" : " (" + msg + ")")));
  }
  if (status == 429) {
    return with(
        core::Unavailable("rate limited by the Hugging Face Hub (429): wait a few minutes, "
                          "or set HF_TOKEN for a higher limit"));
  }
  if (status >= 500) {
    return with(core::Unavailable("the Hugging Face Hub answered HTTP " + std::to_string(status) +
                                  " for repo '" + ctx.repo_id + "': retry later"));
  }
  return with(core::Status(core::Code::kInternal,
                           "unexpected HTTP " + std::to_string(status) +
                               " from the Hugging Face "
                               "Hub for repo '" +
                               ctx.repo_id + "'" + (msg.empty() ? "" : ": " + msg),
                           IsRetryableHttpStatus(status)));
}

}  // namespace sdxl::hub
