// A tiny structured logger for kata-agent: one logfmt line per event on stderr,
//
//   level=info msg="serving" addr="unix:///run/agent.sock" pid=42
//
//   kata::agent::SetLogLevel(kata::agent::LogLevel::kDebug);
//   kata::agent::Log(kata::agent::LogLevel::kInfo, "serving", {{"addr", addr}, {"pid", 42}});
//
// Promises:
// - Each line is written with one write(2) (WriteAll: more only after a short write), so lines
//   from concurrent threads do not interleave.
// - Events below the current level (default info) cost one atomic load and are not formatted.
// - Values are quoted (with \" \\ \n escaped) when they are empty or contain a space, '=',
//   a quote, or a control character; keys are written as given.
#ifndef KATA_SRC_AGENT_LOG_LOG_H_
#define KATA_SRC_AGENT_LOG_LOG_H_

#include <initializer_list>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kata {
namespace agent {

// Kata's agent levels (slog), lowest first.
enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError, kCritical };

// "trace", "debug", "info", "warn" (or "warning"), "error", "critical" (or "fatal");
// INVALID_ARGUMENT naming the accepted values otherwise.
absl::StatusOr<LogLevel> ParseLogLevel(absl::string_view text);
// The canonical name ("info", "warn", ...).
absl::string_view LogLevelName(LogLevel level);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
bool LogEnabled(LogLevel level);

// One key=value pair of an event; the value is formatted like absl::StrCat.
struct LogField {
  LogField(absl::string_view k, const absl::AlphaNum& v) : key(k), value(v.Piece()) {}
  absl::string_view key;
  std::string value;
};

// Formats one line (with the trailing newline) without writing it.
std::string FormatLogLine(LogLevel level, absl::string_view msg,
                          std::initializer_list<LogField> fields);

// Writes the event to stderr if `level` is enabled.
void Log(LogLevel level, absl::string_view msg, std::initializer_list<LogField> fields = {});

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_LOG_LOG_H_
