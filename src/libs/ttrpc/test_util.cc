#include "src/libs/ttrpc/test_util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"

namespace kata {
namespace ttrpc {

CallOptions Bounded(absl::Duration timeout) {
  CallOptions o;
  o.timeout = timeout;
  return o;
}

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) {
    s[i] = static_cast<char>((i * 131 + static_cast<size_t>(seed)) % 251);
  }
  return s;
}

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout) {
  for (const absl::Time until = absl::Now() + timeout; !done();) {
    if (absl::Now() >= until) return false;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return true;
}

std::pair<UniqueFd, UniqueFd> SocketPair() {
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) return {};
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

absl::StatusOr<Pty> OpenRawPty() {
  Pty pty;
  pty.master.reset(posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.master) return ErrnoStatus(errno, "posix_openpt");
  if (grantpt(pty.master.get()) != 0 || unlockpt(pty.master.get()) != 0) {
    return ErrnoStatus(errno, "grantpt/unlockpt");
  }
  const char* name = ptsname(pty.master.get());
  if (name == nullptr) return ErrnoStatus(errno, "ptsname");
  pty.slave.reset(open(name, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.slave) return ErrnoStatus(errno, absl::StrCat("open ", name));
  struct termios t;
  if (tcgetattr(pty.slave.get(), &t) != 0) return ErrnoStatus(errno, "tcgetattr");
  cfmakeraw(&t);
  if (tcsetattr(pty.slave.get(), TCSANOW, &t) != 0) return ErrnoStatus(errno, "tcsetattr");
  return pty;
}

// ---- TestEcho ------------------------------------------------------------------------------

// Counts a running handler for the lifetime of the object.
class TestEcho::Running {
 public:
  explicit Running(TestEcho* echo) : echo_(echo) {
    absl::MutexLock lock(&echo_->mu_);
    ++echo_->running_;
    echo_->max_running_ = std::max(echo_->max_running_, echo_->running_);
  }
  ~Running() {
    absl::MutexLock lock(&echo_->mu_);
    --echo_->running_;
  }

 private:
  TestEcho* echo_;
};

void TestEcho::set_hook(Hook hook) {
  absl::MutexLock lock(&mu_);
  hook_ = std::move(hook);
}

TestEcho::Hook TestEcho::hook() {
  absl::MutexLock lock(&mu_);
  return hook_;
}

absl::Status TestEcho::RecordedSleep(ServerContext& ctx, const EchoRequest& request,
                                     absl::Time entered) {
  Sleep sleep;
  sleep.entered = entered;
  sleep.deadline = ctx.deadline();
  sleep.timeout_nano = ctx.timeout_nano();
  sleep.status = ctx.SleepFor(absl::Milliseconds(request.sleep_ms()));
  sleep.cancelled = ctx.cancelled();
  absl::MutexLock lock(&mu_);
  sleeps_.push_back(sleep);
  return sleep.status;
}

absl::Status TestEcho::Echo(ServerContext& ctx, const EchoRequest& request,
                            EchoResponse* response) {
  const absl::Time entered = absl::Now();
  Running running(this);
  if (Hook h = hook()) {
    absl::Status s = h(ctx, request);
    if (!s.ok()) return s;
  }
  if (request.sleep_ms() > 0) {
    absl::Status s = RecordedSleep(ctx, request, entered);
    if (!s.ok()) return s;
  }
  if (request.fail_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(request.fail_code()), request.fail_message());
  }
  if (request.count() > 0) {
    response->set_payload(std::string(static_cast<size_t>(request.count()), 'r'));
    return absl::OkStatus();
  }
  response->set_payload(request.payload());
  std::vector<std::string> md;
  for (const auto& [k, v] : ctx.metadata()) md.push_back(absl::StrCat(k, "=", v));
  std::sort(md.begin(), md.end());
  for (std::string& s : md) response->add_metadata(std::move(s));
  response->set_timeout_nano(ctx.timeout_nano());
  return absl::OkStatus();
}

absl::Status TestEcho::ServerStream(ServerContext& ctx, const EchoRequest& request,
                                    ServerWriter<EchoResponse>* writer) {
  Running running(this);
  if (request.sleep_ms() > 0) {
    absl::Status s = ctx.SleepFor(absl::Milliseconds(request.sleep_ms()));
    if (!s.ok()) return s;
  }
  if (Hook h = hook()) {
    absl::Status s = h(ctx, request);
    if (!s.ok()) return s;
  }
  for (int i = 0; i < request.count(); ++i) {
    EchoResponse r;
    r.set_payload(absl::StrCat(request.payload(), i));
    absl::Status s = writer->Write(r);
    if (!s.ok()) return s;
  }
  if (request.fail_code() != 0) {
    return absl::Status(static_cast<absl::StatusCode>(request.fail_code()), request.fail_message());
  }
  return absl::OkStatus();
}

absl::Status TestEcho::ClientStream(ServerContext& ctx, ServerReader<EchoRequest>* reader,
                                    EchoResponse* response) {
  EchoRequest request;
  int n = 0;
  while (reader->Read(&request)) {
    ++n;
    if (request.fail_code() != 0) {
      return absl::Status(static_cast<absl::StatusCode>(request.fail_code()),
                          request.fail_message());
    }
    response->mutable_payload()->append(request.payload());
  }
  response->add_metadata(absl::StrCat("messages=", n));
  return absl::OkStatus();
}

int TestEcho::max_running() {
  absl::MutexLock lock(&mu_);
  return max_running_;
}

std::vector<TestEcho::Sleep> TestEcho::WaitForSleeps(size_t n, absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return sleeps_.size() >= n; };
  mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  return sleeps_;
}

