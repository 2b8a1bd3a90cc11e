#pragma once
// BodyBuffer: memory a receiver lends to a transport so that body bytes land in it with no
// intermediate copy. `space` returns where the next bytes may go (non-empty); `commit(n)` reports
// that n bytes were written at its start (false aborts the transfer, like a sink returning false).
// Always offered alongside a sink: a transport that can receive directly (HttpClient's GET over
// RawConnection, and through it S3 ranged reads: storage::ReadOptions::buffer) uses it, any other
// path goes through the sink; same bytes, same order.
// The functions are called from the thread running the transfer, one at a time; the lender owns
// the memory and keeps it alive until the transfer returns.

#include <cstddef>
#include <functional>
#include <span>

namespace sdxl::http {

struct BodyBuffer {
  std::function<std::span<char>()> space;
  std::function<bool(std::size_t n)> commit;
};

}  // namespace sdxl::http
