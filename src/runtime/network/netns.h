// Network namespaces for the pod network: which one a spec names, whether it is the host's,
// and running work inside one from a process that stays where it is.
//
//   KATA_ASSIGN_OR_RETURN(UniqueFd ns, OpenNetns("/var/run/netns/cni-1234"));
//   KATA_RETURN_IF_ERROR(InNetns(ns.get(), [&] { return CreateTapAndFilters(); }));
//
// Contract: InNetns runs `fn` on a new thread that joined the namespace (setns affects only
// that thread) and returns fn's status; the caller's thread never changes namespace.
#ifndef KATA_SRC_RUNTIME_NETWORK_NETNS_H_
#define KATA_SRC_RUNTIME_NETWORK_NETNS_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"

namespace kata::runtime::network {

absl::StatusOr<UniqueFd> OpenNetns(const std::string& path);
// Whether `ns_fd` is this process's own network namespace (the host's, for the shim).
absl::StatusOr<bool> IsOwnNetns(int ns_fd);
absl::Status InNetns(int ns_fd, const std::function<absl::Status()>& fn);

}  // namespace kata::runtime::network

#endif  // KATA_SRC_RUNTIME_NETWORK_NETNS_H_
