// interop_server: serves ttrpc.interop.Echo (echo.proto) on a unix socket, for the interop
// tests against containerd's Go ttrpc and for tools/bench/ttrpc.sh.
//
//   interop_server --socket PATH
// Prints "ready" once listening; exits 0 on SIGTERM/SIGINT after a graceful shutdown.
#include <signal.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/ttrpc/interop/echo.ttrpc.pb.h"
#include "src/libs/ttrpc/server.h"

namespace {

using ::kata::ttrpc::ServerContext;
using ::ttrpc::interop::EchoRequest;
using ::ttrpc::interop::EchoResponse;

class EchoService : public ::ttrpc::interop::EchoTtrpc::Service {
 public:
  absl::Status Echo(ServerContext& context, const EchoRequest& request,
                    EchoResponse* response) override {
    if (request.sleep_ms() > 0) {
      KATA_RETURN_IF_ERROR(context.SleepFor(absl::Milliseconds(request.sleep_ms())));
    }
    if (request.fail_code() != 0) {
      return absl::Status(static_cast<absl::StatusCode>(request.fail_code()),
                          request.fail_message());
    }
    response->set_payload(request.payload());
    std::vector<std::string> md;
    for (const auto& [k, v] : context.metadata()) md.push_back(absl::StrCat(k, "=", v));
    std::sort(md.begin(), md.end());
    for (std::string& s : md) response->add_metadata(std::move(s));
    response->set_timeout_nano(context.timeout_nano());
    return absl::OkStatus();
  }

  absl::Status ServerStream(ServerContext& context, const EchoRequest& request,
                            kata::ttrpc::ServerWriter<EchoResponse>* writer) override {
    EchoResponse response;
    response.set_payload(request.payload());
    for (int i = 0; i < request.count(); ++i) KATA_RETURN_IF_ERROR(writer->Write(response));
    return absl::OkStatus();
  }

  absl::Status ClientStream(ServerContext& context, kata::ttrpc::ServerReader<EchoRequest>* reader,
                            EchoResponse* response) override {
    EchoRequest request;
    while (reader->Read(&request)) response->mutable_payload()->append(request.payload());
    return absl::OkStatus();
  }
};

}  // namespace

int main(int argc, char** argv) {
  // Like the shim and the agent: no run-time lock-order bookkeeping on every absl::Mutex
  // operation (Debian's Abseil is built with it on; the tests keep it).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  std::string socket;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--socket") == 0) socket = argv[i + 1];
  }
  if (socket.empty()) {
    std::fprintf(stderr, "usage: interop_server --socket PATH\n");
    return 2;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts
  signal(SIGPIPE, SIG_IGN);

  EchoService service;
  kata::ttrpc::Server server;
  absl::Status s = server.Register(&service);
  if (s.ok()) s = server.Listen(absl::StrCat("unix://", socket));
  if (!s.ok()) {
    std::fprintf(stderr, "interop_server: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&signals, &sig);
  server.Shutdown(absl::Seconds(2));
  return 0;
}
