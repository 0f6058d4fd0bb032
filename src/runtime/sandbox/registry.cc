#include "src/runtime/sandbox/registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"

namespace kata::runtime {

ProcessRegistry::ProcessRegistry(std::string sandbox_id) : sandbox_id_(std::move(sandbox_id)) {}

ProcessRegistry::~ProcessRegistry() {
  for (std::thread& t : TakeWaiters()) t.join();
}

void ProcessRegistry::SetObserver(ExitObserver observer) {
  absl::MutexLock l(&mu_);
  observer_ = std::move(observer);
}

absl::StatusOr<std::shared_ptr<ProcessRegistry::Ctr>> ProcessRegistry::FindCtr(
    const std::string& cid) const {
  auto it = containers_.find(cid);
  if (it == containers_.end() || it->second->reserved) {
    return absl::NotFoundError(
        absl::StrCat("container ", cid, ": not found in sandbox ", sandbox_id_));
  }
  return it->second;
}

absl::StatusOr<std::shared_ptr<ProcessRegistry::Proc>> ProcessRegistry::FindProc(
    const Ctr& c, const std::string& exec_id) const {
  for (const auto& p : c.procs) {
    if (p->exec_id == exec_id) return p;
  }
  return absl::NotFoundError(absl::StrCat("container ", c.id, ": no exec \"", exec_id, "\""));
}

absl::Status ProcessRegistry::Reserve(const std::string& cid) {
  absl::MutexLock l(&mu_);
  if (containers_.count(cid)) {
    return absl::AlreadyExistsError(absl::StrCat("container ", cid, ": already exists"));
  }
  auto c = std::make_shared<Ctr>();
  c->id = cid;
  containers_[cid] = std::move(c);
  return absl::OkStatus();
}

void ProcessRegistry::Commit(const std::string& cid, bool terminal) {
  absl::MutexLock l(&mu_);
  auto it = containers_.find(cid);
  if (it == containers_.end()) return;
  auto init = std::make_shared<Proc>();
  init->agent_exec = cid;
  init->terminal = terminal;
  it->second->procs.push_back(std::move(init));
  it->second->reserved = false;
  order_.push_back(cid);
}

void ProcessRegistry::Unreserve(const std::string& cid) {
  absl::MutexLock l(&mu_);
  auto it = containers_.find(cid);
  if (it != containers_.end() && it->second->reserved) containers_.erase(it);
}

absl::Status ProcessRegistry::Check(const std::string& cid, ContainerOp op) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  return CheckContainerOp(cid, c->state, op);
}

absl::StatusOr<ContainerState> ProcessRegistry::GetContainerState(const std::string& cid) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  return c->state;
}

bool ProcessRegistry::Transition(const std::string& cid, ContainerState from, ContainerState to) {
  absl::MutexLock l(&mu_);
  absl::StatusOr<std::shared_ptr<Ctr>> c = FindCtr(cid);
  if (!c.ok() || (*c)->state != from) return false;
  (*c)->state = to;
  return true;
}

std::vector<std::string> ProcessRegistry::Ids() const {
  absl::MutexLock l(&mu_);
  return order_;
}

std::vector<std::thread> ProcessRegistry::Remove(const std::string& cid, const ExitStatus& status) {
  std::vector<Exit> exits;
  std::vector<std::thread> waiters;
  {
    absl::MutexLock l(&mu_);
    auto it = containers_.find(cid);
    if (it == containers_.end()) return waiters;
    Ctr& c = *it->second;
    for (auto& p : c.procs) {
      if (MarkExited(c, *p, status)) exits.push_back({cid, p->exec_id, status});
      if (p->waiter.joinable()) waiters.push_back(std::move(p->waiter));
    }
    containers_.erase(it);
    order_.erase(std::remove(order_.begin(), order_.end(), cid), order_.end());
  }
  Notify(exits);
  return waiters;
}

absl::StatusOr<ProcessRegistry::ProcessRef> ProcessRegistry::Find(const std::string& cid,
                                                                  const std::string& exec_id,
                                                                  ContainerOp op) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  KATA_RETURN_IF_ERROR(CheckContainerOp(cid, c->state, op));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
  return ProcessRef{p->agent_exec, p->terminal, p->state == ProcessState::kExited};
}

absl::Status ProcessRegistry::AddExec(const std::string& cid, const std::string& exec_id,
                                      bool terminal) {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  KATA_RETURN_IF_ERROR(CheckContainerOp(cid, c->state, ContainerOp::kExec));
  if (FindProc(*c, exec_id).ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("container ", cid, ": exec ", exec_id, ": already exists"));
  }
  auto p = std::make_shared<Proc>();
  p->exec_id = exec_id;
  p->agent_exec = exec_id;
  p->terminal = terminal;
  c->procs.push_back(std::move(p));
  return absl::OkStatus();
}

void ProcessRegistry::DropExec(const std::string& cid, const std::string& exec_id) {
  absl::MutexLock l(&mu_);
  auto it = containers_.find(cid);
  if (it == containers_.end() || exec_id.empty()) return;
  auto& procs = it->second->procs;
  procs.erase(std::remove_if(procs.begin(), procs.end(),
                             [&](const auto& p) { return p->exec_id == exec_id; }),
              procs.end());
}

