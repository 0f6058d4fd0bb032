// Serves a ttRPC server on the agent's channel until stopped.
//
//   kata::ttrpc::Server server;  // services registered
//   KATA_ASSIGN_OR_RETURN(auto channel, ChannelServer::Start(&server, address, {}));
//   ... wait for SIGTERM ...
//   server.Shutdown(absl::Seconds(1));   // in-flight calls get their grace
//   channel->Stop();
//
// vsock:// and unix:// listen (Server::Listen). A virtio-serial port has no listen/accept:
// it is one byte stream that reads EOF when the host disconnects and carries the next host
// once it reconnects. So the device is opened and served directly (Server::ServeFd); when
// the server sees it end (EOF or a read error) its calls are cancelled, and a small loop
// thread opens the device again and serves it afresh, with a short backoff (10 ms, doubling
// to 50 ms while the host stays away), until Stop or Server::Shutdown.
//
// Promises:
// - Start fails (with the address in the message) when the address cannot be listened on,
//   the port name is not found, or the device cannot be opened the first time; later reopen
//   failures are logged and retried.
// - Stop is idempotent, returns promptly (it does not wait for the host) and joins the loop.
#ifndef KATA_SRC_AGENT_CHANNEL_SERVE_H_
#define KATA_SRC_AGENT_CHANNEL_SERVE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/agent/channel/address.h"
#include "src/libs/base/unique_fd.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {

class ChannelServer {
 public:
  struct Options {
    SysRoots roots;
    // Opens the serial device (a new descriptor each call). Default: open(2) of the resolved
    // path, O_RDWR|O_NOCTTY|O_CLOEXEC, made raw if it is a tty. Tests substitute a
    // socketpair to play the host.
    std::function<absl::StatusOr<UniqueFd>(const std::string& path)> open_device;
    absl::Duration min_backoff = absl::Milliseconds(10);
    absl::Duration max_backoff = absl::Milliseconds(50);
  };

  // `server` must outlive the returned object.
  static absl::StatusOr<std::unique_ptr<ChannelServer>> Start(ttrpc::Server* server,
                                                              const AgentAddress& address,
                                                              Options options);
  ~ChannelServer();  // Stop()
  ChannelServer(const ChannelServer&) = delete;
  ChannelServer& operator=(const ChannelServer&) = delete;

  void Stop();

  // What is served: the listen address, or the serial device path.
  const std::string& endpoint() const { return endpoint_; }
  // Serial only: how many times the device has been served (1 after Start).
  int sessions() const { return sessions_.load(); }

 private:
  ChannelServer(ttrpc::Server* server, Options options, UniqueFd wake);
  void ServeLoop(UniqueFd first_device);
  // Waits `d` or until Stop; false if stopped.
  bool Wait(absl::Duration d);

  ttrpc::Server* server_;
  Options options_;
  std::string endpoint_;
  const UniqueFd wake_;  // eventfd, signalled by Stop
  std::atomic<bool> stopping_{false};
  std::atomic<int> sessions_{0};
  std::thread loop_;
};

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_CHANNEL_SERVE_H_
