// The aarch64 kata-agent (built statically for //bazel/platforms:guest_aarch64 through a
// transition) is an aarch64 ELF without an interpreter, and under qemu-aarch64-static on this
// x86_64 host it answers Health.Check, Version and GetGuestDetails over a unix socket.
// argv[1] = the aarch64 kata-agent.
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <iostream>
#include <string>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"

namespace {

std::string g_agent;

TEST(Aarch64AgentTest, StaticAarch64Elf) {
  const std::string bytes = kata::testing::ReadFileOrDie(g_agent);
  ASSERT_GT(bytes.size(), sizeof(Elf64_Ehdr));
  const auto* eh = reinterpret_cast<const Elf64_Ehdr*>(bytes.data());
  ASSERT_EQ(std::string(reinterpret_cast<const char*>(eh->e_ident), 4),
            "\x7f"
            "ELF");
  EXPECT_EQ(eh->e_ident[EI_CLASS], ELFCLASS64);
  EXPECT_EQ(eh->e_machine, EM_AARCH64);
  EXPECT_EQ(eh->e_type, ET_EXEC) << "not a static (non-PIE) executable";
  for (int i = 0; i < eh->e_phnum; ++i) {
    const auto* ph =
        reinterpret_cast<const Elf64_Phdr*>(bytes.data() + eh->e_phoff + i * eh->e_phentsize);
    EXPECT_NE(ph->p_type, static_cast<Elf64_Word>(PT_INTERP)) << "has an ELF interpreter";
    EXPECT_NE(ph->p_type, static_cast<Elf64_Word>(PT_DYNAMIC)) << "is dynamically linked";
  }
  std::cerr << "aarch64 kata-agent: " << bytes.size() << " bytes\n";
}

TEST(Aarch64AgentTest, AnswersUnderQemuUser) {
  const kata::testing::TempDir dir("/tmp");  // short: unix socket paths are limited to 108 bytes
  const std::string sock = dir.Join("agent.sock"), log = dir.Join("agent.log");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) dup2(fd, 2);
    execlp("qemu-aarch64-static", "qemu-aarch64-static", g_agent.c_str(), "--server-addr",
           ("unix://" + sock).c_str(), nullptr);
    _exit(127);
  }
  auto client = kata::ttrpc::Client::Dial("unix://" + sock, absl::Seconds(30));
  absl::Status s = client.status();
  if (client.ok()) {
    kata::ttrpc::CallOptions o;
    o.timeout = absl::Seconds(10);
    grpc::HealthTtrpc::Client health(client->get());
    grpc::HealthCheckResponse check;
    s = health.Check(grpc::CheckRequest(), &check, o);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(check.status(), grpc::HealthCheckResponse::SERVING);
    grpc::VersionCheckResponse version;
    s = health.Version(grpc::CheckRequest(), &version, o);
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_FALSE(version.agent_version().empty());
    grpc::AgentServiceTtrpc::Client agent(client->get());
    grpc::GuestDetailsResponse details;
    s = agent.GetGuestDetails(grpc::GuestDetailsRequest(), &details, o);
    EXPECT_TRUE(s.ok()) << s;
    client->reset();
  } else {
    ADD_FAILURE() << "dial: " << s;
  }
  kill(pid, SIGTERM);
  int status = 0;
  const absl::Time until = absl::Now() + absl::Seconds(10);
  while (waitpid(pid, &status, WNOHANG) != pid) {
    if (absl::Now() > until) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "agent did not stop on SIGTERM";
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::cerr << kata::testing::ReadFileOrDie(log);
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    fprintf(stderr, "usage: aarch64_agent_test AARCH64_KATA_AGENT\n");
    return 2;
  }
  g_agent = argv[1];
  return RUN_ALL_TESTS();
}
