// kata-monitor [--listen-address HOST:PORT] [--state-root DIR]
// Serves GET /metrics (every sandbox's, kata_monitor.h) on HOST:PORT, 127.0.0.1:8090 by
// default, until SIGTERM or SIGINT.
#include <signal.h>

#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "src/libs/http/http.h"
#include "src/runtime/monitor/kata_monitor.h"

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:8090";
  kata::runtime::monitor::KataMonitor::Options options;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--listen-address" || a == "--state-root") && i + 1 < argc) {
      (a == "--listen-address" ? listen : options.state_root) = argv[++i];
    } else {
      std::cerr << "usage: kata-monitor [--listen-address HOST:PORT] [--state-root DIR]\n";
      return 2;
    }
  }
  size_t colon = listen.rfind(':');
  int port = 0;
  if (colon == std::string::npos || !absl::SimpleAtoi(listen.substr(colon + 1), &port)) {
    std::cerr << "kata-monitor: bad --listen-address " << listen << "\n";
    return 2;
  }
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  absl::StatusOr<kata::UniqueFd> l = kata::http::ListenTcp(listen.substr(0, colon), port);
  if (!l.ok()) {
    std::cerr << "kata-monitor: " << l.status().message() << "\n";
    return 1;
  }
  kata::runtime::monitor::KataMonitor monitor(options);
  auto server = kata::http::HttpServer::Start(
      std::move(*l), {{"/metrics", [&monitor] {
                         return kata::http::HttpResponse{200, kata::http::kPrometheusContentType,
                                                         monitor.Scrape()};
                       }}});
  if (!server.ok()) {
    std::cerr << "kata-monitor: " << server.status().message() << "\n";
    return 1;
  }
  std::cerr << "kata-monitor: serving http://" << listen << "/metrics\n";
  int sig = 0;
  sigwait(&stop, &sig);
  (*server)->Stop();
  return 0;
}
