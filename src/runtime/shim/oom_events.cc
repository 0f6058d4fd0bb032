#include "src/runtime/shim/oom_events.h"

#include <string>

#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {

runtime::OomObserver OomEventPublisher(EventPublisher* events) {
  return [events](const std::string& container_id) {
    SHIM_LOG(Info) << "container " << container_id << ": OOM kill in the guest";
    if (events == nullptr) return;
    ::containerd::events::TaskOOM oom;
    oom.set_container_id(container_id);
    events->Publish(kTopicOom, oom);
  };
}

}  // namespace shim
}  // namespace kata
