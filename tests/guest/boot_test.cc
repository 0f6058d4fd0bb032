// Boots the guest image (tools/osbuilder) in QEMU (TCG) and talks to kata-agent, PID 1 in the
// guest, over the virtio-serial channel. Arguments: the image files (vmlinux.container,
// kata-containers-initrd.img, manifest.txt) in any order, and --arch=aarch64 for the arm64
// image (qemu-system-aarch64 -M virt under TCG).
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
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

std::string g_kernel, g_initrd, g_arch = "x86_64";

kata::ttrpc::CallOptions Bounded() {
  kata::ttrpc::CallOptions o;
  o.timeout = absl::Seconds(20);
  return o;
}

TEST(GuestBootTest, AgentIsPid1AndAnswersHealthVersionGuestDetails) {
  kata::testing::QemuGuest guest;
  absl::Status boot =
      guest.Boot({.kernel = g_kernel, .initrd = g_initrd, .arch = g_arch}, absl::Seconds(300));
  ASSERT_TRUE(boot.ok()) << boot;
  std::cerr << g_arch << ": agent answered Health.Check "
            << absl::FormatDuration(guest.time_to_ready()) << " after QEMU started\n";

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

// Copies /bin/busybox (busybox-static) into DIR/bin with the applets the container uses.
void MakeBusyboxRootfs(const std::string& rootfs) {
  for (const char* d : {"/bin", "/proc", "/dev", "/tmp", "/sys"}) {
    ASSERT_EQ(system(("mkdir -p '" + rootfs + d + "'").c_str()), 0);
  }
  ASSERT_EQ(system(("cp /bin/busybox '" + rootfs + "/bin/busybox'").c_str()), 0)
      << "busybox-static is missing (tools/setup installs it)";
  for (const char* a : {"sh", "echo", "hostname", "cat"}) {
    ASSERT_EQ(symlink("busybox", (rootfs + "/bin/" + a).c_str()), 0);
  }
}

TEST(GuestBootTest, BusyboxContainerFrom9pShareThenDestroySandboxPowersOff) {
  kata::testing::QemuGuest guest;
  ASSERT_NO_FATAL_FAILURE(MakeBusyboxRootfs(guest.share_dir() + "/c1/rootfs"));
  absl::Status s = guest.Boot({g_kernel, g_initrd});
  ASSERT_TRUE(s.ok()) << s;
  grpc::AgentServiceTtrpc::Client agent(guest.client());
  const std::string shared = "/run/kata-containers/shared/containers/";

  grpc::CreateSandboxRequest sandbox;
  sandbox.set_hostname("pod1");
  sandbox.set_sandbox_id("sb1");
  grpc::Storage* storage = sandbox.add_storages();
  storage->set_driver("9p");
  storage->set_source("kataShared");
  storage->set_fstype("9p");
  for (const char* o : {"trans=virtio", "version=9p2000.L", "cache=mmap", "nodev"}) {
    storage->add_options(o);
  }
  storage->set_mount_point(shared);
  google::protobuf::Empty empty;
  s = agent.CreateSandbox(sandbox, &empty, Bounded());
  ASSERT_TRUE(s.ok()) << s << "\nconsole:\n" << guest.Console();

  grpc::CreateContainerRequest create;
  create.set_container_id("c1");
  create.set_exec_id("c1");
  grpc::Spec* spec = create.mutable_oci();
  spec->set_version("1.0.2");
  grpc::Process* process = spec->mutable_process();
  for (const char* a : {"sh", "-c", "echo hello from $(hostname) in a VM; exit 3"}) {
    process->add_args(a);
  }
  process->add_env("PATH=/bin");
  process->set_cwd("/");
  spec->mutable_root()->set_path(shared + "c1/rootfs");
  grpc::Mount* proc = spec->add_mounts();
  proc->set_destination("/proc");
  proc->set_source("proc");
  proc->set_type("proc");
  spec->mutable_linux()->set_cgroupspath("/kata/c1");
  for (const char* ns : {"mount", "uts", "ipc", "pid"}) {
    spec->mutable_linux()->add_namespaces()->set_type(ns);
  }
  s = agent.CreateContainer(create, &empty, Bounded());
  ASSERT_TRUE(s.ok()) << s << "\nconsole:\n" << guest.Console();
  grpc::StartContainerRequest start;
  start.set_container_id("c1");
  s = agent.StartContainer(start, &empty, Bounded());
  ASSERT_TRUE(s.ok()) << s << "\nconsole:\n" << guest.Console();

  std::string out;
  for (int i = 0; i < 50; ++i) {
    grpc::ReadStreamRequest read;
    read.set_container_id("c1");
    read.set_exec_id("c1");
    read.set_len(4096);
    grpc::ReadStreamResponse data;
    s = agent.ReadStdout(read, &data, Bounded());
    if (!s.ok()) break;  // OUT_OF_RANGE: end of output
    out += data.data();
  }
  EXPECT_TRUE(absl::IsOutOfRange(s)) << s;
  EXPECT_EQ(out, "hello from pod1 in a VM\n");

  grpc::WaitProcessRequest wait;
  wait.set_container_id("c1");
  wait.set_exec_id("c1");
  grpc::WaitProcessResponse waited;
  s = agent.WaitProcess(wait, &waited, Bounded());
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(waited.status(), 3);

  // DestroySandbox ends the agent's main loop; as PID 1 it powers the VM off and QEMU exits.
  s = agent.DestroySandbox(grpc::DestroySandboxRequest(), &empty, Bounded());
  EXPECT_TRUE(s.ok()) << s;
  absl::StatusOr<int> exited = guest.WaitExit(absl::Seconds(60));
  ASSERT_TRUE(exited.ok()) << exited.status() << "\nconsole:\n" << guest.Console();
  EXPECT_TRUE(WIFEXITED(*exited) && WEXITSTATUS(*exited) == 0) << *exited;
  EXPECT_THAT(guest.Console(), HasSubstr("sandbox destroyed"));
}

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (absl::EndsWith(a, "vmlinux.container")) g_kernel = a;
    if (absl::EndsWith(a, "initrd.img")) g_initrd = a;
    if (absl::StartsWith(a, "--arch=")) g_arch = a.substr(7);
  }
  if (g_kernel.empty() || g_initrd.empty()) {
    fprintf(stderr, "usage: boot_test .../vmlinux.container .../kata-containers-initrd.img\n");
    return 2;
  }
  return RUN_ALL_TESTS();
}
