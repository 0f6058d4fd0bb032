#include "src/runtime/shim/socket_address.h"

#include "gtest/gtest.h"
#include "src/runtime/shim/internal/sha256.h"

namespace kata {
namespace shim {
namespace {

TEST(Sha256, KnownVectors) {
  EXPECT_EQ(internal::Sha256Hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(internal::Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(internal::Sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(internal::Sha256Hex(std::string(1000, 'a')),
            "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3");
  // Padding edges: 55 bytes fit one block, 64 need two.
  EXPECT_EQ(internal::Sha256Hex(std::string(55, 'a')),
            "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
  EXPECT_EQ(internal::Sha256Hex(std::string(64, 'a')),
            "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

TEST(JoinClean, AsGoPathJoin) {
  EXPECT_EQ(JoinClean({"/run/containerd/containerd.sock", "default", "c1"}),
            "/run/containerd/containerd.sock/default/c1");
  EXPECT_EQ(JoinClean({"/a//b/", "./c", "../d"}), "/a/b/d");
  EXPECT_EQ(JoinClean({"a", ""}), "a");
  EXPECT_EQ(JoinClean({"/", ".."}), "/");
}

TEST(SocketAddress, HashOfJoinedPathUnderRunContainerdS) {
  std::string expected = "unix:///run/containerd/s/" +
                         internal::Sha256Hex("/run/containerd/containerd.sock/default/c1");
  EXPECT_EQ(SocketAddress("/run/containerd/containerd.sock", "default", "c1"), expected);
  EXPECT_EQ(SocketPath(expected), expected.substr(7));
  EXPECT_NE(SocketAddress("/x", "default", "c1"), SocketAddress("/x", "default", "c2"));
}

}  // namespace
}  // namespace shim
}  // namespace kata
