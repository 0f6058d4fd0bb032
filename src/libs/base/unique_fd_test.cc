#include "src/libs/base/unique_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include <utility>

#include "gtest/gtest.h"

namespace kata {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

// A fresh descriptor (one end of a pipe; the other end is closed at once).
int NewFd() {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  close(p[1]);
  return p[0];
}

TEST(UniqueFd, DefaultHoldsNothing) {
  UniqueFd fd;
  EXPECT_FALSE(fd.valid());
  EXPECT_FALSE(fd);
  EXPECT_EQ(fd.get(), -1);
  EXPECT_EQ(fd.release(), -1);
}

TEST(UniqueFd, NegativeValuesHoldNothing) {
  UniqueFd fd(-5);
  EXPECT_FALSE(fd.valid());
  EXPECT_EQ(fd.get(), -1);
}

TEST(UniqueFd, ClosesOnDestruction) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_TRUE(fd.valid());
    EXPECT_TRUE(static_cast<bool>(fd));
    EXPECT_EQ(fd.get(), raw);
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFd, ReleaseGivesUpOwnership) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  {
    UniqueFd fd(raw);
    EXPECT_EQ(fd.release(), raw);
    EXPECT_FALSE(fd.valid());
  }
  EXPECT_TRUE(IsOpen(raw));
  close(raw);
}

TEST(UniqueFd, ResetClosesTheOldAndTakesTheNew) {
  int a = NewFd();
  int b = NewFd();
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  UniqueFd fd(a);
  fd.reset(b);
  EXPECT_FALSE(IsOpen(a));
  EXPECT_TRUE(IsOpen(b));
  EXPECT_EQ(fd.get(), b);
  fd.reset();
  EXPECT_FALSE(IsOpen(b));
  EXPECT_FALSE(fd.valid());
}

TEST(UniqueFd, ResetToTheSameDescriptorKeepsItOpen) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  UniqueFd fd(raw);
  fd.reset(raw);
  EXPECT_TRUE(IsOpen(raw));
  EXPECT_EQ(fd.get(), raw);
}

TEST(UniqueFd, MoveConstructionTransfersOwnership) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  UniqueFd a(raw);
  UniqueFd b(std::move(a));
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(b.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

TEST(UniqueFd, MoveAssignmentClosesTheTargetsDescriptor) {
  int a_raw = NewFd();
  int b_raw = NewFd();
  ASSERT_GE(a_raw, 0);
  ASSERT_GE(b_raw, 0);
  UniqueFd a(a_raw);
  UniqueFd b(b_raw);
  b = std::move(a);
  EXPECT_FALSE(IsOpen(b_raw));
  EXPECT_TRUE(IsOpen(a_raw));
  EXPECT_EQ(b.get(), a_raw);
  EXPECT_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
}

TEST(UniqueFd, SelfMoveAssignmentKeepsTheDescriptor) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  UniqueFd fd(raw);
  UniqueFd& alias = fd;
  fd = std::move(alias);
  EXPECT_EQ(fd.get(), raw);
  EXPECT_TRUE(IsOpen(raw));
}

TEST(UniqueFd, ClosingLeavesErrnoAlone) {
  int raw = NewFd();
  ASSERT_GE(raw, 0);
  errno = ENOENT;
  { UniqueFd fd(raw); }
  EXPECT_EQ(errno, ENOENT);
  EXPECT_FALSE(IsOpen(raw));
}

}  // namespace
}  // namespace kata
