// Appending a length-delimited protobuf field to an already serialized message.
//
// A message's fields may come in any order on the wire, so `Request.payload` and
// `Response.payload` (the big, opaque part of every frame) can be appended after the small
// fields are serialized, instead of being copied into the message and copied again by its
// serialization. Internal to //src/libs/ttrpc.
#ifndef KATA_SRC_LIBS_TTRPC_INTERNAL_WIRE_H_
#define KATA_SRC_LIBS_TTRPC_INTERNAL_WIRE_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace ttrpc {
namespace internal {

// Appends field `number` (wire type 2) holding `data` to `out`. Empty data appends nothing
// (proto3: an empty bytes field is absent).
inline void AppendBytesField(uint32_t number, absl::string_view data, std::string* out) {
  if (data.empty()) return;
  auto varint = [out](uint64_t v) {
    while (v >= 0x80) {
      out->push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out->push_back(static_cast<char>(v));
  };
  out->reserve(out->size() + 16 + data.size());
  varint((uint64_t{number} << 3) | 2);
  varint(data.size());
  out->append(data.data(), data.size());
}

}  // namespace internal
}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_INTERNAL_WIRE_H_
