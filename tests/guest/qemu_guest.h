// A QEMU guest for tests: boots a kata-cpp guest image (TCG) with the agent's virtio-serial
// channel on a unix socket and a 9p share, and connects a ttRPC client to the agent.
//
//   QemuGuest guest;
//   ASSERT_TRUE(guest.Boot({kernel, initrd}).ok());
//   grpc::HealthTtrpc::Client health(guest.client());
//
// Contract: the destructor (or Kill) SIGKILLs QEMU if it still runs and removes the temporary
// directory (socket, logs, share), so nothing is left behind even when a test fails.
#ifndef KATA_TESTS_GUEST_QEMU_GUEST_H_
#define KATA_TESTS_GUEST_QEMU_GUEST_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/ttrpc/client.h"

namespace kata {
namespace testing {

struct GuestImage {
  std::string kernel;
  std::string initrd;
  std::string extra_kernel_params;
  int memory_mib = 512;
  // "x86_64" (qemu-system-x86_64 -M q35, console ttyS0) or "aarch64" (qemu-system-aarch64
  // -M virt -cpu max, console ttyAMA0; Debian's qemu-system-arm).
  std::string arch = "x86_64";
};

class QemuGuest {
 public:
  QemuGuest();
  ~QemuGuest();
  QemuGuest(const QemuGuest&) = delete;
  QemuGuest& operator=(const QemuGuest&) = delete;

  // The host directory shared into the guest as 9p tag "kataShared" (exists before Boot).
  const std::string& share_dir() const { return share_; }

  // Starts QEMU; returns once the agent answered Health.Check, or the error (with the tail of
  // the guest console) after `timeout`.
  absl::Status Boot(const GuestImage& image, absl::Duration timeout = absl::Seconds(120));
  absl::Duration time_to_ready() const { return ready_; }

  kata::ttrpc::Client* client() { return client_.get(); }

  // Waits for QEMU to exit by itself (the guest powered off); its wait status, or
  // DEADLINE_EXCEEDED.
  absl::StatusOr<int> WaitExit(absl::Duration timeout);
  void Kill();
  std::string Console() const;

 private:
  TempDir dir_;  // destroyed last: QEMU is killed first
  std::string share_, socket_, console_;
  pid_t pid_ = -1;
  absl::Duration ready_;
  std::unique_ptr<kata::ttrpc::Client> client_;
};

}  // namespace testing
}  // namespace kata

#endif  // KATA_TESTS_GUEST_QEMU_GUEST_H_
