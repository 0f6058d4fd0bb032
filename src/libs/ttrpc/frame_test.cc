#include "src/libs/ttrpc/frame.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata {
namespace ttrpc {
namespace {

using ::testing::ElementsAre;

// What a decoder reported, in order: a frame (with its data) or an oversized header.
struct Event {
  bool oversized = false;
  FrameHeader header;
  std::string data;

  bool operator==(const Event& o) const {
    return oversized == o.oversized && header.length == o.header.length &&
           header.stream_id == o.header.stream_id && header.type == o.header.type &&
           header.flags == o.header.flags && data == o.data;
  }
};

std::ostream& operator<<(std::ostream& os, const Event& e) {
  return os << (e.oversized ? "Oversized{" : "Frame{") << "len=" << e.header.length
            << " id=" << e.header.stream_id << " type=" << int{e.header.type}
            << " flags=" << int{e.header.flags} << " data.size=" << e.data.size() << "}";
}

struct RecordingSink {
  std::vector<Event> events;
  void OnFrame(const FrameHeader& h, absl::string_view data) {
    events.push_back(Event{false, h, std::string(data)});
  }
  void OnOversized(const FrameHeader& h) { events.push_back(Event{true, h, ""}); }
};

std::string Frame(uint32_t stream_id, MessageType type, uint8_t flags, absl::string_view data) {
  FrameHeader h;
  h.length = static_cast<uint32_t>(data.size());
  h.stream_id = stream_id;
  h.type = static_cast<uint8_t>(type);
  h.flags = flags;
  char head[kFrameHeaderSize];
  EncodeFrameHeader(h, head);
  return std::string(head, kFrameHeaderSize) + std::string(data);
}

// A header that claims `length` bytes (data not included).
std::string Header(uint32_t length, uint32_t stream_id, MessageType type) {
  FrameHeader h;
  h.length = length;
  h.stream_id = stream_id;
  h.type = static_cast<uint8_t>(type);
  char head[kFrameHeaderSize];
  EncodeFrameHeader(h, head);
  return std::string(head, kFrameHeaderSize);
}

Event FrameEvent(uint32_t stream_id, MessageType type, uint8_t flags, absl::string_view data) {
  Event e;
  e.header.length = static_cast<uint32_t>(data.size());
  e.header.stream_id = stream_id;
  e.header.type = static_cast<uint8_t>(type);
  e.header.flags = flags;
  e.data = std::string(data);
  return e;
}

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i)
    s[i] = static_cast<char>((i * 31 + static_cast<size_t>(seed)) % 251);
  return s;
}

TEST(FrameHeaderTest, EncodesBigEndianFieldsAtTheirOffsets) {
  FrameHeader h;
  h.length = 0x01020304;
  h.stream_id = 0xA0B0C0D0;
  h.type = 0x02;
  h.flags = 0x05;
  char out[kFrameHeaderSize];
  EncodeFrameHeader(h, out);
  const unsigned char want[kFrameHeaderSize] = {0x01, 0x02, 0x03, 0x04, 0xA0,
                                                0xB0, 0xC0, 0xD0, 0x02, 0x05};
  for (size_t i = 0; i < kFrameHeaderSize; ++i) {
    EXPECT_EQ(static_cast<unsigned char>(out[i]), want[i]) << "byte " << i;
  }
}

