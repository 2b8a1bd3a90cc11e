#include "core/fd_io.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "core/unique_fd.h"

namespace sdxl::core {
namespace {

std::string Pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + 7) & 0xFF);
  return s;
}

class TempFile {
 public:
  TempFile() {
    char name[] = "/tmp/sdxl-fd-io-XXXXXX";
    fd_ = UniqueFd(::mkstemp(name));
    path_ = name;
  }
  ~TempFile() { ::unlink(path_.c_str()); }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::string path_;
};

TEST(FdIo, WriteThenReadRoundTrips) {
  TempFile f;
  ASSERT_GE(f.fd(), 0);
  const std::string data = Pattern(3 << 20);
  IoResult w = WriteFull(f.fd(), data);
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.done, data.size());
  ASSERT_EQ(::lseek(f.fd(), 0, SEEK_SET), 0);
  std::string back(data.size(), '\0');
  IoResult r = ReadFull(f.fd(), back.data(), back.size());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.done, data.size());
  EXPECT_EQ(back, data);
}

TEST(FdIo, ReadStopsAtEndOfFileWithoutError) {
  TempFile f;
  ASSERT_TRUE(WriteFull(f.fd(), "hello").ok());
  ASSERT_EQ(::lseek(f.fd(), 0, SEEK_SET), 0);
  char buf[16];
  IoResult r = ReadFull(f.fd(), buf, sizeof buf);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.done, 5u);
  EXPECT_EQ(std::string(buf, r.done), "hello");
  r = ReadFull(f.fd(), buf, sizeof buf);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.done, 0u);
  EXPECT_EQ(ReadFull(f.fd(), buf, 0).done, 0u);
}

TEST(FdIo, PositionalCallsUseTheOffsetAndLeaveTheFilePosition) {
  TempFile f;
  ASSERT_TRUE(PwriteFull(f.fd(), "abcdef", 6, 10).ok());
  ASSERT_TRUE(PwriteFull(f.fd(), "XY", 2, 12).ok());
  EXPECT_EQ(::lseek(f.fd(), 0, SEEK_CUR), 0);
  char buf[8] = {};
  IoResult r = PreadFull(f.fd(), buf, 6, 10);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(std::string(buf, r.done), "abXYef");
  r = PreadFull(f.fd(), buf, 8, 14);  // past the end: short, no error
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(std::string(buf, r.done), "ef");
  r = PreadFull(f.fd(), buf, 2, 0);  // the hole reads as zeros
  EXPECT_EQ(r.done, 2u);
  EXPECT_EQ(buf[0], '\0');
}

TEST(FdIo, ErrorsCarryErrno) {
  char buf[4];
  IoResult r = ReadFull(-1, buf, sizeof buf);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.error, EBADF);
  EXPECT_EQ(r.done, 0u);
  EXPECT_EQ(WriteFull(-1, "x").error, EBADF);
  EXPECT_EQ(PreadFull(-1, buf, 1, 0).error, EBADF);
  EXPECT_EQ(PwriteFull(-1, "x", 1, 0).error, EBADF);

  UniqueFd ro(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  ASSERT_TRUE(ro.valid());
  EXPECT_EQ(WriteFull(ro.get(), "x").error, EBADF);
}

std::atomic<int> g_signals{0};

// A connected socket pair whose calls give up after 2 s, so that a broken loop fails the test
// instead of hanging it.
void SocketPair(UniqueFd& a, UniqueFd& b) {
  int sv[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  a.reset(sv[0]);
  b.reset(sv[1]);
  const timeval tv{2, 0};
  for (int fd : sv) {
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv), 0);
    ASSERT_EQ(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv), 0);
  }
}

// Runs `blocked` on a thread that is interrupted by signals (a handler installed without
// SA_RESTART, so a blocked read/write fails with EINTR or returns short) for 50 ms, then runs
// `unblock` on this thread so that `blocked` can finish.
void WithSignals(const std::function<void()>& blocked, const std::function<void()>& unblock) {
  struct sigaction sa {};
  sa.sa_handler = [](int) { ++g_signals; };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  struct sigaction old {};
  ASSERT_EQ(::sigaction(SIGUSR1, &sa, &old), 0);
  g_signals = 0;
  std::thread t(blocked);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
  while (std::chrono::steady_clock::now() < until) {
    ::pthread_kill(t.native_handle(), SIGUSR1);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  unblock();
  t.join();
  ::sigaction(SIGUSR1, &old, nullptr);
  EXPECT_GT(g_signals.load(), 0);
}

// Moves 4 MiB through a socket pair in many short pieces while signals interrupt the reader (it
// blocks on the empty socket first) or the writer (it blocks once the socket buffer is full).
void CheckInterruptedTransfer(bool interrupt_reader) {
  UniqueFd a, b;
  SocketPair(a, b);
  const std::string data = Pattern(4 << 20);
  std::string got(data.size(), '\0');
  IoResult r, w;
  const auto read = [&] { r = ReadFull(b.get(), got.data(), got.size()); };
  const auto write = [&] { w = WriteFull(a.get(), data); };
  if (interrupt_reader) {
    WithSignals(read, write);
  } else {
    WithSignals(write, read);
  }
  ASSERT_TRUE(r.ok()) << r.error;
  ASSERT_TRUE(w.ok()) << w.error;
  EXPECT_EQ(r.done, data.size());
  EXPECT_EQ(w.done, data.size());
  EXPECT_TRUE(got == data);
}

TEST(FdIo, ReadIsRetriedAfterSignalsAndShortReads) { CheckInterruptedTransfer(true); }
TEST(FdIo, WriteIsRetriedAfterSignalsAndShortWrites) { CheckInterruptedTransfer(false); }

}  // namespace
}  // namespace sdxl::core
