// Test helpers for the spec <-> protobuf conversion (spec_proto.h). Test-only; internal to
// //src/libs/oci.
//
//   EXPECT_EQ(DumpSpec(*back), DumpSpec(FullSpec()));   // readable diff on mismatch
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_SPEC_PROTO_TESTING_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_SPEC_PROTO_TESTING_H_

#include <string>

#include "src/libs/oci/spec.h"

namespace kata {
namespace oci {
namespace internal {

// A canonical text dump of every model field that Kata's proto carries, presence included
// ("name=<absent>;" for an absent optional), so that two specs compare with a readable diff.
// `unknown` members and the fields Kata's proto lacks (spec_proto.h) are left out.
std::string DumpSpec(const Spec& spec);

// A spec with every field Kata's proto carries present and non-zero, so that nothing is lost
// on the wire: model -> proto -> model gives it back unchanged (as DumpSpec sees it). Its
// seccomp syscalls are, in order: an allow rule without errnoRet, errnoRet 1, errnoRet 0.
Spec FullSpec();

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_SPEC_PROTO_TESTING_H_
