// libFuzzer target for what a ttRPC peer does with untrusted bytes before any handler runs:
// the FrameDecoder, then the Request/Response message of each frame, then the status.
//
// Built with clang by tools/fuzz/ttrpc_frame.sh; under `bazel test` the same function runs
// over seeds and generated inputs (:frame_fuzzer_replay, fuzz_replay_main.cc).
//
// Besides "no crash, no sanitizer report", it checks the decoder's contract: every chunking
// of the input yields the same frames, oversized frames are reported (never delivered), a
// delivered frame is at most kMaxFrameData bytes and exactly its header's length, and a
// decoded status always has a canonical code.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/stubs/logging.h"
#include "src/libs/protocols/google/rpc/status.pb.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/status.h"

namespace {

using kata::ttrpc::FrameDecoder;
using kata::ttrpc::FrameHeader;
using kata::ttrpc::kMaxFrameData;
using kata::ttrpc::MessageType;

void Check(bool ok) {
  if (!ok) std::abort();
}

// One decoded event: enough to compare chunkings (data by length and a cheap hash).
struct Event {
  bool oversized;
  uint32_t length, stream_id;
  uint8_t type, flags;
  uint64_t hash;
  bool operator==(const Event& o) const {
    return oversized == o.oversized && length == o.length && stream_id == o.stream_id &&
           type == o.type && flags == o.flags && hash == o.hash;
  }
};

uint64_t Hash(absl::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

class Sink {
 public:
  explicit Sink(bool parse) : parse_(parse) {}

  void OnFrame(const FrameHeader& h, absl::string_view data) {
    Check(h.length <= kMaxFrameData);
    Check(data.size() == h.length);
    events_.push_back(Event{false, h.length, h.stream_id, h.type, h.flags, Hash(data)});
    if (parse_) Parse(h, data);
  }

  void OnOversized(const FrameHeader& h) {
    Check(h.length > kMaxFrameData);
    events_.push_back(Event{true, h.length, h.stream_id, h.type, h.flags, 0});
  }

  const std::vector<Event>& events() const { return events_; }

 private:
  // What the server (Request) and the client (Response) do with a frame's data.
  static void Parse(const FrameHeader& h, absl::string_view data) {
    switch (static_cast<MessageType>(h.type)) {
      case MessageType::kRequest: {
        ::ttrpc::Request request;
        if (!request.ParseFromArray(data.data(), static_cast<int>(data.size()))) return;
        size_t total =
            request.service().size() + request.method().size() + request.payload().size();
        for (const ::ttrpc::KeyValue& kv : request.metadata()) {
          total += kv.key().size() + kv.value().size();
        }
        Check(total <= data.size());
        // A server turns the timeout into a deadline; it must not overflow anything.
        (void)request.timeout_nano();
        return;
      }
      case MessageType::kResponse: {
        ::ttrpc::Response response;
        if (!response.ParseFromArray(data.data(), static_cast<int>(data.size()))) return;
        absl::Status status = kata::ttrpc::StatusFromProto(response.status());
        const int code = static_cast<int>(status.code());
        Check(code >= 0 && code <= 16);
        if (response.status().code() >= 0 && response.status().code() <= 16) {
          Check(code == response.status().code());
        }
        google::rpc::Status back;
        kata::ttrpc::StatusToProto(status, &back);
        Check(back.code() == code);
        Check(back.message() == std::string(status.message()));
        return;
      }
      default:
        return;  // Data frames carry the method's own message; other types are ignored
    }
  }

  const bool parse_;
  std::vector<Event> events_;
};

// Feeds `in` in chunks whose sizes come from `sizes` (cycled); 0-size entries mean 1.
size_t FeedChunked(absl::string_view in, absl::string_view sizes, size_t scale, Sink& sink) {
  FrameDecoder decoder;
  size_t k = 0;
  while (!in.empty()) {
    size_t n = 1;
    if (!sizes.empty()) {
      n = 1 + static_cast<unsigned char>(sizes[k % sizes.size()]) * scale;
      ++k;
    }
    if (n > in.size()) n = in.size();
    decoder.Feed(in.substr(0, n), sink);
    in.remove_prefix(n);
  }
  return decoder.buffered();
}

}  // namespace

// Protobuf logs every string field that is not UTF-8 as it refuses the message; at
// thousands of inputs a second that is only noise.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);

  // Reference: everything in one feed, parsing each frame's message.
  Sink whole(true);
  FrameDecoder decoder;
  decoder.Feed(in, whole);
  const size_t buffered = decoder.buffered();
  Check(buffered <= size);

  // The same bytes in other chunkings must give the same frames and leave the same partial
  // frame: one byte at a time (short inputs), and chunk sizes drawn from the input itself.
  const absl::string_view head = in.substr(0, 16);
  const absl::string_view tail = size > 16 ? in.substr(size - 16) : in;
  struct Chunking {
    absl::string_view sizes;
    size_t scale;
  };
  std::vector<Chunking> chunkings = {{head, 1}, {tail, 7}, {head, 257}};
  if (size <= 4096) chunkings.push_back({absl::string_view(), 1});
  for (const Chunking& c : chunkings) {
    Sink sink(false);
    const size_t left = FeedChunked(in, c.sizes, c.scale, sink);
    Check(sink.events() == whole.events());
    Check(left == buffered);
  }
  return 0;
}