TEST(FrameHeaderTest, RoundTripsExtremeValues) {
  for (uint32_t length : {0u, 1u, 255u, 256u, kMaxFrameData, kMaxFrameData + 1, 0xFFFFFFFFu}) {
    for (uint32_t id : {0u, 1u, 2u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
      for (uint8_t type : {uint8_t{0}, uint8_t{1}, uint8_t{2}, uint8_t{3}, uint8_t{0xFF}}) {
        for (uint8_t flags :
             {uint8_t{0}, kFlagRemoteClosed, kFlagRemoteOpen, kFlagNoData, uint8_t{0xFF}}) {
          FrameHeader h;
          h.length = length;
          h.stream_id = id;
          h.type = type;
          h.flags = flags;
          char buf[kFrameHeaderSize];
          EncodeFrameHeader(h, buf);
          FrameHeader d = DecodeFrameHeader(buf);
          EXPECT_EQ(d.length, length);
          EXPECT_EQ(d.stream_id, id);
          EXPECT_EQ(d.type, type);
          EXPECT_EQ(d.flags, flags);
        }
      }
    }
  }
}

// A stream of several frames of different sizes, types and flags.
struct Stream {
  std::string bytes;
  std::vector<Event> want;
};

Stream SampleStream() {
  Stream s;
  auto add = [&s](uint32_t id, MessageType type, uint8_t flags, const std::string& data) {
    s.bytes += Frame(id, type, flags, data);
    s.want.push_back(FrameEvent(id, type, flags, data));
  };
  add(1, MessageType::kRequest, 0, "hello");
  add(1, MessageType::kResponse, 0, "");
  add(3, MessageType::kRequest, kFlagRemoteOpen, Pattern(300, 1));
  add(3, MessageType::kData, kFlagRemoteClosed | kFlagNoData, "");
  add(5, MessageType::kData, 0, Pattern(1, 2));
  add(0xFFFFFFFF, MessageType::kResponse, 0, Pattern(37, 3));
  return s;
}

TEST(FrameDecoderTest, DecodesAWholeStreamFedAtOnce) {
  Stream s = SampleStream();
  FrameDecoder decoder;
  RecordingSink sink;
  decoder.Feed(s.bytes, sink);
  EXPECT_EQ(sink.events, s.want);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoderTest, SplitAtEveryByteBoundaryYieldsTheSameFrames) {
  Stream s = SampleStream();
  for (size_t cut = 0; cut <= s.bytes.size(); ++cut) {
    FrameDecoder decoder;
    RecordingSink sink;
    absl::string_view all(s.bytes);
    decoder.Feed(all.substr(0, cut), sink);
    decoder.Feed(all.substr(cut), sink);
    ASSERT_EQ(sink.events, s.want) << "split at byte " << cut;
    ASSERT_EQ(decoder.buffered(), 0u) << "split at byte " << cut;
  }
}

TEST(FrameDecoderTest, SplitAtEveryPairOfBoundariesYieldsTheSameFrames) {
  Stream s = SampleStream();
  absl::string_view all(s.bytes);
  for (size_t a = 0; a <= all.size(); a += 3) {
    for (size_t b = a; b <= all.size(); b += 7) {
      FrameDecoder decoder;
      RecordingSink sink;
      decoder.Feed(all.substr(0, a), sink);
      decoder.Feed(all.substr(a, b - a), sink);
      decoder.Feed(all.substr(b), sink);
      ASSERT_EQ(sink.events, s.want) << "split at " << a << " and " << b;
    }
  }
}

TEST(FrameDecoderTest, OneByteAtATimeYieldsTheSameFrames) {
  Stream s = SampleStream();
  FrameDecoder decoder;
  RecordingSink sink;
  for (size_t i = 0; i < s.bytes.size(); ++i) {
    decoder.Feed(absl::string_view(s.bytes).substr(i, 1), sink);
  }
  EXPECT_EQ(sink.events, s.want);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoderTest, BufferedCountsAPartialFrame) {
  std::string f = Frame(7, MessageType::kRequest, 0, "abcdef");
  FrameDecoder decoder;
  RecordingSink sink;
  decoder.Feed(absl::string_view(f).substr(0, 4), sink);
  EXPECT_EQ(decoder.buffered(), 4u);
  decoder.Feed(absl::string_view(f).substr(4, 8), sink);  // header complete + 2 data bytes
  EXPECT_EQ(decoder.buffered(), 2u);
  EXPECT_TRUE(sink.events.empty());
  decoder.Feed(absl::string_view(f).substr(12), sink);
  EXPECT_EQ(decoder.buffered(), 0u);
  EXPECT_THAT(sink.events, ElementsAre(FrameEvent(7, MessageType::kRequest, 0, "abcdef")));
}

TEST(FrameDecoderTest, ZeroLengthFramesAreDelivered) {
  std::string bytes;
  for (uint32_t id = 1; id <= 9; id += 2) bytes += Frame(id, MessageType::kData, kFlagNoData, "");
  for (size_t chunk : {bytes.size(), size_t{1}, size_t{3}, size_t{10}}) {
    FrameDecoder decoder;
    RecordingSink sink;
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      decoder.Feed(absl::string_view(bytes).substr(i, chunk), sink);
    }
    ASSERT_EQ(sink.events.size(), 5u) << "chunk " << chunk;
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(sink.events[i],
                FrameEvent(static_cast<uint32_t>(1 + 2 * i), MessageType::kData, kFlagNoData, ""));
    }
  }
}

