#pragma once
// PeerSocket: whether the HTTP client of a request that is still being answered has gone away.
// Coglet cancels a sync prediction when its client disconnects (cog_api.md, "Connection Drop
// Handling"); the server needs the request's socket to notice. cpp-httplib 0.11 (Debian's) does
// not hand the socket to handlers, so FindPeerSocket finds it among this process's open
// descriptors by its two addresses (the peer's, which the request carries, and the local port).
// The descriptor stays valid while the handler runs: cpp-httplib closes it only after the
// handler returns, on the same thread.

#include <string>

namespace sdxl::serve {

// The connected TCP socket of this process whose peer is remote_addr:remote_port and whose local
// port is local_port; -1 when there is none (or /proc/self/fd cannot be read).
int FindPeerSocket(const std::string& remote_addr, int remote_port, int local_port);

// True when the peer of connected socket `fd` has closed or reset the connection (end of stream
// with no unread data before it, RST, or an error). Does not block and consumes nothing: bytes
// the peer sent (a pipelined request) stay readable, and such a peer counts as connected.
bool PeerClosed(int fd);

}  // namespace sdxl::serve
