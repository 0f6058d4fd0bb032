// Orphan reaping for an agent that is PID 1 (or a child subreaper): descendants whose parent
// died are re-parented to the agent and must be reaped, or they stay zombies forever.
//
//   prctl(PR_SET_CHILD_SUBREAPER, 1);   // when not PID 1
//   StartOrphanReaper();
//
// Promises: a background thread reaps every child of the agent that no Process (process.h)
// owns, as soon as it exits; children started by Process keep their exit codes for
// Process::Wait (WaitProcess): Process registers its pid atomically with the fork, under
// the lock the reaper takes before deciding a zombie is unknown, so no exit code is ever
// stolen. The thread never ends (it lives as long as the agent). Idempotent.
// Do not start it in a process that forks children by other means (system(), popen()):
// those would be reaped too.
#ifndef KATA_SRC_AGENT_PROCESS_REAPER_H_
#define KATA_SRC_AGENT_PROCESS_REAPER_H_

#include <cstdint>

namespace kata {
namespace agent {

void StartOrphanReaper();

// How many unknown children the reaper reaped so far.
uint64_t OrphansReaped();

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_PROCESS_REAPER_H_
