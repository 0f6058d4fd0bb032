#include "src/libs/metrics/prometheus.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace kata::metrics {
namespace {

bool IsNameChar(char c, bool first, bool colon) {
  if (absl::ascii_isalpha(c) || c == '_' || (colon && c == ':')) return true;
  return !first && absl::ascii_isdigit(c);
}

bool IsValidName(absl::string_view name, bool colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    if (!IsNameChar(name[i], i == 0, colon)) return false;
  }
  return true;
}

void AppendEscaped(absl::string_view text, bool quote, std::string* out) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

void AppendLabels(const Labels& labels, std::string* out) {
  if (labels.empty()) return;
  out->push_back('{');
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i > 0) out->push_back(',');
    absl::StrAppend(out, labels[i].first, "=\"");
    AppendEscaped(labels[i].second, true, out);
    out->push_back('"');
  }
  out->push_back('}');
}

// `what` with every byte that is not printable ASCII as '?', at most 120 bytes: parse errors
// quote the text, which may come from the guest, and end up on terminals and in logs.
std::string Printable(absl::string_view what) {
  std::string out(what.substr(0, 120));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) c = '?';
  }
  return out;
}

absl::Status LineError(size_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("metrics line ", line, ": ", Printable(what)));
}

// Whether `s` is valid UTF-8 (no overlong forms, surrogates or code points past U+10FFFF)
// without control characters (C0, DEL): what a HELP text or a label value may hold.
bool IsPrintableUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if (c < 0x20 || c == 0x7f) return false;
      ++i;
      continue;
    }
    const int n = c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 ? 1 : -1;
    if (n < 0 || c > 0xf4 || i + n >= s.size()) return false;
    uint32_t cp = c & (0x3f >> n);
    for (int k = 1; k <= n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::StatusOr<double> ParseValue(absl::string_view text) {
  if (text == "NaN") return std::nan("");
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  double v = 0;
  if (text.empty() || absl::ascii_isalpha(text[0]) || !absl::SimpleAtod(text, &v) ||
      std::isnan(v) || std::isinf(v)) {
    return absl::InvalidArgumentError(absl::StrCat("bad value \"", text, "\""));
  }
  return v;
}

// Parses `{a="x",b="y"}` at the start of *rest (the brace included) into *labels.
absl::Status ParseLabels(absl::string_view* rest, std::map<std::string, std::string>* labels) {
  rest->remove_prefix(1);  // '{'
  while (true) {
    if (absl::ConsumePrefix(rest, "}")) return absl::OkStatus();
    size_t eq = rest->find('=');
    if (eq == absl::string_view::npos) return absl::InvalidArgumentError("unterminated labels");
    std::string name(rest->substr(0, eq));
    if (!IsValidLabelName(name) || absl::StartsWith(name, "__")) {  // __*: Prometheus' own
      return absl::InvalidArgumentError(absl::StrCat("bad label name \"", name, "\""));
    }
    rest->remove_prefix(eq + 1);
    if (!absl::ConsumePrefix(rest, "\"")) {
      return absl::InvalidArgumentError(absl::StrCat("label ", name, ": value not quoted"));
    }
    std::string value;
    while (true) {
      if (rest->empty()) return absl::InvalidArgumentError("unterminated label value");
      char c = (*rest)[0];
      rest->remove_prefix(1);
      if (c == '"') break;
      if (c == '\\') {
        if (rest->empty()) return absl::InvalidArgumentError("unterminated label value");
        char e = (*rest)[0];
        rest->remove_prefix(1);
        if (e == 'n') {
          value.push_back('\n');
        } else if (e == '\\' || e == '"') {
          value.push_back(e);
        } else {
          return absl::InvalidArgumentError(absl::StrCat("label ", name, ": bad escape"));
        }
      } else {
        value.push_back(c);
      }
    }
    if (!IsPrintableUtf8(value)) {  // an escaped \n is fine; a raw control byte is not
      std::string raw = value;
      for (char& c : raw) {
        if (c == '\n') c = ' ';
      }
      if (!IsPrintableUtf8(raw)) {
        return absl::InvalidArgumentError(
            absl::StrCat("label ", name, ": a control character or invalid UTF-8"));
      }
    }
    if (!labels->emplace(name, value).second) {
      return absl::InvalidArgumentError(absl::StrCat("label ", name, " repeated"));
    }
    if (!absl::ConsumePrefix(rest, ",") && !absl::StartsWith(*rest, "}")) {
      return absl::InvalidArgumentError("expected , or } after a label");
    }
  }
}

// One sample line: the sample and the text after the labels (" value [timestamp]").
absl::StatusOr<ParsedSample> ParseSampleLine(absl::string_view line, absl::string_view* tail) {
  ParsedSample sample;
  size_t end = 0;
  while (end < line.size() && line[end] != '{' && line[end] != ' ' && line[end] != '\t') ++end;
  sample.name = std::string(line.substr(0, end));
  if (!IsValidMetricName(sample.name)) {
    return absl::InvalidArgumentError(absl::StrCat("bad metric name \"", sample.name, "\""));
  }
  absl::string_view rest = line.substr(end);
  if (absl::StartsWith(rest, "{")) {
    absl::Status s = ParseLabels(&rest, &sample.labels);
    if (!s.ok()) return s;
  }
  *tail = rest;
  std::vector<absl::string_view> fields =
      absl::StrSplit(rest, absl::ByAnyChar(" \t"), absl::SkipEmpty());
  if (fields.empty() || fields.size() > 2 || (rest[0] != ' ' && rest[0] != '\t')) {
    return absl::InvalidArgumentError("expected \" value [timestamp]\"");
  }
  absl::StatusOr<double> value = ParseValue(fields[0]);
  if (!value.ok()) return value.status();
  sample.value = *value;
  int64_t ts = 0;
  if (fields.size() == 2 && !absl::SimpleAtoi(fields[1], &ts)) {
    return absl::InvalidArgumentError("bad timestamp");
  }
  return sample;
}

std::string SeriesKey(const ParsedSample& s) {
  std::string key = s.name;
  for (const auto& [k, v] : s.labels) absl::StrAppend(&key, "\x01", k, "\x02", v);
  return key;
}

}  // namespace

