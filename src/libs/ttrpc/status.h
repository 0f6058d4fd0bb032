// absl::Status <-> google.rpc.Status, the status a ttRPC Response carries. The codes are
// the same numbers on both sides (gRPC's canonical codes); a code outside 0-16 reads as
// UNKNOWN. Details are not carried.
#ifndef KATA_SRC_LIBS_TTRPC_STATUS_H_
#define KATA_SRC_LIBS_TTRPC_STATUS_H_

#include "absl/status/status.h"
#include "src/libs/protocols/google/rpc/status.pb.h"

namespace kata {
namespace ttrpc {

void StatusToProto(const absl::Status& status, google::rpc::Status* out);
absl::Status StatusFromProto(const google::rpc::Status& status);

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_STATUS_H_
