#include "src/agent/config/config.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata {
namespace agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ConfigTest, Defaults) {
  auto c = ResolveConfig({}, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server_addr, "vsock://-1:1024");
  EXPECT_EQ(c->log_level, LogLevel::kInfo);
  EXPECT_FALSE(c->debug_console);
  EXPECT_EQ(c->debug_console_vport, 1026u);
  EXPECT_EQ(c->debug_console_addr, "vsock://-1:1026");
  EXPECT_EQ(c->hotplug_timeout, absl::Seconds(3));
  EXPECT_FALSE(c->trace);
  EXPECT_EQ(c->trace_addr, "vsock://2:10240");
}

TEST(ConfigTest, TraceAndItsAddressFollowTheChannel) {
  ConfigSources s;
  s.kernel_cmdline = "agent.trace=true";
  auto c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->trace);
  EXPECT_EQ(c->trace_addr, "vsock://2:10240");  // Kata's: the host's port 10240
  s.kernel_cmdline = "agent.server_addr=serial://agent.channel.0 agent.trace";
  c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->trace);
  EXPECT_EQ(c->trace_addr, "serial://agent.trace");
  s.kernel_cmdline = "agent.trace=false";
  c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_FALSE(c->trace);
  s.kernel_cmdline = "agent.trace=maybe";
  c = ResolveConfig(s, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("agent.trace"));
  s.kernel_cmdline = "agent.trace";
  s.flags.trace_addr = "unix:///tmp/t.sock";
  c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->trace_addr, "unix:///tmp/t.sock");
  s.flags.trace_addr = "tcp://1.2.3.4:5";
  c = ResolveConfig(s, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("--trace-addr"));
}

TEST(ConfigTest, DebugConsoleAddressFollowsTheChannel) {
  ConfigSources s;
  s.kernel_cmdline = "agent.debug_console agent.debug_console_vport=1500";
  auto c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->debug_console);
  EXPECT_EQ(c->debug_console_addr, "vsock://-1:1500");
  // A virtio-serial agent channel: the console is the port named for it.
  s.kernel_cmdline =
      "agent.server_addr=serial://agent.channel.0 agent.debug_console "
      "agent.debug_console_vport=1026";
  c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->debug_console_addr, "serial://agent.debug_console");
  // The flag wins (host runs and tests); a bad one is refused.
  s.flags.debug_console_addr = "unix:///tmp/x.sock";
  c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->debug_console_addr, "unix:///tmp/x.sock");
  s.flags.debug_console_addr = "tcp://1.2.3.4:5";
  c = ResolveConfig(s, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("--debug-console-addr"));
  s.flags.debug_console_addr.reset();
  s.kernel_cmdline = "agent.debug_console_vport=0";
  c = ResolveConfig(s, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("agent.debug_console_vport"));
}

TEST(ConfigTest, SplitsTheKernelCmdline) {
  EXPECT_THAT(SplitKernelCmdline("  console=ttyS0  agent.log=debug a=\"b c\"\n"),
              ElementsAre("console=ttyS0", "agent.log=debug", "a=b c"));
  EXPECT_THAT(SplitKernelCmdline(""), ElementsAre());
}

TEST(ConfigTest, KernelCmdline) {
  ConfigSources s;
  s.kernel_cmdline =
      "BOOT_IMAGE=/vmlinuz root=/dev/vda1 quiet agent.server_addr=serial://agent.channel.0 "
      "agent.log=debug agent.debug_console agent.devmode=false agent.hotplug_timeout=10 "
      "agent.container_pipe_size=4096 agent.unified_cgroup_hierarchy=1 agent.cdh_api_timeout=50 "
      "systemd.unit=kata-containers.target\n";
  std::vector<std::string> warnings;
  auto c = ResolveConfig(s, &warnings);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server_addr, "serial://agent.channel.0");
  EXPECT_EQ(c->log_level, LogLevel::kDebug);
  EXPECT_TRUE(c->debug_console);
  EXPECT_FALSE(c->dev_mode);
  EXPECT_EQ(c->hotplug_timeout, absl::Seconds(10));
  EXPECT_EQ(c->container_pipe_size, 4096);
  EXPECT_TRUE(c->unified_cgroup_hierarchy);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_THAT(warnings[0], HasSubstr("agent.cdh_api_timeout"));
}

TEST(ConfigTest, BadValuesNameTheKey) {
  struct Case {
    const char* cmdline;
    const char* key;
  } cases[] = {
      {"agent.log=loud", "agent.log"},
      {"agent.server_addr=tcp://x:1", "agent.server_addr"},
      {"agent.server_addr", "agent.server_addr"},
      {"agent.hotplug_timeout=-1", "agent.hotplug_timeout"},
      {"agent.hotplug_timeout=soon", "agent.hotplug_timeout"},
      {"agent.container_pipe_size=big", "agent.container_pipe_size"},
      {"agent.devmode=maybe", "agent.devmode"},
  };
  for (const Case& c : cases) {
    ConfigSources s;
    s.kernel_cmdline = c.cmdline;
    auto r = ResolveConfig(s, nullptr);
    ASSERT_FALSE(r.ok()) << c.cmdline;
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << c.cmdline;
    EXPECT_THAT(r.status().message(), HasSubstr(c.key)) << c.cmdline;
  }
}

TEST(ConfigTest, EnvAndFlagsOverride) {
  ConfigSources s;
  s.kernel_cmdline = "agent.server_addr=vsock://-1:2000 agent.log=debug";
  s.env_server_addr = "unix:///run/env.sock";
  auto c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server_addr, "unix:///run/env.sock");

  const char* argv[] = {"--server-addr", "unix:///run/flag.sock", "--log-level=error"};
  auto flags = ParseFlags(3, argv);
  ASSERT_TRUE(flags.ok()) << flags.status();
  s.flags = *flags;
  c = ResolveConfig(s, nullptr);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->server_addr, "unix:///run/flag.sock");
  EXPECT_EQ(c->log_level, LogLevel::kError);

  s.env_server_addr = "nonsense";
  c = ResolveConfig(s, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("KATA_AGENT_SERVER_ADDR"));

  s.env_server_addr.reset();
  s.flags.log_level = "loud";
  c = ResolveConfig(s, nullptr);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(c.status().message(), HasSubstr("--log-level"));
}

TEST(ConfigTest, FlagErrors) {
  const char* unknown[] = {"--bogus"};
  EXPECT_FALSE(ParseFlags(1, unknown).ok());
  const char* missing[] = {"--server-addr"};
  auto r = ParseFlags(1, missing);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("--server-addr"));
  const char* positional[] = {"extra"};
  EXPECT_FALSE(ParseFlags(1, positional).ok());
  const char* help[] = {"-h", "--cmdline-file=/tmp/c"};
  auto h = ParseFlags(2, help);
  ASSERT_TRUE(h.ok());
  EXPECT_TRUE(h->help);
  EXPECT_EQ(*h->cmdline_file, "/tmp/c");
}

}  // namespace
}  // namespace agent
}  // namespace kata
