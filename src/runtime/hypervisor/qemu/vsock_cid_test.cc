#include "src/runtime/hypervisor/qemu/vsock_cid.h"

#include <errno.h>
#include <fcntl.h>

#include <map>
#include <set>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace kata::hypervisor::qemu {
namespace {

using ::testing::HasSubstr;

// A fake vhost-vsock "kernel": a CID belongs to one device fd (inode) at a time.
class FakeVhostVsock {
 public:
  VsockCidOptions Options(uint32_t first = 3, uint32_t last = 0xFFFF) {
    VsockCidOptions o;
    o.device = "/dev/null";  // any openable file stands for the device
    o.first = first;
    o.last = last;
    o.probe = [this](int fd, uint64_t cid) { return SetGuestCid(fd, cid); };
    return o;
  }
  void Take(uint64_t cid) {
    absl::MutexLock l(&mu_);
    owner_[cid] = -2;  // held by someone else on the host
  }
  std::vector<uint64_t> probed() const {
    absl::MutexLock l(&mu_);
    return probed_;
  }
  int fail_with = 0;  // an errno every probe fails with (0: none)

 private:
  int SetGuestCid(int fd, uint64_t cid) {
    absl::MutexLock l(&mu_);
    probed_.push_back(cid);
    if (fail_with != 0) return fail_with;
    auto it = owner_.find(cid);
    if (it != owner_.end() && it->second != fd) return EADDRINUSE;
    for (auto o = owner_.begin(); o != owner_.end();) {  // an fd holds one CID
      o = o->second == fd ? owner_.erase(o) : std::next(o);
    }
    owner_[cid] = fd;
    return 0;
  }

  mutable absl::Mutex mu_;
  std::map<uint64_t, int> owner_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> probed_ ABSL_GUARDED_BY(mu_);
};

TEST(VsockCidTest, TheFirstFreeCidIsClaimedOnAnOpenFd) {
  FakeVhostVsock dev;
  dev.Take(3);
  dev.Take(4);
  absl::StatusOr<VsockCid> v = AllocateVsockCid(dev.Options());
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_EQ(v->cid, 5u);
  EXPECT_TRUE(static_cast<bool>(v->fd));
  EXPECT_NE(fcntl(v->fd.get(), F_GETFD) & FD_CLOEXEC, 0);
  EXPECT_EQ(dev.probed(), (std::vector<uint64_t>{3, 4, 5}));
}

// The attack of issue 11 item 13: two pods on one host must not get the same CID.
TEST(VsockCidTest, ConcurrentAllocationsGetDistinctCids) {
  FakeVhostVsock dev;
  std::vector<VsockCid> got(8);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < got.size(); ++i) {
    threads.emplace_back([&, i] {
      absl::StatusOr<VsockCid> v = AllocateVsockCid(dev.Options());
      ASSERT_TRUE(v.ok()) << v.status();
      got[i] = *std::move(v);
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<uint32_t> cids;
  for (const VsockCid& v : got) cids.insert(v.cid);
  EXPECT_EQ(cids.size(), got.size());
  EXPECT_EQ(*cids.begin(), 3u);
}

TEST(VsockCidTest, EveryCidTakenIsResourceExhausted) {
  FakeVhostVsock dev;
  for (uint64_t c = 3; c <= 6; ++c) dev.Take(c);
  absl::StatusOr<VsockCid> v = AllocateVsockCid(dev.Options(3, 6));
  EXPECT_EQ(v.status().code(), absl::StatusCode::kResourceExhausted) << v.status();
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("3..6"));
}

TEST(VsockCidTest, AProbeErrorOtherThanInUseIsReported) {
  FakeVhostVsock dev;
  dev.fail_with = EPERM;
  absl::StatusOr<VsockCid> v = AllocateVsockCid(dev.Options());
  EXPECT_EQ(v.status().code(), absl::StatusCode::kPermissionDenied) << v.status();
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("guest CID 3"));
  EXPECT_EQ(dev.probed().size(), 1u);
}

TEST(VsockCidTest, AMissingDeviceOrBadRangeIsAnError) {
  VsockCidOptions o;
  o.device = "/nonexistent/vhost-vsock";
  absl::StatusOr<VsockCid> v = AllocateVsockCid(o);
  EXPECT_EQ(v.status().code(), absl::StatusCode::kNotFound) << v.status();
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("/nonexistent/vhost-vsock"));
  FakeVhostVsock dev;
  EXPECT_EQ(AllocateVsockCid(dev.Options(2, 10)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AllocateVsockCid(dev.Options(10, 9)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(dev.probed().empty());
}

}  // namespace
}  // namespace kata::hypervisor::qemu
