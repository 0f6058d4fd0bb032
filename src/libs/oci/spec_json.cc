#include "src/libs/oci/spec_json.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
// Vectorized whitespace skipping where the baseline instruction set has it.
#if defined(__SSE2__) && !defined(RAPIDJSON_SSE2)
#define RAPIDJSON_SSE2
#elif defined(__ARM_NEON) && !defined(RAPIDJSON_NEON)
#define RAPIDJSON_NEON
#endif
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"
// RapidJSON 1.1.0's SSE2 string writer leaves 0x1A-0x1F unescaped (it tests s <= 0x19), which
// is invalid JSON: the writer is compiled without it (found by spec_fuzzer).
#ifdef RAPIDJSON_SSE2
#undef RAPIDJSON_SSE2
#endif
#include "rapidjson/prettywriter.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/oci/internal/json_numbers.h"
#include "src/libs/oci/internal/json_strings.h"
#include "src/libs/oci/internal/json_writer.h"
#include "src/libs/oci/internal/spec_fields.h"

namespace kata {
namespace oci {
namespace {

using internal::VisitFields;
using rapidjson::Value;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// Detects the structs that have a field table.
template <class T, class = void>
struct HasFields : std::false_type {};
struct NoopVisitor {
  template <class F>
  void operator()(const char*, F&) {}
};
template <class T>
struct HasFields<
    T, std::void_t<decltype(VisitFields(std::declval<NoopVisitor&>(), std::declval<T&>()))>>
    : std::true_type {};

template <class T>
const char* IntegerName() {
  if constexpr (std::is_same_v<T, uint16_t>) return "an unsigned 16-bit integer";
  if constexpr (std::is_same_v<T, uint32_t>) return "an unsigned 32-bit integer";
  if constexpr (std::is_same_v<T, uint64_t>) return "an unsigned 64-bit integer";
  if constexpr (std::is_same_v<T, int32_t>) return "a signed 32-bit integer";
  if constexpr (std::is_same_v<T, int64_t>) return "a signed 64-bit integer";
  return "an integer";
}

// Describes a JSON value for an error message: its type and, for scalars, a short excerpt.
std::string Describe(const Value& v) {
  switch (v.GetType()) {
    case rapidjson::kNullType:
      return "null";
    case rapidjson::kFalseType:
      return "false";
    case rapidjson::kTrueType:
      return "true";
    case rapidjson::kObjectType:
      return "an object";
    case rapidjson::kArrayType:
      return "an array";
    case rapidjson::kStringType: {
      absl::string_view s(v.GetString(), v.GetStringLength());
      if (s.size() > 32) return absl::StrCat("string \"", s.substr(0, 32), "...\"");
      return absl::StrCat("string \"", s, "\"");
    }
    case rapidjson::kNumberType:
      if (v.IsInt64()) return absl::StrCat("number ", v.GetInt64());
      if (v.IsUint64()) return absl::StrCat("number ", v.GetUint64());
      return absl::StrCat("number ", v.GetDouble());
  }
  return "a value";
}

// Depth of a value's nesting, counting up to `limit` (so the recursion is bounded).
int NestingDepth(const Value& v, int limit) {
  if (limit <= 0) return 1;
  int deepest = 0;
  if (v.IsObject()) {
    for (auto& m : v.GetObject()) deepest = std::max(deepest, NestingDepth(m.value, limit - 1));
    return deepest + 1;
  }
  if (v.IsArray()) {
    for (auto& e : v.GetArray()) deepest = std::max(deepest, NestingDepth(e, limit - 1));
    return deepest + 1;
  }
  return 0;
}

// Reads a rapidjson DOM into the model, keeping the JSON path for error messages.
class Reader {
 public:
  Reader() { path_.reserve(16); }

  absl::Status status() const { return status_; }

  bool Read(const Value& v, std::string& out) {
    if (!v.IsString()) return Expected("a string", v);
    out.assign(v.GetString(), v.GetStringLength());
    return true;
  }

  bool Read(const Value& v, bool& out) {
    if (!v.IsBool()) return Expected("a boolean", v);
    out = v.GetBool();
    return true;
  }

  template <class T>
  std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, bool> Read(const Value& v,
                                                                                 T& out) {
    if (!v.IsNumber() || !(v.IsInt64() || v.IsUint64())) return Expected(IntegerName<T>(), v);
    if constexpr (std::is_signed_v<T>) {
      if (!v.IsInt64() || v.GetInt64() < std::numeric_limits<T>::min() ||
          v.GetInt64() > std::numeric_limits<T>::max()) {
        return Expected(IntegerName<T>(), v);
      }
      out = static_cast<T>(v.GetInt64());
    } else {
      if (!v.IsUint64() || v.GetUint64() > std::numeric_limits<T>::max()) {
        return Expected(IntegerName<T>(), v);
      }
      out = static_cast<T>(v.GetUint64());
    }
    return true;
  }

