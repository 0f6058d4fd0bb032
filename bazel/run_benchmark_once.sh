#!/bin/sh
# Runs every benchmark of a Google Benchmark binary for a minimal time: proves they run and
# do not crash. Figures come from `bazel run -c opt //pkg:name_benchmark`, not from here.
exec "$1" --benchmark_min_time=0.001 --benchmark_repetitions=1
