// libFuzzer target for what the host sends the agent: sequences of grpc.AgentService requests
// through the real ttRPC server's dispatch into AgentService, over a socketpair, with the
// fake container engine (testing/fake_engine.h) and the guest-wide rpcs' roots in a temp dir:
// nothing is mounted, spawned, or created outside that directory on the host.
//
// Input: up to kMaxCalls records, each
//   [method: 1 byte, an index into AgentService's method table (mod its size)]
//   [payload length: 2 bytes little endian][payload: that many bytes, or what is left]
// the payload being the (fuzzed) protobuf request. After the records the harness sends
// DestroySandbox, which removes every container and the sandbox: each input starts from an
// empty agent. Contracts checked (a broken one aborts):
//   - the connection survives every call (no UNAVAILABLE: the server did not drop it);
//   - after DestroySandbox nothing is left: no container, no storage reference.
// Bounded time per input: every call has a deadline (kCallTimeout; GetOOMEvent, which blocks
// until an OOM kill by design, kOomTimeout); the fake never blocks (WaitProcess, ReadStdout
// answer at once). Excluded, with the reason:
//   - OnlineCPUMem with nb_cpus > 0: waits up to 5 s for CPUs to be hot-plugged by design
//     (guest_ops.h); guest_ops_test covers it with a fake sysfs. (nb_cpus 0 is sent.)
//   - the network rpcs (kNetwork): they act on the netlink of the namespace the agent runs
//     in, the host's here; they are not behind the GuestEngine seam.
// Built by `tools/fuzz/run.sh agent`; :agent_service_fuzzer_regression replays the corpus
// (testdata/fuzz/agent). KATA_AGENT_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (one valid
// request per method, after a CreateContainer and StartContainer) into DIR and exits.
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "src/agent/rpc/agent_service.h"
#include "src/agent/rpc/agent_service_fuzzer_seeds.h"
#include "src/agent/rpc/testing/fake_engine.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace {

using kata::agent::AgentService;
using kata::agent::testing::FakeEngine;

constexpr int kMaxCalls = 16;
constexpr absl::Duration kCallTimeout = absl::Seconds(5);
constexpr absl::Duration kOomTimeout = absl::Milliseconds(2);

const std::set<std::string>& NetworkRpcs() {
  static const auto* rpcs = new std::set<std::string>{
      "UpdateInterface",       "UpdateRoutes", "ListInterfaces", "ListRoutes", "AddARPNeighbors",
      "UpdateEphemeralMounts", "SetIPTables",  "GetIPTables",    "GetMetrics"};
  return *rpcs;
}

[[noreturn]] void Fail(const std::string& what) {
  std::fprintf(stderr, "agent_service_fuzzer: %s\n", what.c_str());
  std::abort();
}

// The agent under test, made once: its roots live in a temp dir removed at exit.
struct Harness {
  std::string root;
  std::shared_ptr<FakeEngine> engine;
  std::unique_ptr<AgentService> agent;
  kata::ttrpc::Server server;
  std::unique_ptr<kata::ttrpc::Client> client;

