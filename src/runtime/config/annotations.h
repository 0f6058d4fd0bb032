// Per-pod overrides of the hypervisor configuration through OCI annotations, gated by the
// configuration's `enable_annotations`, as in Kata.
//
//   // spec.annotations: {"io.katacontainers.config.hypervisor.default_memory": "4096"}
//   KATA_RETURN_IF_ERROR(ApplyAnnotations(spec.annotations.value_or({}), &config));
//
// Only annotations named `io.katacontainers.config.hypervisor.<key>` are looked at; all others
// (other prefixes, including Kata's runtime/agent ones) are ignored. For each:
//   - <key> must fully match (RE2, anchored at both ends) at least one pattern of
//     `hypervisor.enable_annotations`, else PERMISSION_DENIED "annotation <name> is not enabled
//     (hypervisor.qemu.enable_annotations)". (Kata's Go runtime matches unanchored; kata-cpp
//     anchors, so "kernel_params" does not also enable "kernel_params_x".)
//   - <key> must be one kata-cpp supports (AnnotationKeys()), else INVALID_ARGUMENT.
//   - the value must parse (unsigned decimal integers; booleans as Go's strconv.ParseBool:
//     1 t T TRUE true True 0 f F FALSE false False), and the resulting configuration must pass
//     Validate; else INVALID_ARGUMENT naming the annotation.
//   - path-valued keys must also match a glob (fnmatch, FNM_PATHNAME) of their guard list:
//     path -> valid_hypervisor_paths, virtio_fs_daemon -> valid_virtio_fs_daemon_paths,
//     entropy_source -> valid_entropy_sources; else PERMISSION_DENIED. An empty list allows
//     nothing. (Kata globs existing files; kata-cpp matches the pattern only.)
// `kernel_params` is merged as in Kata: each `name[=value]` replaces the configured parameter
// of the same name, or is appended. `default_max_vcpus` (Kata's annotation name) sets
// `default_maxvcpus`. Any other supported key replaces the configured value.
//
// All or nothing: on any error `config` is unchanged. Permission is checked for every
// annotation before any value is looked at, so a denied annotation is reported as such even
// when another one has a bad value.
#ifndef KATA_SRC_RUNTIME_CONFIG_ANNOTATIONS_H_
#define KATA_SRC_RUNTIME_CONFIG_ANNOTATIONS_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "src/runtime/config/config.h"

namespace kata::config {

inline constexpr char kHypervisorAnnotationPrefix[] = "io.katacontainers.config.hypervisor.";

// The <key>s ApplyAnnotations supports, sorted.
const std::vector<std::string>& AnnotationKeys();

absl::Status ApplyAnnotations(const std::map<std::string, std::string>& annotations,
                              RuntimeConfig* config);

}  // namespace kata::config

#endif  // KATA_SRC_RUNTIME_CONFIG_ANNOTATIONS_H_
