// Prometheus' text exposition format (version 0.0.4), written and checked.
//
//   std::string out;
//   MetricFamily f{"kata_shim_threads", "gauge", "Threads of the shim.", {}};
//   f.samples.push_back({{}, 7});
//   f.samples.push_back({{{"item", "vmrss"}}, 1 << 20});
//   AppendFamily(f, &out);   // # HELP ..\n# TYPE ..\nkata_shim_threads 7\n...
//   KATA_RETURN_IF_ERROR(CheckExposition(out));            // strict parse, names every fault
//   std::string labelled = AddLabel(agent_text, "sandbox_id", "s1");
//
// Contracts: AppendFamily writes exactly one HELP and one TYPE line, then one line per sample
// (label values escaped: \\, \", \n; values in the shortest form that reads back exactly,
// NaN/+Inf/-Inf as the format spells them). A family without samples writes nothing. Names
// are the caller's business (IsValidMetricName tells). CheckExposition accepts what the
// Prometheus text parser (expfmt) accepts for counters, gauges and untyped families, and
// refuses the rest with INVALID_ARGUMENT naming the line: a bad name, label or value, a family
// whose samples are not together, a TYPE after its samples, a repeated series, a second HELP,
// a reserved label name (__*), a HELP text or label value with a control character or invalid
// UTF-8. Error messages quote the text with every non-printable byte as '?'.
// AddLabel inserts `name="value"` first in every sample line of a valid exposition (an
// existing label of that name is replaced) and leaves comments alone.
#ifndef KATA_SRC_LIBS_METRICS_PROMETHEUS_H_
#define KATA_SRC_LIBS_METRICS_PROMETHEUS_H_

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace kata::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  Labels labels;
  double value = 0;
  std::string name;  // "" = the family's (a histogram's _bucket/_sum/_count sets it)
};

struct MetricFamily {
  std::string name;
  std::string type;  // "counter", "gauge" or "untyped"
  std::string help;
  std::vector<Sample> samples;
};

void AppendFamily(const MetricFamily& family, std::string* out);

// The value as the format writes it: "12", "0.25", "1e+21", "NaN", "+Inf".
std::string FormatValue(double value);

bool IsValidMetricName(absl::string_view name);
bool IsValidLabelName(absl::string_view name);

// One parsed sample line.
struct ParsedSample {
  std::string name;
  std::string family;  // name, less _bucket/_sum/_count for a histogram or summary
  std::map<std::string, std::string> labels;
  double value = 0;
};

// A parsed exposition: the families' types by name and every sample, in order.
struct Exposition {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;  // unescaped
  std::vector<ParsedSample> samples;
  // The value of the sample `name` whose labels include all of `labels`; NOT_FOUND otherwise.
  absl::StatusOr<double> Value(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const;
};

absl::StatusOr<Exposition> ParseExposition(absl::string_view text);
absl::Status CheckExposition(absl::string_view text);

std::string AddLabel(absl::string_view text, absl::string_view name, absl::string_view value);

// `exp` written back: each family (in the order of its samples) with its HELP and TYPE, then
// its samples; comments, and HELP/TYPE lines of families without samples, are not kept. For
// passing on a text from elsewhere (the guest's) as only what was understood of it.
std::string FormatExposition(const Exposition& exp);

// One exposition out of several (kata-monitor's, over every sandbox): each family once, with
// the HELP and TYPE it first came with (a source's samples of a family it types otherwise are
// left out), holding the samples of every source in order, each
// labelled `label`=the source's name (first; a label of that name a source had is replaced).
// A source that does not parse is left out and named in *failed; timestamps are dropped.
struct Source {
  std::string name;
  std::string text;
};
std::string MergeLabelled(const std::vector<Source>& sources, absl::string_view label,
                          std::vector<std::string>* failed);

}  // namespace kata::metrics

#endif  // KATA_SRC_LIBS_METRICS_PROMETHEUS_H_
