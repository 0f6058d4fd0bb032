#include "tools/agent-ctl/agent_ctl.h"

#include <algorithm>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "google/protobuf/util/json_util.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/libs/protocols/health.pb.h"
#include "src/libs/ttrpc/client.h"

namespace kata {
namespace agent_ctl {
namespace {

namespace pb = google::protobuf;

// The generated pool, with agent.proto and health.proto surely registered: naming one of
// each file's messages links their .pb.cc (and so their descriptors) into the binary.
const pb::DescriptorPool& Pool() {
  static const pb::DescriptorPool* pool = [] {
    (void)grpc::CreateContainerRequest::descriptor();
    (void)grpc::CheckRequest::descriptor();
    return pb::DescriptorPool::generated_pool();
  }();
  return *pool;
}

std::vector<const pb::ServiceDescriptor*> Services() {
  std::vector<const pb::ServiceDescriptor*> services;
  for (const char* name : kServices) {
    if (const pb::ServiceDescriptor* s = Pool().FindServiceByName(name)) services.push_back(s);
  }
  return services;
}

std::string FullMethodName(const pb::MethodDescriptor* m) {
  return absl::StrCat(m->service()->full_name(), "/", m->name());
}

// Case-insensitive edit distance, for suggestions.
size_t Distance(absl::string_view a, absl::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      bool same = absl::ascii_tolower(a[i - 1]) == absl::ascii_tolower(b[j - 1]);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (same ? 0 : 1)});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// Up to five method names close to `name` (by edit distance, or containing it).
std::vector<std::string> CloseNames(absl::string_view name) {
  absl::string_view bare = name;
  if (size_t cut = bare.find_last_of("/."); cut != absl::string_view::npos) {
    bare = bare.substr(cut + 1);
  }
  std::vector<std::pair<size_t, std::string>> scored;
  for (const pb::ServiceDescriptor* s : Services()) {
    for (int i = 0; i < s->method_count(); ++i) {
      const std::string& m = s->method(i)->name();
      size_t d = Distance(bare, m);
      bool contains =
          !bare.empty() && absl::StrContains(absl::AsciiStrToLower(m), absl::AsciiStrToLower(bare));
      if (contains) d = std::min<size_t>(d, 1);
      if (d <= std::max<size_t>(2, bare.size() / 3))
        scored.emplace_back(d, FullMethodName(s->method(i)));
    }
  }
  std::stable_sort(scored.begin(), scored.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> names;
  for (size_t i = 0; i < scored.size() && i < 5; ++i) names.push_back(scored[i].second);
  return names;
}

const pb::ServiceDescriptor* FindService(absl::string_view name) {
  for (const pb::ServiceDescriptor* s : Services()) {
    if (s->full_name() == name || s->name() == name) return s;
  }
  return nullptr;
}

struct Flags {
  std::string addr;
  absl::Duration timeout = absl::Seconds(10);
  std::vector<std::pair<std::string, std::string>> metadata;
  bool help = false;
  std::vector<std::string> positional;
};

absl::StatusOr<Flags> ParseFlags(const std::vector<std::string>& args) {
  Flags flags;
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (flags_done || !absl::StartsWith(arg, "-") || arg == "-") {
      flags.positional.push_back(arg);
      continue;
    }
    if (arg == "--") {
      flags_done = true;
      continue;
    }
    if (arg == "-h" || arg == "--help") {
      flags.help = true;
      continue;
    }
    std::string name = arg, value;
    bool has_value = false;
    if (size_t eq = arg.find('='); eq != std::string::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    if (name != "--addr" && name != "--timeout" && name != "--metadata") {
      return absl::InvalidArgumentError(absl::StrCat("unknown flag ", name));
    }
    if (!has_value) {
      if (i + 1 >= args.size())
        return absl::InvalidArgumentError(absl::StrCat(name, " needs a value"));
      value = args[++i];
    }
    if (name == "--addr") {
      flags.addr = value;
    } else if (name == "--timeout") {
      absl::Duration d;
      if (!absl::ParseDuration(value, &d) || d <= absl::ZeroDuration()) {
        return absl::InvalidArgumentError(
            absl::StrCat("--timeout: not a positive duration (like 10s, 500ms): ", value));
      }
      flags.timeout = d;
    } else {
      std::pair<std::string, std::string> kv = absl::StrSplit(value, absl::MaxSplits('=', 1));
      if (kv.first.empty() || value.find('=') == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat("--metadata: want key=value, got ", value));
      }
      flags.metadata.push_back(std::move(kv));
    }
  }
  return flags;
}

// Builds a request of `method`'s input type from `json`.
absl::StatusOr<std::unique_ptr<pb::Message>> ParseRequest(const pb::MethodDescriptor* method,
                                                          const std::string& json) {
  const pb::Message* prototype =
      pb::MessageFactory::generated_factory()->GetPrototype(method->input_type());
  if (prototype == nullptr) {
    return absl::InternalError(
        absl::StrCat("no message class for ", method->input_type()->full_name()));
  }
  std::unique_ptr<pb::Message> request(prototype->New());
  pb::util::JsonParseOptions options;
  auto status = pb::util::JsonStringToMessage(json, request.get(), options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("request is not a valid ",
                                                   method->input_type()->full_name(),
                                                   " in JSON: ", status.ToString()));
  }
  return request;
}

// Pretty JSON of `message`, ending with a newline.
std::string ToJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.always_print_primitive_fields = false;
  options.preserve_proto_field_names = true;
  std::string json;
  auto status = pb::util::MessageToJsonString(message, &json, options);
  if (!status.ok()) json = absl::StrCat("<cannot print as JSON: ", status.ToString(), ">");
  if (json.empty() || json.back() != '\n') json.push_back('\n');
  return json;
}