  Harness() {
    char tmpl[] = "/tmp/kata-agent-fuzz.XXXXXX";
    if (mkdtemp(tmpl) == nullptr) Fail("mkdtemp failed");
    root = tmpl;
    for (const char* d : {"copy", "memory", "sysfs", "dev", "sandbox", "bundles"}) {
      std::filesystem::create_directories(absl::StrCat(root, "/", d));
    }
    kata::agent::device::DeviceOptions devices;
    devices.sysfs_root = root + "/sysfs";
    devices.dev_root = root + "/dev";
    devices.timeout = absl::ZeroDuration();
    engine = std::make_shared<FakeEngine>(devices);
    AgentService::Options o;
    o.init_daemon = false;
    o.memory_dir = root + "/memory";
    o.copy_file_base = root + "/copy";
    o.sysfs_root = root + "/sysfs";
    o.storage.devices = devices;
    o.sandbox.sandbox_dir = root + "/sandbox";
    o.sandbox.set_agent_hostname = false;
    o.containers.bundle_root = root + "/bundles";
    o.set_time = [](const struct timeval&) { return absl::OkStatus(); };
    o.engine = engine;
    o.manage_network = false;  // the network rpcs would change the host's links and routes
    o.oom_ack_timeout = absl::ZeroDuration();  // no host publishes the OOM events here
    agent = std::make_unique<AgentService>(std::move(o));
    if (!server.Register(agent.get()).ok()) Fail("cannot register the agent");
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) Fail("socketpair failed");
    if (!server.ServeFd(sv[0]).ok()) Fail("cannot serve the socketpair");
    client = std::make_unique<kata::ttrpc::Client>(sv[1]);
  }
  ~Harness() {
    client.reset();
    server.Shutdown(absl::Seconds(5));
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }

  // Calls `method`; aborts if the connection broke.
  void Call(absl::string_view method, absl::string_view payload, absl::Duration timeout) {
    absl::StatusOr<std::string> r =
        client->Call(agent->ServiceName(), method, payload, {.timeout = timeout});
    if (!r.ok() && r.status().code() == absl::StatusCode::kUnavailable) {
      Fail(absl::StrCat(method, ": the connection broke: ", r.status().ToString()));
    }
  }
};

Harness& TheHarness() {
  static Harness* h = new Harness();  // never destroyed: other tests' threads may still run
  return *h;
}

// False when `method` with `payload` must not be sent (see the header comment).
bool Sendable(const std::string& method, absl::string_view payload) {
  if (NetworkRpcs().count(method) != 0) return false;
  if (method == "OnlineCPUMem") {
    grpc::OnlineCPUMemRequest r;
    return r.ParseFromArray(payload.data(), static_cast<int>(payload.size())) && r.nb_cpus() == 0;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("KATA_AGENT_FUZZ_WRITE_SEEDS")) {
    Harness& h = TheHarness();
    const int n = kata::agent::fuzz::WriteSeeds(*h.agent, dir);
    std::fprintf(stderr, "agent_service_fuzzer: %d seeds written to %s\n", n, dir);
    std::exit(n > 0 ? 0 : 1);
  }
  TheHarness();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Harness& h = TheHarness();
  const auto methods = h.agent->Methods();
  absl::string_view in(reinterpret_cast<const char*>(data), size);
  bool copied = false;
  for (int calls = 0; calls < kMaxCalls && !in.empty(); ++calls) {
    const std::string method = methods[static_cast<uint8_t>(in[0]) % methods.size()].name;
    in.remove_prefix(1);
    size_t len = in.size();
    if (in.size() >= 2) {
      len = static_cast<uint8_t>(in[0]) | (static_cast<size_t>(static_cast<uint8_t>(in[1])) << 8);
      in.remove_prefix(2);
    }
    const absl::string_view payload = in.substr(0, len);
    in.remove_prefix(payload.size());
    if (!Sendable(method, payload)) continue;
    copied = copied || method == "CopyFile";
    h.Call(method, payload, method == "GetOOMEvent" ? kOomTimeout : kCallTimeout);
  }
  h.Call("DestroySandbox", "", kCallTimeout);
  // A call whose client gave up (GetOOMEvent) may still be returning: let it.
  for (int i = 0; i < 5000 && h.server.in_flight() > 0; ++i) absl::SleepFor(absl::Milliseconds(1));
  if (h.engine->live_containers() != 0) {
    Fail(absl::StrCat(h.engine->live_containers(), " containers left after DestroySandbox"));
  }
  if (!h.agent->HeldStorages().empty()) Fail("storages still held after DestroySandbox");
  if (copied) {  // CopyFile's files stay in the temp dir; the next input starts from none
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(h.root + "/copy", ec)) {
      std::filesystem::remove_all(e.path(), ec);
    }
  }
  return 0;
}