// ---- RawPeer -------------------------------------------------------------------------------

bool RawPeer::Write(absl::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n =
        RetryEintr([&] { return send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL); });
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

bool RawPeer::WriteFrame(uint32_t stream_id, MessageType type, uint8_t flags,
                         absl::string_view data) {
  return Write(Header(static_cast<uint32_t>(data.size()), stream_id, type, flags)) && Write(data);
}

std::string RawPeer::Header(uint32_t length, uint32_t stream_id, MessageType type, uint8_t flags) {
  FrameHeader h;
  h.length = length;
  h.stream_id = stream_id;
  h.type = static_cast<uint8_t>(type);
  h.flags = flags;
  char head[kFrameHeaderSize];
  EncodeFrameHeader(h, head);
  return std::string(head, kFrameHeaderSize);
}

bool RawPeer::ReadFrame(FrameHeader* h, std::string* data, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string head;
  if (!ReadExactly(kFrameHeaderSize, &head, deadline)) return false;
  *h = DecodeFrameHeader(head.data());
  data->clear();
  return ReadExactly(h->length, data, deadline);
}

bool RawPeer::ReadResponse(uint32_t* stream_id, ::ttrpc::Response* response,
                           absl::Duration timeout) {
  FrameHeader h;
  std::string data;
  if (!ReadFrame(&h, &data, timeout)) return false;
  if (h.type != static_cast<uint8_t>(MessageType::kResponse)) return false;
  *stream_id = h.stream_id;
  return response->ParseFromString(data);
}

bool RawPeer::Quiet(absl::Duration d) {
  struct pollfd p = {fd_.get(), POLLIN, 0};
  return poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(d))) == 0;
}

bool RawPeer::ReadExactly(size_t n, std::string* out, absl::Time deadline) {
  while (out->size() < n) {
    int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    struct pollfd p = {fd_.get(), POLLIN, 0};
    if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
    char buf[65536];
    ssize_t r =
        RetryEintr([&] { return read(fd_.get(), buf, std::min(sizeof buf, n - out->size())); });
    if (r <= 0) return false;
    out->append(buf, static_cast<size_t>(r));
  }
  return true;
}

std::string RequestBytes(absl::string_view service, absl::string_view method,
                         absl::string_view payload, int64_t timeout_nano) {
  ::ttrpc::Request r;
  r.set_service(std::string(service));
  r.set_method(std::string(method));
  r.set_payload(std::string(payload));
  r.set_timeout_nano(timeout_nano);
  return r.SerializeAsString();
}

std::string EchoPayload(absl::string_view text) {
  EchoRequest e;
  e.set_payload(std::string(text));
  return e.SerializeAsString();
}

// ---- TtrpcFixture --------------------------------------------------------------------------