  template <class T>
  bool Read(const Value& v, std::vector<T>& out) {
    if (!v.IsArray()) return Expected("an array", v);
    out.clear();
    out.resize(v.Size());
    for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
      path_.push_back(Segment{nullptr, 0, i});
      bool ok = Read(v[i], out[i]);
      path_.pop_back();
      if (!ok) return false;
    }
    return true;
  }

  template <class T>
  bool Read(const Value& v, std::map<std::string, T>& out) {
    if (!v.IsObject()) return Expected("an object", v);
    out.clear();
    for (auto& m : v.GetObject()) {
      std::string key(m.name.GetString(), m.name.GetStringLength());
      path_.push_back(Segment{m.name.GetString(), m.name.GetStringLength(), 0, true});
      auto [it, inserted] = out.try_emplace(std::move(key));
      bool ok = inserted ? Read(m.value, it->second) : Fail("duplicate key");
      path_.pop_back();
      if (!ok) return false;
    }
    return true;
  }

  template <class T>
  std::enable_if_t<HasFields<T>::value, bool> Read(const Value& v, T& out) {
    if (!v.IsObject()) return Expected("an object", v);
    FieldReader fields(this, v);
    VisitFields(fields, out);
    if (!fields.ok) return false;
    if (fields.matched == v.MemberCount()) return true;
    return ReadUnknown(v, fields.seen, out);
  }

  bool Fail(absl::string_view what) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(path_.empty() ? std::string(what)
                                                         : absl::StrCat(PathString(), ": ", what));
    }
    return false;
  }

 private:
  struct Segment {
    const char* key;  // null for an array index
    size_t key_len;
    rapidjson::SizeType index;
    bool map_key = false;
  };

  // Matches the members of one object to a struct's fields. Members usually come in the
  // field table's order, so each lookup first tries the member after the previous match.
  struct FieldReader {
    FieldReader(Reader* r, const Value& v) : reader(r), object(v), seen(v.MemberCount(), false) {}

    template <class F>
    void operator()(const char* name, F& field) {
      if (!ok) return;
      const size_t len = std::strlen(name);
      const rapidjson::SizeType n = object.MemberCount();
      auto members = object.MemberBegin();
      rapidjson::SizeType found = n;
      for (rapidjson::SizeType k = 0; k < n; ++k) {
        rapidjson::SizeType i = (cursor + k) % n;
        const Value& key = members[i].name;
        if (key.GetStringLength() == len && std::memcmp(key.GetString(), name, len) == 0) {
          found = i;
          break;
        }
      }
      if (found == n || members[found].value.IsNull()) {
        if constexpr (!IsOptional<F>::value) {
          reader->path_.push_back(Segment{name, len, 0});
          reader->Fail(found == n ? "required member is missing" : "required member is null");
          reader->path_.pop_back();
          ok = false;
        } else {
          field.reset();
          if (found != n) Mark(found);
        }
        return;
      }
      Mark(found);
      cursor = found + 1;
      reader->path_.push_back(Segment{name, len, 0});
      if constexpr (IsOptional<F>::value) {
        ok = reader->Read(members[found].value, field.emplace());
      } else {
        ok = reader->Read(members[found].value, field);
      }
      reader->path_.pop_back();
    }

    void Mark(rapidjson::SizeType i) {
      seen[i] = true;
      ++matched;
    }

    Reader* reader;
    const Value& object;
    absl::InlinedVector<bool, 32> seen;
    rapidjson::SizeType matched = 0;
    rapidjson::SizeType cursor = 0;
    bool ok = true;
  };

  // Tells whether `name` is one of a struct's field names.
  struct NameFinder {
    template <class F>
    void operator()(const char* field, F&) {
      if (name == field) found = true;
    }
    absl::string_view name;
    bool found = false;
  };

