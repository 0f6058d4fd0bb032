#include "src/runtime/hypervisor/qemu/testing/fake_qmp_server.h"

#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/unique_fd.h"

namespace kata::hypervisor::qemu::testing {
namespace {

// send(MSG_NOSIGNAL), not kata::WriteAll: a client that went away must not SIGPIPE the test.
bool SendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    ssize_t n = RetryEintr([&] { return send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL); });
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Waits for fd to be readable, checking `stop` every 20 ms; false when stopped.
bool WaitReadable(int fd, const std::atomic<bool>& stop) {
  while (!stop.load()) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 20) > 0) return true;
  }
  return false;
}

}  // namespace

FakeQmpServer::FakeQmpServer(std::string socket_path, Handler handler, absl::Duration listen_delay)
    : path_(std::move(socket_path)), handler_(std::move(handler)), listen_delay_(listen_delay) {
  thread_ = std::thread([this] { Run(); });
}

FakeQmpServer::~FakeQmpServer() {
  stop_ = true;
  thread_.join();
  unlink(path_.c_str());
}

std::vector<std::string> FakeQmpServer::commands() const {
  absl::MutexLock lock(&mu_);
  return commands_;
}

std::string FakeQmpServer::Return(const std::string& id, const std::string& value_json) {
  return absl::StrCat(R"({"return": )", value_json, R"(, "id": ")", id, R"("})");
}

std::string FakeQmpServer::Error(const std::string& id, const std::string& cls,
                                 const std::string& desc) {
  return absl::StrCat(R"({"id": ")", id, R"(", "error": {"class": ")", cls, R"(", "desc": ")", desc,
                      R"("}})");
}

std::string FakeQmpServer::Event(const std::string& name, const std::string& data_json) {
  return absl::StrCat(R"({"timestamp": {"seconds": 1700000000, "microseconds": 250}, "event": ")",
                      name, R"(", "data": )", data_json, "}");
}

void FakeQmpServer::Run() {
  const absl::Time start = absl::Now();
  while (absl::Now() - start < listen_delay_) {
    if (stop_) return;
    absl::SleepFor(absl::Milliseconds(5));
  }
  UniqueFd lfd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
  if (bind(lfd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(lfd.get(), 1) != 0) {
    return;
  }
  if (!WaitReadable(lfd.get(), stop_)) return;
  UniqueFd fd(accept4(lfd.get(), nullptr, nullptr, SOCK_CLOEXEC));
  lfd.reset();
  if (!fd) return;
  SendAll(fd.get(), R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, )"
                    R"("package": "fake"}, "capabilities": ["oob"]}})"
                    "\r\n");
  std::string buf;
  bool open = true;
  while (open && WaitReadable(fd.get(), stop_)) {
    char chunk[4096];
    ssize_t n = RetryEintr([&] { return read(fd.get(), chunk, sizeof(chunk)); });
    if (n <= 0) break;
    buf.append(chunk, static_cast<size_t>(n));
    size_t nl;
    while (open && (nl = buf.find('\n')) != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      rapidjson::Document d;
      d.Parse(line.c_str());
      if (d.HasParseError() || !d.IsObject() || !d.HasMember("execute")) continue;
      const std::string cmd = d["execute"].GetString();
      const std::string id = d.HasMember("id") && d["id"].IsString() ? d["id"].GetString() : "";
      {
        absl::MutexLock lock(&mu_);
        commands_.push_back(cmd);
      }
      std::vector<std::string> out = handler_(cmd, id);
      if (out.empty() && cmd == "qmp_capabilities") out.push_back(Return(id));
      for (const std::string& o : out) {
        if (o == "<close>") {
          open = false;
          break;
        }
        SendAll(fd.get(), o + "\r\n");
      }
    }
  }
}

}  // namespace kata::hypervisor::qemu::testing
