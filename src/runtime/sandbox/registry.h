// The containers of one sandbox and their processes: their states, their exits, and the one
// observer told of each exit. The VM sandbox keeps the guest side; this is the bookkeeping.
//
//   ProcessRegistry reg("s1");
//   reg.SetObserver([](const std::string& cid, const std::string& exec_id,
//                      const ExitStatus& e) { ... });     // once per process, exits only
//   KATA_RETURN_IF_ERROR(reg.Reserve("c1"));              // invisible until Commit
//   reg.Commit("c1", /*terminal=*/false);                 // init process "" in kCreated
//   reg.SetRunning("c1", "");                             // container and init running
//   reg.RecordExit("c1", "", {0, absl::Now(), {}});       // container kStopped, observer told
//   KATA_ASSIGN_OR_RETURN(ExitStatus e, reg.Wait("c1", ""));
//
// Contracts:
//   - Thread-safe. Each process exits once: the first RecordExit/ExitAll wins, later ones
//     change nothing; the observer is called exactly once per process, after the process is
//     kExited and without any lock held (it may call back into the registry), from the thread
//     that recorded the exit.
//   - The init's exit moves its container to kStopped.
//   - Errors: NOT_FOUND "container c1: not found in sandbox s1", "container c1: no exec \"e\"";
//     ALREADY_EXISTS for a duplicate id; FAILED_PRECONDITION from state.h's checks.
//   - Each running process may have one waiter thread (AttachWaiter); TakeWaiters hands them
//     to the caller to join (never under the sandbox's locks).
#ifndef KATA_SRC_RUNTIME_SANDBOX_REGISTRY_H_
#define KATA_SRC_RUNTIME_SANDBOX_REGISTRY_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "src/runtime/sandbox/sandbox.h"
#include "src/runtime/sandbox/state.h"

namespace kata::runtime {

class ProcessRegistry {
 public:
  explicit ProcessRegistry(std::string sandbox_id);
  ~ProcessRegistry();  // joins the waiters still held (their processes must have exited)

  void SetObserver(ExitObserver observer);

  // ---- containers ----
  absl::Status Reserve(const std::string& cid);
  void Commit(const std::string& cid, bool terminal);
  void Unreserve(const std::string& cid);
  // OK when container `cid` exists and allows `op` in its state.
  absl::Status Check(const std::string& cid, ContainerOp op) const;
  absl::StatusOr<ContainerState> GetContainerState(const std::string& cid) const;
  // Moves a container from `from` to `to` if it is in `from` (pause/resume after the guest
  // did it); returns whether it moved.
  bool Transition(const std::string& cid, ContainerState from, ContainerState to);
  std::vector<std::string> Ids() const;  // in creation order
  // Forgets the container: processes still unfinished exit with `status`. Returns its
  // waiter threads for the caller to join.
  std::vector<std::thread> Remove(const std::string& cid, const ExitStatus& status);

  // ---- processes ("" = init) ----
  // What a guest call needs about a process.
  struct ProcessRef {
    std::string agent_exec;  // the agent's exec id (the container id for init)
    bool terminal = false;
    bool exited = false;
  };
  absl::StatusOr<ProcessRef> Find(const std::string& cid, const std::string& exec_id,
                                  ContainerOp op) const;
  // Adds exec `exec_id` (kCreated) to a container that allows kExec.
  absl::Status AddExec(const std::string& cid, const std::string& exec_id, bool terminal);
  void DropExec(const std::string& cid, const std::string& exec_id);
  // The process is running (and, for init, its container: kCreated -> kRunning).
  void SetRunning(const std::string& cid, const std::string& exec_id);
  void AttachWaiter(const std::string& cid, const std::string& exec_id, std::thread waiter);
  void RecordExit(const std::string& cid, const std::string& exec_id, const ExitStatus& status);
  // Every unfinished process exits with `status`; every container ends kStopped.
  void ExitAll(const ExitStatus& status);
  // Blocks until the process has exited.
  absl::StatusOr<ExitStatus> Wait(const std::string& cid, const std::string& exec_id);
  absl::StatusOr<std::vector<ProcessInfo>> Processes(const std::string& cid) const;
  absl::StatusOr<ProcessInfo> GetProcess(const std::string& cid, const std::string& exec_id) const;
  // Forgets an exited exec (FAILED_PRECONDITION while it runs) and joins its waiter.
  absl::Status DeleteProcess(const std::string& cid, const std::string& exec_id);
  // The waiter threads of `cid` ("" = every container), for the caller to join.
  std::vector<std::thread> TakeWaiters(const std::string& cid = "");

 private:
  struct Proc {
    std::string exec_id;
    std::string agent_exec;
    bool terminal = false;
    ProcessState state = ProcessState::kCreated;
    std::optional<ExitStatus> exit;
    std::thread waiter;
  };
  struct Ctr {
    std::string id;
    ContainerState state = ContainerState::kCreated;
    std::vector<std::shared_ptr<Proc>> procs;  // init first
    bool reserved = true;                      // invisible until committed
  };
  struct Exit {
    std::string cid, exec_id;
    ExitStatus status;
  };

  absl::StatusOr<std::shared_ptr<Ctr>> FindCtr(const std::string& cid) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<std::shared_ptr<Proc>> FindProc(const Ctr& c, const std::string& exec_id) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Marks `p` exited; returns whether it was the first exit.
  bool MarkExited(Ctr& c, Proc& p, const ExitStatus& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Notify(const std::vector<Exit>& exits);

  const std::string sandbox_id_;
  mutable absl::Mutex mu_;
  absl::CondVar exited_;
  std::map<std::string, std::shared_ptr<Ctr>> containers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> orphan_waiters_ ABSL_GUARDED_BY(mu_);
  ExitObserver observer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace kata::runtime

#endif  // KATA_SRC_RUNTIME_SANDBOX_REGISTRY_H_
