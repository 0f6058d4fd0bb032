#include "src/runtime/shim/args.h"

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace kata {
namespace shim {

absl::StatusOr<ShimArgs> ParseArgs(const std::vector<std::string>& argv) {
  ShimArgs args;
  size_t i = 1;
  for (; i < argv.size(); ++i) {
    absl::string_view a = argv[i];
    if (a == "--") {
      ++i;
      break;
    }
    if (a.size() < 2 || a[0] != '-') break;  // the action
    a.remove_prefix(absl::StartsWith(a, "--") ? 2 : 1);
    std::string name(a);
    std::string value;
    bool has_value = false;
    if (size_t eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_value = true;
    }
    if (name == "debug") {
      if (!has_value || value == "true" || value == "1") {
        args.debug = true;
      } else if (value == "false" || value == "0") {
        args.debug = false;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat("flag -debug: bad boolean value \"", value, "\""));
      }
      continue;
    }
    std::string* target = nullptr;
    if (name == "namespace")
      target = &args.namespace_;
    else if (name == "address")
      target = &args.address;
    else if (name == "publish-binary")
      target = &args.publish_binary;
    else if (name == "id")
      target = &args.id;
    else if (name == "bundle")
      target = &args.bundle;
    else if (name != "socket-fd")
      return absl::InvalidArgumentError(absl::StrCat("unknown flag -", name));
    if (!has_value) {
      if (i + 1 >= argv.size()) {
        return absl::InvalidArgumentError(absl::StrCat("flag -", name, " needs a value"));
      }
      value = argv[++i];
    }
    if (target != nullptr) {
      *target = value;
    } else if (!absl::SimpleAtoi(value, &args.socket_fd) || args.socket_fd < 0) {
      return absl::InvalidArgumentError(absl::StrCat("flag -socket-fd: bad fd \"", value, "\""));
    }
  }
  if (i < argv.size()) {
    const std::string& action = argv[i];
    if (action == "start")
      args.action = Action::kStart;
    else if (action == "delete")
      args.action = Action::kDelete;
    else if (action == "version" || action == "-v")
      args.action = Action::kVersion;
    else
      return absl::InvalidArgumentError(absl::StrCat("unknown action \"", action, "\""));
    if (i + 1 < argv.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected argument \"", argv[i + 1], "\" after the action"));
    }
  }
  if (args.action != Action::kVersion && args.id.empty()) {
    return absl::InvalidArgumentError("flag -id is required");
  }
  return args;
}

std::vector<std::string> FormatArgs(const ShimArgs& args) {
  std::vector<std::string> out;
  auto add = [&](const char* flag, const std::string& value) {
    if (value.empty()) return;
    out.push_back(flag);
    out.push_back(value);
  };
  add("-namespace", args.namespace_);
  add("-address", args.address);
  add("-publish-binary", args.publish_binary);
  add("-id", args.id);
  add("-bundle", args.bundle);
  if (args.debug) out.push_back("-debug");
  if (args.socket_fd >= 0) add("-socket-fd", std::to_string(args.socket_fd));
  return out;
}

}  // namespace shim
}  // namespace kata