void TtrpcFixture::StartServer(Server::Options options) {
  if (server_ != nullptr) server_->Shutdown();
  server_ = std::make_unique<Server>(options);
  ASSERT_TRUE(server_->Register(&service_).ok());
}

std::unique_ptr<Client> TtrpcFixture::Connect() {
  auto [theirs, mine] = SocketPair();
  if (!mine || !server_->ServeFd(theirs.release()).ok()) return nullptr;
  return std::make_unique<Client>(mine.release());
}

std::unique_ptr<RawPeer> TtrpcFixture::ConnectRaw() {
  auto [theirs, mine] = SocketPair();
  if (!mine || !server_->ServeFd(theirs.release()).ok()) return nullptr;
  return std::make_unique<RawPeer>(std::move(mine));
}

std::string TtrpcFixture::Ping(Client& client, absl::string_view text) {
  EchoClient echo(&client);
  EchoRequest req;
  req.set_payload(std::string(text));
  EchoResponse resp;
  absl::Status s = echo.Echo(req, &resp, Bounded(absl::Seconds(10)));
  if (!s.ok()) return s.ToString();
  if (resp.payload() != text) return absl::StrCat("wrong payload \"", resp.payload(), "\"");
  return "";
}

void TtrpcFixture::BurstRunsConcurrently(absl::string_view method, int calls) {
  {
    std::unique_ptr<Client> client = Connect();
    ASSERT_NE(client, nullptr);
    ASSERT_EQ(Ping(*client), "");  // leaves an idle thread behind
    EchoRequest warm;
    warm.set_count(1);
    absl::StatusOr<std::unique_ptr<ClientStream>> stream =
        EchoClient(client.get()).ServerStream(warm, Bounded());
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->Finish().ok());
  }
  absl::Mutex mu;
  int arrived = 0;
  service_.set_hook([&](ServerContext&, const EchoRequest& req) {
    if (req.payload() != "burst") return absl::OkStatus();
    absl::MutexLock lock(&mu);
    ++arrived;
    auto all = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return arrived >= calls; };
    if (!mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(3))) {
      return absl::DeadlineExceededError(absl::StrCat("only ", arrived, " handlers ran at once"));
    }
    return absl::OkStatus();
  });
  for (int round = 0; round < 3; ++round) {
    {
      absl::MutexLock lock(&mu);
      arrived = 0;
    }
    // The burst comes from a raw peer in one write, so the server reads it in one go.
    std::unique_ptr<RawPeer> peer = ConnectRaw();
    ASSERT_NE(peer, nullptr);
    EchoRequest echo;
    echo.set_payload("burst");
    echo.set_count(1);
    const std::string req = RequestBytes(kEcho, method, echo.SerializeAsString());
    std::string burst;
    for (int i = 0; i < calls; ++i) {
      burst += RawPeer::Header(static_cast<uint32_t>(req.size()), static_cast<uint32_t>(2 * i + 1),
                               MessageType::kRequest, method == "Echo" ? 0 : kFlagRemoteClosed) +
               req;
    }
    ASSERT_TRUE(peer->Write(burst));
    int ok = 0;
    std::string first_error;
    for (int answered = 0; answered < calls;) {
      FrameHeader h;
      std::string data;
      ASSERT_TRUE(peer->ReadFrame(&h, &data, absl::Seconds(30)));
      if (h.type != static_cast<uint8_t>(MessageType::kResponse)) continue;  // stream Data
      ++answered;
      ::ttrpc::Response resp;
      ASSERT_TRUE(resp.ParseFromString(data));
      if (resp.status().code() == 0) {
        ++ok;
      } else if (first_error.empty()) {
        first_error = resp.status().message();
      }
    }
    ASSERT_EQ(ok, calls) << method << ", round " << round << ": " << first_error;
  }
}

bool TtrpcFixture::WaitForACall(absl::Duration timeout) {
  return WaitUntil([this] { return server_->in_flight() != 0; }, timeout);
}

bool TtrpcFixture::WaitForNoCall(absl::Duration timeout) {
  return WaitUntil([this] { return server_->in_flight() == 0; }, timeout);
}

}  // namespace ttrpc
}  // namespace kata
