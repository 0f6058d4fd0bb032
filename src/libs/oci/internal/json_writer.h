// A compact JSON writer for SerializeSpec: the subset of rapidjson::Writer's interface that
// the spec emitter uses, producing byte for byte what rapidjson::Writer<StringBuffer> produces
// (no whitespace; '"' and '\\' escaped with a backslash, control characters as \b \f \n \r \t
// or \u00XX with upper-case hex, everything else, UTF-8 included, copied as is), faster:
//
//   - member names known at compile time (ConstKey) are copied without an escape scan;
//   - strings are scanned 8 bytes at a time and copied in runs between escapes;
//   - integers are formatted inline (most are small: device numbers, modes, ids);
//   - one per-thread buffer that keeps its capacity, written through a pointer; the result
//     is copied out once (Result).
//
// Not a validator: the caller emits a well-formed sequence (keys only inside objects, one
// value per key), as the emitter does. Internal to //src/libs/oci.
#ifndef KATA_SRC_LIBS_OCI_INTERNAL_JSON_WRITER_H_
#define KATA_SRC_LIBS_OCI_INTERNAL_JSON_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/string_view.h"

namespace kata {
namespace oci {
namespace internal {

class CompactJsonWriter {
 public:
  // Writes into a per-thread buffer that keeps its capacity (up to 8 MiB) between documents.
  CompactJsonWriter();
  ~CompactJsonWriter();
  CompactJsonWriter(const CompactJsonWriter&) = delete;
  CompactJsonWriter& operator=(const CompactJsonWriter&) = delete;

  // What was written so far.
  std::string Result() const { return std::string(begin_, static_cast<size_t>(cur_ - begin_)); }

  void StartObject() { Open('{'); }
  void EndObject() { Close('}'); }
  void StartArray() { Open('['); }
  void EndArray() { Close(']'); }

  // A member name that needs escaping (map keys: annotations, sysctls...).
  void Key(const char* s, size_t n) {
    Separator();
    QuotedString(s, n);
    Put(':');
    need_comma_ = false;
  }
  void Key(const char* s) { Key(s, std::strlen(s)); }
  // A member name from the field table (a string literal): plain ASCII, never escaped; its
  // length is a constant, so the copy is a few moves.
  template <size_t N>
  void ConstKey(const char (&name)[N]) {
    char* p = Reserve(N + 3);
    if (need_comma_) *p++ = ',';
    *p++ = '"';
    std::memcpy(p, name, N - 1);
    p += N - 1;
    *p++ = '"';
    *p++ = ':';
    cur_ = p;
    need_comma_ = false;
  }

  void String(const char* s, size_t n) {
    Separator();
    QuotedString(s, n);
    need_comma_ = true;
  }
  void Bool(bool b) {
    Separator();
    if (b) {
      Append("true", 4);
    } else {
      Append("false", 5);
    }
    need_comma_ = true;
  }
  void Int64(int64_t v) {
    char* p = Reserve(22);
    if (need_comma_) *p++ = ',';
    if (v < 0) {
      *p++ = '-';
      cur_ = Digits(p, 0 - static_cast<uint64_t>(v));
    } else {
      cur_ = Digits(p, static_cast<uint64_t>(v));
    }
    need_comma_ = true;
  }
  void Uint64(uint64_t v) {
    char* p = Reserve(21);
    if (need_comma_) *p++ = ',';
    cur_ = Digits(p, v);
    need_comma_ = true;
  }
  // `json` is one complete JSON value, copied as is (the type argument, as rapidjson's, is
  // not needed).
  template <class Type>
  void RawValue(const char* json, size_t n, Type /*type*/) {
    Separator();
    Append(json, n);
    need_comma_ = true;
  }

 private:
  // Room for `n` more bytes at cur_.
  char* Reserve(size_t n) {
    if (static_cast<size_t>(end_ - cur_) < n) Grow(n);
    return cur_;
  }
  void Grow(size_t n);
  void Put(char c) { *Reserve(1) = c, ++cur_; }
  void Append(const char* s, size_t n) {
    std::memcpy(Reserve(n), s, n);
    cur_ += n;
  }
  void Separator() {
    if (need_comma_) Put(',');
  }
  void Open(char c) {
    char* p = Reserve(2);
    if (need_comma_) *p++ = ',';
    *p++ = c;
    cur_ = p;
    need_comma_ = false;
  }
  void Close(char c) {
    Put(c);
    need_comma_ = true;
  }
  void QuotedString(const char* s, size_t n);
  // The decimal digits of `v` at `p` (at most 20); returns the end.
  static char* Digits(char* p, uint64_t v) {
    size_t n = 1;
    for (uint64_t t = v; t >= 10; t /= 10) ++n;
    char* end = p + n;
    do {
      *--end = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    return p + n;
  }

  char* begin_;
  char* cur_;
  char* end_;
  bool need_comma_ = false;
};

}  // namespace internal
}  // namespace oci
}  // namespace kata

#endif  // KATA_SRC_LIBS_OCI_INTERNAL_JSON_WRITER_H_
