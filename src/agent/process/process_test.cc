#include "src/agent/process/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace {

using ::testing::HasSubstr;

ProcessOptions Opts(std::vector<std::string> argv) {
  ProcessOptions o;
  o.argv = std::move(argv);
  o.env = {"PATH=/usr/bin:/bin"};
  return o;
}

std::unique_ptr<Process> MustStart(ProcessOptions o) {
  auto p = Process::Start(std::move(o));
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(p).value() : nullptr;
}

std::string ReadAll(Process* p, bool err = false) {
  std::string all;
  for (;;) {
    absl::StatusOr<std::string> chunk = err ? p->ReadStderr(8192) : p->ReadStdout(8192);
    EXPECT_TRUE(chunk.ok()) << chunk.status();
    if (!chunk.ok() || chunk->empty()) return all;
    all += *chunk;
  }
}

int CountFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n - 1;  // the DIR's own fd
}

// OutputDone (what the agent frees an exec by): only after the exit AND once everything
// written to both streams was read; a descendant holding a stream keeps it false.
TEST(ProcessTest, OutputDoneOnlyOnceExitedAndEverythingRead) {
  auto p = MustStart(Opts({"/bin/sh", "-c", "echo out; echo err >&2; read x"}));
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(p->OutputDone());
  ASSERT_TRUE(p->CloseStdin().ok());
  EXPECT_EQ(p->Wait(), 1);
  EXPECT_TRUE(p->AwaitOutputEof(absl::Seconds(10)));
  EXPECT_FALSE(p->OutputDone()) << "unread output";
  EXPECT_EQ(ReadAll(p.get()), "out\n");
  EXPECT_FALSE(p->OutputDone()) << "unread stderr";
  EXPECT_EQ(ReadAll(p.get(), true), "err\n");
  EXPECT_TRUE(p->OutputDone());

  auto held = MustStart(Opts({"/bin/sh", "-c", "sleep 1 & exit 0"}));
  ASSERT_NE(held, nullptr);
  EXPECT_EQ(held->Wait(), 0);
  EXPECT_FALSE(held->AwaitOutputEof(absl::Milliseconds(50))) << "the sleeper holds stdout";
  EXPECT_FALSE(held->OutputDone());
  EXPECT_TRUE(held->AwaitOutputEof(absl::Seconds(10)));
  EXPECT_TRUE(held->OutputDone());
}

