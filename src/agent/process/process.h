// A process run by the guest agent, with its stdio carried the way Kata's agent gives it to
// the shim (ExecProcess, WriteStdin, ReadStdout, ReadStderr, CloseStdin, TtyWinResize,
// SignalProcess, WaitProcess). Namespaces and cgroups are the container engine's: it uses
// `clone_flags`/`join_pid_ns_fd` (new or joined namespaces), `parent_hook` (e.g. enter the
// cgroup before the child runs), `child_hook` (setns, mounts, before exec) and
// `exec_gate_fd` (set up now, exec later: a container's init waiting for StartContainer).
//
//   ProcessOptions opts;
//   opts.argv = {"/bin/sh", "-c", "echo hi; exit 3"};
//   opts.env = {"PATH=/usr/bin:/bin"};
//   KATA_ASSIGN_OR_RETURN(std::unique_ptr<Process> p, Process::Start(std::move(opts)));
//   std::string out;
//   for (std::string chunk; !(chunk = p->ReadStdout(4096).value()).empty();) out += chunk;
//   int code = p->Wait();  // 3
//
// Promises:
// - Start returns only once the child has exec'd (with `exec_gate_fd`: once it waits at the
//   gate, just before exec): a failure before exec (a missing binary,
//   chdir, setuid, the hook) comes back as the status of Start, e.g. NOT_FOUND
//   "exec /no/such: ENOENT (No such file or directory)", and the child is already reaped.
//   Start blocks while the child hook runs. (A child that dies before exec without reporting,
//   e.g. a crashing hook, is indistinguishable from a successful exec: Start succeeds and
//   Wait gives the signal.)
// - Output is drained by the agent into a bounded buffer per stream
//   (`output_buffer_bytes`) as soon as the process writes it, so a process that writes and
//   exits before anyone reads loses nothing. A full buffer stops the draining (the process
//   then blocks in write: backpressure); memory never grows beyond the bound.
// - ReadStdout/ReadStderr block until data is available; they return "" (EOF) only after
//   the stream was closed by every writer, the process has exited, and everything it wrote
//   has been returned. A descendant that keeps the stream open (a background child) keeps
//   it from reaching EOF, as with Kata and runc.
// - Wait blocks until the process exits and returns its code (killed by signal n: 128 + n);
//   any number of callers, before or after the exit.
// - Reaping: each Process has a waiter thread that waits for ITS pid only
//   (waitid(P_PID, WNOWAIT), then waitpid(pid) under the process lock), so other children
//   of the agent are never reaped here, and Signal never hits a recycled pid. The agent must
//   not reap with waitpid(-1)/wait() elsewhere (the orphan reaper of reaper.h knows these
//   pids and leaves them alone), nor set SIGCHLD to SIG_IGN.
// - Every fd this library opens is O_CLOEXEC; the child closes every inherited fd except
//   its stdio and `ProcessOptions::keep_fds` right after fork, so a concurrently started
//   process cannot hold another one's pipes open.
// - NotifyExited/NotifyReadable (for the agent's deferred WaitProcess/ReadStdout/ReadStderr:
//   no thread waits per call): `ready` runs once, when Wait (a read of that stream) would no
//   longer block; at once, on the caller's thread, if it would not now. Otherwise it runs on
//   the process's own waiter or drain thread with no lock held: it must not block, nor hold
//   or drop a reference to this Process (it hands the work to another thread). Exit
//   callbacks run also for the exit that destroying the Process causes; read callbacks still
//   waiting then are dropped.
// - All methods are thread-safe. Destroying a Process kills it (SIGKILL) if it is still
//   running, reaps it, stops its threads and closes its fds; no call may be in progress
//   on it then (share it with std::shared_ptr when calls can block).
#ifndef KATA_SRC_AGENT_PROCESS_PROCESS_H_
#define KATA_SRC_AGENT_PROCESS_PROCESS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"

