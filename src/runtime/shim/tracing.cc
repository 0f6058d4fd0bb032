#include "src/runtime/shim/tracing.h"

#include <stdlib.h>

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
#include "src/libs/trace/align.h"
#include "src/runtime/config/resolve.h"
#include "src/runtime/shim/log.h"

namespace kata {
namespace shim {
namespace {

// When `shim start` began, if its time is in the environment and plausible (at most a minute
// before the daemon); else the daemon's own start.
int64_t ShimStartTime(int64_t daemon_start) {
  const char* env = getenv(kShimStartEnv);
  int64_t t = 0;
  if (env == nullptr || !absl::SimpleAtoi(env, &t) || t > daemon_start ||
      daemon_start - t > absl::ToInt64Nanoseconds(absl::Minutes(1))) {
    return daemon_start;
  }
  return t;
}

}  // namespace

std::unique_ptr<ShimTracing> ShimTracing::Start(const std::string& sandbox_id,
                                                int64_t daemon_start_unix_nanos) {
  std::unique_ptr<ShimTracing> t(new ShimTracing());
  const int64_t read_start = absl::GetCurrentTimeNanos();
  absl::StatusOr<config::ResolvedConfig> resolved =
      config::Resolve("", config::ProcessEnvironment());
  if (!resolved.ok() || !resolved->config.runtime.enable_tracing) return t;
  const config::RuntimeSection& rt = resolved->config.runtime;
  absl::StatusOr<std::unique_ptr<trace::Exporter>> exporter =
      trace::MakeExporter(rt.tracing_endpoint, rt.tracing_protocol);
  if (!exporter.ok()) {
    SHIM_LOG(Error) << "tracing is off: " << exporter.status();
    return t;
  }
  t->exporter_ = *std::move(exporter);
  t->tracer_ = std::make_unique<trace::Tracer>(
      trace::Tracer::Options{.enabled = true, .service_name = kShimServiceName});
  const int64_t shim_start = ShimStartTime(daemon_start_unix_nanos);
  t->root_ = t->tracer_->StartSpanAt("containerd-shim-kata-v2", {}, shim_start);
  t->root_.SetString("sandbox.id", sandbox_id);
  t->root_.SetInt("shim.pid", getpid());
  t->tracer_->StartSpanAt("shim.start", t->root(), shim_start).End();
  trace::Span read = t->tracer_->StartSpanAt("shim.config_read", t->root(), read_start);
  read.SetString("config.path", resolved->path);
  SHIM_LOG(Info) << "tracing to " << rt.tracing_endpoint << " (trace id "
                 << trace::ToHex(t->root().trace_id) << ")";
  return t;
}

ShimTracing::~ShimTracing() { Finish(); }

namespace {
size_t SpanCount(const trace::ExportTraceServiceRequest& r) {
  size_t n = 0;
  for (const auto& rs : r.resource_spans()) {
    for (const auto& ss : rs.scope_spans()) n += static_cast<size_t>(ss.spans_size());
  }
  return n;
}
}  // namespace

void ShimTracing::AddForeign(trace::ExportTraceServiceRequest request) {
  const size_t n = SpanCount(request);
  absl::MutexLock lock(&mu_);
  if (finished_ || tracer_ == nullptr) return;
  if (foreign_spans_ + n > kMaxForeignSpans) {
    if (foreign_dropped_ == 0) {
      SHIM_LOG(Warning) << "tracing: over " << kMaxForeignSpans << " foreign spans: dropping";
    }
    foreign_dropped_ += n;
    return;
  }
  foreign_spans_ += n;
  foreign_.push_back(std::move(request));
}

void ShimTracing::WatchAgent(const std::string& path) {
  if (tracer_ == nullptr) return;
  absl::StatusOr<std::unique_ptr<AgentTraceReader>> reader = AgentTraceReader::Start(
      path, [this](trace::ExportTraceServiceRequest r) { AddForeign(std::move(r)); });
  if (!reader.ok()) {
    SHIM_LOG(Info) << "tracing: no agent spans: " << reader.status();
    return;
  }
  absl::MutexLock lock(&reader_mu_);
  reader_ = *std::move(reader);
}

namespace {

// The foreign spans (a request each) as one request per service, their clock aligned with
// `local`'s (align.h). A request that does not convert is logged and left out.
std::vector<trace::ExportTraceServiceRequest> Aligned(
    const std::vector<trace::SpanData>& local,
    const std::vector<trace::ExportTraceServiceRequest>& foreign) {
  std::map<std::string, std::vector<trace::SpanData>> by_service;
  for (const auto& r : foreign) {
    absl::StatusOr<std::vector<trace::ServiceSpan>> spans = trace::FromExportRequest(r);
    if (!spans.ok()) {
      SHIM_LOG(Warning) << "tracing: agent spans dropped: " << spans.status();
      continue;
    }
    for (auto& s : *spans) by_service[s.service_name].push_back(std::move(s.span));
  }
  std::vector<trace::ExportTraceServiceRequest> out;
  for (auto& [service, spans] : by_service) {
    if (std::optional<int64_t> offset = trace::ClockOffset(local, spans); offset.has_value()) {
      trace::Shift(*offset, spans);
      SHIM_LOG(Info) << "tracing: " << service << "'s clock shifted by " << *offset << " ns";
    }
    out.push_back(trace::ToExportRequest(service, spans));
  }
  return out;
}

}  // namespace

void ShimTracing::Finish() {
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || tracer_ == nullptr) return;
  }
  {
    // The agent's last spans come before the VM is gone: read until the stream ends.
    absl::MutexLock lock(&reader_mu_);
    if (reader_ != nullptr) {
      if (!reader_->WaitEnd(kAgentTraceDrain)) {
        SHIM_LOG(Warning) << "tracing: the agent's trace stream still open; exporting";
      }
      reader_.reset();
    }
  }
  std::vector<trace::ExportTraceServiceRequest> foreign;
  {
    absl::MutexLock lock(&mu_);
    if (finished_) return;
    finished_ = true;
    foreign.swap(foreign_);
  }
  root_.End();
  const std::vector<trace::SpanData> ours = tracer_->TakeFinished();
  absl::Status s = exporter_->Export(trace::ToExportRequest(tracer_->service_name(), ours));
  for (const auto& r : Aligned(ours, foreign)) {
    if (s.ok()) s = exporter_->Export(r);
  }
  if (!s.ok()) SHIM_LOG(Error) << "tracing: export: " << s;
  if (tracer_->dropped() > 0) {
    SHIM_LOG(Warning) << "tracing: " << tracer_->dropped() << " spans dropped (buffer full)";
  }
}

}  // namespace shim
}  // namespace kata
