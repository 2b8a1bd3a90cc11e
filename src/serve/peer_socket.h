#pragma once
// Whether the HTTP client of a request that is still being answered has gone away. Coglet cancels
// a sync prediction when its client disconnects (cog_api.md, "Connection Drop Handling").
//
// cpp-httplib 0.11 (Debian's) does not hand the request's socket to handlers, and looking for it
// among the process's descriptors races with the server's other threads closing theirs. So the
// kernel is asked instead: a NETLINK_SOCK_DIAG lookup of the TCP connection by its four-tuple (the
// request carries both addresses), as `ss` does. No descriptor of another thread is touched, and
// the answer cannot belong to another connection. Linux only.

#include <string>

namespace sdxl::serve {

// The two ends of one accepted TCP connection, as cpp-httplib writes them in a Request
// (IPv4-mapped IPv6 addresses are accepted in either form).
struct TcpConnectionId {
  std::string local_addr;
  int local_port = -1;
  std::string remote_addr;
  int remote_port = -1;
};

enum class PeerState {
  kConnected,  // ESTABLISHED (bytes the peer sent and we did not read yet change nothing)
  kGone,       // the peer closed (FIN: CLOSE_WAIT, ...) or reset the connection, or it is gone
  kUnknown,    // the kernel could not be asked (no sock_diag, a malformed address, ...)
};

// One netlink round trip (tens of microseconds). Thread-safe. A peer that only shut down its
// sending side reads as gone: HTTP clients do not do that while they wait for an answer.
PeerState QueryPeer(const TcpConnectionId& id);

}  // namespace sdxl::serve
