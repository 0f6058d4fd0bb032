// A fake Kata agent for host-side tests: a real ttRPC server (grpc.AgentService +
// grpc.Health) in this process, on a unix socket, that "runs" processes by interpreting
// their args instead of executing anything:
//
//   echo WORDS...      prints WORDS joined by spaces and a newline on stdout, exits 0
//   echoerr WORDS...   the same on stderr
//   exit N             exits N
//   cat                copies stdin to stdout until stdin is closed, exits 0
//   sleep              runs until a signal n arrives, exits 128+n
//
// As the real agent: the init process's exec id is the CreateContainer exec_id (else the
// container id); SignalProcess with an empty exec id signals every process.
//   (anything else)    exits 127 with "not found" on stderr
//
// It keeps what it was sent (requests by rpc name) for tests to assert on, can be told to
// fail an rpc, and answers Health.Check only after `ready_after` (a booting guest).
//
//   FakeAgent agent;
//   ASSERT_TRUE(agent.Start("/tmp/x/agent.sock").ok());
//   ... runtime code dials unix:///tmp/x/agent.sock ...
//   EXPECT_EQ(agent.Requests("CreateContainer").size(), 1);
#ifndef KATA_SRC_RUNTIME_AGENT_TESTING_FAKE_AGENT_H_
#define KATA_SRC_RUNTIME_AGENT_TESTING_FAKE_AGENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata::runtime::testing {

class FakeAgent {
 public:
  FakeAgent();
  ~FakeAgent();  // Stop()

  // Serves on unix socket `path`.
  absl::Status Start(const std::string& path, absl::Duration ready_after = absl::ZeroDuration());
  // Stops serving and closes every connection (pending calls fail UNAVAILABLE on the client).
  void Stop();

  // Serialized requests received for rpc `method` (e.g. "CreateContainer"), in order.
  std::vector<std::string> Requests(const std::string& method) const;
  template <class T>
  std::vector<T> RequestsAs(const std::string& method) const {
    std::vector<T> out;
    for (const std::string& s : Requests(method)) {
      T t;
      t.ParseFromString(s);
      out.push_back(std::move(t));
    }
    return out;
  }
  // Makes the next calls of `method` fail with `status` (OK clears it).
  void FailNext(const std::string& method, absl::Status status);
  // Containers the fake currently holds.
  std::vector<std::string> Containers() const;
  bool Paused(const std::string& container_id) const;

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kata::runtime::testing

#endif  // KATA_SRC_RUNTIME_AGENT_TESTING_FAKE_AGENT_H_
