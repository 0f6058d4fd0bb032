#include "src/libs/trace/exporter.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/io.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/trace/otlp_json.h"

namespace kata::trace {
namespace {

class FileExporter : public Exporter {
 public:
  explicit FileExporter(std::string path) : path_(std::move(path)) {}
  absl::Status Export(const ExportTraceServiceRequest& request) override {
    if (request.resource_spans().empty()) return absl::OkStatus();
    KATA_ASSIGN_OR_RETURN(std::string line, ToOtlpJson(request));
    line.push_back('\n');
    UniqueFd fd(RetryEintr(
        [&] { return open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600); }));
    if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("trace file ", path_, ": open"));
    // One write(2) per line: O_APPEND makes it atomic against other writers of the file.
    ssize_t n = RetryEintr([&] { return write(fd.get(), line.data(), line.size()); });
    if (n < 0) return ErrnoStatus(errno, absl::StrCat("trace file ", path_, ": write"));
    if (static_cast<size_t>(n) != line.size()) {
      return absl::DataLossError(absl::StrCat("trace file ", path_, ": short write"));
    }
    return absl::OkStatus();
  }

 private:
  const std::string path_;
};

struct Url {
  std::string host, port, path;
};

class HttpExporter : public Exporter {
 public:
  HttpExporter(Url url, bool json, absl::Duration timeout)
      : url_(std::move(url)), json_(json), timeout_(timeout) {}
  absl::Status Export(const ExportTraceServiceRequest& request) override;

 private:
  absl::StatusOr<UniqueFd> Connect(absl::Time deadline) const;
  const Url url_;
  const bool json_;
  const absl::Duration timeout_;
};

absl::Status WaitFd(int fd, short events, absl::Time deadline, absl::string_view what) {
  for (;;) {
    int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(ms));
    if (r > 0) return absl::OkStatus();
    if (r < 0 && errno != EINTR) return ErrnoStatus(errno, absl::StrCat(what, ": poll"));
  }
}

absl::StatusOr<UniqueFd> HttpExporter::Connect(absl::Time deadline) const {
  const std::string what = absl::StrCat("OTLP endpoint ", url_.host, ":", url_.port);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(url_.host.c_str(), url_.port.c_str(), &hints, &res);
  if (rc != 0) return absl::UnavailableError(absl::StrCat(what, ": ", gai_strerror(rc)));
  absl::Status last = absl::UnavailableError(absl::StrCat(what, ": no address"));
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    UniqueFd fd(socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd.valid()) continue;
    if (connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = absl::UnavailableError(ErrnoStatus(errno, what + ": connect").message());
      continue;
    }
    last = WaitFd(fd.get(), POLLOUT, deadline, what + ": connect");
    int err = 0;
    socklen_t len = sizeof(err);
    if (last.ok() && getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) {
      freeaddrinfo(res);
      return fd;
    }
    if (last.ok()) last = absl::UnavailableError(ErrnoStatus(err, what + ": connect").message());
  }
  freeaddrinfo(res);
  return last;
}

