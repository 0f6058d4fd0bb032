// A minimal HTTP/1.1 for management endpoints on the host: a GET-only server on any listening
// stream socket (unix or TCP) and a GET client. Written here because Debian 12's cpp-httplib
// (0.11.4) cannot listen on a unix socket and would bring OpenSSL and brotli into the shim, and
// libmicrohttpd is a server only, with its own thread model.
//
//   KATA_ASSIGN_OR_RETURN(UniqueFd l, ListenUnix("/run/vc/sbs/s1/shim-monitor.sock", 0600));
//   KATA_ASSIGN_OR_RETURN(auto server, HttpServer::Start(std::move(l), {
//       {"/metrics", [] { return HttpResponse{200, kPrometheusContentType, Collect()}; }}}));
//   KATA_ASSIGN_OR_RETURN(HttpResponse r, HttpGetUnix("/run/vc/sbs/s1/shim-monitor.sock",
//                                                      "/metrics", absl::Seconds(10)));
//   server->Stop();
//
// Server contracts: each connection gets one request and one answer, then is closed
// (Connection: close). Only GET and HEAD are served (405 otherwise); the path is matched
// exactly, without its query (404 otherwise); a request line or headers over 8 KiB, or not
// HTTP/1.x, is 400. A client gets read_timeout to send its request and write_timeout to take
// the answer, then is dropped; at most max_connections are served at once, each on its own
// thread, and one over that is answered 503 at once: a slow client delays nobody else and
// never the server's owner. Handlers run on those threads, concurrently. Stop (also the
// destructor) closes the listener, cuts the connections and joins every thread.
// Client contracts: connects, sends one GET with Connection: close, reads to the end within
// `timeout` (DEADLINE_EXCEEDED otherwise; UNAVAILABLE when nothing listens), at most 64 MiB;
// a malformed answer is INTERNAL. Any status code is returned, not turned into an error.
#ifndef KATA_SRC_LIBS_HTTP_HTTP_H_
#define KATA_SRC_LIBS_HTTP_HTTP_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/base/unique_fd.h"

namespace kata::http {

inline constexpr char kPrometheusContentType[] = "text/plain; version=0.0.4; charset=utf-8";

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using Handler = std::function<HttpResponse()>;

// A listening unix socket at `path` (a stale socket there is replaced; anything else is
// ALREADY_EXISTS), chmod'ed to `mode` before listen, so nobody connects in between.
absl::StatusOr<UniqueFd> ListenUnix(const std::string& path, mode_t mode);
// A listening TCP socket on host:port ("127.0.0.1", 8090); port 0 picks one (BoundPort).
absl::StatusOr<UniqueFd> ListenTcp(const std::string& host, int port);
absl::StatusOr<int> BoundPort(int fd);

class HttpServer {
 public:
  struct Options {
    absl::Duration read_timeout = absl::Seconds(5);
    absl::Duration write_timeout = absl::Seconds(10);
    int max_connections = 4;
  };
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(UniqueFd listener,
                                                           std::map<std::string, Handler> routes,
                                                           Options options);
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(UniqueFd listener,
                                                           std::map<std::string, Handler> routes) {
    return Start(std::move(listener), std::move(routes), Options());
  }
  virtual ~HttpServer() = default;
  virtual void Stop() = 0;
};

absl::StatusOr<HttpResponse> HttpGetUnix(const std::string& socket_path, const std::string& path,
                                         absl::Duration timeout);
absl::StatusOr<HttpResponse> HttpGetTcp(const std::string& host, int port, const std::string& path,
                                        absl::Duration timeout);

}  // namespace kata::http

#endif  // KATA_SRC_LIBS_HTTP_HTTP_H_
