#include "src/libs/oci/internal/json_strings.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kata {
namespace oci {
namespace internal {
namespace {

// One level of the walk: the value, how it is named in its parent, and how far its members or
// elements have been visited.
struct Frame {
  const rapidjson::Value* value;
  std::string segment;  // ".name", "[3]" or "" for the root
  rapidjson::SizeType next = 0;
};

std::string PathOf(const std::vector<Frame>& stack, absl::string_view last) {
  std::string path;
  for (const Frame& f : stack) path += f.segment;
  path.append(last.data(), last.size());
  if (!path.empty() && path[0] == '.') path.erase(0, 1);
  return path.empty() ? "(document)" : path;
}

absl::Status Bad(const std::vector<Frame>& stack, absl::string_view last, const char* what) {
  return absl::InvalidArgumentError(absl::StrCat(PathOf(stack, last), ": invalid UTF-8 in ", what));
}

// Visits the next child of the top frame; false when it has none left.
bool Step(std::vector<Frame>& stack, absl::Status* status) {
  Frame& top = stack.back();
  const rapidjson::Value& v = *top.value;
  if (v.IsObject() && top.next < v.MemberCount()) {
    const auto& m = v.MemberBegin()[top.next++];
    absl::string_view name(m.name.GetString(), m.name.GetStringLength());
    const std::string segment = absl::StrCat(".", name);
    if (!IsValidUtf8(name)) {
      *status = Bad(stack, ".<name>", "a member name");
    } else if (m.value.IsString() &&
               !IsValidUtf8({m.value.GetString(), m.value.GetStringLength()})) {
      *status = Bad(stack, segment, "a string");
    } else if (m.value.IsObject() || m.value.IsArray()) {
      stack.push_back({&m.value, segment});
    }
    return true;
  }
  if (v.IsArray() && top.next < v.Size()) {
    const rapidjson::SizeType i = top.next++;
    const rapidjson::Value& e = v[i];
    const std::string segment = absl::StrCat("[", i, "]");
    if (e.IsString() && !IsValidUtf8({e.GetString(), e.GetStringLength()})) {
      *status = Bad(stack, segment, "a string");
    } else if (e.IsObject() || e.IsArray()) {
      stack.push_back({&e, segment});
    }
    return true;
  }
  return false;
}

}  // namespace

bool MayHoldLowSurrogateEscape(absl::string_view json) {
  for (size_t i = json.find("\\u"); i != absl::string_view::npos; i = json.find("\\u", i + 2)) {
    if (i + 3 < json.size() && (json[i + 2] == 'd' || json[i + 2] == 'D') &&
        std::strchr("cdefCDEF", json[i + 3]) != nullptr && json[i + 3] != '\0') {
      return true;
    }
  }
  return false;
}

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    // ASCII, 8 bytes at a time (config.json is almost all ASCII).
    uint64_t word;
    if (s.size() - i >= sizeof(word)) {
      std::memcpy(&word, s.data() + i, sizeof(word));
      if ((word & 0x8080808080808080ull) == 0) {
        i += sizeof(word);
        continue;
      }
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4, cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or F5..FF
    }
    if (s.size() - i < len) return false;
    for (size_t k = 1; k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;
    if (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    i += len;
  }
  return true;
}

absl::Status CheckUtf8Strings(const rapidjson::Value& document) {
  if (document.IsString()) {
    if (IsValidUtf8({document.GetString(), document.GetStringLength()})) return absl::OkStatus();
    return absl::InvalidArgumentError("(document): invalid UTF-8 in a string");
  }
  if (!document.IsObject() && !document.IsArray()) return absl::OkStatus();
  std::vector<Frame> stack;
  stack.push_back({&document, ""});
  absl::Status status;
  while (!stack.empty() && status.ok()) {
    if (!Step(stack, &status)) stack.pop_back();
  }
  return status;
}

}  // namespace internal
}  // namespace oci
}  // namespace kata
