#include "src/runtime/hypervisor/qemu/qmp.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "rapidjson/document.h"
#include "rapidjson/stringbuffer.h"
#include "rapidjson/writer.h"
#include "src/libs/base/eintr.h"
#include "src/libs/base/status_util.h"

namespace kata::hypervisor::qemu {
namespace {

constexpr size_t kMaxLine = 16 << 20;  // QMP replies are small; a runaway peer is cut off

std::string ToJson(const rapidjson::Value& v) {
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  v.Accept(w);
  return std::string(buf.GetString(), buf.GetSize());
}

std::string MemberString(const rapidjson::Value& obj, const char* name) {
  if (!obj.IsObject()) return "";
  auto it = obj.FindMember(name);
  if (it == obj.MemberEnd() || !it->value.IsString()) return "";
  return std::string(it->value.GetString(), it->value.GetStringLength());
}

absl::StatusCode CodeForClass(absl::string_view cls) {
  if (cls == "CommandNotFound") return absl::StatusCode::kUnimplemented;
  if (cls == "DeviceNotFound") return absl::StatusCode::kNotFound;
  return absl::StatusCode::kInternal;
}

absl::Duration Remaining(absl::Time deadline) {
  return std::max(deadline - absl::Now(), absl::ZeroDuration());
}

}  // namespace

std::function<bool(const QmpEvent&)> DeviceDeletedMatcher(const std::string& id) {
  return [id](const QmpEvent& e) {
    rapidjson::Document d;
    d.Parse(e.data_json.c_str());
    return !d.HasParseError() && MemberString(d, "device") == id;
  };
}

absl::StatusOr<std::unique_ptr<QmpClient>> QmpClient::Connect(
    const std::string& socket_path, absl::Duration timeout, std::function<absl::Status()> give_up) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("qmp: socket path too long: ", socket_path));
  }
  memcpy(addr.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const absl::Time deadline = absl::Now() + timeout;
  absl::Status last = absl::UnavailableError("not tried");
  for (;;) {
    if (give_up) {
      if (absl::Status s = give_up(); !s.ok()) return s;
    }
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return ErrnoStatus(errno, "qmp: socket");
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
      std::unique_ptr<QmpClient> client(new QmpClient(std::move(fd)));
      if (absl::Status s = client->ReadGreeting(deadline); !s.ok()) return s;
      absl::StatusOr<std::string> caps =
          client->Execute("qmp_capabilities", "", std::max(Remaining(deadline), absl::Seconds(1)));
      if (!caps.ok()) return AnnotateStatus(caps.status(), "qmp: negotiating capabilities");
      return client;
    }
    const int err = errno;
    fd.reset();
    last = ErrnoStatus(err, absl::StrCat("qmp: connect ", socket_path));
    if (err != ENOENT && err != ECONNREFUSED && err != EAGAIN) return last;
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "qmp: no QMP server within ", absl::FormatDuration(timeout), " (", last.message(), ")"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

QmpClient::~QmpClient() { Close(); }

void QmpClient::Close() {
  absl::MutexLock lock(&mu_);
  fd_.reset();
  if (broken_.ok()) broken_ = absl::UnavailableError("qmp: connection closed");
}

absl::StatusOr<std::string> QmpClient::ReadLine(absl::Time deadline) {
  for (;;) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) continue;
      return line;
    }
    if (buffer_.size() > kMaxLine) {
      broken_ = absl::ResourceExhaustedError("qmp: message too long");
      return broken_;
    }
    const absl::Duration left = Remaining(deadline);
    pollfd p{fd_.get(), POLLIN, 0};
    int r =
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left + absl::Microseconds(999))));
    if (r < 0) {
      if (errno == EINTR) continue;  // poll again, with the time left
      return ErrnoStatus(errno, "qmp: poll");
    }
    if (r == 0) {
      if (absl::Now() >= deadline) return absl::DeadlineExceededError("qmp: timed out");
      continue;
    }
    char chunk[4096];
    const int fd = fd_.get();  // read outside the lambda, which the lock analysis cannot see
    ssize_t n = RetryEintr([&] { return read(fd, chunk, sizeof(chunk)); });
    if (n < 0) {
      if (errno == EAGAIN) continue;
      broken_ = ErrnoStatus(errno, "qmp: read");
      return broken_;
    }
    if (n == 0) {
      broken_ = absl::UnavailableError("qmp: connection closed by QEMU");
      return broken_;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
  }
}

absl::Status QmpClient::ReadMessage(absl::Time deadline, std::string* line, bool* is_event) {
  absl::StatusOr<std::string> got = ReadLine(deadline);
  if (!got.ok()) return got.status();
  rapidjson::Document d;
  d.Parse(got->c_str(), got->size());
  if (d.HasParseError() || !d.IsObject()) {
    return absl::InternalError(absl::StrCat("qmp: malformed message: ", got->substr(0, 200)));
  }
  auto ev = d.FindMember("event");
  *is_event = ev != d.MemberEnd();
  if (*is_event) {
    QmpEvent e;
    e.name = ev->value.IsString() ? ev->value.GetString() : "";
    auto data = d.FindMember("data");
    e.data_json = data != d.MemberEnd() ? ToJson(data->value) : "{}";
    auto ts = d.FindMember("timestamp");
    if (ts != d.MemberEnd() && ts->value.IsObject()) {
      auto sec = ts->value.FindMember("seconds");
      auto usec = ts->value.FindMember("microseconds");
      // absl::Time arithmetic saturates: a hostile or broken timestamp cannot overflow.
      absl::Time t = absl::UnixEpoch();
      if (sec != ts->value.MemberEnd() && sec->value.IsInt64()) {
        t += absl::Seconds(sec->value.GetInt64());
      }
      if (usec != ts->value.MemberEnd() && usec->value.IsInt64()) {
        t += absl::Microseconds(usec->value.GetInt64());
      }
      e.timestamp = t;
    }
    if (events_.size() >= kMaxQueuedEvents) events_.pop_front();
    events_.push_back(std::move(e));
  }
  *line = std::move(*got);
  return absl::OkStatus();
}

