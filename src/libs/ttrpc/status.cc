#include "src/libs/ttrpc/status.h"

#include <string>

namespace kata {
namespace ttrpc {

void StatusToProto(const absl::Status& status, google::rpc::Status* out) {
  out->set_code(static_cast<int32_t>(status.code()));
  out->set_message(std::string(status.message()));
}

absl::Status StatusFromProto(const google::rpc::Status& status) {
  int code = status.code();
  if (code < 0 || code > static_cast<int>(absl::StatusCode::kUnauthenticated)) {
    code = static_cast<int>(absl::StatusCode::kUnknown);
  }
  return absl::Status(static_cast<absl::StatusCode>(code), status.message());
}

}  // namespace ttrpc
}  // namespace kata
