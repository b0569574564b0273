// The kill -9 harness the crash tests share: a forked child writes and reports its
// progress on a pipe; the parent reads the reports and kills the child with SIGKILL once
// they say so (the child's progress picks the kill point, never the clock), then drains
// the pipe to EOF and reaps the child.
//
// No store and no thread may exist in the calling process when it forks.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <span>

namespace llama::testing_kill {

// Runs child(write_fd) in a forked process (it never returns: it writes until killed, or
// _exits), passes every chunk read from the pipe to on_reports, which returns true once
// the child should be killed, and returns the child's wait status (-1 if fork or pipe
// failed, which is reported as a test failure).
template <typename Child, typename OnReports>
int RunChildUntilKilled(Child&& child, OnReports&& on_reports) {
  int fds[2];
  if (::pipe(fds) != 0) {
    ADD_FAILURE() << "pipe failed";
    return -1;
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    ADD_FAILURE() << "fork failed";
    return -1;
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(fds[1]);
    ::_exit(0);
  }
  ::close(fds[1]);
  bool killed = false;
  for (;;) {
    char chunk[1 << 16];
    const ssize_t n = ::read(fds[0], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EOF: the child is gone
    if (on_reports(std::span<const char>(chunk, static_cast<std::size_t>(n))) && !killed) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "waitpid failed";
    return -1;
  }
  return status;
}

}  // namespace llama::testing_kill
