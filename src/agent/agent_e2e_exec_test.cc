// The real kata-agent end to end (agent_e2e_fixture.h), the lifetime of exec'd processes: a
// finished exec is freed once its exit was collected and its output read to the end (so a
// long-lived container survives any number of execs: the agent's fds return to their
// baseline), its output is never lost when the host reads it after WaitProcess, and a freed
// exec answers NOT_FOUND. Also the agent's fd limit (raised to the hard limit at start).
#include <dirent.h>
#include <signal.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/agent_e2e_fixture.h"

namespace kata {
namespace agent {
namespace e2e {
namespace {

using ::kata::testing::ReadFileOrDie;

// The number of open fds of process `pid` (-1 when /proc/<pid>/fd cannot be listed).
int FdCount(pid_t pid) {
  DIR* d = opendir(absl::StrCat("/proc/", pid, "/fd").c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

// One ReadStderr of the process (OUT_OF_RANGE at EOF).
absl::StatusOr<std::string> ReadStderr(testing::AgentApi& api, const std::string& id,
                                       const std::string& exec) {
  grpc::ReadStreamRequest r;
  r.set_container_id(id);
  r.set_exec_id(exec);
  r.set_len(1 << 20);
  grpc::ReadStreamResponse resp;
  absl::Status s = api.service().ReadStderr(r, &resp, api.opts());
  if (!s.ok()) return s;
  return std::move(*resp.mutable_data());
}

// An exec probe every few seconds for hours: each exec's pipes and eventfd must be given back,
// else the agent (PID 1, 1024 fds by default) runs out after ~300 execs.
TEST_F(AgentE2eTest, ManySequentialExecsFreeTheirFds) {
  ASSERT_TRUE(api_->Create(Request("fd1", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("fd1").ok());
  auto one_exec = [&](int i) {
    const std::string eid = absl::StrCat("e", i);
    absl::Status s = api_->Exec("fd1", eid, {"echo", absl::StrCat("probe ", i)});
    if (!s.ok()) return s;
    absl::StatusOr<std::string> out = api_->ReadAll("fd1", eid);
    if (!out.ok()) return out.status();
    if (*out != absl::StrCat("probe ", i, "\n")) {
      return absl::InternalError(absl::StrCat(eid, ": output \"", *out, "\""));
    }
    absl::StatusOr<int> code = api_->Wait("fd1", eid);
    if (!code.ok()) return code.status();
    if (*code != 0) return absl::InternalError(absl::StrCat(eid, ": exit ", *code));
    return absl::OkStatus();
  };
  ASSERT_TRUE(one_exec(0).ok());  // warm up (the connection's threads, lazy opens)
  const int baseline = FdCount(agent_);
  ASSERT_GT(baseline, 0);
  for (int i = 1; i <= 400; ++i) {
    absl::Status s = one_exec(i);
    ASSERT_TRUE(s.ok()) << "exec " << i << ": " << s << " (agent fds: " << FdCount(agent_)
                        << ", baseline " << baseline << ")";
  }
  // Freeing happens as the last call returns; give the threads a moment to close.
  int now = FdCount(agent_);
  for (int tries = 0; tries < 100 && now > baseline + 4; ++tries) {
    absl::SleepFor(absl::Milliseconds(20));
    now = FdCount(agent_);
  }
  EXPECT_LE(now, baseline + 4) << "fds leaked by 400 finished execs";
  ASSERT_TRUE(api_->Remove("fd1").ok());
}

// The shim reads stdout and stderr in threads of their own, so WaitProcess may well return
// before the output was read: the exec stays until both streams were read to their end.
TEST_F(AgentE2eTest, ExecOutputIsCompleteWhenReadAfterWait) {
  ASSERT_TRUE(api_->Create(Request("ow", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("ow").ok());
  ASSERT_TRUE(
      api_->Exec("ow", "e1", {"sh", "-c", "busybox seq 1 30000; echo err-line >&2; exit 4"}).ok());
  EXPECT_EQ(*api_->Wait("ow", "e1"), 4);
  std::string want;
  for (int i = 1; i <= 30000; ++i) absl::StrAppend(&want, i, "\n");
  absl::StatusOr<std::string> out = api_->ReadAll("ow", "e1");
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), want.size());
  EXPECT_TRUE(*out == want) << "stdout read after WaitProcess is not complete";
  // stdout's end alone does not free it: stderr is still unread.
  absl::StatusOr<std::string> err = ReadStderr(*api_, "ow", "e1");
  ASSERT_TRUE(err.ok()) << err.status();
  EXPECT_EQ(*err, "err-line\n");
  EXPECT_EQ(ReadStderr(*api_, "ow", "e1").status().code(), absl::StatusCode::kOutOfRange);

  // Read first, wait second: freed by the wait; the same exec id can be used again.
  ASSERT_TRUE(api_->Exec("ow", "e2", {"echo", "two"}).ok());
  EXPECT_EQ(*api_->ReadAll("ow", "e2"), "two\n");
  EXPECT_EQ(ReadStderr(*api_, "ow", "e2").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*api_->Wait("ow", "e2"), 0);
  ASSERT_TRUE(api_->Exec("ow", "e2", {"echo", "again"}).ok());
  EXPECT_EQ(*api_->ReadAll("ow", "e2"), "again\n");
  EXPECT_EQ(*api_->Wait("ow", "e2"), 0);
  ASSERT_TRUE(api_->Remove("ow").ok());
}

// Once freed (exit collected, output read to the end), every call on the exec answers
// NOT_FOUND, and the agent goes on serving.
TEST_F(AgentE2eTest, CallsOnAFreedExecAnswerNotFound) {
  ASSERT_TRUE(api_->Create(Request("nf", {"sleep", "1000"})).ok());
  ASSERT_TRUE(api_->Start("nf").ok());
  ASSERT_TRUE(api_->Exec("nf", "e1", {"echo", "x"}).ok());
  EXPECT_EQ(*api_->ReadAll("nf", "e1"), "x\n");
  EXPECT_EQ(ReadStderr(*api_, "nf", "e1").status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*api_->Wait("nf", "e1"), 0);
  EXPECT_EQ(api_->Wait("nf", "e1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->ReadSome("nf", "e1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadStderr(*api_, "nf", "e1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->WriteStdin("nf", "e1", "x").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->CloseStdin("nf", "e1").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(api_->Signal("nf", "e1", SIGKILL).code(), absl::StatusCode::kNotFound);
  // The container's init is never freed by its wait: the container's state depends on it.
  ASSERT_TRUE(api_->Signal("nf", "nf", SIGKILL).ok());
  EXPECT_EQ(*api_->Wait("nf", "nf"), 137);
  EXPECT_EQ(*api_->Wait("nf", "nf"), 137);
  EXPECT_EQ(api_->ReadSome("nf", "nf").status().code(), absl::StatusCode::kOutOfRange);
  ASSERT_TRUE(api_->Remove("nf").ok());
}

// The fixture starts the agent with a soft limit of 1024 fds; the agent raises it.
TEST_F(AgentE2eTest, AgentRaisesItsFdLimit) {
  std::string limits = ReadFileOrDie(absl::StrCat("/proc/", agent_, "/limits"));
  std::string line;
  for (absl::string_view l : absl::StrSplit(limits, '\n')) {
    if (absl::StartsWith(l, "Max open files")) line = std::string(l);
  }
  std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
  ASSERT_GE(f.size(), 5u) << limits;
  uint64_t soft = 0, hard = 0;
  ASSERT_TRUE(absl::SimpleAtoi(f[3], &soft)) << line;
  ASSERT_TRUE(absl::SimpleAtoi(f[4], &hard)) << line;
  EXPECT_GT(soft, 1024u) << line;
  EXPECT_EQ(soft, hard) << line;
}

}  // namespace
}  // namespace e2e
}  // namespace agent
}  // namespace kata