bool IsValidMetricName(absl::string_view name) { return IsValidName(name, true); }
bool IsValidLabelName(absl::string_view name) { return IsValidName(name, false); }

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[40];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

void AppendFamily(const MetricFamily& family, std::string* out) {
  if (family.samples.empty()) return;
  absl::StrAppend(out, "# HELP ", family.name, " ");
  AppendEscaped(family.help, false, out);
  absl::StrAppend(out, "\n# TYPE ", family.name, " ", family.type, "\n");
  for (const Sample& s : family.samples) {
    out->append(s.name.empty() ? family.name : s.name);
    AppendLabels(s.labels, out);
    absl::StrAppend(out, " ", FormatValue(s.value), "\n");
  }
}

absl::StatusOr<double> Exposition::Value(const std::string& name,
                                         const std::map<std::string, std::string>& labels) const {
  for (const ParsedSample& s : samples) {
    if (s.name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s.labels.find(k);
      if (it == s.labels.end() || it->second != v) match = false;
    }
    if (match) return s.value;
  }
  return absl::NotFoundError(absl::StrCat("no sample ", name, " with the labels asked for"));
}

absl::StatusOr<Exposition> ParseExposition(absl::string_view text) {
  static const std::set<std::string> kTypes = {"counter", "gauge", "untyped", "histogram",
                                               "summary"};
  Exposition exp;
  std::set<std::string> done_families, series;
  std::string current;
  size_t n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++n;
    if (line.empty()) continue;
    if (line[0] == '#') {
      std::vector<absl::string_view> f = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (f.size() < 3 || (f[1] != "HELP" && f[1] != "TYPE")) continue;  // a plain comment
      std::string name(f[2]);
      if (!IsValidMetricName(name)) return LineError(n, absl::StrCat("bad metric name ", name));
      if (f[1] == "HELP") {
        std::string help;
        absl::string_view raw = f.size() > 3 ? f[3] : "";
        if (!IsPrintableUtf8(raw)) {
          return LineError(
              n, absl::StrCat("HELP of ", name, ": a control character or invalid UTF-8"));
        }
        if (exp.helps.count(name) > 0) return LineError(n, absl::StrCat("second HELP of ", name));
        for (size_t i = 0; i < raw.size(); ++i) {
          if (raw[i] == '\\' && i + 1 < raw.size() && (raw[i + 1] == 'n' || raw[i + 1] == '\\')) {
            help.push_back(raw[++i] == 'n' ? '\n' : '\\');
          } else {
            help.push_back(raw[i]);
          }
        }
        exp.helps.emplace(name, std::move(help));
        continue;
      }
      std::string type = f.size() > 3 ? std::string(f[3]) : "";
      if (kTypes.count(type) == 0) return LineError(n, absl::StrCat("bad type \"", type, "\""));
      if (exp.types.count(name) > 0 || done_families.count(name) > 0 || current == name) {
        return LineError(n, absl::StrCat("TYPE of ", name, " repeated or after its samples"));
      }
      exp.types[name] = type;
      continue;
    }
    absl::string_view tail;
    absl::StatusOr<ParsedSample> s = ParseSampleLine(line, &tail);
    if (!s.ok()) return LineError(n, s.status().message());
    std::string family = s->name;
    for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
      std::string base(absl::StripSuffix(s->name, suffix));
      auto it = exp.types.find(base);
      if (base != s->name && it != exp.types.end() &&
          (it->second == "histogram" || it->second == "summary")) {
        family = base;
      }
    }
    if (family != current) {
      if (done_families.count(family) > 0) {
        return LineError(n, absl::StrCat("the samples of ", family, " are not together"));
      }
      if (!current.empty()) done_families.insert(current);
      current = family;
    }
    s->family = family;
    if (!series.insert(SeriesKey(*s)).second) {
      return LineError(n, absl::StrCat("series repeated: ", line));
    }
    exp.samples.push_back(*std::move(s));
  }
  return exp;
}

