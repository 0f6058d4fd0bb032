// What containerd sends and expects, as the runtime's types: the JSON of an exec's process and
// of an update's resources, and a container's stats as containerd's cgroups v1 Metrics.
//
//   KATA_ASSIGN_OR_RETURN(oci::Process p, ParseProcessJson(req.spec().value()));
//   *resp->mutable_stats() = PackAny(ToMetrics(stats));
//
// Bad JSON is INVALID_ARGUMENT naming the request part ("exec process spec: ...").
#ifndef KATA_SRC_RUNTIME_SHIM_TASK_CONVERT_H_
#define KATA_SRC_RUNTIME_SHIM_TASK_CONVERT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/oci/spec.h"
#include "src/runtime/sandbox/stats.h"
#include "src/runtime/shim/metrics.pb.h"

namespace kata {
namespace shim {

// How messages name a process: "c1" for a task's init, "c1/e1" for an exec.
std::string ProcessName(const std::string& id, const std::string& exec_id);

// An OCI Process from the JSON containerd puts in ExecProcessRequest.spec.
absl::StatusOr<oci::Process> ParseProcessJson(absl::string_view json);

// OCI LinuxResources from the JSON containerd puts in UpdateTaskRequest.resources.
absl::StatusOr<oci::LinuxResources> ParseResourcesJson(absl::string_view json);

// The stats as the io.containerd.cgroups.v1.Metrics that `ctr task metrics` decodes.
::io::containerd::cgroups::v1::Metrics ToMetrics(const runtime::ContainerStats& stats);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_TASK_CONVERT_H_
