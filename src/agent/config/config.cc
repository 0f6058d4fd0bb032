#include "src/agent/config/config.h"

#include <cctype>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "src/agent/channel/address.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace agent {
namespace {

absl::Status BadValue(absl::string_view key, absl::string_view value, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(key, "=", value, ": ", why));
}

absl::StatusOr<bool> ParseBool(absl::string_view key, std::optional<absl::string_view> value) {
  if (!value.has_value()) return true;
  const std::string v = absl::AsciiStrToLower(*value);
  if (v == "true" || v == "1" || v == "yes" || v == "on" || v.empty()) return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return BadValue(key, *value, "expected true or false");
}

absl::Status ApplyServerAddr(absl::string_view key, absl::string_view value, AgentConfig* config) {
  absl::StatusOr<AgentAddress> a = ParseAgentAddress(value);
  if (!a.ok()) return AnnotateStatus(a.status(), key);
  config->server_addr = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyLogLevel(absl::string_view key, absl::string_view value, AgentConfig* config) {
  absl::StatusOr<LogLevel> l = ParseLogLevel(value);
  if (!l.ok()) return AnnotateStatus(l.status(), key);
  config->log_level = *l;
  return absl::OkStatus();
}

absl::Status ApplyParam(absl::string_view key, std::optional<absl::string_view> value,
                        AgentConfig* config, std::vector<std::string>* warnings) {
  auto need_value = [&]() -> absl::Status {
    if (!value.has_value() || value->empty()) {
      return absl::InvalidArgumentError(absl::StrCat(key, ": needs a value (", key, "=...)"));
    }
    return absl::OkStatus();
  };
  if (key == "agent.server_addr") {
    KATA_RETURN_IF_ERROR(need_value());
    return ApplyServerAddr(key, *value, config);
  }
  if (key == "agent.log") {
    KATA_RETURN_IF_ERROR(need_value());
    return ApplyLogLevel(key, *value, config);
  }
  if (key == "agent.debug_console") {
    KATA_ASSIGN_OR_RETURN(config->debug_console, ParseBool(key, value));
    return absl::OkStatus();
  }
  if (key == "agent.debug_console_vport") {
    KATA_RETURN_IF_ERROR(need_value());
    uint32_t port = 0;
    if (!absl::SimpleAtoi(*value, &port) || port == 0) {
      return BadValue(key, *value, "expected a vsock port number");
    }
    config->debug_console_vport = port;
    return absl::OkStatus();
  }
  if (key == "agent.trace_parent") {  // kata-cpp's: the host's span the agent's boot joins
    KATA_RETURN_IF_ERROR(need_value());
    config->trace_parent = std::string(*value);
    return absl::OkStatus();
  }
  if (key == "agent.trace") {
    KATA_ASSIGN_OR_RETURN(config->trace, ParseBool(key, value));
    return absl::OkStatus();
  }
  if (key == "agent.devmode") {
    KATA_ASSIGN_OR_RETURN(config->dev_mode, ParseBool(key, value));
    return absl::OkStatus();
  }
  if (key == "agent.unified_cgroup_hierarchy") {
    KATA_ASSIGN_OR_RETURN(config->unified_cgroup_hierarchy, ParseBool(key, value));
    return absl::OkStatus();
  }
  if (key == "agent.hotplug_timeout") {
    KATA_RETURN_IF_ERROR(need_value());
    int64_t seconds = 0;
    absl::Duration d;
    if (absl::SimpleAtoi(*value, &seconds)) {
      d = absl::Seconds(seconds);
    } else if (!absl::ParseDuration(*value, &d)) {
      return BadValue(key, *value, "expected seconds or a duration such as 3s");
    }
    if (d <= absl::ZeroDuration()) return BadValue(key, *value, "must be positive");
    config->hotplug_timeout = d;
    return absl::OkStatus();
  }
  if (key == "agent.container_pipe_size") {
    KATA_RETURN_IF_ERROR(need_value());
    int n = 0;
    if (!absl::SimpleAtoi(*value, &n) || n < 0) {
      return BadValue(key, *value, "expected a non-negative integer");
    }
    config->container_pipe_size = n;
    return absl::OkStatus();
  }
  if (warnings != nullptr) {
    warnings->push_back(absl::StrCat("unknown kernel parameter ", key, " ignored"));
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> SplitKernelCmdline(absl::string_view cmdline) {
  std::vector<std::string> out;
  std::string cur;
  bool in_token = false;
  bool quoted = false;
  for (char c : cmdline) {
    if (c == '"') {
      quoted = !quoted;
      in_token = true;
      continue;
    }
    if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (in_token) out.push_back(std::move(cur));
      cur.clear();
      in_token = false;
      continue;
    }
    cur.push_back(c);
    in_token = true;
  }
  if (in_token) out.push_back(std::move(cur));
  return out;
}

absl::Status ApplyKernelCmdline(absl::string_view cmdline, AgentConfig* config,
                                std::vector<std::string>* warnings) {
  for (const std::string& param : SplitKernelCmdline(cmdline)) {
    if (!absl::StartsWith(param, "agent.")) continue;
    const size_t eq = param.find('=');
    const absl::string_view p = param;
    std::optional<absl::string_view> value;
    absl::string_view key = p;
    if (eq != std::string::npos) {
      key = p.substr(0, eq);
      value = p.substr(eq + 1);
    }
    KATA_RETURN_IF_ERROR(ApplyParam(key, value, config, warnings));
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentFlags> ParseFlags(int argc, const char* const* argv) {
  AgentFlags flags;
  for (int i = 0; i < argc; ++i) {
    absl::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      flags.help = true;
      continue;
    }
    if (!absl::StartsWith(arg, "--")) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument \"", arg, "\""));
    }
    absl::string_view name = arg;
    std::optional<std::string> value;
    const size_t eq = arg.find('=');
    if (eq != absl::string_view::npos) {
      name = arg.substr(0, eq);
      value = std::string(arg.substr(eq + 1));
    }
    std::optional<std::string>* target = nullptr;
    if (name == "--server-addr") {
      target = &flags.server_addr;
    } else if (name == "--log-level") {
      target = &flags.log_level;
    } else if (name == "--cmdline-file") {
      target = &flags.cmdline_file;
    } else if (name == "--debug-console-addr") {
      target = &flags.debug_console_addr;
    } else if (name == "--trace-addr") {
      target = &flags.trace_addr;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name, " (see --help)"));
    }
    if (!value.has_value()) {
      if (i + 1 >= argc) return absl::InvalidArgumentError(absl::StrCat(name, ": needs a value"));
      value = argv[++i];
    }
    *target = std::move(value);
  }
  return flags;
}

