// The namespaces of a container (internal to //src/agent/container): which ones the spec asks
// for, and the descriptors the process library needs to enter them.
//
//   KATA_ASSIGN_OR_RETURN(SpecNamespaceSet set, SpecNamespaces(spec));   // spec check only
//   KATA_ASSIGN_OR_RETURN(JoinedNamespaces joined, OpenJoinedNamespaces("c1", set));
//   ... start the init with joined.pre_join / joined.join_in_child ...  // fds stay open here
//   KATA_ASSIGN_OR_RETURN(ExecNamespaces ns, OpenExecNamespaces("c1", init_pid, all, created));
//
// Contract: every descriptor is O_CLOEXEC and owned by the returned struct (UniqueFd): the
// int vectors are views of those descriptors, valid while the struct lives, ready for
// ProcessOptions (pre_join_ns_fds, keep_fds, join_pid_ns_fd). Errors name the container and
// the path ("container c1: namespace /proc/9/ns/ipc: ENOENT ...").
#ifndef KATA_SRC_AGENT_CONTAINER_NAMESPACES_H_
#define KATA_SRC_AGENT_CONTAINER_NAMESPACES_H_

#include <sys/types.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/spec.h"

namespace kata {
namespace agent {

// `linux.namespaces` of a spec: the new ones as CLONE_NEW* flags, the ones joined by path.
struct SpecNamespaceSet {
  int new_flags = 0;
  std::vector<std::pair<int, std::string>> join;  // (CLONE_NEW* flag, absolute path)

  // Every namespace the init has of its own: new_flags and the joined ones.
  int AllFlags() const;
};

// Parses `linux.namespaces` (none: an empty set). Errors: UNIMPLEMENTED for a type other than
// user, pid, mount, uts, ipc, network, cgroup (e.g. time) and for joining a mount namespace
// by path; INVALID_ARGUMENT for a type given twice or a relative path.
absl::StatusOr<SpecNamespaceSet> SpecNamespaces(const oci::Spec& spec);

// The namespaces of `set.join`, opened, and sorted for the init's start (process.h):
// - with a user namespace (new in `set.new_flags`, or joined): a two-step start, where
//   `pre_join` lists every joined namespace, the joined user namespace last (the others may
//   be owned by the agent's user namespace, where only the agent is privileged);
// - otherwise the pid namespace is `join_pid` (the init is created in it) and the others are
//   `join_in_child`, to be setns()ed by the child hook.
struct JoinedNamespaces {
  std::vector<UniqueFd> fds;
  bool two_step = false;
  int join_pid = -1;
  std::vector<int> pre_join;
  std::vector<int> join_in_child;
};
absl::StatusOr<JoinedNamespaces> OpenJoinedNamespaces(const std::string& id,
                                                      const SpecNamespaceSet& set);

// The namespaces of the container's init `init_pid` for an exec: every one of `all_flags`,
// opened from /proc/<init_pid>/ns/. `pid` is the pid namespace (-1: none), `join` the others
// in setns order: the ones the init joined by path (they may be owned by the agent's user
// namespace), the user namespace, the ones it created (`created_flags`, owned by that user
// namespace), mount last (it changes root and cwd).
struct ExecNamespaces {
  std::vector<UniqueFd> fds;
  int pid = -1;
  std::vector<int> join;
};
absl::StatusOr<ExecNamespaces> OpenExecNamespaces(const std::string& id, pid_t init_pid,
                                                  int all_flags, int created_flags);

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CONTAINER_NAMESPACES_H_
