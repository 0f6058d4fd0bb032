// The cost of a traced step: with tracing off (the default) a span is one branch, no clock
// read and no allocation; with it on, what a recorded span costs.
#include "benchmark/benchmark.h"
#include "src/libs/trace/scoped_span.h"
#include "src/libs/trace/tracer.h"

namespace kata::trace {
namespace {

void BM_ScopedSpanOff(benchmark::State& state) {
  Tracer tracer({.enabled = false, .service_name = "bench"});
  for (auto _ : state) {
    ScopedSpan s(tracer, "step");
    ScopedSpan child("child");
    benchmark::DoNotOptimize(child.span().recording());
  }
}
BENCHMARK(BM_ScopedSpanOff);

void BM_ScopedSpanOn(benchmark::State& state) {
  Tracer tracer({.enabled = true, .service_name = "bench", .max_buffered = 1 << 20});
  int n = 0;
  for (auto _ : state) {
    ScopedSpan s(tracer, "step");
    s->SetInt("n", n);
    if (++n % 4096 == 0) {
      state.PauseTiming();
      tracer.TakeFinished();
      state.ResumeTiming();
    }
  }
}
BENCHMARK(BM_ScopedSpanOn);

}  // namespace
}  // namespace kata::trace
