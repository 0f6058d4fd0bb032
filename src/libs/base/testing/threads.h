// Tests' view of a process's threads: ThreadCount() is the number of entries of
// /proc/self/task, ThreadCount(pid) of /proc/PID/task (-1 if it cannot be read), for
// asserting that work costs no thread.
#ifndef KATA_SRC_LIBS_BASE_TESTING_THREADS_H_
#define KATA_SRC_LIBS_BASE_TESTING_THREADS_H_

#include <sys/types.h>

namespace kata::testing {

int ThreadCount();
int ThreadCount(pid_t pid);

}  // namespace kata::testing

#endif  // KATA_SRC_LIBS_BASE_TESTING_THREADS_H_