namespace kata {
namespace agent {

// Runs in the child after fork, after its stdio is in place and its fds are closed, and
// before chdir, the user switch and exec (so it may setns/unshare, mount, pivot_root, ...).
// A non-OK status aborts the start: Start returns it (code and message) and the child exits.
// Constraints: the child is a fork of a multi-threaded process. Only the forking thread
// exists there; locks held by other threads at fork time stay held forever. The hook may
// use async-signal-safe calls and raw syscalls; glibc's malloc is reset by fork and is
// usable (so absl::Status and small strings are fine), but no mutex, logger, iostream or
// other library state shared with the agent's threads may be touched. It must not return
// by exception and must not exit (return an error instead).
using ChildHook = std::function<absl::Status()>;

// The user the process runs as. Unset in ProcessOptions = the agent's own user.
struct ProcessUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> additional_gids;  // setgroups(); empty = no supplementary groups
};

struct ProcessOptions {
  // argv[0] is the program: a path when it contains '/', else searched in the PATH of
  // `env` (or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"). Required.
  std::vector<std::string> argv;
  // The whole environment, "KEY=value" each (nothing is inherited from the agent).
  std::vector<std::string> env;
  // Working directory; "" = the agent's.
  std::string cwd;
  std::optional<ProcessUser> user;
  // true: one pty, the process's controlling terminal, carries stdin and stdout+stderr
  // (ReadStderr then fails); false: three pipes. As with runc, the child allocates the pty
  // itself after child_hook (so from the container's devpts, through its /dev/ptmx or
  // /dev/pts/ptmx), makes the slave fds 0, 1, 2 and its controlling terminal, and passes the
  // master to the agent (SCM_RIGHTS); `tty` inside then names the process's own pty. A root
  // without a usable /dev/ptmx gets a pty of the agent's /dev/ptmx instead (it works, but its
  // name does not exist in that root). Until then the child's stdio is /dev/null.
  bool terminal = false;
  // Initial terminal size (terminal only); 0 = the kernel's default (0x0).
  uint16_t rows = 0;
  uint16_t cols = 0;
  // Bound of the agent-side buffer of each output stream.
  size_t output_buffer_bytes = 1024 * 1024;
  // fds (>= 3) the child keeps open for the hook (they still close at exec when O_CLOEXEC).
  std::vector<int> keep_fds;
  ChildHook child_hook;
  // Runs in the child after the user switch (setgroups, setresgid, setresuid) and before the
  // exec gate and exec; the same rules as child_hook. For what must follow the switch:
  // the final capability sets, no_new_privs, the seccomp filter.
  ChildHook post_user_hook;

  // Namespaces the child gets new: a mask of CLONE_NEWPID, CLONE_NEWNS, CLONE_NEWUTS,
  // CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWCGROUP and CLONE_NEWUSER (any other bit:
  // INVALID_ARGUMENT); 0 = the agent's. With CLONE_NEWPID the child is the init (pid 1) of a
  // new pid namespace (pid() stays the agent's view of it; the fork happens in a short-lived
  // thread of its own, so the agent's threads keep their pid namespace); the other
  // namespaces are unshared in the child after parent_hook and before child_hook.
  //
  // User namespaces ("two-step" start, as runc's nsexec): with CLONE_NEWUSER or a non-empty
  // `pre_join_ns_fds`, an intermediate process (a plain fork, so single-threaded) runs
  // `early_hook`, setns()es into each of `pre_join_ns_fds` in order (a user namespace may be
  // among them: namespaces owned elsewhere should come before it), then creates the child
  // with clone(CLONE_PARENT | every flag of clone_flags at once), so the new namespaces are
  // owned by the new (or joined) user namespace and the child is still the agent's own child;
  // the intermediate exits at once. With CLONE_NEWUSER the agent writes `uid_map`/`gid_map`
  // to /proc/<child>/ before parent_hook (setgroups stays "allow": the writer is privileged);
  // then the child, released, becomes root of its user namespace (setresgid/setresuid 0, so
  // container root 0 must be mapped) before child_hook.
  int clone_flags = 0;
  // A pid namespace (fd of /proc/<pid>/ns/pid, owned by the caller) the child is created
  // in; -1 = none. Not together with CLONE_NEWPID, nor with a two-step start (put the fd into
  // `pre_join_ns_fds` then). Other namespaces are joined by the hook.
  int join_pid_ns_fd = -1;
  // Two-step start only: namespaces (fds owned by the caller) joined before the clone.
  std::vector<int> pre_join_ns_fds;
  // Contents of /proc/<child>/uid_map and gid_map ("<inside> <outside> <count>\n" lines);
  // required with CLONE_NEWUSER and not allowed without it.
  std::string uid_map;
  std::string gid_map;
  // Runs in the child first of all, after parent_hook and before any namespace change (in a
  // two-step start: in the intermediate process, before parent_hook, so the child inherits what it
  // sets, e.g. rlimits and oom_score_adj, which a process inside a new user namespace may not
  // raise). The same rules as child_hook.
  ChildHook early_hook;
  // Runs in the agent as soon as the child exists and before the child runs anything of its
  // own (it waits for this), e.g. to put it into a cgroup. A non-OK status kills and reaps
  // the child and Start returns it.
  std::function<absl::Status(pid_t)> parent_hook;
  // When >= 0 (a read end owned by the caller, e.g. of a pipe): the child does everything up
  // to exec (hook, chdir, user switch), then Start returns (without waiting for exec) and
  // the child blocks reading this fd: a byte makes it exec, EOF (every writer closed) makes
  // it exit 127 without exec. An exec failure after the gate is not reported to anyone: the
  // process exits 127.
  int exec_gate_fd = -1;
  // While parked at the exec gate, reap the child's own children (and orphans re-parented to
  // it), as the init of a pid namespace must: a namespace holder that never execs.
  bool reap_at_gate = false;
};

class Process {
 public:
  // Forks and execs `options.argv`. Errors: INVALID_ARGUMENT (empty argv, an argument with
  // a NUL byte), errno statuses of pipe/pty/fork ("pipe: EMFILE ..."), and the child's
  // failure before exec ("exec <argv[0]>: ENOENT ...", "chdir /x: ...", "setuid 1000: ...",
  // or the hook's status).
  static absl::StatusOr<std::unique_ptr<Process>> Start(ProcessOptions options);

  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool terminal() const { return terminal_; }

