// The direct-receive GET path over TLS (what Tigris and AWS endpoints use): a local https server
// with a certificate made for the test, trusted through HttpClientOptions::ca_bundle
// (AWS_CA_BUNDLE). Checks that bodies decrypted by SSL_read land in lent memory intact, that the
// connection is kept alive, that the libcurl path agrees, and that an untrusted certificate is
// refused. A separate executable: httplib is compiled with its OpenSSL support in every unit here.
#define CPPHTTPLIB_OPENSSL_SUPPORT
#include <gtest/gtest.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "http/http_client.h"

namespace sdxl::http {
namespace {

namespace fs = std::filesystem;

// Writes a self-signed certificate for 127.0.0.1 (subjectAltName IP) and its key as PEM files.
void MakeCertificate(const fs::path& cert_path, const fs::path& key_path) {
  EVP_PKEY* key = EVP_RSA_gen(2048);
  ASSERT_NE(key, nullptr);
  X509* cert = X509_new();
  ASSERT_NE(cert, nullptr);
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), -60);
  X509_gmtime_adj(X509_getm_notAfter(cert), 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  for (const auto& [nid, value] : std::vector<std::pair<int, const char*>>{
           {NID_subject_alt_name, "IP:127.0.0.1"}, {NID_basic_constraints, "critical,CA:TRUE"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    ASSERT_NE(ext, nullptr);
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
  ASSERT_GT(X509_sign(cert, key, EVP_sha256()), 0);
  FILE* f = std::fopen(cert_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_X509(f, cert);
  std::fclose(f);
  f = std::fopen(key_path.c_str(), "w");
  ASSERT_NE(f, nullptr);
  PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(cert);
  EVP_PKEY_free(key);
}

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 29 + i / 13) & 0xff);
  return s;
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("raw_tls_test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    MakeCertificate(dir_ / "cert.pem", dir_ / "key.pem");
    server_ = std::make_unique<httplib::SSLServer>((dir_ / "cert.pem").c_str(),
                                                   (dir_ / "key.pem").c_str());
    ASSERT_TRUE(server_->is_valid());
    server_->Get("/obj", [this](const httplib::Request& req, httplib::Response& res) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        ports_.insert(req.remote_port);
      }
      res.set_content(body_, "application/octet-stream");
    });
    port_ = server_->bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    while (!server_->is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  void TearDown() override {
    server_->stop();
    thread_.join();
    fs::remove_all(dir_);
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_) + "/obj"; }

  // GET through HttpClient; `lend`: offer a BodyBuffer (direct path), else only a sink.
  core::Result<std::string> Fetch(HttpClient& client, bool lend, std::size_t* sink_bytes) {
    std::string got;
    std::vector<char> window(256 * 1024);
    BodyBuffer buffer;
    buffer.space = [&] { return std::span<char>(window.data(), window.size()); };
    buffer.commit = [&](std::size_t n) {
      got.append(window.data(), n);
      return true;
    };
    BodySink sink = [&](std::string_view chunk) {
      *sink_bytes += chunk.size();
      got.append(chunk);
      return true;
    };
    HttpRequest req;
    req.url = url();
    if (lend) req.direct_body = &buffer;
    SDXL_ASSIGN_OR_RETURN(HttpResponse res, client.Send(req, &sink));
    if (res.status != 200) return core::Internal("status " + std::to_string(res.status));
    return got;
  }

  fs::path dir_;
  std::unique_ptr<httplib::SSLServer> server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::set<int> ports_;
  const std::string body_ = Pattern((3 << 20) + 4321);
};

TEST_F(TlsTest, DirectReceiveDecryptsIntoLentMemoryAndKeepsTheConnection) {
  HttpClientOptions options;
  options.ca_bundle = (dir_ / "cert.pem").string();
  HttpClient client(options);
  for (int i = 0; i < 3; ++i) {
    std::size_t sink_bytes = 0;
    auto got = Fetch(client, true, &sink_bytes);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_TRUE(*got == body_) << got->size() << " bytes";
    EXPECT_EQ(sink_bytes, 0u) << "the body went through the libcurl path";
  }
  EXPECT_EQ(ports_.size(), 1u) << "the TLS connection was not reused";
}

TEST_F(TlsTest, LibcurlPathAgrees) {
  HttpClientOptions options;
  options.ca_bundle = (dir_ / "cert.pem").string();
  HttpClient client(options);
  std::size_t sink_bytes = 0;
  auto got = Fetch(client, false, &sink_bytes);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == body_);
  EXPECT_EQ(sink_bytes, body_.size());
}

TEST_F(TlsTest, UntrustedCertificateIsRefusedOnBothPaths) {
  HttpClient client;  // system store only: the test certificate is unknown
  for (bool lend : {true, false}) {
    std::size_t sink_bytes = 0;
    auto got = Fetch(client, lend, &sink_bytes);
    ASSERT_FALSE(got.ok());
    EXPECT_FALSE(got.status().retryable()) << got.status().ToString();
    EXPECT_NE(got.status().message().find("certificate"), std::string::npos)
        << got.status().ToString();
  }
}

}  // namespace
}  // namespace sdxl::http
