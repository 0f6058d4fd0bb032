#include "src/libs/base/testing/threads.h"

#include <dirent.h>

#include <string>

namespace kata::testing {
namespace {

int CountEntries(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

}  // namespace

int ThreadCount() { return CountEntries("/proc/self/task"); }

int ThreadCount(pid_t pid) { return CountEntries("/proc/" + std::to_string(pid) + "/task"); }

}  // namespace kata::testing
