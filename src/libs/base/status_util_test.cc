#include "src/libs/base/status_util.h"

#include <errno.h>

#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "src/libs/base/status_macros.h"

namespace kata {
namespace {

using ::testing::HasSubstr;

TEST(ErrnoStatus, NamesTheObjectAndTheCause) {
  absl::Status s = ErrnoStatus(EBUSY, "container c1: mount /proc");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(s.message()), HasSubstr("container c1: mount /proc: EBUSY"));
}

TEST(ErrnoStatus, MapsCommonErrnos) {
  EXPECT_EQ(ErrnoStatus(ENOENT, "x").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ErrnoStatus(EEXIST, "x").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ErrnoStatus(EPERM, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(ErrnoStatus(EINVAL, "x").code(), absl::StatusCode::kInvalidArgument);
}

TEST(AnnotateStatus, PrependsContextAndKeepsCode) {
  absl::Status s = AnnotateStatus(absl::NotFoundError("no such device"), "device /dev/vda");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "device /dev/vda: no such device");
  EXPECT_TRUE(AnnotateStatus(absl::OkStatus(), "x").ok());
}

absl::StatusOr<int> Half(int v) {
  if (v % 2 != 0) return absl::InvalidArgumentError("odd");
  return v / 2;
}

absl::StatusOr<int> Quarter(int v) {
  KATA_ASSIGN_OR_RETURN(int h, Half(v));
  KATA_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

absl::Status CheckEven(int v) {
  KATA_RETURN_IF_ERROR(Half(v).status());
  return absl::OkStatus();
}

TEST(StatusMacros, PropagateErrorsAndValues) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_FALSE(CheckEven(3).ok());
}

}  // namespace
}  // namespace kata