// One connection and the calls agent-ctl makes on it.
class Session {
 public:
  Session(const Flags& flags, std::ostream& err) : flags_(flags), err_(err) {}

  // Connects; false (after saying why) if it cannot.
  bool Connect() {
    if (flags_.addr.empty()) {
      err_ << "agent-ctl: --addr is required for this command\n";
      return false;
    }
    auto client = ttrpc::Client::Dial(flags_.addr, flags_.timeout);
    if (!client.ok()) {
      err_ << "agent-ctl: cannot connect to " << flags_.addr << ": " << client.status().ToString()
           << "\n";
      return false;
    }
    client_ = std::move(*client);
    return true;
  }

  // Calls `method`; the response, or nullptr after printing "CODE: message".
  std::unique_ptr<pb::Message> Call(const pb::MethodDescriptor* method,
                                    const pb::Message& request) {
    ttrpc::CallOptions options;
    options.timeout = flags_.timeout;
    options.metadata = flags_.metadata;
    absl::StatusOr<std::string> payload = client_->Call(
        method->service()->full_name(), method->name(), request.SerializeAsString(), options);
    if (!payload.ok()) {
      err_ << "agent-ctl: " << FullMethodName(method) << ": "
           << absl::StatusCodeToString(payload.status().code()) << ": "
           << payload.status().message() << "\n";
      return nullptr;
    }
    std::unique_ptr<pb::Message> response(
        pb::MessageFactory::generated_factory()->GetPrototype(method->output_type())->New());
    if (!response->ParseFromString(*payload)) {
      err_ << "agent-ctl: " << FullMethodName(method) << ": cannot parse the response as "
           << method->output_type()->full_name() << "\n";
      return nullptr;
    }
    return response;
  }

 private:
  const Flags& flags_;
  std::ostream& err_;
  std::unique_ptr<ttrpc::Client> client_;
};

int Call(const Flags& flags, std::istream& in, std::ostream& out, std::ostream& err) {
  const std::vector<std::string>& pos = flags.positional;
  if (pos.size() < 2 || pos.size() > 3) {
    err << "agent-ctl: usage: agent-ctl --addr ADDR call METHOD [JSON|-]\n";
    return kExitUsage;
  }
  auto method = FindMethod(pos[1]);
  if (!method.ok()) {
    err << "agent-ctl: " << method.status().message() << "\n";
    return kExitUsage;
  }
  if ((*method)->client_streaming() || (*method)->server_streaming()) {
    err << "agent-ctl: " << FullMethodName(*method)
        << " is a streaming rpc; only unary rpcs can be called\n";
    return kExitUsage;
  }
  std::string json = "{}";
  if (pos.size() == 3) {
    json = pos[2] == "-" ? std::string(std::istreambuf_iterator<char>(in), {}) : pos[2];
  }
  auto request = ParseRequest(*method, json);
  if (!request.ok()) {
    err << "agent-ctl: " << request.status().message() << "\n";
    return kExitUsage;
  }
  Session session(flags, err);
  if (!session.Connect()) return kExitConnection;
  std::unique_ptr<pb::Message> response = session.Call(*method, **request);
  if (response == nullptr) return kExitRpcError;
  out << ToJson(*response);
  return kExitOk;
}

int Check(const Flags& flags, std::ostream& out, std::ostream& err) {
  if (flags.positional.size() != 1) {
    err << "agent-ctl: usage: agent-ctl --addr ADDR check\n";
    return kExitUsage;
  }
  Session session(flags, err);
  if (!session.Connect()) return kExitConnection;
  const pb::MethodDescriptor* method = *FindMethod("grpc.Health/Check");
  std::unique_ptr<pb::Message> response = session.Call(method, grpc::CheckRequest());
  if (response == nullptr) return kExitRpcError;
  grpc::HealthCheckResponse health;
  health.ParseFromString(response->SerializeAsString());
  out << grpc::HealthCheckResponse::ServingStatus_Name(health.status()) << "\n";
  if (health.status() != grpc::HealthCheckResponse::SERVING) {
    err << "agent-ctl: the agent is not serving\n";
    return kExitRpcError;
  }
  return kExitOk;
}

