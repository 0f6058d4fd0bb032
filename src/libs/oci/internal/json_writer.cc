#include "src/libs/oci/internal/json_writer.h"

#include <algorithm>
#include <vector>

namespace kata {
namespace oci {
namespace internal {
namespace {

constexpr uint64_t kOnes = 0x0101010101010101ULL;
constexpr uint64_t kHighs = 0x8080808080808080ULL;

// Non-zero when one of the 8 bytes of `w` is below 0x20, '"' or '\\' (a byte at or above
// 0x80 never counts). May also flag a byte after a flagged one (borrows): the caller then
// looks at the bytes one by one.
inline uint64_t NeedsEscape(uint64_t w) {
  const uint64_t control = (w - 0x20 * kOnes) & ~w;
  const uint64_t q = w ^ ('"' * kOnes);
  const uint64_t b = w ^ ('\\' * kOnes);
  const uint64_t quote = (q - kOnes) & ~q;
  const uint64_t backslash = (b - kOnes) & ~b;
  return (control | quote | backslash) & kHighs;
}

inline bool ByteNeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\'; }

// Writes the escape of `c` at `p`; returns the end.
char* WriteEscape(char* p, unsigned char c) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  char short_form = 0;
  switch (c) {
    case '"':
      short_form = '"';
      break;
    case '\\':
      short_form = '\\';
      break;
    case '\b':
      short_form = 'b';
      break;
    case '\f':
      short_form = 'f';
      break;
    case '\n':
      short_form = 'n';
      break;
    case '\r':
      short_form = 'r';
      break;
    case '\t':
      short_form = 't';
      break;
    default:
      break;
  }
  *p++ = '\\';
  if (short_form != 0) {
    *p++ = short_form;
    return p;
  }
  const char u[5] = {'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
  std::memcpy(p, u, sizeof u);
  return p + sizeof u;
}

// The buffer of this thread's writer (one writer at a time per thread: SerializeSpec).
std::vector<char>& ThreadBuffer() {
  thread_local std::vector<char> buffer(4096);
  return buffer;
}

constexpr size_t kRetainBytes = size_t{8} << 20;

}  // namespace

CompactJsonWriter::CompactJsonWriter() {
  std::vector<char>& b = ThreadBuffer();
  begin_ = cur_ = b.data();
  end_ = b.data() + b.size();
}

CompactJsonWriter::~CompactJsonWriter() {
  std::vector<char>& b = ThreadBuffer();
  if (b.size() > kRetainBytes) {
    b.resize(kRetainBytes);
    b.shrink_to_fit();
  }
}

void CompactJsonWriter::Grow(size_t n) {
  std::vector<char>& b = ThreadBuffer();
  const size_t used = static_cast<size_t>(cur_ - begin_);
  b.resize(std::max(b.size() * 2, used + n));
  begin_ = b.data();
  cur_ = begin_ + used;
  end_ = begin_ + b.size();
}

void CompactJsonWriter::QuotedString(const char* s, size_t n) {
  // Worst case: every byte becomes \u00XX.
  char* p = Reserve(n * 6 + 2);
  *p++ = '"';
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if (NeedsEscape(w) == 0) {
        std::memcpy(p, &w, 8);
        p += 8;
        i += 8;
        continue;
      }
    }
    const unsigned char c = static_cast<unsigned char>(s[i++]);
    p = ByteNeedsEscape(c) ? WriteEscape(p, c) : (*p = static_cast<char>(c), p + 1);
  }
  *p++ = '"';
  cur_ = p;
}

}  // namespace internal
}  // namespace oci
}  // namespace kata
