#include "src/libs/metrics/procfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"
#include "src/libs/metrics/process_metrics.h"
#include "src/libs/metrics/prometheus.h"

namespace kata::metrics {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Pair;

void Write(const std::string& path, const std::string& text) {
  ASSERT_TRUE(WriteStringToFile(path, text).ok()) << path;
}

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(mkdir(dir_.Join("42").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir_.Join("42/fd").c_str(), 0755), 0);
    ASSERT_EQ(mkdir(dir_.Join("net").c_str(), 0755), 0);
    for (const char* fd : {"0", "1", "2", "7"}) Write(dir_.Join(std::string("42/fd/") + fd), "");
    // comm holds spaces and a ')'.
    Write(dir_.Join("42/stat"),
          "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 5 0 1000 "
          "123456789 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
    Write(dir_.Join("42/status"),
          "Name:\ta b) c\nState:\tS (sleeping)\nVmRSS:\t    1200 kB\nThreads:\t5\n"
          "voluntary_ctxt_switches:\t9\n");
    Write(dir_.Join("42/io"), "rchar: 10\nwchar: 20\nread_bytes: 4096\n");
    Write(dir_.Join("42/limits"),
          "Limit                     Soft Limit           Hard Limit           Units\n"
          "Max open files            1024                 4096                 files\n");
    Write(dir_.Join("stat"),
          "cpu  100 2 30 4000 5 0 6 0 0 0\ncpu0 50 1 15 2000 2 0 3 0 0 0\n"
          "cpu1 50 1 15 2000 3 0 3 0 0 0\nintr 1 2\nbtime 1700000000\n");
    Write(dir_.Join("meminfo"),
          "MemTotal:        2000 kB\nMemFree:    1000 kB\nActive(anon):  10 kB\n"
          "HugePages_Total:       0\nDirectMap2M:   4 kB\nNewThing(x):  1 kB\n");
    Write(dir_.Join("vmstat"), "nr_free_pages 250\npgfault 77\n");
    Write(dir_.Join("loadavg"), "0.50 0.25 0.10 2/87 1234\n");
    Write(dir_.Join("net/dev"),
          "Inter-|   Receive                                                |  Transmit\n"
          " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets "
          "errs drop fifo colls carrier compressed\n"
          "    lo:     100       2    0    0    0     0          0         0      100       2 "
          "   0    0    0     0       0          0\n"
          "  eth0: 5000 40 1 2 0 0 0 3 6000 50 0 0 0 0 0 0\n");
    Write(dir_.Join("diskstats"),
          " 254       0 vda 10 1 80 5 2 0 16 3 0 9 8 0 0 0 0 4 1\n"
          "   7       0 loop0 1 0 2 0 0 0 0 0 0 0 0\n");
  }
  kata::testing::TempDir dir_;
};

TEST_F(FakeProc, ProcessStats) {
  absl::StatusOr<ProcessStats> s = ReadProcessStats(dir_.path(), "42");
  ASSERT_TRUE(s.ok()) << s.status();
  const double tps = static_cast<double>(sysconf(_SC_CLK_TCK));
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 300 / tps);
  EXPECT_EQ(s->stat.at("utime"), 250u);
  EXPECT_EQ(s->stat.at("cstime"), 3u);
  EXPECT_EQ(s->threads, 5u);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1700000000 + 1000 / tps);
  EXPECT_EQ(s->virtual_bytes, 123456789u);
  EXPECT_EQ(s->rss_bytes, 300u * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(s->status.at("vmrss"), 1200u * 1024);
  EXPECT_EQ(s->status.at("voluntary_ctxt_switches"), 9u);
  EXPECT_EQ(s->status.count("state"), 0u);
  ASSERT_TRUE(s->io.has_value());
  EXPECT_EQ(s->io->at("read_bytes"), 4096u);
  EXPECT_EQ(s->open_fds, 4u);
  EXPECT_EQ(s->max_fds, 1024u);

  std::string out;
  AppendProcessMetrics("kata_agent", *s, &out);
  absl::StatusOr<Exposition> exp = ParseExposition(out);
  ASSERT_TRUE(exp.ok()) << exp.status() << out;
  EXPECT_EQ(*exp->Value("kata_agent_threads"), 5);
  EXPECT_EQ(*exp->Value("kata_agent_fds"), 4);
  EXPECT_EQ(*exp->Value("kata_agent_proc_status", {{"item", "vmrss"}}), 1200 * 1024);
  EXPECT_EQ(*exp->Value("kata_agent_io_stat", {{"item", "rchar"}}), 10);
  EXPECT_EQ(exp->types.at("kata_agent_process_cpu_seconds_total"), "counter");
  EXPECT_DOUBLE_EQ(*exp->Value("kata_agent_process_cpu_seconds_total"), 300 / tps);
  EXPECT_EQ(*exp->Value("kata_agent_process_max_fds"), 1024);
}

