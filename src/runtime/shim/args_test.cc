#include "src/runtime/shim/args.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata {
namespace shim {
namespace {

TEST(ParseArgs, ContainerdStartCommandLine) {
  auto args = ParseArgs({"shim", "-namespace", "default", "-address", "/run/c.sock",
                         "-publish-binary", "/usr/bin/containerd", "-id", "c1", "-debug", "start"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->namespace_, "default");
  EXPECT_EQ(args->address, "/run/c.sock");
  EXPECT_EQ(args->publish_binary, "/usr/bin/containerd");
  EXPECT_EQ(args->id, "c1");
  EXPECT_TRUE(args->debug);
  EXPECT_EQ(args->action, Action::kStart);
}

TEST(ParseArgs, DoubleDashEqualsAndDelete) {
  auto args = ParseArgs({"shim", "--namespace=k8s.io", "--id=c2", "--bundle", "/b", "delete"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->namespace_, "k8s.io");
  EXPECT_EQ(args->bundle, "/b");
  EXPECT_FALSE(args->debug);
  EXPECT_EQ(args->action, Action::kDelete);
}

TEST(ParseArgs, NoActionServes) {
  auto args = ParseArgs({"shim", "-id", "c3", "-socket-fd", "3", "-debug=false"});
  ASSERT_TRUE(args.ok()) << args.status();
  EXPECT_EQ(args->action, Action::kServe);
  EXPECT_EQ(args->socket_fd, 3);
}

TEST(ParseArgs, Errors) {
  EXPECT_EQ(ParseArgs({"shim", "-id", "x", "-bogus", "1"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseArgs({"shim", "-id"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseArgs({"shim", "-id", "x", "frobnicate"}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseArgs({"shim", "start"}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseArgs({"shim", "-id", "x", "start", "more"}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FormatArgs, RoundTrips) {
  ShimArgs a;
  a.namespace_ = "ns";
  a.address = "/a";
  a.publish_binary = "/p";
  a.id = "i";
  a.debug = true;
  a.socket_fd = 3;
  std::vector<std::string> argv = {"shim"};
  for (auto& s : FormatArgs(a)) argv.push_back(s);
  auto b = ParseArgs(argv);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->namespace_, "ns");
  EXPECT_EQ(b->address, "/a");
  EXPECT_EQ(b->publish_binary, "/p");
  EXPECT_EQ(b->id, "i");
  EXPECT_TRUE(b->debug);
  EXPECT_EQ(b->socket_fd, 3);
}

}  // namespace
}  // namespace shim
}  // namespace kata