TEST(FrameDecoderTest, MaxSizeFrameIsDelivered) {
  const std::string data = Pattern(kMaxFrameData, 9);
  std::string bytes = Frame(1, MessageType::kRequest, 0, data);
  for (size_t chunk : {bytes.size(), size_t{65536}, size_t{4093}}) {
    FrameDecoder decoder;
    RecordingSink sink;
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      decoder.Feed(absl::string_view(bytes).substr(i, chunk), sink);
    }
    ASSERT_EQ(sink.events.size(), 1u) << "chunk " << chunk;
    EXPECT_FALSE(sink.events[0].oversized);
    EXPECT_EQ(sink.events[0].data, data);
  }
}

TEST(FrameDecoderTest, OversizedFrameIsReportedSkippedAndTheNextFrameDecodes) {
  const uint32_t big = kMaxFrameData + 1;
  std::string bytes = Frame(1, MessageType::kRequest, 0, "before");
  bytes += Header(big, 3, MessageType::kRequest);
  bytes += Pattern(big, 4);  // the oversized frame's data, to be dropped
  bytes += Frame(5, MessageType::kRequest, 0, "after");
  const std::vector<Event> want = {
      FrameEvent(1, MessageType::kRequest, 0, "before"),
      Event{true, FrameHeader{big, 3, static_cast<uint8_t>(MessageType::kRequest), 0}, ""},
      FrameEvent(5, MessageType::kRequest, 0, "after"),
  };
  for (size_t chunk : {bytes.size(), size_t{65536}, size_t{1000003}, size_t{7}}) {
    FrameDecoder decoder;
    RecordingSink sink;
    for (size_t i = 0; i < bytes.size(); i += chunk) {
      decoder.Feed(absl::string_view(bytes).substr(i, chunk), sink);
      // Never holds the oversized frame's data.
      ASSERT_LE(decoder.buffered(), kFrameHeaderSize + 16) << "chunk " << chunk;
    }
    EXPECT_EQ(sink.events, want) << "chunk " << chunk;
  }
}

TEST(FrameDecoderTest, OversizedIsReportedAsSoonAsItsHeaderIsRead) {
  FrameDecoder decoder;
  RecordingSink sink;
  decoder.Feed(Header(0xFFFFFFFFu, 9, MessageType::kResponse), sink);
  ASSERT_EQ(sink.events.size(), 1u);
  EXPECT_TRUE(sink.events[0].oversized);
  EXPECT_EQ(sink.events[0].header.length, 0xFFFFFFFFu);
  EXPECT_EQ(sink.events[0].header.stream_id, 9u);
  // Whatever follows (up to 4 GiB) is dropped, not decoded as frames.
  decoder.Feed(Frame(1, MessageType::kRequest, 0, "swallowed"), sink);
  EXPECT_EQ(sink.events.size(), 1u);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoderTest, ZeroLengthFrameRightAfterAnOversizedOne) {
  const uint32_t big = kMaxFrameData + 100;
  std::string bytes = Header(big, 1, MessageType::kData);
  bytes += std::string(big, 'z');
  bytes += Frame(3, MessageType::kData, kFlagRemoteClosed | kFlagNoData, "");
  FrameDecoder decoder;
  RecordingSink sink;
  decoder.Feed(bytes, sink);
  ASSERT_EQ(sink.events.size(), 2u);
  EXPECT_TRUE(sink.events[0].oversized);
  EXPECT_EQ(sink.events[1], FrameEvent(3, MessageType::kData, kFlagRemoteClosed | kFlagNoData, ""));
}

// The data view passed to OnFrame must stay valid for the call even when the frame was
// assembled from many feeds and the decoder is fed again from inside the sink's caller.
TEST(FrameDecoderTest, ReassembledFramesAreIndependentOfTheInputBuffers) {
  Stream s = SampleStream();
  FrameDecoder decoder;
  RecordingSink sink;
  std::string chunk;
  for (size_t i = 0; i < s.bytes.size(); i += 5) {
    chunk = s.bytes.substr(i, 5);
    decoder.Feed(chunk, sink);
    chunk.assign(chunk.size(), '#');  // clobber the input after each feed
  }
  EXPECT_EQ(sink.events, s.want);
}

}  // namespace
}  // namespace ttrpc
}  // namespace kata
