// Publishes a shim's events to containerd: `containerd.services.events.ttrpc.v1.Events/Forward`
// on the ttRPC address containerd gives its shims (env TTRPC_ADDRESS, "<containerd sock>.ttrpc").
//
//   auto forwarder = EventForwarder::Start({.address = ttrpc_address, .ns = "default"});
//   forwarder->Publish("/tasks/start", start_event);
//   ...
//   forwarder->Flush(absl::Seconds(5));   // before exiting: everything queued was sent
//
// Promises: one queue, one sender thread, so events arrive in Publish order. The connection
// is dialled on the first event and redialled after an error. An event that fails is retried
// (with a growing pause, up to Options::attempts times) before the next one is sent; one that
// still fails is logged and dropped, so a containerd that went away cannot wedge the shim.
#ifndef KATA_SRC_RUNTIME_SHIM_EVENT_FORWARDER_H_
#define KATA_SRC_RUNTIME_SHIM_EVENT_FORWARDER_H_

#include <deque>
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
  struct Options {
    std::string address;  // containerd's ttRPC socket ("unix://..." or a path)
    std::string ns;       // the containerd namespace (Envelope.namespace)
    int attempts = 5;
    absl::Duration first_backoff = absl::Milliseconds(20);
    absl::Duration call_timeout = absl::Seconds(5);
  };

  static std::unique_ptr<EventForwarder> Start(Options options);
  ~EventForwarder() override;  // Flush(5 s), then stops the sender

  void Publish(absl::string_view topic, const google::protobuf::Message& event) override;

  // Waits until every event published so far was sent (or dropped); false on timeout.
  bool Flush(absl::Duration timeout);

  // Events sent / dropped so far (tests, logs).
  int sent() const;
  int dropped() const;

 private:
  explicit EventForwarder(Options options);
  void Run();
  absl::Status Send(const containerd::services::events::ttrpc::v1::ForwardRequest& request);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<containerd::services::events::ttrpc::v1::ForwardRequest> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int sent_ ABSL_GUARDED_BY(mu_) = 0;
  int dropped_ ABSL_GUARDED_BY(mu_) = 0;
  std::unique_ptr<ttrpc::Client> client_;  // sender thread only
  std::thread thread_;
};

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_EVENT_FORWARDER_H_
