// Where a shim's task events go: containerd's Events/Forward (event_forwarder.h) in the daemon,
// an in-process fake in tests.
//
//   publisher.Publish("/tasks/exit", exit_event);   // containerd.events.TaskExit
//
// Contract: events reach containerd in the order Publish was called (one queue for all
// topics), each packed in an Any whose type url is the message's full name
// ("containerd.events.TaskExit"), as containerd's typeurl writes it. Publish never blocks on
// the network.
#ifndef KATA_SRC_RUNTIME_SHIM_EVENTS_H_
#define KATA_SRC_RUNTIME_SHIM_EVENTS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "google/protobuf/any.pb.h"
#include "google/protobuf/message.h"
#include "google/protobuf/timestamp.pb.h"

namespace kata {
namespace shim {

inline constexpr char kTopicCreate[] = "/tasks/create";
inline constexpr char kTopicStart[] = "/tasks/start";
inline constexpr char kTopicExit[] = "/tasks/exit";
inline constexpr char kTopicDelete[] = "/tasks/delete";
inline constexpr char kTopicExecAdded[] = "/tasks/exec-added";
inline constexpr char kTopicExecStarted[] = "/tasks/exec-started";
inline constexpr char kTopicPaused[] = "/tasks/paused";
inline constexpr char kTopicResumed[] = "/tasks/resumed";
inline constexpr char kTopicOom[] = "/tasks/oom";

class EventPublisher {
 public:
  virtual ~EventPublisher() = default;
  virtual void Publish(absl::string_view topic, const google::protobuf::Message& event) = 0;
};

// containerd's type url of the event of `topic` (a kTopic constant above): the bare full name
// of its message, "containerd.events.TaskExit" for kTopicExit; empty for any other topic.
absl::string_view EventTypeUrl(absl::string_view topic);

// The type url of the Metrics message Task.Stats answers with.
inline constexpr char kMetricsTypeUrl[] = "io.containerd.cgroups.v1.Metrics";

// `message` in an Any with type url `type_url` (containerd's: the message's bare full name).
// The shim names the type rather than asking the message: a message's first GetDescriptor()
// builds the descriptors of its .proto files (and their imports), protobuf code and heap the
// shim's daemon needs for nothing else (0.14 MiB of its RSS).
google::protobuf::Any PackAny(const google::protobuf::Message& message, absl::string_view type_url);
// The same, the type url read from the message's descriptor (for tests; a topic of no
// EventTypeUrl).
google::protobuf::Any PackAny(const google::protobuf::Message& message);

// `t` as a protobuf Timestamp (InfinitePast/Future become the zero timestamp).
google::protobuf::Timestamp ToTimestamp(absl::Time t);

}  // namespace shim
}  // namespace kata

#endif  // KATA_SRC_RUNTIME_SHIM_EVENTS_H_