  // Keeps the members no field matched, verbatim, and rejects duplicates of known ones.
  template <class T>
  bool ReadUnknown(const Value& v, const absl::InlinedVector<bool, 32>& seen, T& out) {
    out.unknown.members.clear();
    auto members = v.MemberBegin();
    for (rapidjson::SizeType i = 0; i < v.MemberCount(); ++i) {
      if (seen[i]) continue;
      absl::string_view name(members[i].name.GetString(), members[i].name.GetStringLength());
      path_.push_back(Segment{name.data(), name.size(), 0});
      NameFinder finder{name};
      VisitFields(finder, out);
      bool ok = true;
      if (finder.found) {
        ok = Fail("duplicate key");
      } else {
        for (auto& [key, unused] : out.unknown.members) {
          if (key == name) ok = Fail("duplicate key");
        }
      }
      if (ok && NestingDepth(members[i].value, kMaxSpecDepth) >= kMaxSpecDepth) {
        ok = Fail("nested too deeply");
      }
      path_.pop_back();
      if (!ok) return false;
      rapidjson::StringBuffer raw;
      rapidjson::Writer<rapidjson::StringBuffer> writer(raw);
      members[i].value.Accept(writer);
      out.unknown.members.emplace_back(std::string(name), raw.GetString());
    }
    return true;
  }

  bool Expected(absl::string_view what, const Value& v) {
    return Fail(absl::StrCat("expected ", what, ", got ", Describe(v)));
  }

  std::string PathString() const {
    std::string out;
    for (const Segment& s : path_) {
      if (s.key == nullptr) {
        absl::StrAppend(&out, "[", s.index, "]");
      } else if (s.map_key) {
        absl::StrAppend(&out, "[\"", absl::string_view(s.key, s.key_len), "\"]");
      } else {
        if (!out.empty()) out.push_back('.');
        out.append(s.key, s.key_len);
      }
    }
    return out;
  }

  std::vector<Segment> path_;
  absl::Status status_;
};

// Writes the model through a rapidjson Writer or PrettyWriter.
template <class W>
class Emitter {
 public:
  explicit Emitter(W& w) : w_(w) {}

  void Write(const std::string& s) {
    w_.String(s.data(), static_cast<rapidjson::SizeType>(s.size()));
  }
  void Write(bool b) { w_.Bool(b); }

  template <class T>
  std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>> Write(T v) {
    if constexpr (std::is_signed_v<T>) {
      w_.Int64(v);
    } else {
      w_.Uint64(v);
    }
  }

  template <class T>
  void Write(const std::vector<T>& v) {
    w_.StartArray();
    for (const T& e : v) Write(e);
    w_.EndArray();
  }

  template <class T>
  void Write(const std::map<std::string, T>& m) {
    w_.StartObject();
    for (const auto& [k, v] : m) {
      Key(k);
      Write(v);
    }
    w_.EndObject();
  }

  template <class T>
  std::enable_if_t<HasFields<T>::value> Write(const T& o) {
    w_.StartObject();
    FieldWriter fields{this};
    VisitFields(fields, const_cast<T&>(o));  // FieldWriter only reads.
    for (const auto& [key, raw] : o.unknown.members) {
      Key(key);
      w_.RawValue(raw.data(), raw.size(), rapidjson::kObjectType);
    }
    w_.EndObject();
  }

 private:
  struct FieldWriter {
    template <size_t N, class F>
    void operator()(const char (&name)[N], const F& field) {
      if constexpr (IsOptional<F>::value) {
        if (!field.has_value()) return;
        emitter->ConstKey(name);
        emitter->Write(*field);
      } else {
        emitter->ConstKey(name);
        emitter->Write(field);
      }
    }
    Emitter* emitter;
  };

  // A name from the field table (never needs escaping).
  template <size_t N>
  void ConstKey(const char (&name)[N]) {
    if constexpr (std::is_same_v<W, internal::CompactJsonWriter>) {
      w_.ConstKey(name);
    } else {
      w_.Key(name, static_cast<rapidjson::SizeType>(N - 1));
    }
  }

  void Key(const std::string& k) { w_.Key(k.data(), static_cast<rapidjson::SizeType>(k.size())); }

  W& w_;
};

std::string LineAndColumn(absl::string_view text, size_t offset) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return absl::StrCat("line ", line, ", column ", column, " (byte ", offset, ")");
}

}  // namespace

