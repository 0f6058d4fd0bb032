#include "tools/cri-ctl/cri_ctl.h"

#include <grpcpp/grpcpp.h>

#include <cstdlib>
#include <istream>
#include <iterator>
#include <ostream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "src/libs/base/file.h"
#include "tools/cri-ctl/cri_ctl_internal.h"

namespace kata {
namespace cri_ctl {
namespace {

using internal::Args;
using internal::Context;

struct Command {
  const char* name;
  int (*run)(Context&, const Args&);
  int min_args;
  int max_args;                  // -1: any number
  std::set<std::string> values;  // options that take a value
  std::set<std::string> flags;   // options without one
  const char* usage;
};

const std::vector<Command>& Commands() {
  static const auto* commands = new std::vector<Command>{
      {"version", internal::CmdVersion, 0, 0, {}, {}, "version"},
      {"status", internal::CmdStatus, 0, 0, {}, {}, "status"},
      {"runp", internal::CmdRunPod, 1, 1, {"--runtime"}, {}, "runp [--runtime HANDLER] POD.json"},
      {"stopp", internal::CmdStopPod, 1, 1, {}, {}, "stopp POD_ID"},
      {"rmp", internal::CmdRemovePod, 1, 1, {}, {}, "rmp POD_ID"},
      {"inspectp", internal::CmdInspectPod, 1, 1, {}, {"--verbose"}, "inspectp [--verbose] POD_ID"},
      {"pods", internal::CmdPods, 0, 0, {}, {}, "pods"},
      {"podstats", internal::CmdPodStats, 1, 1, {}, {}, "podstats POD_ID"},
      {"create", internal::CmdCreate, 3, 3, {}, {}, "create POD_ID CONTAINER.json POD.json"},
      {"start", internal::CmdStart, 1, 1, {}, {}, "start CONTAINER_ID"},
      {"stop", internal::CmdStop, 1, 1, {"--timeout"}, {}, "stop [--timeout SECONDS] CONTAINER_ID"},
      {"rm", internal::CmdRemove, 1, 1, {}, {}, "rm CONTAINER_ID"},
      {"inspect",
       internal::CmdInspect,
       1,
       1,
       {},
       {"--verbose"},
       "inspect [--verbose] CONTAINER_ID"},
      {"ps", internal::CmdContainers, 0, 0, {"--pod"}, {}, "ps [--pod POD_ID]"},
      {"stats", internal::CmdStats, 1, 1, {}, {}, "stats CONTAINER_ID"},
      {"exec",
       internal::CmdExec,
       2,
       -1,
       {"--timeout"},
       {},
       "exec [--timeout SECONDS] CONTAINER_ID COMMAND [ARG]..."},
      {"logs",
       internal::CmdLogs,
       1,
       1,
       {"--stream"},
       {"--raw"},
       "logs [--stream stdout|stderr] [--raw] CONTAINER_ID"},
      {"images", internal::CmdImages, 0, 0, {}, {}, "images"},
      {"pull", internal::CmdPull, 1, 1, {}, {}, "pull IMAGE"},
      {"rmi", internal::CmdRemoveImage, 1, 1, {}, {}, "rmi IMAGE"},
  };
  return *commands;
}

// Options first (--name VALUE, --name=VALUE, --flag), then positional arguments.
absl::StatusOr<Args> ParseArgs(const Command& cmd, std::vector<std::string>::const_iterator it,
                               std::vector<std::string>::const_iterator end) {
  Args a;
  for (; it != end; ++it) {
    const std::string& s = *it;
    if (s == "--") {
      ++it;
      break;
    }
    if (!absl::StartsWith(s, "--")) break;
    std::string name = s.substr(0, s.find('='));
    bool inline_value = name.size() < s.size();
    if (cmd.flags.count(name) && !inline_value) {
      a.options[name] = "";
    } else if (cmd.values.count(name)) {
      if (inline_value) {
        a.options[name] = s.substr(name.size() + 1);
      } else if (std::next(it) != end) {
        a.options[name] = *++it;
      } else {
        return absl::InvalidArgumentError(absl::StrCat(cmd.name, ": ", name, " needs a value"));
      }
    } else {
      return absl::InvalidArgumentError(absl::StrCat(cmd.name, ": unknown option ", s));
    }
  }
  a.positional.assign(it, end);
  int n = static_cast<int>(a.positional.size());
  if (n < cmd.min_args || (cmd.max_args >= 0 && n > cmd.max_args)) {
    return absl::InvalidArgumentError(absl::StrCat("usage: cri-ctl ", cmd.usage));
  }
  return a;
}

std::string EndpointTarget(std::string endpoint) {
  if (absl::StartsWith(endpoint, "unix://")) return "unix:" + endpoint.substr(7);
  if (absl::StartsWith(endpoint, "unix:")) return endpoint;
  return "unix:" + endpoint;
}

}  // namespace

std::string UsageText() {
  std::string s =
      "usage: cri-ctl [--endpoint SOCKET] [--timeout SECONDS] COMMAND [OPTION]... [ARG]...\n"
      "\n"
      "A client of the Kubernetes CRI (runtime.v1), e.g. containerd's CRI plugin.\n"
      "  --endpoint  the runtime's gRPC socket (PATH or unix://PATH; default "
      "$CONTAINER_RUNTIME_ENDPOINT,\n"
      "              else /run/containerd/containerd.sock)\n"
      "  --timeout   deadline of each rpc in seconds (default 300)\n"
      "\ncommands:\n";
  for (const Command& c : Commands()) absl::StrAppend(&s, "  ", c.usage, "\n");
  absl::StrAppend(
      &s,
      "\nPOD.json is a PodSandboxConfig and CONTAINER.json a ContainerConfig in protobuf's JSON\n"
      "mapping (as crictl's). runp and create print the new id; inspect*, stats, podstats,\n"
      "pods, ps, status, version and images print JSON. exec copies the command's stdout and\n"
      "stderr and exits with its exit code. logs prints the container's log file (the CRI\n"
      "format, from ContainerStatus.log_path) as the container wrote it (--raw: the file).\n"
      "\nexit codes: 0 ok, 1 the runtime answered an error, 2 usage or config error,\n"
      "3 the endpoint does not answer, 125 exec's rpc failed.\n");
  return s;
}

namespace internal {

absl::Status ReadJsonMessage(const std::string& source, std::istream& in,
                             google::protobuf::Message* msg) {
  std::string text;
  if (source == "-") {
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else if (absl::StartsWith(source, "{")) {
    text = source;
  } else {
    absl::StatusOr<std::string> file = ReadFileToString(source);
    if (!file.ok()) return file.status();
    text = *std::move(file);
  }
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(text, msg, opts);
  if (!s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(source == "-" ? "stdin" : source, ": not a ",
                                                   msg->GetDescriptor()->name(), ": ",
                                                   std::string(s.message())));
  }
  return absl::OkStatus();
}

int Connect(Context& c) {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(c.endpoint, grpc::InsecureChannelCredentials());
  if (!channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10)))) {
    *c.err << "cri-ctl: " << c.endpoint << " does not answer (is the runtime running?)\n";
    return kExitConnection;
  }
  c.runtime = ::runtime::v1::RuntimeService::NewStub(channel);
  c.image = ::runtime::v1::ImageService::NewStub(channel);
  return kExitOk;
}

