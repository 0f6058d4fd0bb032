// ttRPC framing: every message is a 10-byte header and `length` bytes of data.
//
//   bytes 0-3  data length, big-endian, at most kMaxFrameData (4 MiB)
//   bytes 4-7  stream id, big-endian (odd: started by the client)
//   byte  8    message type (Request 1, Response 2, Data 3)
//   byte  9    flags (see below)
//
// FrameDecoder turns a byte stream into frames, incrementally and without trusting it: a
// frame whose length is over the limit is skipped (its bytes are consumed and dropped) and
// reported as oversized, so the connection stays usable; nothing in the input can make it
// allocate more than kMaxFrameData per frame.
#ifndef KATA_SRC_LIBS_TTRPC_FRAME_H_
#define KATA_SRC_LIBS_TTRPC_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace ttrpc {

inline constexpr size_t kFrameHeaderSize = 10;
inline constexpr uint32_t kMaxFrameData = 4u << 20;

enum class MessageType : uint8_t { kRequest = 1, kResponse = 2, kData = 3 };

// Request flags: none = unary.
inline constexpr uint8_t kFlagRemoteClosed = 0x01;  // also on Data: the sender's last message
inline constexpr uint8_t kFlagRemoteOpen = 0x02;    // Request: more Data follows
inline constexpr uint8_t kFlagNoData = 0x04;        // Data: the frame carries no message

struct FrameHeader {
  uint32_t length = 0;
  uint32_t stream_id = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
};

void EncodeFrameHeader(const FrameHeader& header, char out[kFrameHeaderSize]);
FrameHeader DecodeFrameHeader(const char in[kFrameHeaderSize]);

// Incremental decoder. Feed it bytes as they arrive; it calls the sink for each complete
// frame (the data view is valid only during the call) and for each oversized frame once its
// header is read. Sink: struct { void OnFrame(const FrameHeader&, absl::string_view data);
//                               void OnOversized(const FrameHeader&); }
class FrameDecoder {
 public:
  template <class Sink>
  void Feed(absl::string_view bytes, Sink& sink);

  // Bytes of a partial frame held back, waiting for the rest.
  size_t buffered() const { return header_fill_ + data_.size(); }

 private:
  char header_[kFrameHeaderSize];
  size_t header_fill_ = 0;
  FrameHeader current_;
  bool in_data_ = false;
  uint32_t skip_ = 0;  // bytes of an oversized frame still to drop
  std::string data_;
};

template <class Sink>
void FrameDecoder::Feed(absl::string_view bytes, Sink& sink) {
  while (!bytes.empty()) {
    if (skip_ > 0) {
      const size_t n = bytes.size() < skip_ ? bytes.size() : skip_;
      skip_ -= static_cast<uint32_t>(n);
      bytes.remove_prefix(n);
      continue;
    }
    if (!in_data_) {
      const size_t want = kFrameHeaderSize - header_fill_;
      const size_t n = bytes.size() < want ? bytes.size() : want;
      for (size_t i = 0; i < n; ++i) header_[header_fill_ + i] = bytes[i];
      header_fill_ += n;
      bytes.remove_prefix(n);
      if (header_fill_ < kFrameHeaderSize) return;
      header_fill_ = 0;
      current_ = DecodeFrameHeader(header_);
      if (current_.length > kMaxFrameData) {
        skip_ = current_.length;
        sink.OnOversized(current_);
        continue;
      }
      // Fast path: the whole frame is already here; no copy.
      if (bytes.size() >= current_.length) {
        sink.OnFrame(current_, bytes.substr(0, current_.length));
        bytes.remove_prefix(current_.length);
        continue;
      }
      in_data_ = true;
      data_.clear();
      data_.reserve(current_.length);
    }
    const size_t want = current_.length - data_.size();
    const size_t n = bytes.size() < want ? bytes.size() : want;
    data_.append(bytes.data(), n);
    bytes.remove_prefix(n);
    if (data_.size() == current_.length) {
      in_data_ = false;
      sink.OnFrame(current_, data_);
      data_.clear();
      if (data_.capacity() > (size_t{1} << 20)) data_.shrink_to_fit();
    }
  }
}

}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_FRAME_H_
