// ttRPC costs: a unary round trip over a real unix socket (server in this process, one
// connection shared by 1 or 16 blocking callers, or ONE thread keeping 1 to 256 asynchronous
// calls in flight), and framing alone (header encode, decoder).
//
//   bazel run -c opt //src/libs/ttrpc:ttrpc_benchmark
//
// items_per_second is calls/s (round trips) or frames/s (framing).
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "benchmark/benchmark.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/interop/echo.ttrpc.pb.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace ttrpc {
namespace {

using ::ttrpc::interop::EchoRequest;
using ::ttrpc::interop::EchoResponse;

class EchoService : public ::ttrpc::interop::EchoTtrpc::Service {
 public:
  absl::Status Echo(ServerContext&, const EchoRequest& request, EchoResponse* response) override {
    response->set_payload(request.payload());
    return absl::OkStatus();
  }
};

// One server listening on a unix socket and one client connection, shared by every benchmark
// thread. Built on first use and kept for the life of the process.
struct UnixFixture {
  UnixFixture() {
    // The socket file is needed only to connect: its directory goes when the constructor ends.
    kata::testing::TempDir dir("/tmp");  // socket paths must fit in 108 bytes
    const std::string address = absl::StrCat("unix://", dir.Join("bench.sock"));
    absl::Status s = server.Register(&service);
    if (s.ok()) s = server.Listen(address);
    if (!s.ok()) {
      error = s.ToString();
      return;
    }
    absl::StatusOr<std::unique_ptr<Client>> c = Client::Dial(address);
    if (!c.ok()) {
      error = c.status().ToString();
      return;
    }
    client = std::move(*c);
  }

