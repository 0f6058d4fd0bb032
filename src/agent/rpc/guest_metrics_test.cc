#include "src/agent/rpc/guest_metrics.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/agent/rpc/agent_service.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/metrics/prometheus.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/ttrpc/client.h"
#include "src/libs/ttrpc/server.h"

namespace kata {
namespace agent {
namespace {

using metrics::Exposition;
using metrics::ParseExposition;

void Write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(WriteStringToFile(path, text).ok()) << path;
}

// A fake /proc: the agent is "self" (pid 1 with 3 fds), two CPUs, one disk, eth0.
void MakeFakeProc(const kata::testing::TempDir& dir) {
  for (const char* d : {"self", "self/fd", "net"}) {
    ASSERT_EQ(mkdir(dir.Join(d).c_str(), 0755), 0) << d;
  }
  for (const char* fd : {"0", "1", "2"}) Write(dir.Join(std::string("self/fd/") + fd), "");
  Write(dir.Join("self/stat"),
        "1 (kata-agent) S 0 1 1 0 -1 4194560 100 0 0 0 40 10 0 0 20 0 3 0 5 "
        "9000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
  Write(dir.Join("self/status"), "Name:\tkata-agent\nVmRSS:\t 800 kB\nThreads:\t3\n");
  Write(dir.Join("stat"),
        "cpu  300 0 100 9000 0 0 0 0 0 0\ncpu0 150 0 50 4500 0 0 0 0 0 0\n"
        "cpu1 150 0 50 4500 0 0 0 0 0 0\nbtime 1700000000\n");
  Write(dir.Join("meminfo"), "MemTotal:  2048000 kB\nMemFree:  1024000 kB\n");
  Write(dir.Join("vmstat"), "nr_free_pages 256000\n");
  Write(dir.Join("loadavg"), "1.00 0.50 0.25 3/40 99\n");
  Write(dir.Join("net/dev"),
        "Inter-| Receive | Transmit\n face |bytes packets|bytes packets\n"
        "  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n");
  Write(dir.Join("diskstats"), " 254 0 vda 10 0 80 5 2 0 16 3 0 9 8\n");
}

TEST(GuestMetricsTest, KataNamesFromFakeProc) {
  kata::testing::TempDir dir;
  MakeFakeProc(dir);
  GuestMetrics m(dir.path());
  std::string text = m.Collect();
  absl::StatusOr<Exposition> exp = ParseExposition(text);
  ASSERT_TRUE(exp.ok()) << exp.status() << "\n" << text;
  const double tps = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double ms = 1000 / tps;
  EXPECT_EQ(*exp->Value("kata_agent_scrape_count"), 1);
  EXPECT_DOUBLE_EQ(*exp->Value("kata_agent_total_time"), 50 / tps);
  EXPECT_EQ(*exp->Value("kata_agent_total_vm"), 9000000);
  EXPECT_EQ(*exp->Value("kata_agent_threads"), 3);
  EXPECT_EQ(*exp->Value("kata_agent_process_open_fds"), 3);
  EXPECT_EQ(*exp->Value("kata_agent_proc_status", {{"item", "vmrss"}}), 800 * 1024);
  EXPECT_EQ(*exp->Value("kata_guest_load", {{"item", "load1"}}), 1);
  EXPECT_EQ(*exp->Value("kata_guest_tasks", {{"item", "max"}}), 40);
  EXPECT_EQ(*exp->Value("kata_guest_cpu_time", {{"cpu", "total"}, {"item", "user"}}), 300 * ms);
  EXPECT_EQ(*exp->Value("kata_guest_cpu_time", {{"cpu", "1"}, {"item", "idle"}}), 4500 * ms);
  EXPECT_EQ(*exp->Value("kata_guest_meminfo", {{"item", "mem_total"}}), 2048000.0 * 1024);
  EXPECT_EQ(*exp->Value("kata_guest_vm_stat", {{"item", "nr_free_pages"}}), 256000);
  EXPECT_EQ(*exp->Value("kata_guest_netdev_stat", {{"interface", "eth0"}, {"item", "sent_bytes"}}),
            2000);
  EXPECT_EQ(*exp->Value("kata_guest_diskstat", {{"disk", "vda"}, {"item", "sectors_written"}}), 16);
  EXPECT_EQ(exp->types.at("kata_agent_scrape_count"), "counter");
  EXPECT_EQ(exp->types.at("kata_guest_cpu_time"), "gauge");
  // The count moves with each scrape.
  exp = ParseExposition(m.Collect());
  ASSERT_TRUE(exp.ok());
  EXPECT_EQ(*exp->Value("kata_agent_scrape_count"), 2);
}

TEST(GuestMetricsTest, MissingFilesLeaveTheirFamiliesOut) {
  kata::testing::TempDir dir;
  MakeFakeProc(dir);
  ASSERT_EQ(unlink(dir.Join("diskstats").c_str()), 0);
  Write(dir.Join("loadavg"), "garbage\n");
  absl::StatusOr<Exposition> exp = ParseExposition(GuestMetrics(dir.path()).Collect());
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_EQ(exp->types.count("kata_guest_diskstat"), 0u);
  EXPECT_EQ(exp->types.count("kata_guest_load"), 0u);
  EXPECT_EQ(exp->types.count("kata_guest_meminfo"), 1u);
}

// GetMetrics through the ttRPC server, on this machine's real /proc.
TEST(GuestMetricsTest, GetMetricsOverTtrpc) {
  AgentService agent({});
  ttrpc::Server server;
  ASSERT_TRUE(server.Register(&agent).ok());
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  ASSERT_TRUE(server.ServeFd(sv[0]).ok());
  ttrpc::Client client(sv[1]);
  ttrpc::CallOptions o;
  o.timeout = absl::Seconds(5);
  grpc::AgentServiceTtrpc::Client a(&client);
  grpc::Metrics metrics;
  ASSERT_TRUE(a.GetMetrics(grpc::GetMetricsRequest(), &metrics, o).ok());
  absl::StatusOr<Exposition> exp = ParseExposition(metrics.metrics());
  ASSERT_TRUE(exp.ok()) << exp.status();
  EXPECT_GE(*exp->Value("kata_agent_threads"), 1);
  EXPECT_GT(*exp->Value("kata_agent_process_resident_memory_bytes"), 0);
  EXPECT_GT(*exp->Value("kata_guest_meminfo", {{"item", "mem_total"}}), 0);
  EXPECT_GT(*exp->Value("kata_guest_cpu_time", {{"cpu", "total"}, {"item", "user"}}), 0);
  EXPECT_TRUE(exp->Value("kata_guest_netdev_stat", {{"interface", "lo"}}).ok());
  server.Shutdown(absl::Seconds(1));
}

}  // namespace
}  // namespace agent
}  // namespace kata
