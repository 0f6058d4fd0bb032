#include "src/agent/channel/address.h"

#include <sys/stat.h>

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace agent {
namespace {

using ::testing::HasSubstr;

TEST(ParseAgentAddressTest, Forms) {
  auto a = ParseAgentAddress("vsock://-1:1024");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, AgentAddress::Kind::kListen);
  EXPECT_EQ(a->listen, "vsock://-1:1024");

  a = ParseAgentAddress("unix:///run/agent.sock");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, AgentAddress::Kind::kListen);

  a = ParseAgentAddress("serial:///dev/vport0p1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, AgentAddress::Kind::kSerialPath);
  EXPECT_EQ(a->serial, "/dev/vport0p1");

  a = ParseAgentAddress("serial://agent.channel.0");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->kind, AgentAddress::Kind::kSerialName);
  EXPECT_EQ(a->serial, "agent.channel.0");
}

TEST(ParseAgentAddressTest, Rejects) {
  for (const char* bad : {"", "tcp://1.2.3.4:5", "serial://", "serial://a/b",
                          "hvsock:///run/vm.sock:1024", "vsock://x:y"}) {
    auto a = ParseAgentAddress(bad);
    EXPECT_FALSE(a.ok()) << bad;
    EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

class FindVirtioPortTest : public ::testing::Test {
 protected:
  void SetUp() override {
    roots_.sysfs = root_ + "/sys";
    roots_.dev = root_ + "/dev";
    Mkdirs(roots_.sysfs + "/class/virtio-ports");
  }
  static void Mkdirs(const std::string& path) {
    std::string cur;
    for (size_t i = 1; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '/') {
        cur = path.substr(0, i);
        mkdir(cur.c_str(), 0755);
      }
    }
  }
  void AddPort(const std::string& port, const std::string& name_content) {
    const std::string dir = roots_.sysfs + "/class/virtio-ports/" + port;
    Mkdirs(dir);
    ASSERT_TRUE(WriteStringToFile(dir + "/name", name_content).ok());
  }
  kata::testing::TempDir tmp_;
  const std::string root_ = tmp_.path();
  SysRoots roots_;
};

TEST_F(FindVirtioPortTest, FindsThePortByName) {
  AddPort("vport0p0", "");
  AddPort("vport1p1", "org.qemu.guest_agent.0\n");
  AddPort("vport1p2", "agent.channel.0\n");
  auto path = FindVirtioPort("agent.channel.0", roots_);
  ASSERT_TRUE(path.ok()) << path.status();
  EXPECT_EQ(*path, roots_.dev + "/vport1p2");
}

TEST_F(FindVirtioPortTest, NotFoundListsWhatItSaw) {
  AddPort("vport0p1", "other\n");
  auto path = FindVirtioPort("agent.channel.0", roots_);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(path.status().message(), HasSubstr("agent.channel.0"));
  EXPECT_THAT(path.status().message(), HasSubstr("vport0p1=other"));
}

TEST_F(FindVirtioPortTest, NoVirtioPortsClass) {
  SysRoots empty{root_ + "/nosys", root_ + "/dev"};
  auto path = FindVirtioPort("agent.channel.0", empty);
  ASSERT_FALSE(path.ok());
  EXPECT_EQ(path.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(path.status().message(), HasSubstr("virtio-ports"));
}

}  // namespace
}  // namespace agent
}  // namespace kata