absl::Status HttpExporter::Export(const ExportTraceServiceRequest& request) {
  if (request.resource_spans().empty()) return absl::OkStatus();
  std::string body;
  if (json_) {
    KATA_ASSIGN_OR_RETURN(body, ToOtlpJson(request));
  } else if (!request.SerializeToString(&body)) {
    return absl::InternalError("OTLP request: serialization failed");
  }
  const absl::Time deadline = absl::Now() + timeout_;
  const std::string what =
      absl::StrCat("OTLP endpoint http://", url_.host, ":", url_.port, url_.path);
  KATA_ASSIGN_OR_RETURN(UniqueFd fd, Connect(deadline));
  std::string msg =
      absl::StrCat("POST ", url_.path, " HTTP/1.1\r\nHost: ", url_.host, ":", url_.port,
                   "\r\nContent-Type: application/", json_ ? "json" : "x-protobuf",
                   "\r\nContent-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  for (size_t off = 0; off < msg.size();) {
    KATA_RETURN_IF_ERROR(WaitFd(fd.get(), POLLOUT, deadline, what + ": send"));
    ssize_t n = send(fd.get(), msg.data() + off, msg.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus(errno, what + ": send");
    if (n > 0) off += static_cast<size_t>(n);
  }
  std::string answer;
  while (answer.find("\r\n") == std::string::npos) {
    KATA_RETURN_IF_ERROR(WaitFd(fd.get(), POLLIN, deadline, what + ": answer"));
    char buf[512];
    ssize_t n = recv(fd.get(), buf, sizeof(buf), 0);
    if (n == 0) return absl::UnavailableError(what + ": closed without an answer");
    if (n < 0 && errno != EAGAIN && errno != EINTR) return ErrnoStatus(errno, what + ": recv");
    if (n > 0) answer.append(buf, static_cast<size_t>(n));
  }
  const std::string status_line = answer.substr(0, answer.find("\r\n"));
  std::vector<absl::string_view> parts = absl::StrSplit(status_line, absl::MaxSplits(' ', 2));
  int code = 0;
  if (parts.size() < 2 || !absl::StartsWith(parts[0], "HTTP/1.") ||
      !absl::SimpleAtoi(parts[1], &code) || code < 200 || code > 299) {
    return absl::UnavailableError(
        absl::StrCat(what, ": answered \"", absl::CHexEscape(status_line), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<Url> ParseHttpUrl(absl::string_view endpoint) {
  absl::string_view rest = endpoint.substr(7);
  Url u;
  size_t slash = rest.find('/');
  absl::string_view hostport = rest.substr(0, slash);
  u.path = slash == absl::string_view::npos ? "/v1/traces" : std::string(rest.substr(slash));
  size_t colon = hostport.rfind(':');
  if (!hostport.empty() && hostport.front() == '[') {  // [v6]:port
    size_t close = hostport.find(']');
    if (close == absl::string_view::npos)
      colon = absl::string_view::npos;
    else if (colon < close)
      colon = absl::string_view::npos;
    u.host = std::string(hostport.substr(1, (close == absl::string_view::npos ? 0 : close) - 1));
  } else {
    u.host = std::string(hostport.substr(0, colon));
  }
  u.port = colon == absl::string_view::npos ? "80" : std::string(hostport.substr(colon + 1));
  int port = 0;
  if (u.host.empty() || !absl::SimpleAtoi(u.port, &port) || port <= 0 || port > 65535 ||
      absl::StrContains(u.path, " ") || absl::StrContains(u.path, "\r") ||
      absl::StrContains(u.path, "\n")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tracing endpoint \"", absl::CHexEscape(endpoint), "\": not http://HOST[:PORT][/PATH]"));
  }
  return u;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Exporter>> MakeExporter(absl::string_view endpoint,
                                                       absl::string_view protocol,
                                                       absl::Duration timeout) {
  const std::string quoted = absl::StrCat("\"", absl::CHexEscape(endpoint), "\"");
  if (protocol != "" && protocol != "http/protobuf" && protocol != "http/json") {
    return absl::InvalidArgumentError(absl::StrCat(
        "tracing protocol \"", absl::CHexEscape(protocol), "\": not http/protobuf or http/json"));
  }
  if (absl::StartsWith(endpoint, "file://")) {
    absl::string_view path = endpoint.substr(7);
    if (path.empty() || path.front() != '/') {
      return absl::InvalidArgumentError(
          absl::StrCat("tracing endpoint ", quoted, ": a file:// endpoint needs an absolute path"));
    }
    return std::unique_ptr<Exporter>(new FileExporter(std::string(path)));
  }
  if (absl::StartsWith(endpoint, "http://")) {
    KATA_ASSIGN_OR_RETURN(Url url, ParseHttpUrl(endpoint));
    return std::unique_ptr<Exporter>(
        new HttpExporter(std::move(url), protocol == "http/json", timeout));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("tracing endpoint ", quoted, ": not file:///PATH or http://HOST[:PORT][/PATH]"));
}

}  // namespace kata::trace
