// Appending protobuf fields to an already serialized message (or writing a small one, as the
// client does for ttrpc.Request, without building the message first).
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

inline void AppendVarint(uint64_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Appends field `number` (wire type 2) holding `data` to `out`, even when empty (an embedded
// message, an element of a repeated field).
inline void AppendLengthDelimited(uint32_t number, absl::string_view data, std::string* out) {
  out->reserve(out->size() + 16 + data.size());
  AppendVarint((uint64_t{number} << 3) | 2, out);
  AppendVarint(data.size(), out);
  out->append(data.data(), data.size());
}

// Appends field `number` (wire type 2) holding `data` to `out`. Empty data appends nothing
// (proto3: an empty bytes field is absent).
inline void AppendBytesField(uint32_t number, absl::string_view data, std::string* out) {
  if (!data.empty()) AppendLengthDelimited(number, data, out);
}

// Appends int64 field `number` (wire type 0); zero appends nothing (proto3).
inline void AppendInt64Field(uint32_t number, int64_t value, std::string* out) {
  if (value == 0) return;
  AppendVarint(uint64_t{number} << 3, out);
  AppendVarint(static_cast<uint64_t>(value), out);
}

}  // namespace internal
}  // namespace ttrpc
}  // namespace kata

#endif  // KATA_SRC_LIBS_TTRPC_INTERNAL_WIRE_H_
