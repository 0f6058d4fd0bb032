#include "src/libs/oci/internal/json_numbers.h"

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>

#include "rapidjson/reader.h"

namespace kata {
namespace oci {
namespace internal {
namespace {

using rapidjson::SizeType;

// Forwards every SAX event to the document, converting the raw numbers itself.
class ExactNumbers {
 public:
  explicit ExactNumbers(rapidjson::Document& doc) : d_(doc) {}

  bool too_big() const { return too_big_; }

  bool RawNumber(const char* s, SizeType n, bool copy) {
    // `s` is NUL-terminated (the reader's own copy) and is a valid JSON number.
    bool integer = true;
    for (SizeType i = 0; i < n; ++i) integer = integer && s[i] != '.' && s[i] != 'e' && s[i] != 'E';
    char* end = nullptr;
    if (integer) {
      errno = 0;
      if (s[0] == '-') {
        const long long v = std::strtoll(s, &end, 10);
        if (errno == 0 && end == s + n) return d_.Int64(static_cast<int64_t>(v));
      } else {
        const unsigned long long v = std::strtoull(s, &end, 10);
        if (errno == 0 && end == s + n) return d_.Uint64(static_cast<uint64_t>(v));
      }
    }
    const double v = std::strtod(s, &end);
    if (end != s + n) return false;
    if (!std::isfinite(v)) {
      too_big_ = true;
      return false;
    }
    return d_.Double(v);
  }

  bool Null() { return d_.Null(); }
  bool Bool(bool b) { return d_.Bool(b); }
  bool Int(int i) { return d_.Int(i); }
  bool Uint(unsigned u) { return d_.Uint(u); }
  bool Int64(int64_t i) { return d_.Int64(i); }
  bool Uint64(uint64_t u) { return d_.Uint64(u); }
  bool Double(double x) { return d_.Double(x); }
  bool String(const char* s, SizeType n, bool copy) { return d_.String(s, n, copy); }
  bool StartObject() { return d_.StartObject(); }
  bool Key(const char* s, SizeType n, bool copy) { return d_.Key(s, n, copy); }
  bool EndObject(SizeType members) { return d_.EndObject(members); }
  bool StartArray() { return d_.StartArray(); }
  bool EndArray(SizeType elements) { return d_.EndArray(elements); }

 private:
  rapidjson::Document& d_;
  bool too_big_ = false;
};

}  // namespace

rapidjson::ParseResult ParseWithExactNumbers(absl::string_view json, rapidjson::Document* doc) {
  rapidjson::ParseResult result;
  auto generate = [&](rapidjson::Document& d) {
    rapidjson::MemoryStream ms(json.data(), json.size());
    rapidjson::EncodedInputStream<rapidjson::UTF8<>, rapidjson::MemoryStream> is(ms);
    rapidjson::Reader reader;
    ExactNumbers handler(d);
    result = reader.Parse<rapidjson::kParseIterativeFlag | rapidjson::kParseNumbersAsStringsFlag>(
        is, handler);
    if (result.IsError() && handler.too_big()) {
      result.Set(rapidjson::kParseErrorNumberTooBig, result.Offset());
    }
    return !result.IsError();
  };
  doc->Populate(generate);
  return result;
}

}  // namespace internal
}  // namespace oci
}  // namespace kata