TEST(ProcessTest, EchoToStdout) {
  auto p = MustStart(Opts({"/bin/echo", "hello", "world"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "hello world\n");
  EXPECT_EQ(ReadAll(p.get(), true), "");
  EXPECT_EQ(p->Wait(), 0);
  EXPECT_GT(p->pid(), 0);
}

TEST(ProcessTest, ExitCode) {
  auto p = MustStart(Opts({"/bin/sh", "-c", "exit 3"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Wait(), 3);
  EXPECT_EQ(p->Wait(), 3);  // again, after exit
  EXPECT_EQ(p->TryWait(), 3);
}

TEST(ProcessTest, KilledBySignal) {
  auto p = MustStart(Opts({"/bin/sleep", "100"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->TryWait(), std::nullopt);
  ASSERT_TRUE(p->Signal(SIGKILL).ok());
  EXPECT_EQ(p->Wait(), 137);
  EXPECT_EQ(p->Signal(SIGTERM).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadAll(p.get()), "");
}

TEST(ProcessTest, SigtermGives143) {
  auto p = MustStart(Opts({"/bin/sleep", "100"}));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->Signal(SIGTERM).ok());
  EXPECT_EQ(p->Wait(), 143);
}

TEST(ProcessTest, StderrSeparately) {
  auto p = MustStart(Opts({"/bin/sh", "-c", "echo out; echo err >&2; exit 1"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get(), true), "err\n");
  EXPECT_EQ(ReadAll(p.get()), "out\n");
  EXPECT_EQ(p->Wait(), 1);
}

TEST(ProcessTest, StdinToCat) {
  auto p = MustStart(Opts({"/bin/cat"}));
  ASSERT_NE(p, nullptr);
  std::string input;
  for (int i = 0; i < 20000; ++i) absl::StrAppend(&input, "line ", i, "\n");
  // Write from another thread: cat's output must be drained while we write.
  std::thread writer([&] {
    auto n = p->WriteStdin(input);
    EXPECT_TRUE(n.ok()) << n.status();
    EXPECT_EQ(n.value_or(0), input.size());
    EXPECT_TRUE(p->CloseStdin().ok());
    EXPECT_TRUE(p->CloseStdin().ok());  // idempotent
  });
  EXPECT_EQ(ReadAll(p.get()), input);
  writer.join();
  EXPECT_EQ(p->Wait(), 0);
  EXPECT_EQ(p->WriteStdin("x").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProcessTest, WriteStdinAfterExitIsEpipeNotSigpipe) {
  auto p = MustStart(Opts({"/bin/true"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Wait(), 0);
  auto n = p->WriteStdin("data");
  EXPECT_FALSE(n.ok());
  EXPECT_THAT(n.status().message(), HasSubstr("EPIPE"));
}

std::string Seq(int n) {
  std::string s;
  for (int i = 1; i <= n; ++i) absl::StrAppend(&s, i, "\n");
  return s;
}

TEST(ProcessTest, OutputWrittenBeforeExitIsNeverLost) {
  ProcessOptions o = Opts({"/usr/bin/seq", "1", "200000"});  // ~1.3 MB, then exit
  o.output_buffer_bytes = 2 * 1024 * 1024;
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Wait(), 0);  // exits before anyone reads
  std::string out = ReadAll(p.get());
  EXPECT_EQ(out.size(), Seq(200000).size());
  EXPECT_TRUE(out == Seq(200000));
}

TEST(ProcessTest, OneMebibyteWithDefaultBuffer) {
  auto p = MustStart(Opts({"/bin/sh", "-c", "head -c 1048576 /dev/zero"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Wait(), 0);
  EXPECT_EQ(ReadAll(p.get()), std::string(1 << 20, '\0'));
}

TEST(ProcessTest, FullBufferBlocksTheWriter) {
  ProcessOptions o = Opts({"/usr/bin/seq", "1", "200000"});
  o.output_buffer_bytes = 64 * 1024;
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  // 64 KiB buffer + 64 KiB pipe < 1.3 MB: seq cannot finish until we read.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(p->TryWait(), std::nullopt);
  EXPECT_TRUE(ReadAll(p.get()) == Seq(200000));
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, TerminalSizeBeforeStart) {
  ProcessOptions o = Opts({"/bin/sh", "-c", "stty size; echo err >&2"});
  o.terminal = true;
  o.rows = 30;
  o.cols = 100;
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->terminal());
  EXPECT_EQ(ReadAll(p.get()), "30 100\r\nerr\r\n");  // stderr on the same stream
  EXPECT_EQ(p->ReadStderr(10).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, TerminalResizeAfterStart) {
  ProcessOptions o = Opts({"/bin/sh", "-c", "read x; stty size; tty"});
  o.terminal = true;
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->Resize(30, 100).ok());
  ASSERT_TRUE(p->WriteStdin("go\n").ok());
  std::string out = ReadAll(p.get());
  EXPECT_THAT(out, HasSubstr("30 100\r\n"));
  EXPECT_THAT(out, HasSubstr("/dev/pts/"));  // a controlling terminal
  EXPECT_EQ(p->Wait(), 0);
}

// The pty comes from the devpts the child sees after its hook (runc's way), so its name is
// valid there: a child with its own devpts instance on /dev/pts gets /dev/pts/0 of it, on
// stdin, stdout and stderr (process_user_test: mounts need the real root).
TEST(ProcessTest, OwnDevptsTerminalIsTheChildsPty) {
  ProcessOptions o = Opts({"/bin/sh", "-c",
                           "tty; [ -t 0 ] && [ -t 1 ] && [ -t 2 ] && echo all-ttys; "
                           "[ -c \"$(tty)\" ] && echo exists"});
  o.terminal = true;
  o.clone_flags = CLONE_NEWNS;
  o.child_hook = [] {
    if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
      return absl::InternalError(absl::StrCat("make / private: errno ", errno));
    }
    if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC,
              "newinstance,ptmxmode=0666,mode=0620") != 0) {
      return absl::InternalError(absl::StrCat("mount devpts: errno ", errno));
    }
    return absl::OkStatus();
  };
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "/dev/pts/0\r\nall-ttys\r\nexists\r\n");
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, TerminalCloseStdinGivesEof) {
  ProcessOptions o = Opts({"/bin/cat"});
  o.terminal = true;
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(p->WriteStdin("abc\n").ok());
  ASSERT_TRUE(p->CloseStdin().ok());
  EXPECT_EQ(p->Wait(), 0);
  EXPECT_EQ(ReadAll(p.get()), "abc\r\nabc\r\n");  // echo, then cat's copy
}

TEST(ProcessTest, ResizeWithoutTerminalFails) {
  auto p = MustStart(Opts({"/bin/true"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Resize(1, 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, MissingBinary) {
  auto p = Process::Start(Opts({"/no/such", "x"}));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(p.status().message(), HasSubstr("exec /no/such: ENOENT"));

  auto q = Process::Start(Opts({"no-such-program"}));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(q.status().message(), HasSubstr("exec no-such-program: ENOENT"));

  kata::testing::TempDir dir;
  const std::string plain = dir.Join("not-executable");
  ASSERT_TRUE(WriteStringToFile(plain, "").ok());
  auto r = Process::Start(Opts({plain}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(r.status().message(), HasSubstr("EACCES"));

  EXPECT_EQ(Process::Start(Opts({})).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ProcessTest, PathSearchAndEnvironment) {
  ProcessOptions o = Opts({"sh", "-c", "echo $FOO; env | wc -l"});
  o.env.push_back("FOO=bar");
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "bar\n3\n");  // PATH, FOO and sh's own PWD
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, Cwd) {
  ProcessOptions o = Opts({"/bin/pwd"});
  o.cwd = "/usr";
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "/usr\n");

  ProcessOptions bad = Opts({"/bin/pwd"});
  bad.cwd = "/no/such/dir";
  auto q = Process::Start(std::move(bad));
  EXPECT_EQ(q.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(q.status().message(), HasSubstr("chdir /no/such/dir"));
}

TEST(ProcessTest, SwitchUser) {
  ASSERT_EQ(geteuid(), 0u) << "switching users needs root";
  // Bazel's linux-sandbox maps only uid 0 into its user namespace, so this test runs in
  // the no-sandbox target process_user_test (process_test filters it out).
  std::ifstream map("/proc/self/uid_map");
  std::string line;
  std::getline(map, line);
  ASSERT_NE(line.find("4294967295"), std::string::npos) << "uid 1000 is not mapped here: " << line;
  ProcessOptions o = Opts({"/bin/sh", "-c", "id -u; id -g; id -G"});
  o.user = ProcessUser{1000, 1001, {1002, 1003}};
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "1000\n1001\n1001 1002 1003\n");
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, ChildHookRunsBeforeExec) {
  ProcessOptions o = Opts({"/bin/pwd"});
  o.child_hook = [] {
    if (chdir("/tmp") != 0) return absl::InternalError("chdir");
    return absl::OkStatus();
  };
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "/tmp\n");

  ProcessOptions bad = Opts({"/bin/true"});
  bad.child_hook = [] { return absl::PermissionDeniedError("hook says no"); };
  auto q = Process::Start(std::move(bad));
  EXPECT_EQ(q.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(q.status().message(), "hook says no");
}

TEST(ProcessTest, ChildInheritsNoOtherFds) {
  // Only 0, 1, 2 (and ls's own directory fd) are open in the child.
  auto p = MustStart(Opts({"/bin/ls", "/proc/self/fd"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(ReadAll(p.get()), "0\n1\n2\n3\n");
}

TEST(ProcessTest, ManyConcurrently) {
  constexpr int kThreads = 10, kPerThread = 5;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t] {
      std::vector<std::unique_ptr<Process>> ps;
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        ps.push_back(
            MustStart(Opts({"/bin/sh", "-c", "echo proc-$0; exit $(($0 % 7))", absl::StrCat(n)})));
      }
      for (int i = 0; i < kPerThread; ++i) {
        int n = t * kPerThread + i;
        if (ps[i] == nullptr) continue;
        EXPECT_EQ(ReadAll(ps[i].get()), absl::StrCat("proc-", n, "\n"));
        EXPECT_EQ(ps[i]->Wait(), n % 7);
      }
    });
  }
  for (auto& t : threads) t.join();
}

TEST(ProcessTest, WaitFromManyThreads) {
  auto p = MustStart(Opts({"/bin/sh", "-c", "sleep 0.1; exit 5"}));
  ASSERT_NE(p, nullptr);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i) ts.emplace_back([&] { EXPECT_EQ(p->Wait(), 5); });
  for (auto& t : ts) t.join();
}

TEST(ProcessTest, DoesNotReapOtherChildren) {
  pid_t other = fork();
  if (other == 0) _exit(42);
  auto p = MustStart(Opts({"/bin/true"}));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->Wait(), 0);
  int status = 0;
  ASSERT_EQ(waitpid(other, &status, 0), other);
  EXPECT_EQ(WEXITSTATUS(status), 42);
}

TEST(ProcessTest, DestroyingARunningProcessKillsIt) {
  pid_t pid;
  {
    auto p = MustStart(Opts({"/bin/sh", "-c", "sleep 100 & wait"}));  // child holds stdout
    ASSERT_NE(p, nullptr);
    pid = p->pid();
  }
  EXPECT_NE(kill(pid, 0), 0);  // gone and reaped
}

TEST(ProcessTest, NoFdLeaks) {
  int before = CountFds();
  for (int i = 0; i < 3; ++i) {
    auto a = MustStart(Opts({"/bin/echo", "x"}));
    ProcessOptions t = Opts({"/bin/echo", "y"});
    t.terminal = true;
    auto b = MustStart(std::move(t));
    ASSERT_NE(a, nullptr);
    ASSERT_NE(b, nullptr);
    ReadAll(a.get());
    ReadAll(b.get());
    a->Wait();
    b->Wait();
    ASSERT_TRUE(a->CloseStdin().ok());
    EXPECT_FALSE(Process::Start(Opts({"/no/such"})).ok());
    auto c = MustStart(Opts({"/bin/sleep", "100"}));  // destroyed while running
  }
  EXPECT_EQ(CountFds(), before);
}

TEST(ProcessTest, ParentHookSeesThePidBeforeTheChildRuns) {
  pid_t seen = -1;
  ProcessOptions o = Opts({"/bin/sh", "-c", "echo $$"});
  o.parent_hook = [&seen](pid_t pid) {
    seen = pid;
    return absl::OkStatus();
  };
  auto p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(seen, p->pid());
  EXPECT_EQ(ReadAll(p.get()), absl::StrCat(p->pid(), "\n"));
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, FailingParentHookAbortsTheStart) {
  ProcessOptions o = Opts({"/bin/true"});
  o.parent_hook = [](pid_t) { return absl::ResourceExhaustedError("no cgroup for you"); };
  auto p = Process::Start(std::move(o));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(p.status().message(), "no cgroup for you");
}

TEST(ProcessTest, ExecGateByteExecs) {
  int gate[2];
  ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
  ProcessOptions o = Opts({"/bin/sh", "-c", "echo ran"});
  o.exec_gate_fd = gate[0];
  auto p = MustStart(std::move(o));
  close(gate[0]);
  ASSERT_NE(p, nullptr);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_FALSE(p->TryWait().has_value());  // waits at the gate
  ASSERT_EQ(write(gate[1], "x", 1), 1);
  close(gate[1]);
  EXPECT_EQ(ReadAll(p.get()), "ran\n");
  EXPECT_EQ(p->Wait(), 0);
}

TEST(ProcessTest, ExecGateEofExitsWithoutExec) {
  int gate[2];
  ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
  ProcessOptions o = Opts({"/bin/sh", "-c", "echo ran"});
  o.exec_gate_fd = gate[0];
  auto p = MustStart(std::move(o));
  close(gate[0]);
  ASSERT_NE(p, nullptr);
  close(gate[1]);
  EXPECT_EQ(ReadAll(p.get()), "");
  EXPECT_EQ(p->Wait(), 127);
}

TEST(ProcessTest, ExecGateStillReportsHookFailures) {
  int gate[2];
  ASSERT_EQ(pipe2(gate, O_CLOEXEC), 0);
  ProcessOptions o = Opts({"/bin/true"});
  o.exec_gate_fd = gate[0];
  o.child_hook = [] { return absl::FailedPreconditionError("hook says no"); };
  auto p = Process::Start(std::move(o));
  close(gate[0]);
  close(gate[1]);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ProcessTest, CloneFlagsAreChecked) {
  ProcessOptions o = Opts({"/bin/true"});
  o.clone_flags = CLONE_NEWUSER;
  EXPECT_EQ(Process::Start(std::move(o)).status().code(), absl::StatusCode::kInvalidArgument);
  o = Opts({"/bin/true"});
  o.clone_flags = CLONE_NEWPID;
  o.join_pid_ns_fd = 0;
  EXPECT_EQ(Process::Start(std::move(o)).status().code(), absl::StatusCode::kInvalidArgument);
}

// User namespaces (process_user_test: they need the host's uid range, not Bazel's sandbox).
TEST(ProcessTest, UserNamespaceMapsAndRoot) {
  ProcessOptions o =
      Opts({"/bin/sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g; echo $$"});
  o.clone_flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS;
  o.uid_map = "0 100000 65536\n";
  o.gid_map = "0 200000 65536\n";
  pid_t hooked = 0;
  o.parent_hook = [&hooked](pid_t pid) {
    hooked = pid;
    return absl::OkStatus();
  };
  std::unique_ptr<Process> p = MustStart(std::move(o));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(hooked, p->pid());
  std::string out = ReadAll(p.get());
  EXPECT_EQ(p->Wait(), 0);
  std::vector<std::string> words = absl::StrSplit(out, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  EXPECT_EQ(absl::StrJoin(words, " "), "0 100000 65536 0 200000 65536 0 0 1") << out;
}

TEST(ProcessTest, UserNamespaceFailuresAreReported) {
  ProcessOptions o = Opts({"/bin/true"});
  o.clone_flags = CLONE_NEWUSER;
  o.uid_map = "0 100000 0\n";  // the kernel refuses a range of size 0
  o.gid_map = "0 100000 1\n";
  auto p = Process::Start(std::move(o));
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("uid_map"));

  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(null_fd, 0);
  o = Opts({"/bin/true"});
  o.pre_join_ns_fds = {null_fd};  // not a namespace: setns fails in the intermediate
  p = Process::Start(std::move(o));
  close(null_fd);
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("setns"));

  o = Opts({"/bin/true"});
  o.clone_flags = CLONE_NEWUSER;
  o.uid_map = o.gid_map = "1 100000 10\n";  // container root unmapped
  p = Process::Start(std::move(o));
  ASSERT_FALSE(p.ok());
  EXPECT_THAT(std::string(p.status().message()), HasSubstr("setresgid 0 in the user namespace"));
  // Nothing is left: the intermediates and children were reaped.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
}

// NotifyExited/NotifyReadable (the agent's deferred calls): each callback runs once, when the
// event comes, from the process's own thread; at once when it already came. TryRead never
// blocks: nullopt while there is no output, then the output, then "" (EOF).
TEST(ProcessTest, ReadinessCallbacksAndTryRead) {
  auto p = MustStart(Opts({"/bin/sh", "-c", "read x; echo \"$x\"; exit 4"}));
  absl::Mutex mu;
  int exited = 0, readable = 0;
  p->NotifyExited([&] {
    absl::MutexLock l(&mu);
    ++exited;
  });
  p->NotifyReadable(false, [&] {
    absl::MutexLock l(&mu);
    ++readable;
  });
  absl::StatusOr<std::optional<std::string>> none = p->TryRead(false, 100);
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  absl::SleepFor(absl::Milliseconds(100));
  {
    absl::MutexLock l(&mu);
    EXPECT_EQ(exited, 0);
    EXPECT_EQ(readable, 0);
  }
  ASSERT_TRUE(p->WriteStdin("hi\n").ok());
  {
    absl::MutexLock l(&mu);
    auto both = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return exited == 1 && readable == 1; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&both), absl::Seconds(10)));
  }
  EXPECT_EQ(p->Wait(), 4);
  absl::StatusOr<std::optional<std::string>> out = p->TryRead(false, 100);
  ASSERT_TRUE(out.ok() && out->has_value());
  EXPECT_EQ(**out, "hi\n");
  ASSERT_TRUE(p->AwaitOutputEof(absl::Seconds(10)));
  absl::StatusOr<std::optional<std::string>> eof = p->TryRead(false, 100);
  ASSERT_TRUE(eof.ok() && eof->has_value());
  EXPECT_EQ(**eof, "");
  // Already there: at once, on this thread.
  bool now = false;
  p->NotifyExited([&] { now = true; });
  EXPECT_TRUE(now);
  now = false;
  p->NotifyReadable(true, [&] { now = true; });
  EXPECT_TRUE(now);
  absl::MutexLock l(&mu);
  EXPECT_EQ(exited, 1);
  EXPECT_EQ(readable, 1);
}

}  // namespace
}  // namespace agent
}  // namespace kata
