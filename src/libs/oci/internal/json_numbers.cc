#include "src/libs/oci/internal/json_numbers.h"

#include <cstddef>
#include <string>

namespace kata {
namespace oci {
namespace internal {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// What may follow a value in JSON text: whitespace, ',', ']', '}'.
bool EndsValue(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ']' || c == '}';
}

// The end of the digits starting at `i`.
size_t SkipDigits(absl::string_view s, size_t i) {
  while (i < s.size() && IsDigit(s[i])) ++i;
  return i;
}

// A JSON number -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at `begin`: its end, where its
// exponent starts (npos: none), whether it has a fraction, and whether every significand digit
// is '0'. False when no number starts there.
struct Number {
  size_t end = 0, exponent = absl::string_view::npos;
  bool fraction = false, zero = true;
};

bool ScanNumber(absl::string_view s, size_t begin, Number* n) {
  size_t i = begin;
  if (i < s.size() && s[i] == '-') ++i;
  if (i >= s.size() || !IsDigit(s[i])) return false;
  const size_t int_end = s[i] == '0' ? i + 1 : SkipDigits(s, i);
  for (size_t k = i; k < int_end; ++k) n->zero = n->zero && s[k] == '0';
  i = int_end;
  if (i < s.size() && s[i] == '.') {
    const size_t frac_end = SkipDigits(s, i + 1);
    if (frac_end == i + 1) return false;
    for (size_t k = i + 1; k < frac_end; ++k) n->zero = n->zero && s[k] == '0';
    n->fraction = true;
    i = frac_end;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    size_t j = i + 1;
    if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
    const size_t exp_end = SkipDigits(s, j);
    if (exp_end == j) return false;
    n->exponent = i;
    i = exp_end;
  }
  n->end = i;
  return true;
}

}  // namespace

size_t RewriteZerosWithExponent(absl::string_view json, std::string* out) {
  std::string copy;
  bool changed = false;
  bool in_string = false;
  for (size_t i = 0; i < json.size();) {
    const char c = json[i];
    if (in_string) {
      if (c == '\\') {
        i += 2;
        continue;
      }
      if (c == '"') in_string = false;
      ++i;
      continue;
    }
    if (c == '"') {
      in_string = true;
      ++i;
      continue;
    }
    Number n;
    if ((c != '-' && !IsDigit(c)) || !ScanNumber(json, i, &n)) {
      ++i;
      continue;
    }
    if (n.zero && n.exponent != absl::string_view::npos) {
      if (n.end < json.size() && !EndsValue(json[n.end])) return n.end;
      if (!changed) copy = std::string(json);
      changed = true;
      // "0e+5" -> "0.000", "0.0E5" -> "0.000": a '.' where the exponent was (unless there is
      // already a fraction), then zeros.
      copy[n.exponent] = n.fraction ? '0' : '.';
      for (size_t k = n.exponent + 1; k < n.end; ++k) copy[k] = '0';
    }
    i = n.end;
  }
  if (changed) *out = std::move(copy);
  return absl::string_view::npos;
}

}  // namespace internal
}  // namespace oci
}  // namespace kata
