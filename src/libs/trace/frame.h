// The agent-to-host trace stream (issue 14): the guest agent's finished spans travel to the
// shim as a byte stream of frames, each one OTLP ExportTraceServiceRequest in protobuf:
//
//   +----------------------------+-----------------------------------------------+
//   | length: uint32 big-endian  | ExportTraceServiceRequest, `length` bytes      |
//   +----------------------------+-----------------------------------------------+
//
// on the virtio-serial port "agent.trace" (or, with vsock, the host's port 10240, Kata's).
//
// Contracts: EncodeFrame refuses (RESOURCE_EXHAUSTED) a request larger than kMaxFrameBytes.
// FrameDecoder trusts nothing (the guest may be hostile): Feed takes any bytes in any pieces
// and returns the requests completed by them; a frame whose length exceeds kMaxFrameBytes is
// skipped without being buffered (its bytes discarded as they come), a frame that does not
// parse is dropped; each counts in dropped() and its reason in last_error(). Memory held is at
// most kMaxFrameBytes plus the header, whatever the input.
#ifndef KATA_SRC_LIBS_TRACE_FRAME_H_
#define KATA_SRC_LIBS_TRACE_FRAME_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/libs/trace/otlp.h"

namespace kata::trace {

inline constexpr size_t kFrameHeaderBytes = 4;
inline constexpr size_t kMaxFrameBytes = 1 << 20;  // 1 MiB: thousands of spans

absl::StatusOr<std::string> EncodeFrame(const ExportTraceServiceRequest& request);

class FrameDecoder {
 public:
  std::vector<ExportTraceServiceRequest> Feed(absl::string_view bytes);
  uint64_t dropped() const { return dropped_; }
  uint64_t decoded() const { return decoded_; }
  const std::string& last_error() const { return last_error_; }

 private:
  void Drop(std::string reason);

  std::string header_;   // up to kFrameHeaderBytes of the next frame's header
  std::string payload_;  // the frame being read (length_ bytes when complete)
  uint64_t length_ = 0;
  uint64_t skip_ = 0;  // bytes left of an oversized frame
  bool in_payload_ = false;
  uint64_t dropped_ = 0;
  uint64_t decoded_ = 0;
  std::string last_error_;
};

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_FRAME_H_
