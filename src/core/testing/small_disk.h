#pragma once
// Tests only: runs a piece of code on a tiny disk, to see what it does when the disk is full.
//
// RunOnSmallDisk forks a child that gets its own mount namespace (as root, or through a user
// namespace when unprivileged) with a fresh tmpfs of `bytes` mounted at `dir`, runs `body(dir)`
// there and returns what the body returned (its report, e.g. "ok" or an error message) through a
// pipe. The mount vanishes with the child; the parent's view of `dir` never changes. Returns
// nullopt when the kernel refuses the namespace or the mount (then the caller skips with that
// reason); a child that crashes or exits without a report is reported as "child died: ...".
//
// Call it while the test process has only one thread (the child must not inherit locked mutexes).

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace sdxl::core::testing {

namespace small_disk_internal {

inline bool WriteText(const char* path, const std::string& text) {
  const int fd = ::open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  return ok;
}

// In the child: a private mount namespace with a tmpfs of `bytes` at `dir`.
inline bool EnterSmallDisk(std::uint64_t bytes, const std::filesystem::path& dir) {
  if (::geteuid() == 0) {
    if (::unshare(CLONE_NEWNS) != 0) return false;
  } else {
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    WriteText("/proc/self/setgroups", "deny");
    if (!WriteText("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteText("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return false;
    }
  }
  if (::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return false;
  const std::string options = "size=" + std::to_string((bytes + 4095) / 4096 * 4096);
  return ::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) == 0;
}

}  // namespace small_disk_internal

inline std::optional<std::string> RunOnSmallDisk(
    std::uint64_t bytes, const std::filesystem::path& dir,
    const std::function<std::string(const std::filesystem::path&)>& body) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    return std::nullopt;
  }
  if (pid == 0) {
    ::close(fds[0]);
    if (!small_disk_internal::EnterSmallDisk(bytes, dir)) ::_exit(77);
    const std::string report = body(dir);
    std::size_t done = 0;
    while (done < report.size()) {
      const ssize_t n = ::write(fds[1], report.data() + done, report.size() - done);
      if (n <= 0) ::_exit(1);
      done += static_cast<std::size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string report;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n > 0) {
      report.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 77) return std::nullopt;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return "child died: status " + std::to_string(status) + ", report so far: " + report;
  }
  return report;
}

}  // namespace sdxl::core::testing
