// The sandbox's OOM kills as containerd events: each one is published as /tasks/oom
// (containerd.events.TaskOOM{container_id}), which containerd's CRI turns into the
// container's "OOMKilled" reason.
//
//   sandbox->SetOomObserver(OomEventPublisher(events));
//
// Contract: one TaskOOM per OOM kill the sandbox reports, through `events` (the shim's one
// ordered publisher, so it never blocks). `events` must outlive the sandbox; null publishes
// nothing.
#ifndef KATA_SRC_RUNTIME_SHIM_OOM_EVENTS_H_
#define KATA_SRC_RUNTIME_SHIM_OOM_EVENTS_H_

#include "src/runtime/sandbox/sandbox.h"
#include "src/runtime/shim/events.h"

namespace kata {
namespace shim {

runtime::OomObserver OomEventPublisher(EventPublisher* events);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_OOM_EVENTS_H_