absl::StatusOr<Spec> ParseSpec(absl::string_view json) {
  if (json.size() > kMaxSpecBytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("config is ", json.size(), " bytes, more than the limit of ", kMaxSpecBytes));
  }
  // The DOM lives in a per-thread arena that keeps the size the last document needed (up to
  // kArenaRetainBytes), so parsing a config does not fault in fresh pages every time.
  constexpr size_t kArenaRetainBytes = size_t{8} << 20;
  thread_local std::vector<char> arena;
  thread_local size_t arena_wanted = size_t{64} << 10;
  if (arena.size() < arena_wanted) arena.assign(arena_wanted, 0);
  rapidjson::MemoryPoolAllocator<> pool(arena.data(), arena.size());
  rapidjson::Document doc(&pool);
  absl::Cleanup remember_size = [&] {
    arena_wanted =
        std::max(arena_wanted, std::min(pool.Size() + pool.Size() / 4, kArenaRetainBytes));
  };
  // Iterative parsing: a deeply nested document cannot overflow the stack. Integers stay
  // exact over the whole int64/uint64 range; other numbers are converted correctly rounded, so
  // the shortest form the writer prints reads back as the same double (not by RapidJSON:
  // internal/json_numbers.h); anything after the document is an error.
  // A NUL byte can never be JSON text (inside a string it must be escaped as \u0000), and
  // rapidjson would take one as the end of the input: refuse it wherever it is.
  if (size_t nul = json.find('\0'); nul != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at ", LineAndColumn(json, nul), ": a NUL byte"));
  }
  // JSON text is UTF-8 as a whole (RFC 8259), so one fast scan of the input stands for checking
  // every string; only a document that fails it is walked, to name the bad string's path.
  const bool utf8 = internal::IsValidUtf8(json);
  if (rapidjson::ParseResult parsed = internal::ParseWithExactNumbers(json, &doc);
      parsed.IsError()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON at ",
                                                   LineAndColumn(json, parsed.Offset()), ": ",
                                                   rapidjson::GetParseError_En(parsed.Code())));
  }
  if (!utf8) {
    KATA_RETURN_IF_ERROR(internal::CheckUtf8Strings(doc));
    return absl::InvalidArgumentError("invalid JSON: not UTF-8");
  }
  // Escapes are decoded by the parser, past the scan: a lone \uDC00 would decode to bytes that
  // are not UTF-8 (rare in a config: walk the strings only when one may be there).
  if (internal::MayHoldLowSurrogateEscape(json)) {
    KATA_RETURN_IF_ERROR(internal::CheckUtf8Strings(doc));
  }
  Reader reader;
  Spec spec;
  if (!doc.IsObject()) {
    reader.Fail(absl::StrCat("the document must be a JSON object, got ", Describe(doc)));
    return reader.status();
  }
  if (!reader.Read(static_cast<const Value&>(doc), spec)) return reader.status();
  return spec;
}

std::string SerializeSpec(const Spec& spec, const SerializeOptions& options) {
  if (!options.pretty) {
    internal::CompactJsonWriter writer;
    Emitter<internal::CompactJsonWriter>(writer).Write(spec);
    return writer.Result();
  }
  // A per-thread buffer that keeps its capacity (up to 8 MiB): writing a large spec does
  // not grow a fresh buffer, and fault in fresh pages, every time.
  constexpr size_t kRetainBytes = size_t{8} << 20;
  thread_local rapidjson::StringBuffer buffer(nullptr, 4096);
  buffer.Clear();
  rapidjson::PrettyWriter<rapidjson::StringBuffer> writer(buffer);
  writer.SetIndent(' ', 2);
  Emitter<decltype(writer)>(writer).Write(spec);
  std::string out(buffer.GetString(), buffer.GetSize());
  if (buffer.GetSize() > kRetainBytes) buffer.ShrinkToFit();
  return out;
}

absl::StatusOr<Spec> LoadSpecFile(const std::string& path) {
  UniqueFd fd(RetryEintr([&] { return open(path.c_str(), O_RDONLY | O_CLOEXEC); }));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string text;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = RetryEintr([&] { return read(fd.get(), buf, sizeof buf); });
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("read ", path));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxSpecBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat(path, ": larger than the limit of ", kMaxSpecBytes, " bytes"));
    }
  }
  absl::StatusOr<Spec> spec = ParseSpec(text);
  if (!spec.ok()) return AnnotateStatus(spec.status(), path);
  return spec;
}

absl::Status SaveSpecFile(const Spec& spec, const std::string& path,
                          const SerializeOptions& options) {
  const std::string text = SerializeSpec(spec, options);
  std::string tmp = absl::StrCat(path, ".tmp.XXXXXX");
  UniqueFd fd(mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return ErrnoStatus(errno, absl::StrCat("create a temporary file for ", path));
  bool renamed = false;
  absl::Cleanup remove_tmp = [&] {
    if (!renamed) unlink(tmp.c_str());
  };
  absl::Status written = WriteAll(fd.get(), text);
  if (!written.ok()) return AnnotateStatus(written, tmp);
  if (fchmod(fd.get(), 0644) != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", tmp));
  if (fsync(fd.get()) != 0) return ErrnoStatus(errno, absl::StrCat("fsync ", tmp));
  if (close(fd.release()) != 0) return ErrnoStatus(errno, absl::StrCat("close ", tmp));
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("rename ", tmp, " to ", path));
  }
  renamed = true;
  return absl::OkStatus();
}

}  // namespace oci
}  // namespace kata
