// interop_client: runs one named interop test (or the benchmark load) against a ttRPC
// server of ttrpc.interop.Echo on a unix socket. The same contract as the Go client in
// tests/ttrpc_interop/go/client.
//
//   interop_client --socket PATH --test NAME
//   interop_client --socket PATH --test bench --concurrency N --payload BYTES --seconds S
//   interop_client --socket PATH --test bench --outstanding N --payload BYTES --seconds S
// (--outstanding: ONE thread keeps N asynchronous calls in flight, each completion starting
// the next; the Go client runs N goroutines for it, Go ttrpc having no asynchronous API.)
// Prints "PASS NAME ..." / "FAIL NAME: reason" (exit 0/1), or a JSON line for bench.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/frame.h"
#include "src/libs/ttrpc/interop/echo.ttrpc.pb.h"

namespace {

using ::kata::ttrpc::CallOptions;
using ::ttrpc::interop::EchoRequest;
using ::ttrpc::interop::EchoResponse;
using EchoClient = ::ttrpc::interop::EchoTtrpc::Client;

struct Flags {
  std::string socket;
  std::string test;
  int concurrency = 1;
  int outstanding = 0;  // > 0: the asynchronous bench
  size_t payload = 64;
  double seconds = 5;
};

std::string Fail(const std::string& why) { return why.empty() ? "failed" : why; }

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i % 251);
  return s;
}

// Returns "" on success, else the reason.
std::string Unary(EchoClient& echo) {
  EchoRequest req;
  req.set_payload("hello");
  EchoResponse resp;
  CallOptions options;
  options.metadata = {{"k1", "v1"}, {"k2", "v2"}};
  absl::Status s = echo.Echo(req, &resp, options);
  if (!s.ok()) return s.ToString();
  if (resp.payload() != "hello") return "wrong payload: " + resp.payload();
  std::string md = absl::StrJoin(resp.metadata(), ",");
  if (md != "k1=v1,k2=v2") return "wrong metadata: " + md;
  return "";
}

std::string Concurrent(EchoClient& echo) {
  constexpr int kCalls = 1000;
  std::atomic<int> bad{0};
  std::string first_error;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int t = 0; t < kCalls; ++t) {
    threads.emplace_back([&, t] {
      EchoRequest req;
      req.set_payload(absl::StrCat("call-", t));
      EchoResponse resp;
      absl::Status s = echo.Echo(req, &resp);
      if (!s.ok() || resp.payload() != req.payload()) {
        ++bad;
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.empty()) first_error = s.ok() ? "mismatched answer" : s.ToString();
      }
    });
  }
  for (auto& t : threads) t.join();
  if (bad > 0) return absl::StrCat(bad.load(), " of ", kCalls, " calls failed: ", first_error);
  return "";
}

std::string Large(EchoClient& echo) {
  EchoRequest req;
  req.set_payload(Pattern(3 << 20));
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp);
  if (!s.ok()) return s.ToString();
  if (resp.payload() != req.payload()) return "payload corrupted";
  return "";
}

// A Request frame with `body`, its header claiming `length` bytes.
std::string RawFrame(uint32_t length, uint32_t stream_id, absl::string_view body) {
  kata::ttrpc::FrameHeader h;
  h.length = length;
  h.stream_id = stream_id;
  h.type = static_cast<uint8_t>(kata::ttrpc::MessageType::kRequest);
  char head[kata::ttrpc::kFrameHeaderSize];
  kata::ttrpc::EncodeFrameHeader(h, head);
  return absl::StrCat(absl::string_view(head, sizeof head), body);
}

