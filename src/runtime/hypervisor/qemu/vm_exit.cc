#include "src/runtime/hypervisor/qemu/vm_exit.h"

#include <string.h>
#include <sys/wait.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "rapidjson/document.h"

namespace kata::hypervisor::qemu {
namespace {

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat("signal ", sig);
}

struct Shutdown {
  bool guest = false;
  std::string reason;
};

Shutdown ParseShutdown(const std::string& json) {
  Shutdown out;
  rapidjson::Document d;
  d.Parse(json.c_str(), json.size());
  if (d.HasParseError() || !d.IsObject()) return out;
  auto guest = d.FindMember("guest");
  out.guest = guest != d.MemberEnd() && guest->value.IsBool() && guest->value.GetBool();
  auto reason = d.FindMember("reason");
  if (reason != d.MemberEnd() && reason->value.IsString()) out.reason = reason->value.GetString();
  return out;
}

// " (shutdown reason R)" / "".
std::string ReasonSuffix(const std::optional<Shutdown>& shutdown) {
  if (!shutdown.has_value() || shutdown->reason.empty()) return "";
  return absl::StrCat(" (shutdown reason ", shutdown->reason, ")");
}

}  // namespace

std::string LastLine(const std::string& text) {
  absl::string_view s = text;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.remove_suffix(1);
  const size_t nl = s.rfind('\n');
  if (nl != absl::string_view::npos) s.remove_prefix(nl + 1);
  return std::string(s);
}

VmExit QemuVmExit(const QemuEnd& end) {
  const int ws = end.wait_status;
  const bool signaled = WIFSIGNALED(ws);
  const int sig = signaled ? WTERMSIG(ws) : 0;
  const int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 0;
  const std::string how =
      signaled ? absl::StrCat("qemu killed by signal ", sig, " (", SignalName(sig), ")")
               : absl::StrCat("qemu exited with status ", code);
  std::optional<Shutdown> shutdown;
  if (end.shutdown_event.has_value()) shutdown = ParseShutdown(*end.shutdown_event);
  const std::string last = LastLine(end.log);
  const std::string output = last.empty() ? "" : absl::StrCat(": ", last);

  VmExit e;
  if (end.by_host) {
    e.cause = VmExitCause::kStoppedByHost;
    e.signal = sig;
    e.detail = absl::StrCat("stopped by the host: ", how);
  } else if (signaled) {
    e.cause = VmExitCause::kVmmSignaled;
    e.signal = sig;
    e.detail = absl::StrCat(how, output);
  } else if (code == 0 && shutdown.has_value() && shutdown->guest) {
    e.cause = VmExitCause::kGuestShutdown;
    e.exit_code = code;
    e.detail = absl::StrCat("the guest shut down", ReasonSuffix(shutdown), "; ", how);
  } else {
    e.cause = VmExitCause::kVmmExited;
    e.exit_code = code;
    e.detail = absl::StrCat(how, ReasonSuffix(shutdown), output);
  }
  return e;
}

}  // namespace kata::hypervisor::qemu
