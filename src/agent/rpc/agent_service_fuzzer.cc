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
//   - after DestroySandbox nothing is left: no container, no storage reference, no call
//     alive in the server (Server::in_flight counts a call until its state is freed).
// Bounded time per input: every call has a deadline (kCallTimeout; GetOOMEvent, which blocks
// until an OOM kill by design, kOomTimeout); the fake never blocks (WaitProcess, ReadStdout
// answer at once). The host's end is written frame by frame (Peer): the calls between two of
// a blocking method (Service::IsBlocking) go in one write and the server, which runs them in
// order on its reader, answers them in one batch (a few thread wake-ups per input instead of
// two per call); a blocking call is sent alone once the calls before it are answered. A call
// slower than the server's tick (2 ms) hands the reading to a new thread, so the calls of one
// batch may overlap, as a shim's concurrent calls do; DestroySandbox is always sent alone,
// after every earlier answer, so the nothing-left contract is about the calls before it, not
// a race with them. Excluded, with the reason:
//   - OnlineCPUMem with nb_cpus > 0: waits up to 5 s for CPUs to be hot-plugged by design
//     (guest_ops.h); guest_ops_test covers it with a fake sysfs. (nb_cpus 0 is sent.)
//   - the network rpcs (kNetwork): they act on the netlink of the namespace the agent runs
//     in, the host's here; they are not behind the GuestEngine seam.
// Built by `tools/fuzz/run.sh agent`; :agent_service_fuzzer_regression replays the corpus
// (testdata/fuzz/agent). KATA_AGENT_FUZZ_WRITE_SEEDS=DIR writes the seed corpus (one valid
// request per method, after a CreateContainer and StartContainer) into DIR and exits.
#include <errno.h>
#include <poll.h>
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
#include "src/agent/log/log.h"
#include "src/agent/rpc/agent_service.h"
#include "src/agent/rpc/agent_service_fuzzer_seeds.h"
#include "src/agent/rpc/testing/fake_engine.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/server.h"

namespace {

using kata::agent::AgentService;
using kata::agent::testing::FakeEngine;

constexpr int kMaxCalls = 16;
constexpr absl::Duration kCallTimeout = absl::Seconds(5);
constexpr absl::Duration kOomTimeout = absl::Milliseconds(2);
// An answer that takes longer means the server lost the call or the connection.
constexpr int kAnswerTimeoutMs = 20'000;

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

// The host's end of the connection: requests are queued (Add) and sent together (Flush),
// which waits for every answer.
class Peer {
 public:
  explicit Peer(int fd) : fd_(fd) {}

  void Add(absl::string_view service, absl::string_view method, absl::string_view payload,
           absl::Duration timeout) {
    ::ttrpc::Request r;
    r.set_service(std::string(service));
    r.set_method(std::string(method));
    r.set_payload(std::string(payload));
    r.set_timeout_nano(absl::ToInt64Nanoseconds(timeout));
    const std::string bytes = r.SerializeAsString();
    kata::ttrpc::FrameHeader h;
    h.length = static_cast<uint32_t>(bytes.size());
    h.stream_id = next_id_;
    h.type = static_cast<uint8_t>(kata::ttrpc::MessageType::kRequest);
    next_id_ = next_id_ >= 0x7ffffff0u ? 1 : next_id_ + 2;  // answered ids may be reused
    char header[kata::ttrpc::kFrameHeaderSize];
    kata::ttrpc::EncodeFrameHeader(h, header);
    out_.append(header, sizeof header);
    out_ += bytes;
    ++pending_;
  }

  // Sends what was queued and reads every answer; aborts if the connection broke.
  void Flush() {
    for (absl::string_view rest = out_; !rest.empty();) {
      const ssize_t n = send(fd_.get(), rest.data(), rest.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Fail("the connection broke: the requests cannot be sent");
      rest.remove_prefix(static_cast<size_t>(n));
    }
    out_.clear();
    char buf[16384];
    while (pending_ > 0) {
      struct pollfd p = {fd_.get(), POLLIN, 0};
      const int ready = poll(&p, 1, kAnswerTimeoutMs);
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) Fail(absl::StrCat(pending_, " calls not answered"));
      const ssize_t n = read(fd_.get(), buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) Fail("the connection broke");
      decoder_.Feed(absl::string_view(buf, static_cast<size_t>(n)), *this);
    }
  }

  // FrameDecoder sink.
  void OnFrame(const kata::ttrpc::FrameHeader& h, absl::string_view data) {
    if (h.type != static_cast<uint8_t>(kata::ttrpc::MessageType::kResponse)) return;
    ::ttrpc::Response r;
    if (!r.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
      Fail("an answer that does not parse");
    }
    if (r.status().code() == static_cast<int>(absl::StatusCode::kUnavailable)) {
      Fail(absl::StrCat("the server dropped a call: ", r.status().message()));
    }
    --pending_;
  }
  void OnOversized(const kata::ttrpc::FrameHeader&) { Fail("an over-limit answer"); }

 private:
  kata::UniqueFd fd_;
  kata::ttrpc::FrameDecoder decoder_;
  std::string out_;
  int pending_ = 0;
  uint32_t next_id_ = 1;
};

// The agent under test, made once: its roots live in a temp dir removed at exit.
struct Harness {
  std::string root;
  std::shared_ptr<FakeEngine> engine;
  std::unique_ptr<AgentService> agent;
  kata::ttrpc::Server server;
  std::unique_ptr<Peer> peer;

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
    peer = std::make_unique<Peer>(sv[1]);
  }
  ~Harness() {
    peer.reset();
    server.Shutdown(absl::Seconds(5));
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  }

  // Queues a call of `method`; one of a blocking method is sent alone, after the calls
  // queued before it are answered.
  void Call(absl::string_view method, absl::string_view payload, absl::Duration timeout) {
    const bool blocking = agent->IsBlocking(method);
    if (blocking) peer->Flush();
    peer->Add(agent->ServiceName(), method, payload, timeout);
    if (blocking) peer->Flush();
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
  // Info lines ("sandbox destroyed" per input) only slow the run down.
  kata::agent::SetLogLevel(kata::agent::LogLevel::kWarn);
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
  // DestroySandbox goes alone, after every earlier call is answered: the server runs a batch
  // in order on its reader only while each call takes under its tick (2 ms); a slower one
  // hands the reading to a new thread, so a batched DestroySandbox could overtake the
  // CreateContainer before it and "leave" a container the host never saw created.
  h.peer->Flush();
  h.Call("DestroySandbox", "", kCallTimeout);
  h.peer->Flush();
  // A call whose client gave up (GetOOMEvent) may still be returning: let it. Every call is
  // bounded (see above): one still alive after that was leaked by the server.
  if (!h.server.AwaitNoCall(kCallTimeout)) {
    Fail(absl::StrCat(h.server.in_flight(), " calls still alive after the input"));
  }
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
