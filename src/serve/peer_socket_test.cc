#include "serve/peer_socket.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace sdxl::serve {
namespace {

// A loopback TCP connection: `server` is the accepted side, `client` the connecting one.
struct Connection {
  int listener = -1, client = -1, server = -1;
  int server_port = 0, client_port = 0;
  Connection() {
    listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(::listen(listener, 1), 0);
    EXPECT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&a), &len), 0);
    server_port = ntohs(a.sin_port);
    client = ::socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    server = ::accept(listener, nullptr, nullptr);
    sockaddr_in c{};
    len = sizeof c;
    EXPECT_EQ(::getsockname(client, reinterpret_cast<sockaddr*>(&c), &len), 0);
    client_port = ntohs(c.sin_port);
  }
  ~Connection() {
    for (int fd : {listener, client, server}) {
      if (fd >= 0) ::close(fd);
    }
  }
  // The accepted side as cpp-httplib describes it in a Request.
  TcpConnectionId ServerSide(const char* addr = "127.0.0.1") const {
    return {addr, server_port, addr, client_port};
  }
};

// The kernel processes a FIN or RST asynchronously on loopback only in rare cases; wait a little.
PeerState Settled(const TcpConnectionId& id, PeerState want) {
  PeerState s = QueryPeer(id);
  for (int i = 0; i < 100 && s != want; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    s = QueryPeer(id);
  }
  return s;
}

TEST(PeerSocket, AnOpenConnectionIsConnectedInEitherAddressForm) {
  Connection c;
  EXPECT_EQ(QueryPeer(c.ServerSide()), PeerState::kConnected);
  EXPECT_EQ(QueryPeer(c.ServerSide("::ffff:127.0.0.1")), PeerState::kConnected);
  // Unread bytes from the peer (a pipelined request) are not a disconnect.
  ASSERT_EQ(::send(c.client, "GET", 3, 0), 3);
  EXPECT_EQ(QueryPeer(c.ServerSide()), PeerState::kConnected);
  char buf[4] = {};
  EXPECT_EQ(::recv(c.server, buf, sizeof buf, 0), 3);  // nothing was consumed
  EXPECT_STREQ(buf, "GET");
}

TEST(PeerSocket, CloseAndResetAreGone) {
  {
    Connection c;
    ::close(c.client);
    c.client = -1;
    EXPECT_EQ(Settled(c.ServerSide(), PeerState::kGone), PeerState::kGone);
  }
  {
    Connection c;
    linger l{1, 0};  // close with RST
    ASSERT_EQ(::setsockopt(c.client, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
    ::close(c.client);
    c.client = -1;
    EXPECT_EQ(Settled(c.ServerSide(), PeerState::kGone), PeerState::kGone);
  }
}

TEST(PeerSocket, OtherConnectionsAndBadIdsAreNotConfused) {
  Connection c;
  TcpConnectionId other = c.ServerSide();
  other.remote_port = c.client_port == 65535 ? 1 : c.client_port + 1;  // no such connection
  EXPECT_EQ(QueryPeer(other), PeerState::kGone);
  EXPECT_EQ(QueryPeer({"not an address", c.server_port, "127.0.0.1", c.client_port}),
            PeerState::kUnknown);
  EXPECT_EQ(QueryPeer({"127.0.0.1", -1, "127.0.0.1", c.client_port}), PeerState::kUnknown);
  EXPECT_EQ(QueryPeer({"::1", c.server_port, "127.0.0.1", c.client_port}), PeerState::kUnknown);
  EXPECT_EQ(QueryPeer(c.ServerSide()), PeerState::kConnected);  // the real one is untouched
}

}  // namespace
}  // namespace sdxl::serve