int Version(const Flags& flags, std::ostream& out, std::ostream& err) {
  out << "agent-ctl " << kAgentCtlVersion << "\n";
  if (flags.addr.empty()) return kExitOk;
  Session session(flags, err);
  if (!session.Connect()) return kExitConnection;
  std::unique_ptr<pb::Message> response =
      session.Call(*FindMethod("grpc.Health/Version"), grpc::CheckRequest());
  if (response == nullptr) return kExitRpcError;
  out << ToJson(*response);
  return kExitOk;
}

}  // namespace

std::string UsageText() {
  return R"(Usage: agent-ctl [FLAGS] COMMAND [ARGS]

A client for the Kata agent API (grpc.AgentService and grpc.Health over ttRPC).

Commands:
  call METHOD [JSON|-]  call METHOD with the request JSON (protobuf's JSON mapping; '-' reads
                        it from stdin; '{}' when absent) and print the response as JSON.
                        METHOD is CreateContainer (grpc.AgentService, then grpc.Health),
                        Health.Check, or grpc.AgentService/CreateContainer.
  check                 call grpc.Health/Check; print the serving status
  version               print agent-ctl's version (and, with --addr, the agent's)
  list                  list every method with its request and response types
  help                  print this text

Flags:
  --addr ADDR           the agent: unix:///path, vsock://CID:PORT, hvsock:///vm.sock:PORT,
                        serial:///dev/path (whatever ttRPC's Dial accepts)
  --timeout D           connect and call timeout (default 10s; e.g. 500ms, 1m)
  --metadata K=V        request metadata (repeatable)

Output JSON uses the .proto field names, omits default values and is pretty printed.

Exit codes:
  0  success
  1  the rpc failed (printed as CODE: message), or check saw the agent not SERVING
  2  usage error: bad flag or command, unknown method, request not valid JSON
  3  cannot connect to --addr
)";
}

absl::StatusOr<const pb::MethodDescriptor*> FindMethod(absl::string_view name) {
  const pb::MethodDescriptor* found = nullptr;
  size_t slash = name.find('/');
  size_t dot = name.rfind('.');
  if (slash != absl::string_view::npos) {
    const pb::ServiceDescriptor* s = FindService(name.substr(0, slash));
    if (s != nullptr) found = s->FindMethodByName(std::string(name.substr(slash + 1)));
  } else if (dot != absl::string_view::npos) {
    const pb::ServiceDescriptor* s = FindService(name.substr(0, dot));
    if (s != nullptr) found = s->FindMethodByName(std::string(name.substr(dot + 1)));
  } else {
    for (const pb::ServiceDescriptor* s : Services()) {
      if ((found = s->FindMethodByName(std::string(name))) != nullptr) break;
    }
  }
  if (found != nullptr) return found;
  std::string message = absl::StrCat("unknown method \"", name, "\"");
  std::vector<std::string> close = CloseNames(name);
  if (!close.empty()) absl::StrAppend(&message, "; did you mean ", absl::StrJoin(close, ", "), "?");
  absl::StrAppend(&message, " ('agent-ctl list' lists them all)");
  return absl::NotFoundError(message);
}

std::vector<std::string> ListMethods() {
  std::vector<std::string> lines;
  for (const pb::ServiceDescriptor* s : Services()) {
    for (int i = 0; i < s->method_count(); ++i) {
      const pb::MethodDescriptor* m = s->method(i);
      lines.push_back(absl::StrCat(FullMethodName(m), "  ", m->input_type()->full_name(), " -> ",
                                   m->output_type()->full_name()));
    }
  }
  return lines;
}

int RunAgentCtl(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err) {
  absl::StatusOr<Flags> flags = ParseFlags(args);
  if (!flags.ok()) {
    err << "agent-ctl: " << flags.status().message() << "\n\n" << UsageText();
    return kExitUsage;
  }
  if (flags->help || (!flags->positional.empty() && flags->positional[0] == "help")) {
    out << UsageText();
    return kExitOk;
  }
  if (flags->positional.empty()) {
    err << "agent-ctl: no command\n\n" << UsageText();
    return kExitUsage;
  }
  const std::string& command = flags->positional[0];
  if (command == "call") return Call(*flags, in, out, err);
  if (command == "check") return Check(*flags, out, err);
  if (command == "version") return Version(*flags, out, err);
  if (command == "list") {
    for (const std::string& line : ListMethods()) out << line << "\n";
    return kExitOk;
  }
  err << "agent-ctl: unknown command \"" << command << "\"\n\n" << UsageText();
  return kExitUsage;
}

}  // namespace agent_ctl
}  // namespace kata
