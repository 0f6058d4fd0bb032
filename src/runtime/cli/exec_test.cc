// `kata-runtime exec`: finding the console (and refusing clearly when there is none), and the
// session against a stand-in console on the unix socket a VMM would listen on.
#include "src/runtime/cli/exec.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/io.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/address.h"
#include "src/runtime/cli/cli.h"
#include "src/runtime/hypervisor/hypervisor.h"

namespace kata::runtime::cli {
namespace {

using ::testing::HasSubstr;

class ExecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ctx_.vm_root = root_.path();
    ctx_.env = config::MapEnvironment({});
  }
  int Run(std::vector<std::string> args) {
    out_.str("");
    err_.str("");
    return RunKataRuntime(args, out_, err_, ctx_);
  }
  // A listening console socket for sandbox `id`, as QEMU makes it.
  UniqueFd Listen(const std::string& id) {
    EXPECT_EQ(mkdir(root_.Join(id).c_str(), 0700), 0);
    absl::StatusOr<ttrpc::Address> a = ttrpc::ParseAddress(
        absl::StrCat("unix://", root_.Join(id), "/", hypervisor::kDebugConsoleSocketName));
    EXPECT_TRUE(a.ok());
    absl::StatusOr<int> fd = ttrpc::Listen(*a);
    EXPECT_TRUE(fd.ok()) << fd.status();
    return UniqueFd(fd.ok() ? *fd : -1);
  }

  kata::testing::TempDir root_{"/tmp"};
  CliContext ctx_;
  std::ostringstream out_, err_;
};

