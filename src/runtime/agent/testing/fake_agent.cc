#include "src/runtime/agent/testing/fake_agent.h"

#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/empty.pb.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/ttrpc/server.h"

namespace kata::runtime::testing {

// Records the request `r` under `name` and fails with a status set by FailNext (mu_ held).
#define KATA_FAKE_RECORD(name)                      \
  requests_[name].push_back(r.SerializeAsString()); \
  if (absl::Status fs = Consume(name); !fs.ok()) return fs
// Finds process (cid, eid) into `p` or returns NOT_FOUND (mu_ held).
#define KATA_FAKE_FIND(cid, eid) \
  if (absl::Status fs = Find(cid, eid, &p); !fs.ok()) return fs

namespace {

struct Proc {
  std::string program;
  std::vector<std::string> args;
  bool terminal = false;
  bool started = false;
  bool exited = false;
  int status = 0;
  bool stdin_closed = false;
  std::string out, err;
};

struct Container {
  std::string init;  // the init's exec id
  std::map<std::string, Proc> procs;
  bool paused = false;
};

}  // namespace

class FakeAgent::Impl : public ::grpc::AgentServiceTtrpc::Service,
                        public ::grpc::HealthTtrpc::Service {
 public:
  using Ctx = ::kata::ttrpc::ServerContext;
  using Empty = ::google::protobuf::Empty;

  absl::Status Check(Ctx&, const ::grpc::CheckRequest& r,
                     ::grpc::HealthCheckResponse* out) override {
    Record("Check", r);
    out->set_status(::grpc::HealthCheckResponse::SERVING);
    return absl::OkStatus();
  }
  absl::Status Version(Ctx&, const ::grpc::CheckRequest& r,
                       ::grpc::VersionCheckResponse* out) override {
    Record("Version", r);
    out->set_agent_version("fake-agent 0");
    out->set_grpc_version("ttrpc");
    return absl::OkStatus();
  }

  absl::Status CreateSandbox(Ctx&, const ::grpc::CreateSandboxRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("CreateSandbox");
    return absl::OkStatus();
  }
  absl::Status DestroySandbox(Ctx&, const ::grpc::DestroySandboxRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("DestroySandbox");
    containers_.clear();
    return absl::OkStatus();
  }
  absl::Status CreateContainer(Ctx&, const ::grpc::CreateContainerRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("CreateContainer");
    if (containers_.count(r.container_id())) {
      return absl::AlreadyExistsError(absl::StrCat("container ", r.container_id()));
    }
    Container c;
    Proc p;
    p.args.assign(r.oci().process().args().begin(), r.oci().process().args().end());
    p.terminal = r.oci().process().terminal();
    // Like the real agent: the init's exec id is the request's, else the container id.
    c.init = r.exec_id().empty() ? r.container_id() : r.exec_id();
    c.procs[c.init] = std::move(p);
    containers_[r.container_id()] = std::move(c);
    return absl::OkStatus();
  }
  absl::Status StartContainer(Ctx&, const ::grpc::StartContainerRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("StartContainer");
    auto it = containers_.find(r.container_id());
    if (it == containers_.end()) return absl::NotFoundError("container " + r.container_id());
    Proc* p = &it->second.procs[it->second.init];
    if (p->started) return absl::FailedPreconditionError("already started");
    Run(p);
    return absl::OkStatus();
  }
  absl::Status RemoveContainer(Ctx&, const ::grpc::RemoveContainerRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("RemoveContainer");
    if (!containers_.erase(r.container_id())) {
      return absl::NotFoundError(absl::StrCat("container ", r.container_id()));
    }
    return absl::OkStatus();
  }
  absl::Status ExecProcess(Ctx&, const ::grpc::ExecProcessRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("ExecProcess");
    auto it = containers_.find(r.container_id());
    if (it == containers_.end()) return absl::NotFoundError("container " + r.container_id());
    if (it->second.procs.count(r.exec_id())) return absl::AlreadyExistsError("exec " + r.exec_id());
    Proc& p = it->second.procs[r.exec_id()];
    p.args.assign(r.process().args().begin(), r.process().args().end());
    p.terminal = r.process().terminal();
    Run(&p);
    return absl::OkStatus();
  }
  absl::Status SignalProcess(Ctx&, const ::grpc::SignalProcessRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("SignalProcess");
    auto it = containers_.find(r.container_id());
    if (it == containers_.end()) return absl::NotFoundError("container " + r.container_id());
    // An empty exec id signals every process of the container (as the real agent does).
    if (r.exec_id().empty()) {
      if (r.signal() != 0) {
        for (auto& [id, p] : it->second.procs) {
          if (p.started && !p.exited) Exit(&p, 128 + static_cast<int>(r.signal()));
        }
      }
      return absl::OkStatus();
    }
    auto pit = it->second.procs.find(r.exec_id());
    if (pit == it->second.procs.end()) return absl::NotFoundError("exec " + r.exec_id());
    Proc& p = pit->second;
    if (r.signal() != 0 && p.started && !p.exited) {
      Exit(&p, 128 + static_cast<int>(r.signal()));
      if (r.exec_id() == it->second.init) {  // the init's end ends the container
        for (auto& [id, other] : it->second.procs) {
          if (other.started && !other.exited) Exit(&other, 137);
        }
      }
    }
    return absl::OkStatus();
  }
  absl::Status WaitProcess(Ctx& ctx, const ::grpc::WaitProcessRequest& r,
                           ::grpc::WaitProcessResponse* out) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("WaitProcess");
    while (true) {
      Proc* p;
      KATA_FAKE_FIND(r.container_id(), r.exec_id());
      if (p->exited) {
        out->set_status(p->status);
        return absl::OkStatus();
      }
      if (ctx.cancelled() || stopping_) return absl::CancelledError("wait cancelled");
      cv_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
    }
  }
  absl::Status UpdateContainer(Ctx&, const ::grpc::UpdateContainerRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("UpdateContainer");
    if (!containers_.count(r.container_id())) return absl::NotFoundError("container");
    return absl::OkStatus();
  }
  absl::Status GetMetrics(Ctx&, const ::grpc::GetMetricsRequest& r, ::grpc::Metrics* out) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("GetMetrics");
    out->set_metrics(
        "# HELP kata_guest_load Guest system load.\n# TYPE kata_guest_load gauge\n"
        "kata_guest_load{item=\"load1\"} 0.5\n");
    return absl::OkStatus();
  }
  absl::Status StatsContainer(Ctx&, const ::grpc::StatsContainerRequest& r,
                              ::grpc::StatsContainerResponse* out) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("StatsContainer");
    auto it = containers_.find(r.container_id());
    if (it == containers_.end()) return absl::NotFoundError("container " + r.container_id());
    int running = 0;
    for (auto& [id, p] : it->second.procs) running += p.started && !p.exited;
    out->mutable_cgroup_stats()->mutable_memory_stats()->mutable_usage()->set_usage(4 << 20);
    out->mutable_cgroup_stats()->mutable_pids_stats()->set_current(running);
    return absl::OkStatus();
  }
  absl::Status PauseContainer(Ctx&, const ::grpc::PauseContainerRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("PauseContainer");
    auto it = containers_.find(r.container_id());
    if (it == containers_.end()) return absl::NotFoundError("container " + r.container_id());
    it->second.paused = true;
    return absl::OkStatus();
  }
  absl::Status ResumeContainer(Ctx&, const ::grpc::ResumeContainerRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("ResumeContainer");
    auto it = containers_.find(r.container_id());
    if (it == containers_.end()) return absl::NotFoundError("container " + r.container_id());
    it->second.paused = false;
    return absl::OkStatus();
  }
  absl::Status WriteStdin(Ctx&, const ::grpc::WriteStreamRequest& r,
                          ::grpc::WriteStreamResponse* out) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("WriteStdin");
    Proc* p;
    KATA_FAKE_FIND(r.container_id(), r.exec_id());
    if (p->stdin_closed || p->exited) return absl::FailedPreconditionError("stdin closed");
    if (p->program == "cat") p->out += r.data();
    out->set_len(r.data().size());
    return absl::OkStatus();
  }
  absl::Status ReadStdout(Ctx& ctx, const ::grpc::ReadStreamRequest& r,
                          ::grpc::ReadStreamResponse* out) override {
    return Read(ctx, r, false, out, "ReadStdout");
  }
  absl::Status ReadStderr(Ctx& ctx, const ::grpc::ReadStreamRequest& r,
                          ::grpc::ReadStreamResponse* out) override {
    return Read(ctx, r, true, out, "ReadStderr");
  }
  absl::Status CloseStdin(Ctx&, const ::grpc::CloseStdinRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("CloseStdin");
    Proc* p;
    KATA_FAKE_FIND(r.container_id(), r.exec_id());
    p->stdin_closed = true;
    if (p->program == "cat" && !p->exited) Exit(p, 0);
    return absl::OkStatus();
  }
  absl::Status TtyWinResize(Ctx&, const ::grpc::TtyWinResizeRequest& r, Empty*) override {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD("TtyWinResize");
    Proc* p;
    KATA_FAKE_FIND(r.container_id(), r.exec_id());
    if (!p->terminal) return absl::FailedPreconditionError("no terminal");
    return absl::OkStatus();
  }

  // --- helpers ---
  template <class M>
  void Record(const std::string& name, const M& m) {
    absl::MutexLock l(&mu_);
    requests_[name].push_back(m.SerializeAsString());
  }

  absl::Status Read(Ctx& ctx, const ::grpc::ReadStreamRequest& r, bool err,
                    ::grpc::ReadStreamResponse* out, const char* name) {
    absl::MutexLock l(&mu_);
    KATA_FAKE_RECORD(name);
    while (true) {
      Proc* p;
      KATA_FAKE_FIND(r.container_id(), r.exec_id());
      std::string& buf = err ? p->err : p->out;
      if (!buf.empty()) {
        size_t n = std::min<size_t>(buf.size(), r.len() ? r.len() : buf.size());
        out->set_data(buf.substr(0, n));
        buf.erase(0, n);
        return absl::OkStatus();
      }
      if (p->exited || (err && p->terminal)) {
        return absl::OutOfRangeError(absl::StrCat(r.container_id(), "/", r.exec_id(), ": EOF"));
      }
      if (ctx.cancelled() || stopping_) return absl::CancelledError("read cancelled");
      cv_.WaitWithTimeout(&mu_, absl::Milliseconds(5));
    }
  }

  absl::Status Find(const std::string& cid, const std::string& eid, Proc** out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = containers_.find(cid);
    if (it == containers_.end()) return absl::NotFoundError(absl::StrCat("container ", cid));
    auto pit = it->second.procs.find(eid);
    if (pit == it->second.procs.end()) {
      return absl::NotFoundError(absl::StrCat("container ", cid, ": exec ", eid));
    }
    *out = &pit->second;
    return absl::OkStatus();
  }

  void Run(Proc* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    p->started = true;
    p->program = p->args.empty() ? "" : p->args[0];
    std::vector<std::string> rest(p->args.size() > 1 ? p->args.begin() + 1 : p->args.end(),
                                  p->args.end());
    std::string& errbuf = p->terminal ? p->out : p->err;
    if (p->program == "echo") {
      p->out += absl::StrJoin(rest, " ") + "\n";
      Exit(p, 0);
    } else if (p->program == "echoerr") {
      errbuf += absl::StrJoin(rest, " ") + "\n";
      Exit(p, 0);
    } else if (p->program == "exit") {
      int n = 0;
      if (!rest.empty()) (void)absl::SimpleAtoi(rest[0], &n);
      Exit(p, n);
    } else if (p->program == "cat" || p->program == "sleep") {
      // runs
    } else {
      errbuf += p->program + ": not found\n";
      Exit(p, 127);
    }
  }
  void Exit(Proc* p, int status) { p->exited = true, p->status = status; }

  absl::Status Consume(const std::string& name) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    auto it = fail_.find(name);
    if (it == fail_.end()) return absl::OkStatus();
    absl::Status s = it->second;
    fail_.erase(it);
    return s;
  }

  mutable absl::Mutex mu_;
  absl::CondVar cv_;  // polled: blocking handlers also watch for cancellation
  std::map<std::string, std::vector<std::string>> requests_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, absl::Status> fail_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Container> containers_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  std::unique_ptr<::kata::ttrpc::Server> server;
  std::thread starter;
};

