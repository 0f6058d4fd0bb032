#include "src/agent/rpc/agent_service_fuzzer_seeds.h"

#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "src/libs/base/file.h"
#include "src/libs/protocols/agent.pb.h"

namespace kata {
namespace agent {
namespace fuzz {
namespace {

// One record of the fuzzer's input: method index, 2-byte length, payload.
std::string Record(const AgentService& agent, absl::string_view method,
                   const google::protobuf::MessageLite& request) {
  const auto methods = agent.Methods();
  for (size_t i = 0; i < methods.size(); ++i) {
    if (methods[i].name != method) continue;
    const std::string payload = request.SerializeAsString();
    std::string r(1, static_cast<char>(i));
    r.push_back(static_cast<char>(payload.size() & 0xff));
    r.push_back(static_cast<char>(payload.size() >> 8));
    return r + payload;
  }
  std::fprintf(stderr, "seeds: no method %s\n", std::string(method).c_str());
  std::abort();
}

grpc::CreateContainerRequest Create() {
  grpc::CreateContainerRequest r;
  r.set_container_id("c1");
  grpc::Process* p = r.mutable_oci()->mutable_process();
  p->add_args("sh");
  p->set_cwd("/");
  r.mutable_oci()->mutable_root()->set_path("/run/kata-containers/c1/rootfs");
  grpc::Storage* s = r.add_storages();
  s->set_driver("local");
  s->set_mount_point("/run/kata-containers/shared/c1-vol");
  return r;
}

// A valid request of `method` for container c1 (an empty one for the others).
std::string Request(const AgentService& agent, absl::string_view m) {
  const std::string c1 = "c1";
  if (m == "ExecProcess") {
    grpc::ExecProcessRequest r;
    r.set_container_id(c1);
    r.set_exec_id("e1");
    r.mutable_process()->add_args("echo");
    r.mutable_process()->add_args("hi");
    return Record(agent, m, r);
  }
  if (m == "SignalProcess") {
    grpc::SignalProcessRequest r;
    r.set_container_id(c1);
    r.set_signal(9);
    return Record(agent, m, r);
  }
  if (m == "WaitProcess") {
    grpc::WaitProcessRequest r;
    r.set_container_id(c1);
    r.set_exec_id(c1);
    return Record(agent, m, r);
  }
  if (m == "WriteStdin") {
    grpc::WriteStreamRequest r;
    r.set_container_id(c1);
    r.set_exec_id(c1);
    r.set_data("hello\n");
    return Record(agent, m, r);
  }
  if (m == "ReadStdout" || m == "ReadStderr") {
    grpc::ReadStreamRequest r;
    r.set_container_id(c1);
    r.set_exec_id(c1);
    r.set_len(4096);
    return Record(agent, m, r);
  }
  if (m == "CloseStdin") {
    grpc::CloseStdinRequest r;
    r.set_container_id(c1);
    r.set_exec_id(c1);
    return Record(agent, m, r);
  }
  if (m == "TtyWinResize") {
    grpc::TtyWinResizeRequest r;
    r.set_container_id(c1);
    r.set_exec_id(c1);
    r.set_row(24);
    r.set_column(80);
    return Record(agent, m, r);
  }
  if (m == "UpdateContainer") {
    grpc::UpdateContainerRequest r;
    r.set_container_id(c1);
    r.mutable_resources()->mutable_memory()->set_limit(64 << 20);
    r.mutable_resources()->mutable_pids()->set_limit(100);
    return Record(agent, m, r);
  }
  if (m == "RemoveContainer") {
    grpc::RemoveContainerRequest r;
    r.set_container_id(c1);
    r.set_timeout(1);
    return Record(agent, m, r);
  }
  if (m == "StatsContainer" || m == "PauseContainer" || m == "ResumeContainer" ||
      m == "StartContainer") {
    grpc::StatsContainerRequest r;  // each has only container_id = 1
    r.set_container_id(c1);
    return Record(agent, m, r);
  }
  if (m == "CreateSandbox") {
    grpc::CreateSandboxRequest r;
    r.set_hostname("pod");
    r.add_dns("nameserver 10.0.0.1");
    r.set_sandbox_id("sb");
    r.set_sandbox_pidns(true);
    grpc::Storage* s = r.add_storages();
    s->set_driver("ephemeral");
    s->set_mount_point("/run/kata-containers/sandbox/shm");
    return Record(agent, m, r);
  }
  if (m == "SetGuestDateTime") {
    grpc::SetGuestDateTimeRequest r;
    r.set_sec(1700000000);
    r.set_usec(5);
    return Record(agent, m, r);
  }
  if (m == "CopyFile") {
    grpc::CopyFileRequest r;
    r.set_path("/run/kata-containers/shared/c1/resolv.conf");
    r.set_data("nameserver 10.0.0.1\n");
    r.set_file_size(static_cast<int64_t>(r.data().size()));
    r.set_file_mode(0100644);
    r.set_dir_mode(040755);
    r.set_uid(-1);
    r.set_gid(-1);
    return Record(agent, m, r);
  }
  if (m == "OnlineCPUMem") {
    grpc::OnlineCPUMemRequest r;  // nb_cpus 0: the fuzzer does not send more (it waits)
    r.set_wait(true);
    return Record(agent, m, r);
  }
  if (m == "GetGuestDetails") {
    grpc::GuestDetailsRequest r;
    r.set_mem_block_size(true);
    r.set_mem_hotplug_probe(true);
    return Record(agent, m, r);
  }
  return Record(agent, m, google::protobuf::Empty());
}

}  // namespace

int WriteSeeds(const AgentService& agent, const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return -1;
  const std::string prefix =
      Record(agent, "CreateContainer", Create()) + Request(agent, "StartContainer");
  int n = 0;
  for (const ttrpc::Method& method : agent.Methods()) {
    const std::string name = method.name;
    std::string seed = name == "CreateContainer"  ? Record(agent, name, Create())
                       : name == "StartContainer" ? prefix
                                                  : prefix + Request(agent, name);
    if (!WriteStringToFile(absl::StrCat(dir, "/", name), seed).ok()) return -1;
    ++n;
  }
  return n;
}

}  // namespace fuzz
}  // namespace agent
}  // namespace kata
