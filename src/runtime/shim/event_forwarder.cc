#include "src/runtime/shim/event_forwarder.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {

namespace evpb = ::containerd::services::events::ttrpc::v1;

EventForwarder::EventForwarder(Options options) : options_(std::move(options)) {}

std::unique_ptr<EventForwarder> EventForwarder::Start(Options options) {
  std::unique_ptr<EventForwarder> f(new EventForwarder(std::move(options)));
  f->thread_ = std::thread([p = f.get()] { p->Run(); });
  return f;
}

EventForwarder::~EventForwarder() {
  Flush(absl::Seconds(5));
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void EventForwarder::Publish(absl::string_view topic, const google::protobuf::Message& event) {
  evpb::ForwardRequest request;
  evpb::Envelope* envelope = request.mutable_envelope();
  *envelope->mutable_timestamp() = ToTimestamp(absl::Now());
  envelope->set_namespace_(options_.ns);
  envelope->set_topic(std::string(topic));
  *envelope->mutable_event() = PackAny(event);
  SHIM_LOG(Debug) << "event " << topic << " queued";
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(request));
}

bool EventForwarder::Flush(absl::Duration timeout) {
  absl::MutexLock lock(&mu_);
  auto drained = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !busy_; };
  return mu_.AwaitWithTimeout(absl::Condition(&drained), timeout);
}

int EventForwarder::sent() const {
  absl::MutexLock lock(&mu_);
  return sent_;
}

int EventForwarder::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

absl::Status EventForwarder::Send(const evpb::ForwardRequest& request) {
  if (client_ == nullptr || client_->closed()) {
    auto client = ttrpc::Client::Dial(options_.address, absl::Seconds(1));
    if (!client.ok()) return client.status();
    client_ = std::move(*client);
  }
  google::protobuf::Empty response;
  evpb::EventsTtrpc::Client events(client_.get());
  return events.Forward(request, &response, {.timeout = options_.call_timeout});
}

void EventForwarder::Run() {
  for (;;) {
    evpb::ForwardRequest request;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stop_
      request = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    absl::Status status;
    absl::Duration backoff = options_.first_backoff;
    for (int attempt = 1; attempt <= options_.attempts; ++attempt) {
      status = Send(request);
      if (status.ok()) break;
      client_.reset();
      if (attempt < options_.attempts) {
        absl::SleepFor(backoff);
        backoff *= 2;
      }
    }
    if (!status.ok()) {
      SHIM_LOG(Warning) << "event " << request.envelope().topic() << " dropped after "
                        << options_.attempts << " attempts: " << status;
    }
    absl::MutexLock lock(&mu_);
    busy_ = false;
    (status.ok() ? sent_ : dropped_)++;
  }
}

}  // namespace shim
}  // namespace kata
