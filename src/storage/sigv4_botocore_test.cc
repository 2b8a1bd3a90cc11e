// Differential test: SigV4 header signatures and presigned URLs for random S3 requests (keys with
// spaces, '+', '%', '//', '.', '..', unicode, reserved characters; random query parameters; header
// values with runs of whitespace) signed here and by botocore (the AWS SDK for Python), compared
// byte for byte. Skipped when python3 with botocore is not installed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "http/url.h"
#include "storage/sigv4.h"

namespace sdxl::storage {
namespace {

namespace fs = std::filesystem;

constexpr const char* kOracle = R"PY(
import sys, datetime
from unittest import mock
from urllib.parse import quote
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

def h(x): return bytes.fromhex(x).decode('utf-8')
creds = Credentials('AKIDEXAMPLE', 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', 'TOKEN+/=')
when = datetime.datetime(2024, 2, 29, 23, 59, 1)
for line in open(sys.argv[1]):
    f = line.rstrip('\n').split('\t')
    method, path, nq = f[0], h(f[1]), int(f[2])
    q = [(h(f[3 + 2*i]), h(f[4 + 2*i])) for i in range(nq)]
    hv = h(f[3 + 2*nq])
    qs = '&'.join(quote(k, safe='') + '=' + quote(v, safe='') for k, v in q)
    url = 'http://bucket.example.com:8333' + path + ('?' + qs if qs else '')
    headers = {'Host': 'bucket.example.com:8333', 'X-Amz-Date': '20240229T235901Z',
               'X-Amz-Content-SHA256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
               'X-Amz-Security-Token': 'TOKEN+/=', 'X-Custom': hv}
    req = AWSRequest(method=method, url=url, headers=headers)
    req.context['timestamp'] = '20240229T235901Z'
    auth = S3SigV4Auth(creds, 's3', 'auto')
    cr = auth.canonical_request(req)
    sig = auth.signature(auth.string_to_sign(req, cr), req)
    preq = AWSRequest(method=method, url=url, headers={'Host': 'bucket.example.com:8333'})
    with mock.patch('botocore.auth.get_current_datetime', return_value=when):
        S3SigV4QueryAuth(creds, 's3', 'auto', expires=900).add_auth(preq)
    print(sig + '\t' + preq.url)
)PY";

std::string Hex(std::string_view s) {
  static constexpr char k[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(k[c >> 4]);
    out.push_back(k[c & 15]);
  }
  return out;
}

TEST(SigV4Botocore, RandomRequestsMatchByteForByte) {
  if (std::system("python3 -c 'import botocore' >/dev/null 2>&1") != 0) {
    GTEST_SKIP() << "python3 with botocore not installed";
  }
  const fs::path dir = fs::temp_directory_path() / ("sigv4-diff-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "oracle.py") << kOracle;

  const std::vector<std::string> pieces = {"a", "Z", "0", " ", "+", "%", "/", "//", ".", "..",
                                           "~", "-", "_", "ü", "ሴ", "=", "&", "?",  "#", ":",
                                           "@", "!", "*", "(", ")", "'", ",", ";",  "$", "%20"};
  std::mt19937 rng(20240229);
  struct Case {
    std::string method, path, header;
    http::QueryParams query;
  };
  std::vector<Case> cases;
  std::ofstream in(dir / "cases.tsv");
  for (int i = 0; i < 200; ++i) {
    Case c;
    c.method = (i % 3 == 0) ? "PUT" : "GET";
    std::string key;
    const int n = 1 + static_cast<int>(rng() % 12);
    for (int j = 0; j < n; ++j) key += pieces[rng() % pieces.size()];
    c.path = "/" + http::UriEncode(key, /*keep_slash=*/true);
    const int nq = static_cast<int>(rng() % 4);
    for (int j = 0; j < nq; ++j) {
      c.query.emplace_back(pieces[rng() % 8] + "k" + std::to_string(j),
                           pieces[rng() % pieces.size()] + pieces[rng() % pieces.size()]);
    }
    c.header = "  v" + std::string(1 + rng() % 3, ' ') + pieces[rng() % 4] + "\t x  ";
    in << c.method << '\t' << Hex(c.path) << '\t' << nq;
    for (const auto& [k, v] : c.query) in << '\t' << Hex(k) << '\t' << Hex(v);
    in << '\t' << Hex(c.header) << '\n';
    cases.push_back(std::move(c));
  }
  in.close();

  const std::string cmd =
      "python3 " + (dir / "oracle.py").string() + " " + (dir / "cases.tsv").string() + " 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  ASSERT_EQ(::pclose(pipe), 0) << output;
  fs::remove_all(dir);

  const SigV4Signer signer({"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "TOKEN+/="},
                           "auto");
  const auto now = std::chrono::system_clock::from_time_t(1709251141);  // 2024-02-29T23:59:01Z
  std::istringstream lines(output);
  std::string line;
  size_t i = 0;
  for (; std::getline(lines, line) && i < cases.size(); ++i) {
    const Case& c = cases[i];
    SCOPED_TRACE("case " + std::to_string(i) + " path " + c.path);
    const size_t tab = line.find('\t');
    SignableRequest h{
        c.method, c.path, c.query, {{"Host", "bucket.example.com:8333"}, {"X-Custom", c.header}}};
    const SigningDetails d = signer.SignHeaders(h, now);
    EXPECT_EQ(d.signature, line.substr(0, tab));

    SignableRequest p{c.method,
                      c.path,
                      c.query,
                      {{"Host", "bucket.example.com:8333"}},
                      std::string(kUnsignedPayload)};
    const std::string q = signer.PresignQuery(p, now, std::chrono::seconds(900));
    // botocore keeps the caller's query order and appends auth params; compare as sets of pairs.
    const std::string theirs = line.substr(tab + 1);
    const std::string their_query = theirs.substr(theirs.find('?') + 1);
    EXPECT_EQ(theirs.substr(0, theirs.find('?')), "http://bucket.example.com:8333" + c.path);
    auto split = [](const std::string& s) {
      std::vector<std::string> parts;
      std::stringstream ss(s);
      std::string item;
      while (std::getline(ss, item, '&')) parts.push_back(item);
      std::sort(parts.begin(), parts.end());
      return parts;
    };
    EXPECT_EQ(split(q), split(their_query));
  }
  EXPECT_EQ(i, cases.size());
}

}  // namespace
}  // namespace sdxl::storage