  // Up to `max_len` (> 0) bytes of output; blocks until there is some; "" at EOF (see the
  // promises above). ReadStderr on a terminal process: FAILED_PRECONDITION.
  absl::StatusOr<std::string> ReadStdout(size_t max_len);
  absl::StatusOr<std::string> ReadStderr(size_t max_len);

  // Writes all of `data` (blocking while the pipe is full) and returns data.size(). A
  // writer blocked on a process that never reads also holds up CloseStdin.
  // Errors: FAILED_PRECONDITION after CloseStdin; UNAVAILABLE "stdin: EPIPE" when nothing
  // reads stdin any more (the count written before that is lost to the caller). SIGPIPE is
  // never raised. Concurrent writers are serialized.
  absl::StatusOr<size_t> WriteStdin(absl::string_view data);

  // Gives the process EOF on stdin: pipes: closes the agent's end; terminal: writes the
  // terminal's EOF character (VEOF, normally ^D) so a canonical-mode reader sees EOF.
  // Idempotent.
  absl::Status CloseStdin();

  // Sets the terminal size (TIOCSWINSZ; the process gets SIGWINCH). FAILED_PRECONDITION for
  // a process without terminal.
  absl::Status Resize(uint16_t rows, uint16_t cols);

  // Sends `sig` to the process (not its group). NOT_FOUND "signal: ESRCH" once it exited.
  absl::Status Signal(int sig);

  // True once the process has exited and every output stream reached EOF with everything
  // drained from it returned by reads: a read would only answer "" (EOF). Never blocks.
  bool OutputDone();
  // Blocks until every output stream reached EOF (not necessarily read), at most `timeout`;
  // whether they all did. After the exit that is at once unless a descendant holds a stream
  // open or a full buffer stops its draining.
  bool AwaitOutputEof(absl::Duration timeout);

  // Readiness callbacks (see the promises above). A read made after `ready` may still block
  // if another reader took the data first: TryRead never does.
  void NotifyExited(std::function<void()> ready);
  void NotifyReadable(bool stderr_stream, std::function<void()> ready);
  // A read that never blocks: nullopt if a read would block now; "" at EOF.
  absl::StatusOr<std::optional<std::string>> TryRead(bool stderr_stream, size_t max_len);

  // Blocks until exit; the exit code, or 128 + the signal that killed it.
  int Wait();
  // The exit code if the process has exited, else nullopt; never blocks.
  std::optional<int> TryWait();

 private:
  enum Stream { kStdout = 0, kStderr = 1 };
  // Output drained from a stream and not read yet.
  struct Buffer {
    std::string data;
    size_t off = 0;  // data[off..] not yet read
    bool eof = false;
  };

  // Takes the agent's ends: `out` (stdout pipe or pty master), `err` (stderr pipe; none with a
  // terminal), `in` (stdin pipe or a dup of the pty master), `cancel` (an eventfd).
  Process(pid_t pid, bool terminal, size_t cap, UniqueFd cancel, UniqueFd out, UniqueFd err,
          UniqueFd in);
  // Starts the waiter and the drain threads (start.cc, once the child has exec'd).
  void StartThreads();

  void WaitLoop();           // process.cc: the waiter thread
  void DrainLoop(Stream s);  // stdio.cc: a drain thread
  absl::StatusOr<std::string> Read(Stream s, size_t max_len);
  size_t Pending(Stream s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool AllEof() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);  // every stream's drain at EOF
  // A read of `s` would not block.
  bool Readable(Stream s) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes out the read callbacks of `s` if a read would not block now (to run unlocked).
  void TakeReadyReaders(Stream s, std::vector<std::function<void()>>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Copies up to max_len pending bytes of `s` out ("" at EOF); the caller checked Readable.
  std::string TakeOutput(Stream s, size_t max_len) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CheckStream(Stream s) const;
  absl::Status AwaitStdinWritable(int fd);

  const pid_t pid_;
  const bool terminal_;
  const size_t cap_;  // bound of each Buffer
  // Fixed from construction to destruction (the threads use them without the lock).
  const UniqueFd cancel_fd_;   // eventfd: readable when the threads must stop
  const UniqueFd out_fds_[2];  // the agent's read end of each stream; none: invalid

  absl::Mutex mu_;
  absl::CondVar cv_;  // any change of the fields below
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  int exit_code_ ABSL_GUARDED_BY(mu_) = -1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Buffer buffers_[2] ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> exit_watchers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::function<void()>> read_watchers_[2] ABSL_GUARDED_BY(mu_);

  absl::Mutex stdin_mu_;  // serializes writers and CloseStdin
  UniqueFd stdin_fd_ ABSL_GUARDED_BY(stdin_mu_);
  bool stdin_closed_ ABSL_GUARDED_BY(stdin_mu_) = false;

  std::thread waiter_;
  std::thread readers_[2];
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_PROCESS_PROCESS_H_
