#include "src/libs/http/http.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <list>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "src/libs/base/status_util.h"

namespace kata::http {
namespace {

constexpr size_t kMaxRequest = 8192;
constexpr size_t kMaxResponse = 64 << 20;

int PollMs(absl::Time deadline) {
  absl::Duration left = deadline - absl::Now();
  if (left <= absl::ZeroDuration()) return 0;
  return static_cast<int>(absl::ToInt64Milliseconds(left)) + 1;
}

// Waits until `fd` is ready for `events` or the deadline passes.
absl::Status WaitFd(int fd, short events, absl::Time deadline, const char* what) {
  while (true) {
    pollfd p{fd, events, 0};
    int n = poll(&p, 1, PollMs(deadline));
    if (n > 0) return absl::OkStatus();
    if (n == 0) return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    if (errno != EINTR) return ErrnoStatus(errno, what);
  }
}

absl::Status WriteBefore(int fd, absl::string_view data, absl::Time deadline) {
  while (!data.empty()) {
    if (absl::Status s = WaitFd(fd, POLLOUT, deadline, "http write"); !s.ok()) return s;
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) return ErrnoStatus(errno, "http write");
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

// Reads until `stop` returns true on what was read, EOF, `max` bytes, or the deadline.
absl::StatusOr<std::string> ReadBefore(int fd, absl::Time deadline, size_t max,
                                       const std::function<bool(const std::string&)>& stop) {
  std::string buf;
  char chunk[16384];
  while (!stop(buf)) {
    if (absl::Status s = WaitFd(fd, POLLIN, deadline, "http read"); !s.ok()) return s;
    ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    // A peer that closed without reading all we sent (a busy server answering 503 at once)
    // resets the connection after its answer: what came before the reset counts.
    if (n < 0 && errno == ECONNRESET && !buf.empty()) break;
    if (n < 0) return ErrnoStatus(errno, "http read");
    if (n == 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    if (buf.size() > max) return absl::ResourceExhaustedError("http: message too large");
  }
  return buf;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

std::string Serialize(const HttpResponse& r, bool head) {
  return absl::StrCat("HTTP/1.1 ", r.status, " ", Reason(r.status),
                      "\r\nContent-Type: ", r.content_type, "\r\nContent-Length: ", r.body.size(),
                      "\r\nConnection: close\r\n\r\n", head ? "" : r.body);
}

HttpResponse Error(int status, absl::string_view text) {
  return {status, "text/plain; charset=utf-8", absl::StrCat(text, "\n")};
}

class ServerImpl : public HttpServer {
 public:
  ServerImpl(UniqueFd listener, std::map<std::string, Handler> routes, Options options)
      : listener_(std::move(listener)), routes_(std::move(routes)), options_(options) {}
  ~ServerImpl() override { Stop(); }

  absl::Status Begin() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) return ErrnoStatus(errno, "http server: pipe");
    wake_r_.reset(p[0]);
    wake_w_.reset(p[1]);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
    return absl::OkStatus();
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    char c = 0;
    (void)!write(wake_w_.get(), &c, 1);
    if (accept_thread_.joinable()) accept_thread_.join();
    std::list<Conn> conns;
    {
      absl::MutexLock l(&mu_);
      for (Conn& c : conns_) shutdown(c.fd, SHUT_RDWR);
      conns.swap(conns_);
    }
    for (Conn& c : conns) c.thread.join();
    listener_.reset();
  }

 private:
  struct Conn {
    int fd;
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };

  void AcceptLoop() {
    while (!stopped_) {
      pollfd p[2] = {{listener_.get(), POLLIN, 0}, {wake_r_.get(), POLLIN, 0}};
      if (poll(p, 2, -1) < 0) continue;
      if (p[1].revents != 0) return;
      UniqueFd conn(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
      if (!conn) {
        // Out of fds or memory: the listener stays readable, so wait (or be woken to stop)
        // instead of spinning; a connection the client gave up on is just skipped.
        if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
          pollfd w = {wake_r_.get(), POLLIN, 0};
          if (poll(&w, 1, 100) > 0) return;
        }
        continue;
      }
      Reap();
      absl::MutexLock l(&mu_);
      if (static_cast<int>(conns_.size()) >= options_.max_connections) {
        std::string busy = Serialize(Error(503, "too many connections"), false);
        (void)!send(conn.get(), busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        continue;
      }
      auto done = std::make_shared<std::atomic<bool>>(false);
      int fd = conn.release();
      conns_.push_back({fd, std::thread([this, fd, done] {
                          Serve(fd);
                          // Done before the client sees EOF: a client's next connection
                          // never finds this one still counted.
                          *done = true;
                          close(fd);
                        }),
                        done});
    }
  }

  void Reap() ABSL_LOCKS_EXCLUDED(mu_) {
    std::list<Conn> finished;
    {
      absl::MutexLock l(&mu_);
      for (auto it = conns_.begin(); it != conns_.end();) {
        auto next = std::next(it);
        if (*it->done) finished.splice(finished.end(), conns_, it);
        it = next;
      }
    }
    for (Conn& c : finished) c.thread.join();
  }

  void Serve(int fd) {
    const absl::Time read_deadline = absl::Now() + options_.read_timeout;
    absl::StatusOr<std::string> req =
        ReadBefore(fd, read_deadline, kMaxRequest,
                   [](const std::string& b) { return absl::StrContains(b, "\r\n\r\n"); });
    if (!req.ok() && req.status().code() == absl::StatusCode::kDeadlineExceeded) return;
    bool head = false;
    HttpResponse resp = Answer(req, &head);
    (void)WriteBefore(fd, Serialize(resp, head), absl::Now() + options_.write_timeout);
  }

  HttpResponse Answer(const absl::StatusOr<std::string>& req, bool* head) {
    if (!req.ok() || !absl::StrContains(*req, "\r\n\r\n")) return Error(400, "bad request");
    absl::string_view line = absl::string_view(*req).substr(0, req->find("\r\n"));
    std::vector<absl::string_view> parts = absl::StrSplit(line, ' ');
    if (parts.size() != 3 || !absl::StartsWith(parts[2], "HTTP/1.")) {
      return Error(400, "bad request line");
    }
    if (parts[0] != "GET" && parts[0] != "HEAD") return Error(405, "only GET is served");
    *head = parts[0] == "HEAD";
    absl::string_view path = parts[1].substr(0, parts[1].find('?'));
    auto it = routes_.find(std::string(path));
    if (it == routes_.end()) return Error(404, absl::StrCat("no ", path, " here"));
    return it->second();
  }

  UniqueFd listener_, wake_r_, wake_w_;
  const std::map<std::string, Handler> routes_;
  const Options options_;
  std::atomic<bool> stopped_{false};
  std::thread accept_thread_;
  absl::Mutex mu_;
  std::list<Conn> conns_ ABSL_GUARDED_BY(mu_);
};

absl::StatusOr<HttpResponse> ParseResponse(const std::string& raw) {
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return absl::InternalError("http: answer without headers");
  std::vector<absl::string_view> lines =
      absl::StrSplit(absl::string_view(raw).substr(0, end), "\r\n");
  std::vector<absl::string_view> status = absl::StrSplit(lines[0], absl::MaxSplits(' ', 2));
  HttpResponse r;
  if (status.size() < 2 || !absl::StartsWith(status[0], "HTTP/1.") ||
      !absl::SimpleAtoi(status[1], &r.status)) {
    return absl::InternalError(absl::StrCat("http: bad status line \"", lines[0], "\""));
  }
  r.body = raw.substr(end + 4);
  for (size_t i = 1; i < lines.size(); ++i) {
    std::vector<absl::string_view> kv = absl::StrSplit(lines[i], absl::MaxSplits(':', 1));
    if (kv.size() != 2) continue;
    absl::string_view value = absl::StripAsciiWhitespace(kv[1]);
    if (absl::EqualsIgnoreCase(kv[0], "Content-Type")) r.content_type = std::string(value);
    size_t length = 0;
    if (absl::EqualsIgnoreCase(kv[0], "Content-Length")) {
      if (!absl::SimpleAtoi(value, &length) || length > r.body.size()) {
        return absl::InternalError("http: answer shorter than its Content-Length");
      }
      r.body.resize(length);
    }
  }
  return r;
}

absl::StatusOr<HttpResponse> Get(UniqueFd fd, const std::string& host, const std::string& path,
                                 absl::Time deadline) {
  std::string req =
      absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: ", host, "\r\nConnection: close\r\n\r\n");
  absl::Status sent = WriteBefore(fd.get(), req, deadline);
  // A server that answered at once (503) and closed may refuse the rest of the request: its
  // answer is still there to read.
  if (!sent.ok() && sent.code() == absl::StatusCode::kDeadlineExceeded) return sent;
  absl::StatusOr<std::string> raw =
      ReadBefore(fd.get(), deadline, kMaxResponse, [](const std::string&) { return false; });
  if (!raw.ok()) return sent.ok() ? raw.status() : sent;
  if (raw->empty() && !sent.ok()) return sent;
  return ParseResponse(*raw);
}

}  // namespace

absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, mode_t mode) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", path));
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st;
  if (lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return absl::AlreadyExistsError(absl::StrCat(path, " exists and is not a socket"));
    }
    if (unlink(path.c_str()) != 0) return ErrnoStatus(errno, "unlink " + path);
  }
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "socket");
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return ErrnoStatus(errno, "bind " + path);
  }
  if (chmod(path.c_str(), mode) != 0 || listen(fd.get(), 16) != 0) {
    absl::Status s = ErrnoStatus(errno, "listen " + path);
    unlink(path.c_str());
    return s;
  }
  return fd;
}