bool ReadExactly(int fd, size_t n, std::string* out) {
  out->resize(n);
  for (size_t got = 0; got < n;) {
    ssize_t r = kata::RetryEintr([&] { return read(fd, &(*out)[got], n - got); });
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}

// Writes `frame` and reads the answer: false if the connection ends first.
bool RoundTrip(int fd, const std::string& frame, kata::ttrpc::FrameHeader* h,
               ::ttrpc::Response* response) {
  std::string head, data;
  if (!kata::WriteAll(fd, frame).ok() || !ReadExactly(fd, kata::ttrpc::kFrameHeaderSize, &head)) {
    return false;
  }
  *h = kata::ttrpc::DecodeFrameHeader(head.data());
  return ReadExactly(fd, h->length, &data) && response->ParseFromString(data);
}

// Writes a raw over-limit frame on its own connection and expects RESOURCE_EXHAUSTED on
// that stream, then a working call on the same connection: the peer server's behaviour.
std::string RawOverlimit(const std::string& socket_path) {
  kata::UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un sa = {};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, socket_path.c_str(), sizeof(sa.sun_path) - 1);
  if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    return "raw connect failed";
  }
  kata::ttrpc::FrameHeader h;
  ::ttrpc::Response response;
  constexpr uint32_t kBig = 5u << 20;
  if (!RoundTrip(fd.get(), RawFrame(kBig, 1, std::string(kBig, 'x')), &h, &response)) {
    return "no answer to an over-limit frame";
  }
  if (h.stream_id != 1 || response.status().code() != 8) {
    return absl::StrCat("over-limit frame answered with stream ", h.stream_id, " code ",
                        response.status().code());
  }
  ::ttrpc::Request req;
  req.set_service("ttrpc.interop.Echo");
  req.set_method("Echo");
  EchoRequest echo;
  echo.set_payload("after");
  req.set_payload(echo.SerializeAsString());
  const std::string body = req.SerializeAsString();
  EchoResponse er;
  if (!RoundTrip(fd.get(), RawFrame(static_cast<uint32_t>(body.size()), 3, body), &h, &response) ||
      response.status().code() != 0 || !er.ParseFromString(response.payload()) ||
      er.payload() != "after") {
    return "the connection did not survive an over-limit frame";
  }
  return "";
}

std::string Overlimit(EchoClient& echo, const std::string& socket_path) {
  EchoRequest req;
  req.set_payload(std::string(5 << 20, 'x'));
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp);
  if (s.code() != absl::StatusCode::kResourceExhausted) {
    return "expected RESOURCE_EXHAUSTED, got " + s.ToString();
  }
  if (std::string r = Unary(echo); !r.empty()) return "after the over-limit call: " + r;
  return RawOverlimit(socket_path);
}

std::string Deadline(EchoClient& echo) {
  EchoRequest req;
  req.set_sleep_ms(2000);
  EchoResponse resp;
  CallOptions options;
  options.timeout = absl::Milliseconds(200);
  absl::Time start = absl::Now();
  absl::Status s = echo.Echo(req, &resp, options);
  absl::Duration took = absl::Now() - start;
  if (s.code() != absl::StatusCode::kDeadlineExceeded) {
    return "expected DEADLINE_EXCEEDED, got " + s.ToString();
  }
  if (took > absl::Seconds(1))
    return absl::StrCat("deadline noticed only after ", absl::FormatDuration(took));
  if (std::string r = Unary(echo); !r.empty()) return "after the deadline: " + r;
  return "";
}

std::string UnknownMethod(kata::ttrpc::Client& client) {
  absl::StatusOr<std::string> r = client.Call("ttrpc.interop.Echo", "NoSuchMethod", "");
  if (r.status().code() != absl::StatusCode::kUnimplemented) {
    return "unknown method: expected UNIMPLEMENTED, got " + r.status().ToString();
  }
  r = client.Call("no.such.Service", "Echo", "");
  if (r.status().code() != absl::StatusCode::kUnimplemented) {
    return "unknown service: expected UNIMPLEMENTED, got " + r.status().ToString();
  }
  return "";
}

std::string ErrorStatus(EchoClient& echo) {
  EchoRequest req;
  req.set_fail_code(5);
  req.set_fail_message("no such thing");
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp);
  if (s.code() != absl::StatusCode::kNotFound || s.message() != "no such thing") {
    return "expected NOT_FOUND \"no such thing\", got " + s.ToString();
  }
  return "";
}

// The harness kills the server once "started" is printed; the call must fail promptly.
std::string PeerDies(EchoClient& echo) {
  EchoRequest req;
  req.set_sleep_ms(10000);
  EchoResponse resp;
  std::thread announce([] {
    absl::SleepFor(absl::Milliseconds(50));
    std::printf("started\n");
    std::fflush(stdout);
  });
  absl::Status s = echo.Echo(req, &resp);
  announce.join();
  if (s.ok()) return "the call succeeded although the server died";
  if (s.code() != absl::StatusCode::kUnavailable)
    return "expected UNAVAILABLE, got " + s.ToString();
  return "";
}

// Starts a long call and waits to be killed by the harness.
std::string Hang(EchoClient& echo) {
  EchoRequest req;
  req.set_sleep_ms(10000);
  EchoResponse resp;
  std::thread call([&] { echo.Echo(req, &resp).IgnoreError(); });
  absl::SleepFor(absl::Milliseconds(50));
  std::printf("started\n");
  std::fflush(stdout);
  call.join();
  return "";
}

