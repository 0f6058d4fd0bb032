// A scripted QMP server for unit tests: listens on a unix socket, accepts one client, sends
// a QEMU 7.2 greeting, and answers each command line with whatever the handler returns
// (raw JSON lines; "<close>" closes the connection).
#ifndef KATA_SRC_RUNTIME_HYPERVISOR_QEMU_TESTING_FAKE_QMP_SERVER_H_
#define KATA_SRC_RUNTIME_HYPERVISOR_QEMU_TESTING_FAKE_QMP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace kata::hypervisor::qemu::testing {

class FakeQmpServer {
 public:
  // (command, id) -> lines to send. qmp_capabilities is answered by the server itself
  // unless the handler returns something for it.
  using Handler =
      std::function<std::vector<std::string>(const std::string& command, const std::string& id)>;
  // Starts listening after `listen_delay` (to test connect retries).
  FakeQmpServer(std::string socket_path, Handler handler,
                absl::Duration listen_delay = absl::ZeroDuration());
  ~FakeQmpServer();  // stops and joins

  // Commands received, in order.
  std::vector<std::string> commands() const;

  static std::string Return(const std::string& id, const std::string& value_json = "{}");
  static std::string Error(const std::string& id, const std::string& cls, const std::string& desc);
  static std::string Event(const std::string& name, const std::string& data_json = "{}");

 private:
  void Run();
  std::string path_;
  Handler handler_;
  absl::Duration listen_delay_;
  std::atomic<bool> stop_{false};
  mutable absl::Mutex mu_;
  std::vector<std::string> commands_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace kata::hypervisor::qemu::testing

#endif  // KATA_SRC_RUNTIME_HYPERVISOR_QEMU_TESTING_FAKE_QMP_SERVER_H_