absl::Status QmpClient::ReadGreeting(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  for (;;) {
    std::string line;
    bool is_event = false;
    if (absl::Status s = ReadMessage(deadline, &line, &is_event); !s.ok()) {
      return AnnotateStatus(s, "qmp: reading the greeting");
    }
    if (is_event) continue;
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size());
    auto qmp = d.FindMember("QMP");
    if (qmp == d.MemberEnd() || !qmp->value.IsObject()) {
      return absl::InternalError(
          absl::StrCat("qmp: expected a greeting, got: ", line.substr(0, 200)));
    }
    auto ver = qmp->value.FindMember("version");
    if (ver != qmp->value.MemberEnd() && ver->value.IsObject()) {
      auto q = ver->value.FindMember("qemu");
      if (q != ver->value.MemberEnd() && q->value.IsObject()) {
        auto num = [&](const char* n) -> int64_t {
          auto it = q->value.FindMember(n);
          return it != q->value.MemberEnd() && it->value.IsInt64() ? it->value.GetInt64() : 0;
        };
        qemu_version_ = absl::StrCat(num("major"), ".", num("minor"), ".", num("micro"));
      }
    }
    return absl::OkStatus();
  }
}

absl::StatusOr<std::string> QmpClient::Execute(absl::string_view command,
                                               absl::string_view args_json,
                                               absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  rapidjson::Document req(rapidjson::kObjectType);
  auto& alloc = req.GetAllocator();
  req.AddMember(
      "execute",
      rapidjson::Value(command.data(), static_cast<rapidjson::SizeType>(command.size()), alloc),
      alloc);
  if (!args_json.empty()) {
    rapidjson::Document args(&alloc);
    args.Parse(args_json.data(), args_json.size());
    if (args.HasParseError() || !args.IsObject()) {
      return absl::InvalidArgumentError(
          absl::StrCat("qmp ", command, ": arguments are not a JSON object: ", args_json));
    }
    req.AddMember("arguments", rapidjson::Value(args, alloc), alloc);
  }

  absl::MutexLock lock(&mu_);
  if (!broken_.ok()) return AnnotateStatus(broken_, absl::StrCat("qmp ", command));
  const std::string id = absl::StrCat("kata-", next_id_++);
  req.AddMember("id", rapidjson::Value(id.c_str(), alloc), alloc);
  std::string wire = ToJson(req);
  wire.push_back('\n');
  // send(MSG_NOSIGNAL), not kata::WriteAll: a QEMU gone must be an error, never a SIGPIPE.
  const int fd = fd_.get();
  for (size_t off = 0; off < wire.size();) {
    ssize_t n =
        RetryEintr([&] { return send(fd, wire.data() + off, wire.size() - off, MSG_NOSIGNAL); });
    if (n < 0) {
      broken_ = ErrnoStatus(errno, "qmp: write");
      return AnnotateStatus(broken_, absl::StrCat("qmp ", command));
    }
    off += static_cast<size_t>(n);
  }

  for (;;) {
    std::string line;
    bool is_event = false;
    absl::Status s = ReadMessage(deadline, &line, &is_event);
    if (absl::IsDeadlineExceeded(s)) {
      return absl::DeadlineExceededError(
          absl::StrCat("qmp ", command, ": no reply within ", absl::FormatDuration(timeout)));
    }
    if (!s.ok()) return AnnotateStatus(s, absl::StrCat("qmp ", command));
    if (is_event) continue;
    rapidjson::Document d;
    d.Parse(line.c_str(), line.size());
    if (MemberString(d, "id") != id) continue;  // a late reply to a timed-out command
    auto ret = d.FindMember("return");
    if (ret != d.MemberEnd()) return ToJson(ret->value);
    auto err = d.FindMember("error");
    if (err != d.MemberEnd()) {
      const std::string cls = MemberString(err->value, "class");
      return absl::Status(CodeForClass(cls), absl::StrCat("qmp ", command, ": ", cls, ": ",
                                                          MemberString(err->value, "desc")));
    }
    return absl::InternalError(
        absl::StrCat("qmp ", command, ": unexpected reply: ", line.substr(0, 200)));
  }
}

absl::StatusOr<QmpEvent> QmpClient::WaitEvent(absl::string_view name, absl::Duration timeout,
                                              std::function<bool(const QmpEvent&)> match) {
  const absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  for (;;) {
    for (auto it = events_.begin(); it != events_.end(); ++it) {
      if (it->name == name && (!match || match(*it))) {
        QmpEvent found = std::move(*it);
        events_.erase(it);
        return found;
      }
    }
    if (!broken_.ok()) return AnnotateStatus(broken_, absl::StrCat("qmp: waiting for ", name));
    std::string line;
    bool is_event = false;
    absl::Status s = ReadMessage(deadline, &line, &is_event);
    if (absl::IsDeadlineExceeded(s)) {
      return absl::DeadlineExceededError(
          absl::StrCat("qmp: no ", name, " event within ", absl::FormatDuration(timeout)));
    }
    if (!s.ok()) return AnnotateStatus(s, absl::StrCat("qmp: waiting for ", name));
    // A non-event here is a stray reply to a timed-out command: dropped.
  }
}

}  // namespace kata::hypervisor::qemu
