#include "src/runtime/shim/events.h"

namespace kata {
namespace shim {

absl::string_view EventTypeUrl(absl::string_view topic) {
  // containerd's topics and their events (containerd/api/events/task.proto).
  static constexpr struct {
    absl::string_view topic;
    absl::string_view type_url;
  } kEvents[] = {
      {kTopicCreate, "containerd.events.TaskCreate"},
      {kTopicStart, "containerd.events.TaskStart"},
      {kTopicExit, "containerd.events.TaskExit"},
      {kTopicDelete, "containerd.events.TaskDelete"},
      {kTopicExecAdded, "containerd.events.TaskExecAdded"},
      {kTopicExecStarted, "containerd.events.TaskExecStarted"},
      {kTopicPaused, "containerd.events.TaskPaused"},
      {kTopicResumed, "containerd.events.TaskResumed"},
      {kTopicOom, "containerd.events.TaskOOM"},
  };
  for (const auto& e : kEvents) {
    if (e.topic == topic) return e.type_url;
  }
  return {};
}

google::protobuf::Any PackAny(const google::protobuf::Message& message,
                              absl::string_view type_url) {
  google::protobuf::Any any;
  any.set_type_url(std::string(type_url));
  message.SerializeToString(any.mutable_value());
  return any;
}

google::protobuf::Any PackAny(const google::protobuf::Message& message) {
  return PackAny(message, message.GetDescriptor()->full_name());
}

google::protobuf::Timestamp ToTimestamp(absl::Time t) {
  google::protobuf::Timestamp ts;
  if (t == absl::InfinitePast() || t == absl::InfiniteFuture()) return ts;
  timespec spec = absl::ToTimespec(t);
  ts.set_seconds(spec.tv_sec);
  ts.set_nanos(static_cast<int32_t>(spec.tv_nsec));
  return ts;
}

}  // namespace shim
}  // namespace kata
