// Internals of cri-ctl shared by cri_ctl.cc (command line, connection, dispatch) and
// cri_commands.cc (one function per command). Not a public interface.
#ifndef KATA_TOOLS_CRI_CTL_CRI_CTL_INTERNAL_H_
#define KATA_TOOLS_CRI_CTL_CRI_CTL_INTERNAL_H_

#include <grpcpp/grpcpp.h>

#include <iosfwd>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/message.h"
#include "tools/cri-ctl/api.grpc.pb.h"

namespace kata {
namespace cri_ctl {
namespace internal {

// A command's parsed arguments: options (before the first positional argument) and the
// positional arguments (everything from the first non-option on, `--` skipped).
struct Args {
  std::map<std::string, std::string> options;  // "--name" -> value ("" for a flag)
  std::vector<std::string> positional;
  bool Has(const std::string& name) const { return options.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& def = "") const {
    auto it = options.find(name);
    return it == options.end() ? def : it->second;
  }
};

struct Context {
  std::string endpoint;  // a gRPC target ("unix:/path")
  std::unique_ptr<::runtime::v1::RuntimeService::Stub> runtime;
  std::unique_ptr<::runtime::v1::ImageService::Stub> image;
  absl::Duration timeout = absl::Seconds(300);
  std::istream* in = nullptr;
  std::ostream* out = nullptr;
  std::ostream* err = nullptr;
};

// Calls one unary rpc with a deadline of `timeout`; gRPC's status becomes an absl::Status
// naming the method.
template <typename Stub, typename Req, typename Resp>
absl::StatusOr<Resp> Call(Stub* stub,
                          ::grpc::Status (Stub::*method)(::grpc::ClientContext*, const Req&, Resp*),
                          const char* name, const Req& req, absl::Duration timeout) {
  ::grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  Resp resp;
  ::grpc::Status s = (stub->*method)(&ctx, req, &resp);
  if (!s.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                        std::string(name) + ": " + s.error_message());
  }
  return resp;
}

// Connects to c.endpoint (10 s) and makes the stubs; a command calls it once its inputs were
// read and checked. kExitOk, or kExitConnection with a message on c.err.
int Connect(Context& c);

// Reads a message from a JSON file ("-": stdin; text starting with '{': the JSON itself).
absl::Status ReadJsonMessage(const std::string& source, std::istream& in,
                             google::protobuf::Message* msg);
// The message as pretty-printed JSON with the .proto field names, ending with '\n'.
std::string ToJson(const google::protobuf::Message& msg);

// The commands: each returns an ExitCode (exec: the command's exit code).
int CmdVersion(Context& c, const Args& a);
int CmdStatus(Context& c, const Args& a);
int CmdRunPod(Context& c, const Args& a);
int CmdStopPod(Context& c, const Args& a);
int CmdRemovePod(Context& c, const Args& a);
int CmdInspectPod(Context& c, const Args& a);
int CmdPods(Context& c, const Args& a);
int CmdPodStats(Context& c, const Args& a);
int CmdCreate(Context& c, const Args& a);
int CmdStart(Context& c, const Args& a);
int CmdStop(Context& c, const Args& a);
int CmdRemove(Context& c, const Args& a);
int CmdInspect(Context& c, const Args& a);
int CmdContainers(Context& c, const Args& a);
int CmdStats(Context& c, const Args& a);
int CmdExec(Context& c, const Args& a);
int CmdLogs(Context& c, const Args& a);
int CmdImages(Context& c, const Args& a);
int CmdPull(Context& c, const Args& a);
int CmdRemoveImage(Context& c, const Args& a);

}  // namespace internal
}  // namespace cri_ctl
}  // namespace kata

#endif  // KATA_TOOLS_CRI_CTL_CRI_CTL_INTERNAL_H_
