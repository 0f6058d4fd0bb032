// main() for a libFuzzer target outside libFuzzer: runs every file named on the command line
// (directories recursively, in sorted order) through LLVMFuzzerTestOneInput, once each, after
// LLVMFuzzerInitialize if the target defines it. kata_cc_fuzzer's `<name>_regression` test runs
// it over the target's checked-in corpus, so every seed and every past finding is replayed on
// each `bazel test` (g++ or clang, no libFuzzer needed).
//
//   <name>_regression DIR|FILE...
//
// A failing input aborts (the targets call abort() on a broken contract, sanitizers report
// and abort); the input's path is printed before it runs. An empty corpus, or a path that
// cannot be read, fails the test: a regression test that replays nothing must not pass.
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/libs/base/file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

// Appends the regular files under `path` (or `path` itself) to `out`; false on error.
bool Collect(const std::string& path, std::vector<std::string>* out) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "replay: cannot stat %s\n", path.c_str());
    return false;
  }
  if (!S_ISDIR(st.st_mode)) {
    out->push_back(path);
    return true;
  }
  DIR* d = opendir(path.c_str());
  if (d == nullptr) {
    std::fprintf(stderr, "replay: cannot open directory %s\n", path.c_str());
    return false;
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    if (!Collect(path + "/" + name, out)) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    if (!Collect(argv[i], &files)) return 1;
  }
  if (files.empty()) {
    std::fprintf(stderr, "replay: no inputs (give corpus directories or files)\n");
    return 1;
  }
  for (const std::string& path : files) {
    absl::StatusOr<std::string> input = kata::ReadFileToString(path);
    if (!input.ok()) {
      std::fprintf(stderr, "replay: %s\n", input.status().ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", path.c_str(), input->size());
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input->data()), input->size());
  }
  std::printf("replayed %zu inputs: ok\n", files.size());
  return 0;
}