std::string FlagsUsage() {
  return absl::StrCat(
      "usage: kata-agent [--server-addr ADDR] [--log-level LEVEL] [--cmdline-file PATH]\n"
      "                  [--debug-console-addr ADDR] [--trace-addr ADDR]\n"
      "  --server-addr ADDR   vsock://CID:PORT, unix://PATH, serial:///dev/vportNpM or\n"
      "                       serial://PORT-NAME (default ",
      kDefaultServerAddr,
      "; env KATA_AGENT_SERVER_ADDR)\n"
      "  --log-level LEVEL    trace, debug, info, warn, error, critical (default info;\n"
      "                       env KATA_AGENT_LOG_LEVEL)\n"
      "  --cmdline-file PATH  read agent.* parameters from PATH (PID 1 reads /proc/cmdline)\n"
      "  --debug-console-addr ADDR  where the debug console is served when agent.debug_console\n"
      "                       is set (default: serial://agent.debug_console with a serial\n"
      "                       server address, else vsock://-1:<agent.debug_console_vport>)\n"
      "  --trace-addr ADDR    where the spans go when agent.trace is set: serial://PORT-NAME,\n"
      "                       vsock://CID:PORT or unix://PATH, which the agent connects to\n"
      "                       (default: serial://agent.trace with a serial server address,\n"
      "                       else vsock://2:10240, the host's port)\n");
}

absl::StatusOr<AgentConfig> ResolveConfig(const ConfigSources& sources,
                                          std::vector<std::string>* warnings) {
  AgentConfig config;
  KATA_RETURN_IF_ERROR(ApplyKernelCmdline(sources.kernel_cmdline, &config, warnings));
  if (sources.env_server_addr.has_value()) {
    KATA_RETURN_IF_ERROR(
        ApplyServerAddr("KATA_AGENT_SERVER_ADDR", *sources.env_server_addr, &config));
  }
  if (sources.env_log_level.has_value()) {
    KATA_RETURN_IF_ERROR(ApplyLogLevel("KATA_AGENT_LOG_LEVEL", *sources.env_log_level, &config));
  }
  if (sources.flags.server_addr.has_value()) {
    KATA_RETURN_IF_ERROR(ApplyServerAddr("--server-addr", *sources.flags.server_addr, &config));
  }
  if (sources.flags.log_level.has_value()) {
    KATA_RETURN_IF_ERROR(ApplyLogLevel("--log-level", *sources.flags.log_level, &config));
  }
  if (sources.flags.debug_console_addr.has_value()) {
    absl::StatusOr<AgentAddress> a = ParseAgentAddress(*sources.flags.debug_console_addr);
    if (!a.ok()) return AnnotateStatus(a.status(), "--debug-console-addr");
    config.debug_console_addr = *sources.flags.debug_console_addr;
  } else if (absl::StartsWith(config.server_addr, "serial:")) {
    config.debug_console_addr = kDebugConsoleSerialAddr;
  } else {
    config.debug_console_addr = absl::StrCat("vsock://-1:", config.debug_console_vport);
  }
  if (sources.flags.trace_addr.has_value()) {
    absl::StatusOr<AgentAddress> a = ParseAgentAddress(*sources.flags.trace_addr);
    if (!a.ok()) return AnnotateStatus(a.status(), "--trace-addr");
    config.trace_addr = *sources.flags.trace_addr;
  } else if (absl::StartsWith(config.server_addr, "serial:")) {
    config.trace_addr = kTraceSerialAddr;
  } else {
    config.trace_addr = kTraceVsockAddr;
  }
  return config;
}

}  // namespace agent
}  // namespace kata
