#include "serve/peer_socket.h"

#include <arpa/inet.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/unique_fd.h"

namespace sdxl::serve {
namespace {

// "127.0.0.1", "::ffff:127.0.0.1" or "::1" -> family and the 16 bytes inet_diag wants (an
// IPv4-mapped address is looked up as IPv4: the kernel keeps such connections in its IPv4 table).
bool ParseAddr(const std::string& text, int& family, __be32 out[4]) {
  std::memset(out, 0, 16);
  std::string v4 = text;
  static constexpr std::string_view kMapped = "::ffff:";
  if (v4.starts_with(kMapped) && v4.find('.') != std::string::npos) v4 = v4.substr(kMapped.size());
  if (inet_pton(AF_INET, v4.c_str(), out) == 1) {
    family = AF_INET;
    return true;
  }
  in6_addr a6{};
  if (inet_pton(AF_INET6, text.c_str(), &a6) != 1) return false;
  if (IN6_IS_ADDR_V4MAPPED(&a6)) {
    std::memcpy(out, &a6.s6_addr[12], 4);
    family = AF_INET;
    return true;
  }
  std::memcpy(out, &a6, 16);
  family = AF_INET6;
  return true;
}

}  // namespace

PeerState QueryPeer(const TcpConnectionId& id) {
  int family = 0, remote_family = 0;
  struct {
    nlmsghdr header;
    inet_diag_req_v2 req;
  } msg{};
  if (id.local_port < 0 || id.local_port > 65535 || id.remote_port < 0 || id.remote_port > 65535 ||
      !ParseAddr(id.local_addr, family, msg.req.id.idiag_src) ||
      !ParseAddr(id.remote_addr, remote_family, msg.req.id.idiag_dst) || family != remote_family) {
    return PeerState::kUnknown;
  }
  core::UniqueFd nl(::socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  if (!nl.valid()) return PeerState::kUnknown;
  msg.header.nlmsg_len = sizeof msg;
  msg.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  msg.header.nlmsg_flags = NLM_F_REQUEST;  // one socket by its exact id, not a dump
  msg.req.sdiag_family = static_cast<__u8>(family);
  msg.req.sdiag_protocol = IPPROTO_TCP;
  msg.req.idiag_states = ~0u;
  msg.req.id.idiag_sport = htons(static_cast<uint16_t>(id.local_port));
  msg.req.id.idiag_dport = htons(static_cast<uint16_t>(id.remote_port));
  msg.req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  msg.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(nl.get(), &msg, sizeof msg, 0, reinterpret_cast<sockaddr*>(&kernel),
               sizeof kernel) != static_cast<ssize_t>(sizeof msg)) {
    return PeerState::kUnknown;
  }
  alignas(nlmsghdr) char buf[8192];
  ssize_t n;
  do {
    n = ::recv(nl.get(), buf, sizeof buf, 0);
  } while (n < 0 && errno == EINTR);
  if (n < static_cast<ssize_t>(sizeof(nlmsghdr))) return PeerState::kUnknown;
  const auto* h = reinterpret_cast<const nlmsghdr*>(buf);
  if (!NLMSG_OK(h, static_cast<unsigned>(n))) return PeerState::kUnknown;
  if (h->nlmsg_type == NLMSG_ERROR) {
    const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
    // No such connection: it was closed and released (it cannot come back under this id while
    // the handler that asks still owns its descriptor, so the peer is gone).
    return err->error == -ENOENT ? PeerState::kGone : PeerState::kUnknown;
  }
  if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) {
    return PeerState::kUnknown;
  }
  const auto* diag = static_cast<const inet_diag_msg*>(NLMSG_DATA(h));
  return diag->idiag_state == TCP_ESTABLISHED ? PeerState::kConnected : PeerState::kGone;
}

}  // namespace sdxl::serve