TEST_F(FakeProc, MissingProcessIsNotFound) {
  EXPECT_EQ(ReadProcessStats(dir_.path(), "43").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FakeProc, BadStatNamesTheFile) {
  Write(dir_.Join("42/stat"), "42 (x) S 1 2\n");
  absl::Status s = ReadProcessStats(dir_.path(), "42").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("42/stat"));
}

TEST_F(FakeProc, Meminfo) {
  absl::StatusOr<Counters> m = ReadMeminfo(dir_.path());
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_THAT(*m, Contains(Pair("mem_total", 2000u * 1024)));
  EXPECT_THAT(*m, Contains(Pair("active_anon", 10u * 1024)));
  EXPECT_THAT(*m, Contains(Pair("hugepages_total", 0u)));
  EXPECT_THAT(*m, Contains(Pair("direct_map_2M", 4u * 1024)));
  EXPECT_THAT(*m, Contains(Pair("newthing_x", 1024u)));
}

TEST_F(FakeProc, CpuTimesInMilliseconds) {
  absl::StatusOr<std::vector<CpuTimes>> cpus = ReadCpuTimes(dir_.path());
  ASSERT_TRUE(cpus.ok()) << cpus.status();
  ASSERT_EQ(cpus->size(), 3u);
  const uint64_t ms = 1000 / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  EXPECT_EQ((*cpus)[0].cpu, "total");
  EXPECT_EQ((*cpus)[0].ms.at("user"), 100 * ms);
  EXPECT_EQ((*cpus)[0].ms.at("idle"), 4000 * ms);
  EXPECT_EQ((*cpus)[2].cpu, "1");
  EXPECT_EQ((*cpus)[2].ms.at("iowait"), 3 * ms);
  EXPECT_EQ((*cpus)[2].ms.at("guest_nice"), 0u);
  Write(dir_.Join("stat"), "cpu  1 x 3 4\n");
  EXPECT_EQ(ReadCpuTimes(dir_.path()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(FakeProc, LoadVmstatNetDevDiskstats) {
  absl::StatusOr<LoadAvg> load = ReadLoadAvg(dir_.path());
  ASSERT_TRUE(load.ok()) << load.status();
  EXPECT_DOUBLE_EQ(load->load5, 0.25);
  EXPECT_EQ(load->tasks_running, 2u);
  EXPECT_EQ(load->tasks_total, 87u);
  EXPECT_THAT(*ReadVmstat(dir_.path()), Contains(Pair("pgfault", 77u)));
  absl::StatusOr<std::map<std::string, Counters>> net = ReadNetDev(dir_.path());
  ASSERT_TRUE(net.ok()) << net.status();
  EXPECT_EQ(net->size(), 2u);
  EXPECT_EQ(net->at("eth0").at("recv_bytes"), 5000u);
  EXPECT_EQ(net->at("eth0").at("recv_multicast"), 3u);
  EXPECT_EQ(net->at("eth0").at("sent_packets"), 50u);
  absl::StatusOr<std::map<std::string, Counters>> disks = ReadDiskstats(dir_.path());
  ASSERT_TRUE(disks.ok()) << disks.status();
  EXPECT_EQ(disks->at("vda").at("sectors_read"), 80u);
  EXPECT_EQ(disks->at("vda").at("flushes"), 4u);
  EXPECT_EQ(disks->at("loop0").count("discards"), 0u);
  Write(dir_.Join("loadavg"), "0.5 x\n");
  EXPECT_EQ(ReadLoadAvg(dir_.path()).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(RealProc, SelfParses) {
  absl::StatusOr<ProcessStats> s = ReadProcessStats("/proc", "self");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GE(s->threads, 1u);
  EXPECT_GT(s->rss_bytes, 0u);
  EXPECT_GE(s->open_fds, 3u);
  EXPECT_TRUE(ReadMeminfo("/proc").ok());
  EXPECT_TRUE(ReadCpuTimes("/proc").ok());
  EXPECT_TRUE(ReadNetDev("/proc").ok());
  EXPECT_TRUE(ReadDiskstats("/proc").ok());
  EXPECT_TRUE(ReadLoadAvg("/proc").ok());
}

}  // namespace
}  // namespace kata::metrics
