#include "src/runtime/shim/tracing.h"

#include <stdlib.h>

#include <utility>

#include "absl/strings/numbers.h"
#include "absl/time/clock.h"
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

void ShimTracing::AddForeign(trace::ExportTraceServiceRequest request) {
  absl::MutexLock lock(&mu_);
  if (!finished_ && tracer_ != nullptr) foreign_.push_back(std::move(request));
}

void ShimTracing::Finish() {
  std::vector<trace::ExportTraceServiceRequest> foreign;
  {
    absl::MutexLock lock(&mu_);
    if (finished_ || tracer_ == nullptr) return;
    finished_ = true;
    foreign.swap(foreign_);
  }
  root_.End();
  absl::Status s =
      exporter_->Export(trace::ToExportRequest(tracer_->service_name(), tracer_->TakeFinished()));
  for (const auto& r : foreign) {
    if (s.ok()) s = exporter_->Export(r);
  }
  if (!s.ok()) SHIM_LOG(Error) << "tracing: export: " << s;
  if (tracer_->dropped() > 0) {
    SHIM_LOG(Warning) << "tracing: " << tracer_->dropped() << " spans dropped (buffer full)";
  }
}

}  // namespace shim
}  // namespace kata