TEST_F(ExecTest, RefusesBadIdsUnknownSandboxesAndADisabledConsole) {
  EXPECT_EQ(Run({"exec"}), 2);
  EXPECT_EQ(Run({"exec", "a", "b"}), 2);
  for (const char* bad : {"../etc", "a/b", ".", ".."}) {
    EXPECT_EQ(Run({"exec", bad}), 1) << bad;
    EXPECT_THAT(err_.str(), HasSubstr("not a plain name")) << bad;
  }
  EXPECT_EQ(Run({"exec", "nosuch"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("sandbox nosuch: not found"));
  ASSERT_EQ(mkdir(root_.Join("s1").c_str(), 0700), 0);
  EXPECT_EQ(Run({"exec", "s1"}), 1);
  EXPECT_EQ(err_.str(),
            "kata-runtime exec: sandbox s1: debug console is not enabled "
            "(agent.kata.debug_console_enabled = false)\n");
  // A plain file by the socket's name is not a console either.
  ASSERT_TRUE(WriteStringToFile(root_.Join("s1/") + hypervisor::kDebugConsoleSocketName, "x").ok());
  EXPECT_EQ(Run({"exec", "s1"}), 1);
  EXPECT_THAT(err_.str(), HasSubstr("debug console is not enabled"));
}

TEST_F(ExecTest, CopiesBothWaysAndExitsWithTheShellsCode) {
  UniqueFd listener = Listen("s2");
  ASSERT_TRUE(listener);
  std::string got;
  std::thread console([&] {
    UniqueFd c(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char buf[256];
    // Until the client's ^D (its stdin ended): everything it sent.
    while (got.find('\x04') == std::string::npos) {
      ssize_t n = read(c.get(), buf, sizeof(buf));
      if (n <= 0) return;
      got.append(buf, static_cast<size_t>(n));
    }
    // The marker split across writes, and an escape sequence that is not one.
    for (std::string part : {std::string("out \x1b]0;title\x07 put\r\n\x1b]kata-debug"),
                             std::string("-console;exi"), std::string("t=7\x07")}) {
      ASSERT_TRUE(WriteAll(c.get(), part).ok());
      usleep(50000);
    }
    usleep(200000);  // the client stops at the marker, not at a close
  });
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  ASSERT_TRUE(WriteAll(in_w.get(), "echo hi; exit 7\n").ok());
  in_w.reset();
  ctx_.stdin_fd = in_r.get();
  ctx_.stdout_fd = out_w.get();
  EXPECT_EQ(Run({"exec", "s2"}), 7) << err_.str();
  console.join();
  out_w.reset();
  std::string printed(4096, '\0');
  printed.resize(static_cast<size_t>(read(out_r.get(), printed.data(), printed.size())));
  EXPECT_EQ(printed, "out \x1b]0;title\x07 put\r\n");
  EXPECT_EQ(got, "echo hi; exit 7\n\x04");
}

// A shell that prints much and reads none of its input (`seq 1000000` fed a megabyte): the
// client must keep reading its output while its own input waits, or both ends block forever.
TEST_F(ExecTest, AConsoleThatDoesNotReadItsInputStillHasItsOutputRead) {
  signal(SIGPIPE, SIG_IGN);  // writers into closed pipes and sockets get EPIPE instead
  UniqueFd listener = Listen("s4");
  ASSERT_TRUE(listener);
  std::atomic<int> console_fd{-1};
  const std::string output(2 << 20, 'o');
  std::thread console([&] {
    UniqueFd c(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    console_fd = c.get();
    (void)WriteAll(c.get(), output);  // never reads what the client sends
    (void)WriteAll(c.get(), "\x1b]kata-debug-console;exit=3\x07");
    usleep(200000);
    console_fd = -1;
  });
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  std::thread feeder([&] {  // more input than every buffer on the way holds
    const std::string chunk(1 << 20, 'i');
    for (int i = 0; i < 4 && WriteAll(in_w.get(), chunk).ok(); ++i) {
    }
  });
  size_t printed = 0;
  std::thread drain([&] {
    char buf[65536];
    for (ssize_t n; (n = read(out_r.get(), buf, sizeof(buf))) > 0;) printed += n;
  });
  std::atomic<bool> done{false};
  absl::StatusOr<int> code;
  std::thread client([&] {
    code = RunDebugConsole(absl::StrCat("unix://", root_.Join("s4/debug-console.sock")), in_r.get(),
                           out_w.get());
    done = true;
  });
  for (int i = 0; i < 300 && !done; ++i) usleep(100000);
  EXPECT_TRUE(done) << "the client and the console blocked each other";
  if (!done) {  // unblock everyone so the test ends
    if (int fd = console_fd; fd >= 0) shutdown(fd, SHUT_RDWR);
  }
  client.join();
  console.join();
  in_r.reset();  // the feeder's writes fail now
  feeder.join();
  out_w.reset();
  drain.join();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 3);
  EXPECT_EQ(printed, output.size());
}

// Piped input whose last line has no newline still runs it: the client ends it before ^D.
TEST_F(ExecTest, ALastLineWithoutANewlineIsEndedBeforeTheEof) {
  UniqueFd listener = Listen("s5");
  std::string got;
  std::thread console([&] {
    UniqueFd c(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char buf[256];
    while (got.find('\x04') == std::string::npos) {
      ssize_t n = read(c.get(), buf, sizeof(buf));
      if (n <= 0) return;
      got.append(buf, static_cast<size_t>(n));
    }
    (void)WriteAll(c.get(), "\x1b]kata-debug-console;exit=0\x07");
    usleep(200000);
  });
  int in[2], out[2];
  ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  UniqueFd in_r(in[0]), in_w(in[1]), out_r(out[0]), out_w(out[1]);
  ASSERT_TRUE(WriteAll(in_w.get(), "echo hi").ok());
  in_w.reset();
  absl::StatusOr<int> code = RunDebugConsole(
      absl::StrCat("unix://", root_.Join("s5/debug-console.sock")), in_r.get(), out_w.get());
  console.join();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(got, "echo hi\n\x04");
}

TEST_F(ExecTest, AConsoleThatClosesEndsTheSessionWithZero) {
  UniqueFd listener = Listen("s3");
  std::thread console([&] {
    UniqueFd c(accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(WriteAll(c.get(), "bye\n").ok());
  });
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  UniqueFd out_r(out[0]), out_w(out[1]);
  UniqueFd null_in(open("/dev/null", O_RDONLY | O_CLOEXEC));
  absl::StatusOr<std::string> where = DebugConsoleAddress("s3", root_.path());
  ASSERT_TRUE(where.ok()) << where.status();
  EXPECT_EQ(*where, absl::StrCat("unix://", root_.Join("s3/debug-console.sock")));
  absl::StatusOr<int> code = RunDebugConsole(*where, null_in.get(), out_w.get());
  console.join();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 0);
  out_w.reset();
  char buf[64];
  EXPECT_EQ(std::string(buf, static_cast<size_t>(read(out_r.get(), buf, sizeof(buf)))), "bye\n");
}

}  // namespace
}  // namespace kata::runtime::cli
