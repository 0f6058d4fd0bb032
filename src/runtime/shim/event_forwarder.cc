#include "src/runtime/shim/event_forwarder.h"

#include <algorithm>
#include <string>
#include <utility>

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
  Queued q;
  q.published = absl::Now();
  evpb::Envelope* envelope = q.request.mutable_envelope();
  *envelope->mutable_timestamp() = ToTimestamp(q.published);
  envelope->set_namespace_(options_.ns);
  envelope->set_topic(std::string(topic));
  const absl::string_view type_url = EventTypeUrl(topic);
  *envelope->mutable_event() = type_url.empty() ? PackAny(event) : PackAny(event, type_url);
  std::string overflow;  // the topic of an event dropped to make room
  {
    absl::MutexLock lock(&mu_);
    if (queue_.size() >= std::max<size_t>(options_.max_queue, 1)) {
      overflow = queue_.front().request.envelope().topic();
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(std::move(q));
  }
  if (!overflow.empty()) {
    SHIM_LOG(Warning) << "event " << overflow << " dropped: " << options_.max_queue
                      << " events queued (containerd unreachable?)";
  }
  SHIM_LOG(Debug) << "event " << topic << " queued";
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

int EventForwarder::failed_attempts() const {
  absl::MutexLock lock(&mu_);
  return failed_attempts_;
}

absl::Status EventForwarder::Send(const ForwardRequest& request) {
  if (options_.send) return options_.send(request);
  if (client_ == nullptr || client_->closed()) {
    auto client = ttrpc::Client::Dial(options_.address, absl::Seconds(1));
    if (!client.ok()) return client.status();
    client_ = std::move(*client);
  }
  google::protobuf::Empty response;
  evpb::EventsTtrpc::Client events(client_.get());
  return events.Forward(request, &response, {.timeout = options_.call_timeout});
}

bool EventForwarder::Pause(absl::Duration d) {
  absl::MutexLock lock(&mu_);
  return !mu_.AwaitWithTimeout(absl::Condition(&stop_), d);
}

bool EventForwarder::Deliver(const Queued& event) {
  const std::string& topic = event.request.envelope().topic();
  const absl::Time deadline = event.published + options_.retry_for;
  absl::Duration backoff = options_.first_backoff;
  for (int attempt = 1;; ++attempt) {
    absl::Status status = Send(event.request);
    if (status.ok()) {
      if (attempt > 1) SHIM_LOG(Info) << "event " << topic << " sent at attempt " << attempt;
      return true;
    }
    client_.reset();  // redial next time: containerd may have been restarted
    {
      absl::MutexLock lock(&mu_);
      ++failed_attempts_;
    }
    const absl::Time now = absl::Now();
    if (attempt == 1) {
      SHIM_LOG(Warning) << "event " << topic << " not sent (retrying for up to " << (deadline - now)
                        << "): " << status;
    }
    if (now >= deadline) {
      SHIM_LOG(Error) << "event " << topic << " dropped after " << attempt << " attempts in "
                      << (now - event.published) << ": " << status;
      return false;
    }
    if (!Pause(std::min(backoff, deadline - now))) {
      SHIM_LOG(Warning) << "event " << topic << " dropped: the forwarder stops";
      return false;
    }
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

void EventForwarder::Run() {
  for (;;) {
    Queued event;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (stop_) {
        dropped_ += static_cast<int>(queue_.size());
        queue_.clear();
        return;
      }
      event = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
    }
    bool delivered = Deliver(event);
    absl::MutexLock lock(&mu_);
    busy_ = false;
    (delivered ? sent_ : dropped_)++;
  }
}

}  // namespace shim
}  // namespace kata