absl::Status CheckExposition(absl::string_view text) { return ParseExposition(text).status(); }

std::string AddLabel(absl::string_view text, absl::string_view name, absl::string_view value) {
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::string_view tail;
    absl::StatusOr<ParsedSample> s;
    if (!line.empty() && line[0] != '#') s = ParseSampleLine(line, &tail);
    if (line.empty() || line[0] == '#' || !s.ok()) {
      if (!line.empty()) absl::StrAppend(&out, line, "\n");
      continue;
    }
    Labels labels = {{std::string(name), std::string(value)}};
    for (const auto& [k, v] : s->labels) {
      if (k != name) labels.emplace_back(k, v);
    }
    out.append(s->name);
    AppendLabels(labels, &out);
    absl::StrAppend(&out, tail, "\n");
  }
  return out;
}

std::string FormatExposition(const Exposition& exp) {
  std::string out;
  MetricFamily f;
  auto flush = [&] {
    AppendFamily(f, &out);
    f = MetricFamily{};
  };
  for (const ParsedSample& s : exp.samples) {
    if (s.family != f.name) {
      flush();
      f.name = s.family;
      auto type = exp.types.find(s.family);
      f.type = type != exp.types.end() ? type->second : "untyped";
      auto help = exp.helps.find(s.family);
      f.help = help != exp.helps.end() ? help->second : "";
    }
    Labels labels(s.labels.begin(), s.labels.end());
    f.samples.push_back({std::move(labels), s.value});
    f.samples.back().name = s.name;
  }
  flush();
  return out;
}

std::string MergeLabelled(const std::vector<Source>& sources, absl::string_view label,
                          std::vector<std::string>* failed) {
  std::vector<std::string> order;
  std::map<std::string, MetricFamily> families;
  for (const Source& src : sources) {
    absl::StatusOr<Exposition> exp = ParseExposition(src.text);
    if (!exp.ok()) {
      if (failed != nullptr) failed->push_back(src.name);
      continue;
    }
    for (const ParsedSample& s : exp->samples) {
      auto type = exp->types.find(s.family);
      const std::string src_type = type != exp->types.end() ? type->second : "untyped";
      auto [it, added] = families.try_emplace(s.family);
      MetricFamily& f = it->second;
      if (!added && f.type != src_type) continue;  // another type: the first source's wins
      if (added) {
        order.push_back(s.family);
        f.name = s.family;
        f.type = src_type;
        auto help = exp->helps.find(s.family);
        f.help = help != exp->helps.end() ? help->second : "";
      }
      Labels labels = {{std::string(label), src.name}};
      for (const auto& [k, v] : s.labels) {
        if (k != label) labels.emplace_back(k, v);
      }
      f.samples.push_back({std::move(labels), s.value});
      f.samples.back().name = s.name;
    }
  }
  std::string out;
  for (const std::string& name : order) AppendFamily(families[name], &out);
  return out;
}

}  // namespace kata::metrics
