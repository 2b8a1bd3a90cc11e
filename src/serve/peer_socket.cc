#include "serve/peer_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace sdxl::serve {
namespace {

// The address and port of a sockaddr (IPv4 or IPv6; an IPv4-mapped IPv6 peer is written as its
// IPv4 form, as cpp-httplib writes remote_addr).
bool Describe(const sockaddr_storage& sa, std::string& addr, int& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (sa.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&sa);
    if (!inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf)) return false;
    port = ntohs(in->sin_port);
  } else if (sa.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&sa);
    if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
      if (!inet_ntop(AF_INET, &in6->sin6_addr.s6_addr[12], buf, sizeof buf)) return false;
    } else if (!inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf)) {
      return false;
    }
    port = ntohs(in6->sin6_port);
  } else {
    return false;
  }
  addr = buf;
  return true;
}

std::string Unmapped(const std::string& addr) {
  static constexpr std::string_view kMapped = "::ffff:";
  return addr.starts_with(kMapped) && addr.find('.') != std::string::npos
             ? addr.substr(kMapped.size())
             : addr;
}

}  // namespace

int FindPeerSocket(const std::string& remote_addr, int remote_port, int local_port) {
  std::error_code ec;
  const std::string want = Unmapped(remote_addr);
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", ec)) {
    char* end = nullptr;
    const std::string name = entry.path().filename().string();
    const long fd = std::strtol(name.c_str(), &end, 10);
    if (end == name.c_str() || *end != '\0') continue;
    struct stat st {};
    if (::fstat(static_cast<int>(fd), &st) != 0 || !S_ISSOCK(st.st_mode)) continue;
    sockaddr_storage peer{}, local{};
    socklen_t peer_len = sizeof peer, local_len = sizeof local;
    if (::getpeername(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0 ||
        ::getsockname(static_cast<int>(fd), reinterpret_cast<sockaddr*>(&local), &local_len) != 0) {
      continue;
    }
    std::string peer_addr, local_addr;
    int peer_port = -1, port = -1;
    if (!Describe(peer, peer_addr, peer_port) || !Describe(local, local_addr, port)) continue;
    if (peer_port == remote_port && port == local_port && peer_addr == want) {
      return static_cast<int>(fd);
    }
  }
  return -1;
}

bool PeerClosed(int fd) {
  if (fd < 0) return false;
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  int n;
  do {
    n = ::poll(&p, 1, 0);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) return false;
  if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) return true;
  if (p.revents & POLLIN) {
    // Readable: data (a pipelined request: still connected) or end of stream (gone). A peer
    // that only shut down its sending side also reads as gone; HTTP clients do not do that
    // while they wait for an answer.
    char byte;
    const ssize_t got = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (got == 0) return true;
    if (got < 0) return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
    return false;
  }
  return (p.revents & POLLRDHUP) != 0;
}

}  // namespace sdxl::serve