FakeAgent::FakeAgent() : impl_(std::make_unique<Impl>()) {}
FakeAgent::~FakeAgent() { Stop(); }

absl::Status FakeAgent::Start(const std::string& path, absl::Duration ready_after) {
  impl_->server = std::make_unique<::kata::ttrpc::Server>();
  absl::Status s =
      impl_->server->Register(static_cast<::grpc::AgentServiceTtrpc::Service*>(impl_.get()));
  if (!s.ok()) return s;
  s = impl_->server->Register(static_cast<::grpc::HealthTtrpc::Service*>(impl_.get()));
  if (!s.ok()) return s;
  if (ready_after <= absl::ZeroDuration()) return impl_->server->Listen("unix://" + path);
  impl_->starter = std::thread([this, path, ready_after] {
    absl::SleepFor(ready_after);
    (void)impl_->server->Listen("unix://" + path);
  });
  return absl::OkStatus();
}

void FakeAgent::Stop() {
  if (impl_->starter.joinable()) impl_->starter.join();
  {
    absl::MutexLock l(&impl_->mu_);
    impl_->stopping_ = true;
  }
  if (impl_->server) {
    impl_->server->Shutdown(absl::Seconds(2));
    impl_->server.reset();
  }
}

std::vector<std::string> FakeAgent::Requests(const std::string& method) const {
  absl::MutexLock l(&impl_->mu_);
  auto it = impl_->requests_.find(method);
  return it == impl_->requests_.end() ? std::vector<std::string>() : it->second;
}

void FakeAgent::FailNext(const std::string& method, absl::Status status) {
  absl::MutexLock l(&impl_->mu_);
  if (status.ok()) {
    impl_->fail_.erase(method);
  } else {
    impl_->fail_[method] = std::move(status);
  }
}

std::vector<std::string> FakeAgent::Containers() const {
  absl::MutexLock l(&impl_->mu_);
  std::vector<std::string> out;
  for (const auto& [id, c] : impl_->containers_) out.push_back(id);
  return out;
}

bool FakeAgent::Paused(const std::string& container_id) const {
  absl::MutexLock l(&impl_->mu_);
  auto it = impl_->containers_.find(container_id);
  return it != impl_->containers_.end() && it->second.paused;
}

}  // namespace kata::runtime::testing