  EchoService service;
  Server server;
  std::unique_ptr<Client> client;
  std::string error;
};

UnixFixture& Shared() {
  static UnixFixture* fixture = new UnixFixture();  // intentionally never destroyed
  return *fixture;
}

void BM_UnixRoundTrip(benchmark::State& state) {
  UnixFixture& f = Shared();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  ::ttrpc::interop::EchoTtrpc::Client echo(f.client.get());
  EchoRequest request;
  request.set_payload(std::string(static_cast<size_t>(state.range(0)), 'p'));
  EchoResponse response;
  for (auto _ : state) {
    absl::Status s = echo.Echo(request, &response);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * state.range(0) * 2);
}
BENCHMARK(BM_UnixRoundTrip)
    ->ArgName("payload")
    ->Arg(64)
    ->Arg(4096)
    ->Threads(1)
    ->Threads(16)
    ->UseRealTime();

// ONE thread keeps `outstanding` asynchronous calls in flight on the shared connection: each
// completion starts the next call. An iteration is 8 x outstanding completed calls.
void BM_UnixAsync(benchmark::State& state) {
  UnixFixture& f = Shared();
  if (!f.error.empty()) {
    state.SkipWithError(f.error.c_str());
    return;
  }
  EchoRequest request;
  request.set_payload(std::string(static_cast<size_t>(state.range(0)), 'p'));
  const std::string bytes = request.SerializeAsString();
  const int outstanding = static_cast<int>(state.range(1));
  const int per_iteration = 8 * outstanding;
  absl::Mutex mu;
  int to_start = 0, done = 0, failed = 0;
  std::function<void()> start = [&] {
    absl::StatusOr<Client::CallId> id = f.client->CallAsync("ttrpc.interop.Echo", "Echo", bytes, {},
                                                            [&](absl::StatusOr<std::string> r) {
                                                              bool more;
                                                              {
                                                                absl::MutexLock lock(&mu);
                                                                ++done;
                                                                if (!r.ok()) ++failed;
                                                                more = to_start > 0;
                                                                if (more) --to_start;
                                                              }
                                                              if (more) start();
                                                            });
    if (!id.ok()) {
      absl::MutexLock lock(&mu);
      ++done;
      ++failed;
    }
  };
  for (auto _ : state) {
    {
      absl::MutexLock lock(&mu);
      to_start = per_iteration - outstanding;
      done = 0;
    }
    for (int i = 0; i < outstanding; ++i) start();
    absl::MutexLock lock(&mu);
    auto all = [&]() { return done == per_iteration; };
    mu.Await(absl::Condition(&all));
    if (failed > 0) {
      state.SkipWithError("a call failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * per_iteration);
  state.SetBytesProcessed(state.iterations() * per_iteration * state.range(0) * 2);
}
BENCHMARK(BM_UnixAsync)
    ->ArgNames({"payload", "outstanding"})
    ->Args({64, 1})
    ->Args({64, 16})
    ->Args({64, 256})
    ->Args({4096, 16})
    ->Args({4096, 256})
    ->UseRealTime();

void BM_EncodeFrame(benchmark::State& state) {
  const std::string data(static_cast<size_t>(state.range(0)), 'd');
  std::string out;
  out.reserve(kFrameHeaderSize + data.size());
  uint32_t id = 1;
  for (auto _ : state) {
    FrameHeader h;
    h.length = static_cast<uint32_t>(data.size());
    h.stream_id = id;
    h.type = static_cast<uint8_t>(MessageType::kRequest);
    char head[kFrameHeaderSize];
    EncodeFrameHeader(h, head);
    out.assign(head, kFrameHeaderSize);
    out.append(data);
    benchmark::DoNotOptimize(out.data());
    id += 2;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(kFrameHeaderSize + data.size()));
}
BENCHMARK(BM_EncodeFrame)->ArgName("payload")->Arg(64)->Arg(4096);

void BM_DecodeHeader(benchmark::State& state) {
  char head[kFrameHeaderSize];
  FrameHeader h;
  h.length = 1234;
  h.stream_id = 77;
  h.type = 2;
  EncodeFrameHeader(h, head);
  for (auto _ : state) {
    benchmark::DoNotOptimize(head);
    FrameHeader d = DecodeFrameHeader(head);
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DecodeHeader);

struct CountingSink {
  size_t frames = 0;
  size_t bytes = 0;
  void OnFrame(const FrameHeader&, absl::string_view data) {
    ++frames;
    bytes += data.size();
  }
  void OnOversized(const FrameHeader&) {}
};

// A buffer of 256 frames of `payload` bytes fed to one decoder in `chunk`-byte reads
// (0 = all at once, the zero-copy path; small chunks exercise reassembly).
void BM_DecodeFrames(benchmark::State& state) {
  const size_t payload = static_cast<size_t>(state.range(0));
  const size_t chunk = static_cast<size_t>(state.range(1));
  constexpr int kFrames = 256;
  std::string stream;
  const std::string data(payload, 'd');
  for (int i = 0; i < kFrames; ++i) {
    FrameHeader h;
    h.length = static_cast<uint32_t>(payload);
    h.stream_id = static_cast<uint32_t>(2 * i + 1);
    h.type = static_cast<uint8_t>(MessageType::kResponse);
    char head[kFrameHeaderSize];
    EncodeFrameHeader(h, head);
    stream.append(head, kFrameHeaderSize);
    stream.append(data);
  }
  FrameDecoder decoder;
  CountingSink sink;
  const absl::string_view all(stream);
  for (auto _ : state) {
    if (chunk == 0) {
      decoder.Feed(all, sink);
    } else {
      for (size_t i = 0; i < all.size(); i += chunk) decoder.Feed(all.substr(i, chunk), sink);
    }
  }
  if (sink.frames != static_cast<size_t>(state.iterations()) * kFrames) {
    state.SkipWithError("decoder lost frames");
  }
  state.SetItemsProcessed(state.iterations() * kFrames);
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(stream.size()));
}
BENCHMARK(BM_DecodeFrames)
    ->ArgNames({"payload", "chunk"})
    ->Args({64, 0})
    ->Args({64, 1500})
    ->Args({4096, 0})
    ->Args({4096, 1500})
    ->Args({4096, 65536});

}  // namespace
}  // namespace ttrpc
}  // namespace kata
