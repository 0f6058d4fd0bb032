// Conversion between the OCI spec model (spec.h) and the protobuf `grpc::Spec` that carries
// the spec to the Kata agent (src/libs/protocols/oci.proto, wire-compatible with Kata's).
//
//   grpc::Spec wire = oci::SpecToProto(spec);           // runtime -> agent
//   absl::StatusOr<oci::Spec> back = oci::SpecFromProto(wire);   // agent side
//
// The message is filled the way Kata's Go runtime fills it (virtcontainers' OCItoGRPC), and
// read the way Kata's Rust agent reads it (src/libs/protocols/src/trans.rs), so either end
// may be a real Kata component.
//
// Model -> proto (never fails):
// - An absent optional scalar/string/list/map is sent as its zero value (0, false, "", none).
//   An absent optional object is an unset message field; a present one is set, even if empty.
// - Device cgroup rules (`linux.resources.devices[]`): a missing major/minor (wildcard `*`)
//   is sent as 0, a missing type or access as "". This is what Kata's Go runtime sends (a nil
//   *int64 copies as 0) and what Kata's agent expects: it reads Major/Minor > 0 as a number
//   and anything else as a wildcard, "" as type "a" and as access "rwm". Consequence: a
//   rule with an explicit major or minor of 0 (or a negative one) arrives as a wildcard.
// - `process.consoleSize` height/width are uint32 on the wire: larger values saturate at
//   4294967295 (Kata's Go runtime truncates them; no real console is that large).
// - `process.oomScoreAdj` (int32) is widened to the wire's int64.
// - `linux.seccomp.syscalls[].errnoRet` uses the `ErrnoRet` oneof, which keeps presence: set
//   exactly when the model has it (as Kata's Go runtime does), so absent and 0 stay distinct.
//
// Proto -> model (fails only on values the model cannot hold):
// - A scalar, string, list or map becomes present only when it is non-zero / non-empty in
//   the proto; a zero value becomes std::nullopt. A message field becomes present exactly
//   when it is set in the proto (even if all its fields are zero). Fields the model requires
//   (plain members) take the proto's value, zero included.
// - Device cgroup major/minor <= 0 become wildcards (std::nullopt), as Kata's agent reads
//   them; "" type/access become std::nullopt (wildcards too).
// - Kata's `Solaris`/`Windows` placeholders and unknown fields of a newer proto are ignored.
// - Narrowing is checked: a value that does not fit the model's type (e.g. OOMScoreAdj
//   outside int32, a blkio weight above 65535, a seccomp arg index above uint32) is an
//   INVALID_ARGUMENT error naming the field by its JSON path, e.g.
//   "linux.resources.blockIO.weightDevice[1].leafWeight: 70000 does not fit in uint16".
// - No other validation: the result is not checked against the runtime-spec schema
//   (an empty `ociVersion` or `cwd` is returned as is).
//
// What does not survive model -> proto -> model:
// - Presence of proto3 scalars: an absent optional and its zero value come back the same,
//   as std::nullopt (e.g. `terminal: false`, `oomScoreAdj: 0`, `args: []`, `hostname: ""`,
//   `linux.devices[].uid: 0`, `hook.timeout: 0`, `memory.swappiness: 0`). Wildcards in
//   device cgroup rules do survive; explicit 0 majors/minors there come back as wildcards.
// - Every `unknown` member, at every level.
// - Everything Kata's proto has no field for: `domainname`, `vm`; `process.commandLine`,
//   `process.user.umask`; `mounts[].uidMappings/gidMappings`; `linux.personality`,
//   `linux.timeOffsets`; `linux.intelRdt.closID/memBwSchema/enableCMT/enableMBM` (only
//   `l3CacheSchema` travels); `linux.seccomp.defaultErrnoRet/listenerPath/listenerMetadata`;
//   `linux.resources.rdma/unified`; `memory.useHierarchy/checkBeforeUpdate`;
//   `cpu.burst/idle`.
#ifndef KATA_SRC_LIBS_OCI_SPEC_PROTO_H_
#define KATA_SRC_LIBS_OCI_SPEC_PROTO_H_

#include "absl/status/statusor.h"
#include "src/libs/oci/spec.h"
#include "src/libs/protocols/oci.pb.h"

namespace kata {
namespace oci {

// The wire form of `spec` for the Kata agent. Drops what the proto cannot carry (above).
::grpc::Spec SpecToProto(const Spec& spec);

// The model of a wire spec. INVALID_ARGUMENT, naming the field, when a value does not fit
// the model's type; otherwise never fails.
absl::StatusOr<Spec> SpecFromProto(const ::grpc::Spec& proto);

}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_SPEC_PROTO_H_
