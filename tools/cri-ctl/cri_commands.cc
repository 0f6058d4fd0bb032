// cri-ctl's commands (see cri_ctl.h for the contract, cri_ctl.cc for the dispatch).
#include <ostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/libs/base/file.h"
#include "tools/cri-ctl/cri_ctl.h"
#include "tools/cri-ctl/cri_ctl_internal.h"
#include "tools/cri-ctl/cri_log.h"

namespace kata {
namespace cri_ctl {
namespace internal {
namespace {

namespace v1 = ::runtime::v1;
using RS = v1::RuntimeService::Stub;
using IS = v1::ImageService::Stub;

// Prints an error status; kExitRpcError.
int Fail(Context& c, const absl::Status& s) {
  *c.err << "cri-ctl: " << s.message() << "\n";
  return kExitRpcError;
}

// Calls a RuntimeService rpc and prints its answer as JSON (print = false: nothing).
template <typename Req, typename Resp>
int RuntimeCall(Context& c, ::grpc::Status (RS::*m)(::grpc::ClientContext*, const Req&, Resp*),
                const char* name, const Req& req, bool print) {
  if (int rc = Connect(c)) return rc;
  absl::StatusOr<Resp> r = Call(c.runtime.get(), m, name, req, c.timeout);
  if (!r.ok()) return Fail(c, r.status());
  if (print) *c.out << ToJson(*r);
  return kExitOk;
}

template <typename Req, typename Resp>
int ImageCall(Context& c, ::grpc::Status (IS::*m)(::grpc::ClientContext*, const Req&, Resp*),
              const char* name, const Req& req, bool print) {
  if (int rc = Connect(c)) return rc;
  absl::StatusOr<Resp> r = Call(c.image.get(), m, name, req, c.timeout);
  if (!r.ok()) return Fail(c, r.status());
  if (print) *c.out << ToJson(*r);
  return kExitOk;
}

bool ParseSeconds(Context& c, const Args& a, int64_t* seconds) {
  if (!a.Has("--timeout")) return true;
  if (absl::SimpleAtoi(a.Get("--timeout"), seconds) && *seconds >= 0) return true;
  *c.err << "cri-ctl: --timeout wants seconds (an integer >= 0), not '" << a.Get("--timeout")
         << "'\n";
  return false;
}

}  // namespace

int CmdVersion(Context& c, const Args& a) {
  v1::VersionRequest req;
  req.set_version("v1");
  return RuntimeCall(c, &RS::Version, "Version", req, true);
}

int CmdStatus(Context& c, const Args& a) {
  v1::StatusRequest req;
  req.set_verbose(true);
  return RuntimeCall(c, &RS::Status, "Status", req, true);
}

int CmdRunPod(Context& c, const Args& a) {
  v1::RunPodSandboxRequest req;
  if (absl::Status s = ReadJsonMessage(a.positional[0], *c.in, req.mutable_config()); !s.ok()) {
    *c.err << "cri-ctl: " << s.message() << "\n";
    return kExitUsage;
  }
  req.set_runtime_handler(a.Get("--runtime"));
  if (int rc = Connect(c)) return rc;
  auto r = Call(c.runtime.get(), &RS::RunPodSandbox, "RunPodSandbox", req, c.timeout);
  if (!r.ok()) return Fail(c, r.status());
  *c.out << r->pod_sandbox_id() << "\n";
  return kExitOk;
}

int CmdStopPod(Context& c, const Args& a) {
  v1::StopPodSandboxRequest req;
  req.set_pod_sandbox_id(a.positional[0]);
  return RuntimeCall(c, &RS::StopPodSandbox, "StopPodSandbox", req, false);
}

int CmdRemovePod(Context& c, const Args& a) {
  v1::RemovePodSandboxRequest req;
  req.set_pod_sandbox_id(a.positional[0]);
  return RuntimeCall(c, &RS::RemovePodSandbox, "RemovePodSandbox", req, false);
}

int CmdInspectPod(Context& c, const Args& a) {
  v1::PodSandboxStatusRequest req;
  req.set_pod_sandbox_id(a.positional[0]);
  req.set_verbose(a.Has("--verbose"));
  return RuntimeCall(c, &RS::PodSandboxStatus, "PodSandboxStatus", req, true);
}

int CmdPods(Context& c, const Args& a) {
  return RuntimeCall(c, &RS::ListPodSandbox, "ListPodSandbox", v1::ListPodSandboxRequest(), true);
}

int CmdPodStats(Context& c, const Args& a) {
  v1::PodSandboxStatsRequest req;
  req.set_pod_sandbox_id(a.positional[0]);
  return RuntimeCall(c, &RS::PodSandboxStats, "PodSandboxStats", req, true);
}

int CmdCreate(Context& c, const Args& a) {
  v1::CreateContainerRequest req;
  req.set_pod_sandbox_id(a.positional[0]);
  for (auto [source, msg] : {std::pair<const std::string&, google::protobuf::Message*>{
                                 a.positional[1], req.mutable_config()},
                             {a.positional[2], req.mutable_sandbox_config()}}) {
    if (absl::Status s = ReadJsonMessage(source, *c.in, msg); !s.ok()) {
      *c.err << "cri-ctl: " << s.message() << "\n";
      return kExitUsage;
    }
  }
  if (int rc = Connect(c)) return rc;
  auto r = Call(c.runtime.get(), &RS::CreateContainer, "CreateContainer", req, c.timeout);
  if (!r.ok()) return Fail(c, r.status());
  *c.out << r->container_id() << "\n";
  return kExitOk;
}

int CmdStart(Context& c, const Args& a) {
  v1::StartContainerRequest req;
  req.set_container_id(a.positional[0]);
  return RuntimeCall(c, &RS::StartContainer, "StartContainer", req, false);
}

int CmdStop(Context& c, const Args& a) {
  v1::StopContainerRequest req;
  req.set_container_id(a.positional[0]);
  int64_t seconds = 0;
  if (!ParseSeconds(c, a, &seconds)) return kExitUsage;
  req.set_timeout(seconds);
  // The rpc may take the whole grace period: the deadline covers it.
  if (c.timeout < absl::Seconds(seconds + 30)) c.timeout = absl::Seconds(seconds + 30);
  return RuntimeCall(c, &RS::StopContainer, "StopContainer", req, false);
}

int CmdRemove(Context& c, const Args& a) {
  v1::RemoveContainerRequest req;
  req.set_container_id(a.positional[0]);
  return RuntimeCall(c, &RS::RemoveContainer, "RemoveContainer", req, false);
}

int CmdInspect(Context& c, const Args& a) {
  v1::ContainerStatusRequest req;
  req.set_container_id(a.positional[0]);
  req.set_verbose(a.Has("--verbose"));
  return RuntimeCall(c, &RS::ContainerStatus, "ContainerStatus", req, true);
}

int CmdContainers(Context& c, const Args& a) {
  v1::ListContainersRequest req;
  if (a.Has("--pod")) req.mutable_filter()->set_pod_sandbox_id(a.Get("--pod"));
  return RuntimeCall(c, &RS::ListContainers, "ListContainers", req, true);
}

int CmdStats(Context& c, const Args& a) {
  v1::ContainerStatsRequest req;
  req.set_container_id(a.positional[0]);
  return RuntimeCall(c, &RS::ContainerStats, "ContainerStats", req, true);
}

int CmdExec(Context& c, const Args& a) {
  v1::ExecSyncRequest req;
  req.set_container_id(a.positional[0]);
  for (size_t i = 1; i < a.positional.size(); ++i) req.add_cmd(a.positional[i]);
  int64_t seconds = 0;
  if (!ParseSeconds(c, a, &seconds)) return kExitUsage;
  req.set_timeout(seconds);
  if (seconds > 0) c.timeout = absl::Seconds(seconds + 30);
  if (int rc = Connect(c)) return rc;
  auto r = Call(c.runtime.get(), &RS::ExecSync, "ExecSync", req, c.timeout);
  if (!r.ok()) {
    Fail(c, r.status());
    return kExitExecFailed;
  }
  *c.out << r->stdout();
  *c.err << r->stderr();
  c.out->flush();
  return r->exit_code();
}

int CmdLogs(Context& c, const Args& a) {
  std::string stream = a.Get("--stream");
  if (!stream.empty() && stream != "stdout" && stream != "stderr") {
    *c.err << "cri-ctl: --stream wants stdout or stderr, not '" << stream << "'\n";
    return kExitUsage;
  }
  if (int rc = Connect(c)) return rc;
  v1::ContainerStatusRequest req;
  req.set_container_id(a.positional[0]);
  auto r = Call(c.runtime.get(), &RS::ContainerStatus, "ContainerStatus", req, c.timeout);
  if (!r.ok()) return Fail(c, r.status());
  const std::string& path = r->status().log_path();
  if (path.empty()) return Fail(c, absl::NotFoundError(a.positional[0] + " has no log path"));
  absl::StatusOr<std::string> text = ReadFileToString(path);
  if (!text.ok()) return Fail(c, text.status());
  if (a.Has("--raw")) {
    *c.out << *text;
    return kExitOk;
  }
  absl::StatusOr<std::vector<CriLogEntry>> entries = ParseCriLog(*text);
  if (!entries.ok())
    return Fail(c, absl::Status(entries.status().code(),
                                path + ": " + std::string(entries.status().message())));
  *c.out << JoinCriLog(*entries, stream);
  return kExitOk;
}

int CmdImages(Context& c, const Args& a) {
  return ImageCall(c, &IS::ListImages, "ListImages", v1::ListImagesRequest(), true);
}

int CmdPull(Context& c, const Args& a) {
  v1::PullImageRequest req;
  req.mutable_image()->set_image(a.positional[0]);
  if (int rc = Connect(c)) return rc;
  auto r = Call(c.image.get(), &IS::PullImage, "PullImage", req, c.timeout);
  if (!r.ok()) return Fail(c, r.status());
  *c.out << r->image_ref() << "\n";
  return kExitOk;
}

int CmdRemoveImage(Context& c, const Args& a) {
  v1::RemoveImageRequest req;
  req.mutable_image()->set_image(a.positional[0]);
  return ImageCall(c, &IS::RemoveImage, "RemoveImage", req, false);
}

}  // namespace internal
}  // namespace cri_ctl
}  // namespace kata
