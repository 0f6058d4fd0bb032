// Tests' view of this process's threads: ThreadCount() is the number of entries of
// /proc/self/task (-1 if it cannot be read), for asserting that work costs no thread.
#ifndef KATA_SRC_LIBS_BASE_TESTING_THREADS_H_
#define KATA_SRC_LIBS_BASE_TESTING_THREADS_H_

namespace kata::testing {

int ThreadCount();

}  // namespace kata::testing

#endif  // KATA_SRC_LIBS_BASE_TESTING_THREADS_H_