std::string Stream(EchoClient& echo) {
  EchoRequest req;
  req.set_payload("s");
  req.set_count(100);
  auto stream = echo.ServerStream(req);
  if (!stream.ok()) return stream.status().ToString();
  std::string msg;
  int n = 0;
  while ((*stream)->Recv(&msg)) ++n;
  absl::StatusOr<std::string> end = (*stream)->Finish();
  if (!end.ok()) return "server stream: " + end.status().ToString();
  if (n != 100) return absl::StrCat("server stream: ", n, " messages instead of 100");
  auto up = echo.ClientStream();
  if (!up.ok()) return up.status().ToString();
  for (int i = 0; i < 10; ++i) {
    EchoRequest part;
    part.set_payload(absl::StrCat(i));
    if (absl::Status s = (*up)->Send(part.SerializeAsString()); !s.ok()) return s.ToString();
  }
  absl::StatusOr<std::string> done = (*up)->Finish();
  EchoResponse resp;
  if (!done.ok()) return "client stream: " + done.status().ToString();
  if (!resp.ParseFromString(*done) || resp.payload() != "0123456789")
    return "client stream: wrong answer";
  return "";
}

// Prints the bench's JSON line from the latencies (sorts them).
void PrintBench(std::vector<double>& all, double seconds, int errors) {
  std::sort(all.begin(), all.end());
  auto pct = [&](double p) {
    return all.empty() ? 0.0 : all[static_cast<size_t>(p * (all.size() - 1))];
  };
  std::printf(
      "{\"calls\": %zu, \"calls_per_sec\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f, \"errors\": "
      "%d}\n",
      all.size(), all.size() / seconds, pct(0.50), pct(0.99), errors);
}

