// Boots the guest image (tools/osbuilder) in QEMU (TCG) and talks to kata-agent, PID 1 in the
// guest, over the virtio-serial channel. Arguments: the image files (vmlinux.container,
// kata-containers-initrd.img, manifest.txt) in any order.
#include <iostream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "tests/guest/qemu_guest.h"

namespace {

using ::testing::HasSubstr;

std::string g_kernel, g_initrd;

kata::ttrpc::CallOptions Bounded() {
  kata::ttrpc::CallOptions o;
  o.timeout = absl::Seconds(20);
  return o;
}

TEST(GuestBootTest, AgentIsPid1AndAnswersHealthVersionGuestDetails) {
  kata::testing::QemuGuest guest;
  absl::Status boot = guest.Boot({g_kernel, g_initrd});
  ASSERT_TRUE(boot.ok()) << boot;
  std::cerr << "agent answered Health.Check " << absl::FormatDuration(guest.time_to_ready())
            << " after QEMU started\n";

  grpc::HealthTtrpc::Client health(guest.client());
  grpc::VersionCheckResponse version;
  absl::Status s = health.Version(grpc::CheckRequest(), &version, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_FALSE(version.agent_version().empty());

  grpc::AgentServiceTtrpc::Client agent(guest.client());
  grpc::GuestDetailsRequest req;
  req.set_mem_block_size(true);
  grpc::GuestDetailsResponse details;
  s = agent.GetGuestDetails(req, &details, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_GT(details.mem_block_size_bytes(), 0u);
  EXPECT_TRUE(details.agent_details().init_daemon()) << "the agent does not know it is PID 1";
  // The agent logs to the console as PID 1.
  EXPECT_THAT(guest.Console(), HasSubstr("pid=1"));
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (absl::EndsWith(a, "vmlinux.container")) g_kernel = a;
    if (absl::EndsWith(a, "initrd.img")) g_initrd = a;
  }
  if (g_kernel.empty() || g_initrd.empty()) {
    fprintf(stderr, "usage: boot_test .../vmlinux.container .../kata-containers-initrd.img\n");
    return 2;
  }
  return RUN_ALL_TESTS();
}
