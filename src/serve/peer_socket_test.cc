#include "serve/peer_socket.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

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
};

TEST(PeerSocket, FindsTheAcceptedSocketByItsAddresses) {
  Connection c;
  EXPECT_EQ(FindPeerSocket("127.0.0.1", c.client_port, c.server_port), c.server);
  EXPECT_EQ(FindPeerSocket("::ffff:127.0.0.1", c.client_port, c.server_port), c.server);
  // The client's own socket has the swapped addresses; nothing has these.
  EXPECT_EQ(FindPeerSocket("127.0.0.1", c.server_port, c.client_port), c.client);
  EXPECT_EQ(FindPeerSocket("127.0.0.2", c.client_port, c.server_port), -1);
  EXPECT_EQ(
      FindPeerSocket("127.0.0.1", c.client_port,
                     c.server_port + 1 == c.client_port ? c.server_port + 2 : c.server_port + 1),
      -1);
}

TEST(PeerSocket, PendingDataIsNotADisconnectAndIsNotConsumed) {
  Connection c;
  EXPECT_FALSE(PeerClosed(c.server));
  ASSERT_EQ(::send(c.client, "GET", 3, 0), 3);
  EXPECT_FALSE(PeerClosed(c.server));
  char buf[4] = {};
  EXPECT_EQ(::recv(c.server, buf, sizeof buf, 0), 3);  // still there
  EXPECT_STREQ(buf, "GET");
}

TEST(PeerSocket, CloseAndResetAreDisconnects) {
  {
    Connection c;
    ::close(c.client);
    c.client = -1;
    EXPECT_TRUE(PeerClosed(c.server));
  }
  {
    Connection c;
    linger l{1, 0};  // close with RST
    ASSERT_EQ(::setsockopt(c.client, SOL_SOCKET, SO_LINGER, &l, sizeof l), 0);
    ::close(c.client);
    c.client = -1;
    usleep(20000);
    EXPECT_TRUE(PeerClosed(c.server));
  }
  EXPECT_FALSE(PeerClosed(-1));
}

}  // namespace
}  // namespace sdxl::serve