void ProcessRegistry::SetRunning(const std::string& cid, const std::string& exec_id) {
  absl::MutexLock l(&mu_);
  absl::StatusOr<std::shared_ptr<Ctr>> c = FindCtr(cid);
  if (!c.ok()) return;
  absl::StatusOr<std::shared_ptr<Proc>> p = FindProc(**c, exec_id);
  if (!p.ok() || (*p)->state != ProcessState::kCreated) return;
  (*p)->state = ProcessState::kRunning;
  if (exec_id.empty() && (*c)->state == ContainerState::kCreated) {
    (*c)->state = ContainerState::kRunning;
  }
}

void ProcessRegistry::AttachWaiter(const std::string& cid, const std::string& exec_id,
                                   std::thread waiter) {
  absl::MutexLock l(&mu_);
  auto it = containers_.find(cid);
  if (it != containers_.end()) {
    absl::StatusOr<std::shared_ptr<Proc>> p = FindProc(*it->second, exec_id);
    if (p.ok() && !(*p)->waiter.joinable()) {
      (*p)->waiter = std::move(waiter);
      return;
    }
  }
  orphan_waiters_.push_back(std::move(waiter));
}

bool ProcessRegistry::MarkExited(Ctr& c, Proc& p, const ExitStatus& status) {
  if (p.exit.has_value()) return false;
  p.exit = status;
  p.state = ProcessState::kExited;
  if (p.exec_id.empty()) c.state = ContainerState::kStopped;
  exited_.SignalAll();
  return true;
}

void ProcessRegistry::RecordExit(const std::string& cid, const std::string& exec_id,
                                 const ExitStatus& status) {
  std::vector<Exit> exits;
  {
    absl::MutexLock l(&mu_);
    auto it = containers_.find(cid);
    if (it == containers_.end()) return;
    absl::StatusOr<std::shared_ptr<Proc>> p = FindProc(*it->second, exec_id);
    if (p.ok() && MarkExited(*it->second, **p, status)) exits.push_back({cid, exec_id, status});
  }
  Notify(exits);
}

void ProcessRegistry::ExitAll(const ExitStatus& status) {
  std::vector<Exit> exits;
  {
    absl::MutexLock l(&mu_);
    for (auto& [id, c] : containers_) {
      for (auto& p : c->procs) {
        if (MarkExited(*c, *p, status)) exits.push_back({id, p->exec_id, status});
      }
      c->state = ContainerState::kStopped;
    }
    exited_.SignalAll();
  }
  Notify(exits);
}

void ProcessRegistry::Notify(const std::vector<Exit>& exits) {
  if (exits.empty()) return;
  ExitObserver observer;
  {
    absl::MutexLock l(&mu_);
    observer = observer_;
  }
  if (!observer) return;
  for (const Exit& e : exits) observer(e.cid, e.exec_id, e.status);
}

absl::StatusOr<ExitStatus> ProcessRegistry::Wait(const std::string& cid,
                                                 const std::string& exec_id) {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
  while (!p->exit.has_value()) exited_.Wait(&mu_);
  return *p->exit;
}

absl::StatusOr<std::vector<ProcessInfo>> ProcessRegistry::Processes(const std::string& cid) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  std::vector<ProcessInfo> out;
  for (const auto& p : c->procs) out.push_back({p->exec_id, p->state, p->terminal, p->exit});
  return out;
}

absl::StatusOr<ProcessInfo> ProcessRegistry::GetProcess(const std::string& cid,
                                                        const std::string& exec_id) const {
  absl::MutexLock l(&mu_);
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
  KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
  return ProcessInfo{p->exec_id, p->state, p->terminal, p->exit};
}

absl::Status ProcessRegistry::DeleteProcess(const std::string& cid, const std::string& exec_id) {
  std::thread waiter;
  {
    absl::MutexLock l(&mu_);
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Ctr> c, FindCtr(cid));
    if (exec_id.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("container ", cid, ": the init process goes with DeleteContainer"));
    }
    KATA_ASSIGN_OR_RETURN(std::shared_ptr<Proc> p, FindProc(*c, exec_id));
    if (p->state != ProcessState::kExited) {
      return absl::FailedPreconditionError(absl::StrCat("container ", cid, ": exec ", exec_id,
                                                        " is still ", ProcessStateName(p->state)));
    }
    waiter = std::move(p->waiter);
    c->procs.erase(std::remove(c->procs.begin(), c->procs.end(), p), c->procs.end());
  }
  if (waiter.joinable()) waiter.join();
  return absl::OkStatus();
}

std::vector<std::thread> ProcessRegistry::TakeWaiters(const std::string& cid) {
  absl::MutexLock l(&mu_);
  std::vector<std::thread> out;
  for (auto& [id, c] : containers_) {
    if (!cid.empty() && id != cid) continue;
    for (auto& p : c->procs) {
      if (p->waiter.joinable()) out.push_back(std::move(p->waiter));
    }
  }
  if (cid.empty()) {
    for (auto& t : orphan_waiters_) out.push_back(std::move(t));
    orphan_waiters_.clear();
  }
  return out;
}

}  // namespace kata::runtime