int Bench(EchoClient& echo, const Flags& f) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(f.concurrency));
  std::atomic<bool> stop{false};
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  const std::string payload = Pattern(f.payload);
  for (int t = 0; t < f.concurrency; ++t) {
    threads.emplace_back([&, t] {
      EchoRequest req;
      req.set_payload(payload);
      EchoResponse resp;
      auto& lat = latencies[static_cast<size_t>(t)];
      lat.reserve(1 << 20);
      while (!stop.load(std::memory_order_relaxed)) {
        auto start = std::chrono::steady_clock::now();
        if (!echo.Echo(req, &resp).ok()) ++errors;
        lat.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count());
      }
    });
  }
  const auto begin = std::chrono::steady_clock::now();
  absl::SleepFor(absl::Seconds(f.seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  std::vector<double> all;
  for (auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  PrintBench(all, elapsed, errors.load());
  return errors > 0 ? 1 : 0;
}

// One thread, f.outstanding asynchronous calls in flight: each callback records its latency
// and starts the next call until the time is up. The callbacks watch the clock themselves:
// the starting thread may be busy writing the requests the callbacks queue (channel.h: a
// writer writes what others queue meanwhile) until they stop.
int BenchAsync(kata::ttrpc::Client& client, const Flags& f) {
  EchoRequest req;
  req.set_payload(Pattern(f.payload));
  const std::string request = req.SerializeAsString();
  const size_t want = f.payload;
  absl::Mutex mu;
  std::vector<double> lat;
  lat.reserve(1 << 22);
  int errors = 0, in_flight = 0;
  bool stop = false;
  const auto begin = std::chrono::steady_clock::now();
  const auto end = begin + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(f.seconds));
  auto stopped = [&](std::chrono::steady_clock::time_point now) {
    if (now >= end) stop = true;  // the calls counted are those completed before `end`
    return stop;
  };
  std::function<void()> start = [&] {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<kata::ttrpc::Client::CallId> id = client.CallAsync(
        "ttrpc.interop.Echo", "Echo", request, {}, [&, t0](absl::StatusOr<std::string> r) {
          const auto now = std::chrono::steady_clock::now();
          const double us = std::chrono::duration<double, std::micro>(now - t0).count();
          EchoResponse resp;
          const bool ok = r.ok() && resp.ParseFromString(*r) && resp.payload().size() == want;
          {
            absl::MutexLock lock(&mu);
            if (!stopped(now)) lat.push_back(us);
            if (!ok) ++errors;
            if (!ok || stop) {
              --in_flight;
              return;
            }
          }
          start();
        });
    if (!id.ok()) {
      absl::MutexLock lock(&mu);
      ++errors;
      --in_flight;
    }
  };
  {
    absl::MutexLock lock(&mu);
    in_flight = f.outstanding;
  }
  for (int i = 0; i < f.outstanding; ++i) start();
  std::this_thread::sleep_until(end);
  absl::MutexLock lock(&mu);
  stop = true;
  auto drained = [&]() { return in_flight == 0; };
  if (!mu.AwaitWithTimeout(absl::Condition(&drained), absl::Seconds(30))) ++errors;
  PrintBench(lat, f.seconds, errors);
  return errors > 0 ? 1 : 0;
}

// The asynchronous API against the peer: 200 calls in flight from this thread, then a call
// that ends at its deadline.
std::string Async(kata::ttrpc::Client& client) {
  constexpr char kService[] = "ttrpc.interop.Echo";
  constexpr int kCalls = 200;
  absl::Mutex mu;
  int done = 0;
  std::string why;
  for (int i = 0; i < kCalls; ++i) {
    EchoRequest req;
    req.set_payload(absl::StrCat("async ", i));
    req.set_sleep_ms(50);
    absl::StatusOr<kata::ttrpc::Client::CallId> id = client.CallAsync<EchoResponse>(
        kService, "Echo", req, {}, [&, i](absl::StatusOr<EchoResponse> r) {
          absl::MutexLock lock(&mu);
          ++done;
          if (!r.ok() || r->payload() != absl::StrCat("async ", i)) why = absl::StrCat("call ", i);
        });
    if (!id.ok()) return id.status().ToString();
  }
  EchoRequest slow;
  slow.set_sleep_ms(5000);
  absl::StatusOr<EchoResponse> late = absl::UnknownError("not run");
  auto on_late = [&](absl::StatusOr<EchoResponse> r) {
    absl::MutexLock lock(&mu);
    late = std::move(r);
    ++done;
  };
  if (!client.CallAsync<EchoResponse>(kService, "Echo", slow, {absl::Milliseconds(200)}, on_late)
           .ok()) {
    return "the deadline call did not start";
  }
  absl::MutexLock lock(&mu);
  auto all = [&]() { return done == kCalls + 1; };
  if (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20))) {
    return absl::StrCat(done, " of ", kCalls + 1, " calls completed");
  }
  if (!why.empty()) return why;
  if (late.status().code() != absl::StatusCode::kDeadlineExceeded) {
    return "the deadline call ended with " + late.status().ToString();
  }
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  // Like the shim and the agent: no run-time lock-order bookkeeping on every absl::Mutex
  // operation (Debian's Abseil is built with it on; the tests keep it).
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  signal(SIGPIPE, SIG_IGN);
  Flags f;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--socket")
      f.socket = v;
    else if (k == "--test")
      f.test = v;
    else if (k == "--concurrency")
      f.concurrency = std::stoi(v);
    else if (k == "--outstanding")
      f.outstanding = std::stoi(v);
    else if (k == "--payload")
      f.payload = std::stoul(v);
    else if (k == "--seconds")
      f.seconds = std::stod(v);
  }
  if (f.socket.empty() || f.test.empty()) {
    std::fprintf(stderr,
                 "usage: interop_client --socket PATH --test NAME [--concurrency N --payload B "
                 "--seconds S]\n");
    return 2;
  }
  auto client = kata::ttrpc::Client::Dial(absl::StrCat("unix://", f.socket), absl::Seconds(5));
  if (!client.ok()) {
    std::printf("FAIL %s: %s\n", f.test.c_str(), client.status().ToString().c_str());
    return 1;
  }
  EchoClient echo(client->get());
  if (f.test == "bench" && f.outstanding > 0) return BenchAsync(**client, f);
  if (f.test == "bench") return Bench(echo, f);
  if (f.test == "async") {
    std::string why = Async(**client);
    std::printf(why.empty() ? "PASS async\n" : "FAIL async: %s\n", why.c_str());
    return why.empty() ? 0 : 1;
  }
  std::string r;
  if (f.test == "unary")
    r = Unary(echo);
  else if (f.test == "concurrent")
    r = Concurrent(echo);
  else if (f.test == "large")
    r = Large(echo);
  else if (f.test == "overlimit")
    r = Overlimit(echo, f.socket);
  else if (f.test == "deadline")
    r = Deadline(echo);
  else if (f.test == "unknown_method")
    r = UnknownMethod(**client);
  else if (f.test == "error_status")
    r = ErrorStatus(echo);
  else if (f.test == "peer_dies")
    r = PeerDies(echo);
  else if (f.test == "hang")
    r = Hang(echo);
  else if (f.test == "stream")
    r = Stream(echo);
  else
    r = "unknown test " + f.test;
  if (r.empty()) {
    std::printf("PASS %s\n", f.test.c_str());
    return 0;
  }
  std::printf("FAIL %s: %s\n", f.test.c_str(), Fail(r).c_str());
  return 1;
}
