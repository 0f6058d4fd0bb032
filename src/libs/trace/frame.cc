#include "src/libs/trace/frame.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace kata::trace {

absl::StatusOr<std::string> EncodeFrame(const ExportTraceServiceRequest& request) {
  std::string payload;
  if (!request.SerializeToString(&payload)) {
    return absl::InternalError("trace frame: the request does not serialize");
  }
  if (payload.size() > kMaxFrameBytes) {
    return absl::ResourceExhaustedError(absl::StrCat("trace frame: ", payload.size(),
                                                     " bytes, over the limit of ", kMaxFrameBytes));
  }
  const uint32_t n = static_cast<uint32_t>(payload.size());
  std::string frame;
  frame.reserve(kFrameHeaderBytes + n);
  frame.push_back(static_cast<char>(n >> 24));
  frame.push_back(static_cast<char>(n >> 16));
  frame.push_back(static_cast<char>(n >> 8));
  frame.push_back(static_cast<char>(n));
  frame.append(payload);
  return frame;
}

void FrameDecoder::Drop(std::string reason) {
  ++dropped_;
  last_error_ = std::move(reason);
}

std::vector<ExportTraceServiceRequest> FrameDecoder::Feed(absl::string_view bytes) {
  std::vector<ExportTraceServiceRequest> out;
  while (!bytes.empty()) {
    if (skip_ > 0) {  // the rest of an oversized frame: discarded, never buffered
      const size_t n = static_cast<size_t>(std::min<uint64_t>(skip_, bytes.size()));
      skip_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    if (!in_payload_) {
      const size_t n = std::min(kFrameHeaderBytes - header_.size(), bytes.size());
      header_.append(bytes.data(), n);
      bytes.remove_prefix(n);
      if (header_.size() < kFrameHeaderBytes) break;
      const auto* h = reinterpret_cast<const unsigned char*>(header_.data());
      length_ = (uint64_t{h[0]} << 24) | (uint64_t{h[1]} << 16) | (uint64_t{h[2]} << 8) | h[3];
      header_.clear();
      if (length_ > kMaxFrameBytes) {
        Drop(absl::StrCat("a frame of ", length_, " bytes, over the limit of ", kMaxFrameBytes));
        skip_ = length_;
        continue;
      }
      in_payload_ = true;
      payload_.clear();
    }
    const size_t n =
        static_cast<size_t>(std::min<uint64_t>(length_ - payload_.size(), bytes.size()));
    payload_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (payload_.size() < length_) break;
    in_payload_ = false;
    ExportTraceServiceRequest r;
    if (!r.ParseFromString(payload_)) {
      Drop(absl::StrCat("a frame of ", length_, " bytes that is no ExportTraceServiceRequest"));
    } else {
      ++decoded_;
      out.push_back(std::move(r));
    }
    payload_.clear();
    payload_.shrink_to_fit();
  }
  return out;
}

}  // namespace kata::trace
