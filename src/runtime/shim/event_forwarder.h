// Publishes a shim's events to containerd: `containerd.services.events.ttrpc.v1.Events/Forward`
// on the ttRPC address containerd gives its shims (env TTRPC_ADDRESS, "<containerd sock>.ttrpc").
//
//   auto forwarder = EventForwarder::Start({.address = ttrpc_address, .ns = "default"});
//   forwarder->Publish("/tasks/start", start_event);
//   ...
//   forwarder->Flush(absl::Seconds(5));   // before exiting: everything queued was sent
//
// Promises:
//   - One queue, one sender thread: events arrive in Publish order, each at most once.
//   - Publish never blocks (it is called under the task service's lock): it only queues. The
//     queue is bounded (Options::max_queue); when full, the oldest queued event is dropped.
//   - containerd may be restarted while the shim runs: an event that fails is retried, with a
//     pause doubling from first_backoff up to max_backoff, until retry_for has passed since
//     it was published (default 2 minutes), then logged and dropped; the events behind it
//     wait (order is kept). The connection is dialled on the first event and redialled after
//     every error, so a restarted containerd gets the events it missed.
//   - The destructor flushes for up to 5 s, then stops at once (a pause is interrupted) and
//     drops what is left.
#ifndef KATA_SRC_RUNTIME_SHIM_EVENT_FORWARDER_H_
#define KATA_SRC_RUNTIME_SHIM_EVENT_FORWARDER_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/protocols/events.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/runtime/shim/events.h"

namespace kata {
namespace shim {

class EventForwarder : public EventPublisher {
 public:
  using ForwardRequest = ::containerd::services::events::ttrpc::v1::ForwardRequest;
  struct Options {
    std::string address;  // containerd's ttRPC socket ("unix://..." or a path)
    std::string ns;       // the containerd namespace (Envelope.namespace)
    absl::Duration first_backoff = absl::Milliseconds(20);
    absl::Duration max_backoff = absl::Seconds(2);
    absl::Duration retry_for = absl::Minutes(2);  // measured from Publish
    size_t max_queue = 4096;
    absl::Duration call_timeout = absl::Seconds(5);
    // Sends one event (called on the sender thread only). Empty: Events/Forward over ttRPC to
    // `address`. Tests put a fake containerd here.
    std::function<absl::Status(const ForwardRequest&)> send;
  };

  static std::unique_ptr<EventForwarder> Start(Options options);
  ~EventForwarder() override;  // Flush(5 s), then stops the sender

  void Publish(absl::string_view topic, const google::protobuf::Message& event) override;

  // Waits until every event published so far was sent (or dropped); false on timeout.
  bool Flush(absl::Duration timeout);

  // Events sent / dropped so far, failed sends (each retry counts) (tests, logs).
  int sent() const;
  int dropped() const;
  int failed_attempts() const;

 private:
  struct Queued {
    ForwardRequest request;
    absl::Time published;
  };
  explicit EventForwarder(Options options);
  void Run();
  // Sends `event` until it is delivered (true), expires or the forwarder stops (false).
  bool Deliver(const Queued& event);
  // Sleeps for `d` unless stopped first; false when stopped.
  bool Pause(absl::Duration d);
  absl::Status Send(const ForwardRequest& request);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<Queued> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int sent_ ABSL_GUARDED_BY(mu_) = 0;
  int dropped_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_attempts_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<ttrpc::Client> client_;  // sender thread only
  std::thread thread_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_EVENT_FORWARDER_H_