absl::StatusOr<UniqueFd> ListenTcp(const std::string& host, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (port < 0 || port > 65535 || inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad listen address ", host, ":", port));
  }
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "socket");
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd.get(), 64) != 0) {
    return ErrnoStatus(errno, absl::StrCat("listen ", host, ":", port));
  }
  return fd;
}

absl::StatusOr<int> BoundPort(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoStatus(errno, "getsockname");
  }
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(UniqueFd listener,
                                                              std::map<std::string, Handler> routes,
                                                              Options options) {
  if (!listener) return absl::InvalidArgumentError("http server: no listening socket");
  auto server = std::make_unique<ServerImpl>(std::move(listener), std::move(routes), options);
  if (absl::Status s = server->Begin(); !s.ok()) return s;
  return std::unique_ptr<HttpServer>(std::move(server));
}

absl::StatusOr<HttpResponse> HttpGetUnix(const std::string& socket_path, const std::string& path,
                                         absl::Duration timeout) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path too long: ", socket_path));
  }
  std::memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return ErrnoStatus(errno, "socket");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect ", socket_path, ": ", ErrnoStatus(errno, "").message()));
  }
  return Get(std::move(fd), "localhost", path, absl::Now() + timeout);
}

absl::StatusOr<HttpResponse> HttpGetTcp(const std::string& host, int port, const std::string& path,
                                        absl::Duration timeout) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("bad address ", host));
  }
  const absl::Time deadline = absl::Now() + timeout;
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return ErrnoStatus(errno, "socket");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    if (errno != EINPROGRESS) {
      return absl::UnavailableError(
          absl::StrCat("connect ", host, ":", port, ": ", ErrnoStatus(errno, "").message()));
    }
    if (absl::Status s = WaitFd(fd.get(), POLLOUT, deadline, "connect"); !s.ok()) return s;
    int err = 0;
    socklen_t len = sizeof(err);
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      return absl::UnavailableError(
          absl::StrCat("connect ", host, ":", port, ": ", ErrnoStatus(err, "").message()));
    }
  }
  return Get(std::move(fd), absl::StrCat(host, ":", port), path, deadline);
}

}  // namespace kata::http
