// libFuzzer target: the Hugging Face Hub answers sdxl-tigris parses (hub/hub_protocol.h): tree
// listing pages, revision (model info) answers, `Link` pagination headers, ETags, and error
// headers. Beyond "no crash": every listed file has a safe relative path, an accepted commit is
// 40 hex digits, a `next` link is text that stood between <> in the header, and an error response
// always maps to a failed Status with a message.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "hub/hub_protocol.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sdxl::hub;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  auto files = ParseTreePage(text);
  if (!files.ok()) {
    Check(!files.status().message().empty());
  } else {
    for (const RepoFile& f : *files) {
      Check(!f.path.empty() && f.path.front() != '/');
      Check(f.path.find("..") == std::string::npos);
      Check(&f.etag() == (f.lfs_sha256 ? &*f.lfs_sha256 : &f.oid));
    }
  }

  auto commit = ParseRevisionCommit(text);
  if (commit.ok()) {
    Check(commit->size() == 40);
    for (unsigned char c : *commit) Check(std::isxdigit(c) != 0);
  } else {
    Check(!commit.status().message().empty());
  }

  if (auto next = ParseLinkNext(text)) {
    Check(text.find("<" + *next + ">") != std::string_view::npos);
  }
  Check(NormalizeEtag(text).size() <= text.size());

  // The same bytes as X-Error-Code / X-Error-Message of a failed request.
  const sdxl::http::Headers headers = {{"X-Error-Code", std::string(text.substr(0, 64))},
                                       {"X-Error-Message", std::string(text)}};
  const RequestContext ctx{"https://huggingface.co", "org/name", "main", "unet/x.safetensors",
                           size % 2 == 0};
  for (long status : {401L, 403L, 404L, 429L, 500L, 418L}) {
    const sdxl::core::Status st = ErrorForResponse(status, headers, ctx);
    Check(!st.ok() && !st.message().empty());
  }
  return 0;
}
