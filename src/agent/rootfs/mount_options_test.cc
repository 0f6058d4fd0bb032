#include "src/agent/rootfs/mount_options.h"

#include <sys/mount.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata {
namespace rootfs {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(ParseMountOptionsTest, Empty) {
  MountOptions o = ParseMountOptions({});
  EXPECT_EQ(o.flags, 0u);
  EXPECT_THAT(o.propagation, IsEmpty());
  EXPECT_EQ(o.data, "");
  EXPECT_FALSE(o.IsBind());
}

TEST(ParseMountOptionsTest, FlagOptions) {
  MountOptions o = ParseMountOptions(
      {"ro", "nosuid", "nodev", "noexec", "relatime", "strictatime", "remount", "defaults"});
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC |
                                                MS_RELATIME | MS_STRICTATIME | MS_REMOUNT));
  EXPECT_EQ(o.data, "");
}

TEST(ParseMountOptionsTest, LaterOptionWins) {
  EXPECT_EQ(ParseMountOptions({"ro", "rw"}).flags, 0u);
  EXPECT_EQ(ParseMountOptions({"rw", "ro"}).flags, static_cast<unsigned long>(MS_RDONLY));
  EXPECT_EQ(ParseMountOptions({"nosuid", "suid", "nodev"}).flags,
            static_cast<unsigned long>(MS_NODEV));
}

TEST(ParseMountOptionsTest, Bind) {
  MountOptions bind = ParseMountOptions({"bind"});
  EXPECT_TRUE(bind.IsBind());
  EXPECT_EQ(bind.flags, static_cast<unsigned long>(MS_BIND));
  MountOptions rbind = ParseMountOptions({"rbind", "ro"});
  EXPECT_TRUE(rbind.IsBind());
  EXPECT_EQ(rbind.flags, static_cast<unsigned long>(MS_BIND | MS_REC | MS_RDONLY));
}

TEST(ParseMountOptionsTest, PropagationIsSeparateAndOrdered) {
  MountOptions o = ParseMountOptions(
      {"rprivate", "shared", "rslave", "private", "rshared", "slave", "unbindable", "runbindable"});
  EXPECT_EQ(o.flags, 0u);
  EXPECT_THAT(o.propagation,
              ElementsAre(MS_PRIVATE | MS_REC, MS_SHARED, MS_SLAVE | MS_REC, MS_PRIVATE,
                          MS_SHARED | MS_REC, MS_SLAVE, MS_UNBINDABLE, MS_UNBINDABLE | MS_REC));
}

TEST(ParseMountOptionsTest, DataKeepsUnknownOptionsInOrder) {
  MountOptions o = ParseMountOptions({"nosuid", "mode=755", "size=65536k", "newinstance", "gid=5"});
  EXPECT_EQ(o.flags, static_cast<unsigned long>(MS_NOSUID));
  EXPECT_EQ(o.data, "mode=755,size=65536k,newinstance,gid=5");
}

TEST(ParseMountOptionsTest, TypicalOciMounts) {
  MountOptions dev = ParseMountOptions({"nosuid", "strictatime", "mode=755", "size=65536k"});
  EXPECT_EQ(dev.flags, static_cast<unsigned long>(MS_NOSUID | MS_STRICTATIME));
  EXPECT_EQ(dev.data, "mode=755,size=65536k");
  MountOptions pts =
      ParseMountOptions({"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"});
  EXPECT_EQ(pts.flags, static_cast<unsigned long>(MS_NOSUID | MS_NOEXEC));
  EXPECT_EQ(pts.data, "newinstance,ptmxmode=0666,mode=0620");
}

TEST(PropagationFlagsTest, KnownAndUnknown) {
  EXPECT_EQ(PropagationFlags("rslave"), static_cast<unsigned long>(MS_SLAVE | MS_REC));
  EXPECT_EQ(PropagationFlags("private"), static_cast<unsigned long>(MS_PRIVATE));
  EXPECT_EQ(PropagationFlags("ro"), 0u);
  EXPECT_EQ(PropagationFlags(""), 0u);
}

}  // namespace
}  // namespace rootfs
}  // namespace kata