std::string ToJson(const google::protobuf::Message& msg) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;  // enums at 0 too (SANDBOX_READY)
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(msg, &out, opts);
  if (out.empty() || out.back() != '\n') out += '\n';
  return out;
}

}  // namespace internal

int RunCriCtl(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
              std::ostream& err) {
  const char* env = std::getenv("CONTAINER_RUNTIME_ENDPOINT");
  std::string endpoint = env && *env ? env : "/run/containerd/containerd.sock";
  Context c;
  c.in = &in;
  c.out = &out;
  c.err = &err;
  auto it = args.begin();
  for (; it != args.end() && absl::StartsWith(*it, "--"); ++it) {
    std::string name = it->substr(0, it->find('='));
    std::string value;
    if (name.size() < it->size()) {
      value = it->substr(name.size() + 1);
    } else if (name == "--help") {
      out << UsageText();
      return kExitOk;
    } else if (std::next(it) != args.end()) {
      value = *++it;
    }
    int seconds = 0;
    if (name == "--endpoint" && !value.empty()) {
      endpoint = value;
    } else if (name == "--timeout" && absl::SimpleAtoi(value, &seconds) && seconds > 0) {
      c.timeout = absl::Seconds(seconds);
    } else {
      err << "cri-ctl: bad option " << *it << "\n" << UsageText();
      return kExitUsage;
    }
  }
  if (it == args.end() || *it == "help") {
    (it == args.end() ? err : out) << UsageText();
    return it == args.end() ? kExitUsage : kExitOk;
  }
  const Command* cmd = nullptr;
  for (const Command& candidate : Commands()) {
    if (*it == candidate.name) cmd = &candidate;
  }
  if (!cmd) {
    err << "cri-ctl: unknown command '" << *it << "'\n" << UsageText();
    return kExitUsage;
  }
  absl::StatusOr<Args> a = ParseArgs(*cmd, std::next(it), args.end());
  if (!a.ok()) {
    err << "cri-ctl: " << a.status().message() << "\n";
    return kExitUsage;
  }
  c.endpoint = EndpointTarget(endpoint);
  return cmd->run(c, *a);
}

}  // namespace cri_ctl
}  // namespace kata
