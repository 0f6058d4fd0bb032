// Wire-compatibility checks for the .proto files of src/libs/protocols: the full service names
// the peers dial, the method sets, the field numbers and types that the peers encode, and golden
// bytes computed by hand from the protobuf encoding rules (not from our own output).

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "gtest/gtest.h"
#include "src/libs/protocols/agent.pb.h"
#include "src/libs/protocols/agent.ttrpc.pb.h"
#include "src/libs/protocols/containerd/events/task.pb.h"
#include "src/libs/protocols/containerd/types/mount.pb.h"
#include "src/libs/protocols/containerd/types/task.pb.h"
#include "src/libs/protocols/events.pb.h"
#include "src/libs/protocols/events.ttrpc.pb.h"
#include "src/libs/protocols/google/rpc/status.pb.h"
#include "src/libs/protocols/health.pb.h"
#include "src/libs/protocols/health.ttrpc.pb.h"
#include "src/libs/protocols/opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "src/libs/protocols/runtimeoptions.pb.h"
#include "src/libs/protocols/task.pb.h"
#include "src/libs/protocols/task.ttrpc.pb.h"
#include "src/libs/protocols/ttrpc.pb.h"

namespace kata {
namespace protocols {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::ServiceDescriptor;
using ::testing::ElementsAreArray;
using ::testing::IsSupersetOf;

namespace task = ::containerd::task::v2;

// The generated pool knows a file once its generated code is linked: each test names a message of
// every file it looks up, so the lookups below cannot pass or fail by link order.
const ServiceDescriptor* Service(const std::string& full_name) {
  return DescriptorPool::generated_pool()->FindServiceByName(full_name);
}

std::vector<std::string> MethodNames(const ServiceDescriptor* s) {
  std::vector<std::string> names;
  for (int i = 0; i < s->method_count(); ++i) names.push_back(s->method(i)->name());
  return names;
}

// One field as the peer encodes it: number, wire-relevant type, and whether it repeats.
struct Field {
  const char* name;
  int number;
  FieldDescriptor::Type type;
  bool repeated = false;
  const char* message_type = nullptr;  // full name, for message and enum fields
};

void ExpectFields(const Descriptor* d, const std::vector<Field>& fields) {
  ASSERT_NE(d, nullptr);
  for (const Field& want : fields) {
    SCOPED_TRACE(d->full_name() + "." + want.name);
    const FieldDescriptor* f = d->FindFieldByName(want.name);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->number(), want.number);
    EXPECT_EQ(f->type(), want.type) << f->type_name();
    EXPECT_EQ(f->is_repeated(), want.repeated);
    if (want.message_type != nullptr) {
      const std::string got = f->message_type() != nullptr ? f->message_type()->full_name()
                              : f->enum_type() != nullptr  ? f->enum_type()->full_name()
                                                           : "";
      EXPECT_EQ(got, want.message_type);
    }
  }
}

constexpr auto kString = FieldDescriptor::TYPE_STRING;
constexpr auto kBytes = FieldDescriptor::TYPE_BYTES;
constexpr auto kBool = FieldDescriptor::TYPE_BOOL;
constexpr auto kUint32 = FieldDescriptor::TYPE_UINT32;
constexpr auto kInt32 = FieldDescriptor::TYPE_INT32;
constexpr auto kInt64 = FieldDescriptor::TYPE_INT64;
constexpr auto kUint64 = FieldDescriptor::TYPE_UINT64;
constexpr auto kMessage = FieldDescriptor::TYPE_MESSAGE;
constexpr auto kEnum = FieldDescriptor::TYPE_ENUM;

std::string Bytes(std::initializer_list<unsigned char> b) {
  return std::string(b.begin(), b.end());
}

// ---- Kata agent API -------------------------------------------------------------------------

TEST(AgentProtoTest, ServicesHaveKatasNames) {
  ASSERT_NE(::grpc::CreateContainerRequest::descriptor(), nullptr);
  ASSERT_NE(::grpc::CheckRequest::descriptor(), nullptr);
  EXPECT_NE(Service("grpc.AgentService"), nullptr);
  EXPECT_NE(Service("grpc.Health"), nullptr);
  EXPECT_EQ(std::string(::grpc::AgentServiceTtrpc::kServiceName), std::string("grpc.AgentService"));
  EXPECT_EQ(std::string(::grpc::HealthTtrpc::kServiceName), std::string("grpc.Health"));
}

TEST(AgentProtoTest, AgentServiceHasEveryKataMethod) {
  ASSERT_NE(::grpc::CreateContainerRequest::descriptor(), nullptr);
  const ServiceDescriptor* s = Service("grpc.AgentService");
  ASSERT_NE(s, nullptr);
  // Kata main @ 7c6ba40c (agent.proto last changed in 64c13920, GetDiagnosticData).
  EXPECT_EQ(s->method_count(), 42);
  const std::vector<std::string> core = {
      "CreateSandbox",    "DestroySandbox", "CreateContainer", "StartContainer",
      "RemoveContainer",  "ExecProcess",    "SignalProcess",   "WaitProcess",
      "UpdateContainer",  "StatsContainer", "PauseContainer",  "ResumeContainer",
      "WriteStdin",       "ReadStdout",     "ReadStderr",      "CloseStdin",
      "TtyWinResize",     "GetOOMEvent",    "OnlineCPUMem",    "GetGuestDetails",
      "SetGuestDateTime", "CopyFile",       "ListInterfaces",  "UpdateInterface",
      "UpdateRoutes",     "ListRoutes",     "GetMetrics",      "GetVolumeStats",
  };
  EXPECT_THAT(MethodNames(s), IsSupersetOf(core));
  // Input and output types of a few methods, by full name (what a peer's stubs expect).
  const auto* wait = s->FindMethodByName("WaitProcess");
  ASSERT_NE(wait, nullptr);
  EXPECT_EQ(wait->input_type()->full_name(), "grpc.WaitProcessRequest");
  EXPECT_EQ(wait->output_type()->full_name(), "grpc.WaitProcessResponse");
  const auto* create = s->FindMethodByName("CreateContainer");
  ASSERT_NE(create, nullptr);
  EXPECT_EQ(create->output_type()->full_name(), "google.protobuf.Empty");
  EXPECT_EQ(s->FindMethodByName("UpdateInterface")->output_type()->full_name(), "types.Interface");
  EXPECT_EQ(s->FindMethodByName("GetVolumeStats")->output_type()->full_name(),
            "grpc.VolumeStatsResponse");

  const ServiceDescriptor* health = Service("grpc.Health");
  ASSERT_NE(health, nullptr);
  EXPECT_THAT(MethodNames(health), ElementsAreArray({"Check", "Version"}));
  EXPECT_EQ(health->FindMethodByName("Check")->output_type()->full_name(),
            "grpc.HealthCheckResponse");
  EXPECT_EQ(health->FindMethodByName("Version")->output_type()->full_name(),
            "grpc.VersionCheckResponse");
}

TEST(AgentProtoTest, FieldNumbers) {
  ExpectFields(::grpc::CreateContainerRequest::descriptor(),
               {{"container_id", 1, kString},
                {"exec_id", 2, kString},
                {"string_user", 3, kMessage, false, "grpc.StringUser"},
                {"devices", 4, kMessage, true, "grpc.Device"},
                {"storages", 5, kMessage, true, "grpc.Storage"},
                {"OCI", 6, kMessage, false, "grpc.Spec"},
                {"sandbox_pidns", 7, kBool},
                {"shared_mounts", 8, kMessage, true, "grpc.SharedMount"},
                {"stdin_port", 9, kUint32},
                {"stderr_port", 11, kUint32}});
  ExpectFields(::grpc::ExecProcessRequest::descriptor(),
               {{"process", 4, kMessage, false, "grpc.Process"}, {"stderr_port", 7, kUint32}});
  ExpectFields(::grpc::WaitProcessResponse::descriptor(), {{"status", 1, kInt32}});
  ExpectFields(::grpc::ReadStreamRequest::descriptor(), {{"len", 3, kUint32}});
  ExpectFields(::grpc::WriteStreamRequest::descriptor(), {{"data", 3, kBytes}});
  ExpectFields(::grpc::ReseedRandomDevRequest::descriptor(), {{"data", 2, kBytes}});
  ExpectFields(::grpc::FSGroup::descriptor(),
               {{"group_id", 2, kUint32},
                {"group_change_policy", 3, kEnum, false, "types.FSGroupChangePolicy"}});
  ExpectFields(::grpc::Storage::descriptor(), {{"driver", 1, kString},
                                               {"driver_options", 2, kString, true},
                                               {"mount_point", 6, kString},
                                               {"fs_group", 7, kMessage, false, "grpc.FSGroup"},
                                               {"shared", 8, kBool}});
  ExpectFields(::grpc::Device::descriptor(), {{"id", 1, kString},
                                              {"type", 2, kString},
                                              {"vm_path", 3, kString},
                                              {"container_path", 4, kString},
                                              {"options", 5, kString, true}});
  ExpectFields(
      ::grpc::CreateSandboxRequest::descriptor(),
      {{"sandbox_id", 5, kString}, {"kernel_modules", 7, kMessage, true, "grpc.KernelModule"}});
  ExpectFields(::grpc::SetGuestDateTimeRequest::descriptor(),
               {{"Sec", 1, kInt64}, {"Usec", 2, kInt64}});
  ExpectFields(::grpc::CopyFileRequest::descriptor(),
               {{"file_size", 2, kInt64}, {"uid", 5, kInt32}, {"data", 8, kBytes}});
  ExpectFields(::grpc::Interfaces::descriptor(),
               {{"Interfaces", 1, kMessage, true, "types.Interface"}});
  ExpectFields(::grpc::ARPNeighbors::descriptor(),
               {{"ARPNeighbors", 1, kMessage, true, "types.ARPNeighbor"}});
  ExpectFields(::grpc::VolumeStatsResponse::descriptor(),
               {{"usage", 1, kMessage, true, "grpc.VolumeUsage"},
                {"volume_condition", 2, kMessage, false, "grpc.VolumeCondition"}});
  ExpectFields(::grpc::VersionCheckResponse::descriptor(),
               {{"grpc_version", 1, kString}, {"agent_version", 2, kString}});
  ExpectFields(::types::Interface::descriptor(),
               {{"IPAddresses", 3, kMessage, true, "types.IPAddress"},
                {"mtu", 4, kUint64},
                {"hwAddr", 5, kString},
                {"devicePath", 6, kString},
                {"raw_flags", 8, kUint32}});
  ExpectFields(
      ::types::Route::descriptor(),
      {{"scope", 5, kUint32}, {"family", 6, kEnum, false, "types.IPFamily"}, {"mtu", 8, kUint32}});
  ExpectFields(::types::ARPNeighbor::descriptor(),
               {{"toIPAddress", 1, kMessage, false, "types.IPAddress"}, {"state", 4, kInt32}});
}

TEST(AgentProtoTest, MemAgentFieldsHaveExplicitPresence) {
  const FieldDescriptor* f = ::grpc::MemAgentMemcgConfig::descriptor()->FindFieldByName("swap");
  ASSERT_NE(f, nullptr);
  EXPECT_EQ(f->number(), 2);
  EXPECT_TRUE(f->has_optional_keyword());
  // A present false is on the wire (08 00 would be field 1; swap is field 2: 10 00).
  ::grpc::MemAgentMemcgConfig c;
  c.set_swap(false);
  EXPECT_EQ(c.SerializeAsString(), Bytes({0x10, 0x00}));
}

// ---- ttRPC envelope -------------------------------------------------------------------------

TEST(TtrpcProtoTest, FieldNumbers) {
  // service/method/metadata are bytes here, string upstream: the same wire type (see
  // ttrpc.proto), without UTF-8 validation on parse.
  ExpectFields(::ttrpc::Request::descriptor(), {{"service", 1, kBytes},
                                                {"method", 2, kBytes},
                                                {"payload", 3, kBytes},
                                                {"timeout_nano", 4, kInt64},
                                                {"metadata", 5, kMessage, true, "ttrpc.KeyValue"}});
  ExpectFields(::ttrpc::Response::descriptor(),
               {{"status", 1, kMessage, false, "google.rpc.Status"}, {"payload", 2, kBytes}});
  ExpectFields(::ttrpc::KeyValue::descriptor(), {{"key", 1, kBytes}, {"value", 2, kBytes}});
  ExpectFields(::google::rpc::Status::descriptor(),
               {{"code", 1, kInt32},
                {"message", 2, kString},
                {"details", 3, kMessage, true, "google.protobuf.Any"}});
}

TEST(TtrpcProtoTest, RequestGoldenBytes) {
  ::ttrpc::Request req;
  req.set_service("a.S");
  req.set_method("M");
  req.set_payload(Bytes({0x08, 0x01}));
  req.set_timeout_nano(1000000000);  // 1 s
  auto* kv = req.add_metadata();
  kv->set_key("k");
  kv->set_value("v");
  // tag = number << 3 | wire type (0 varint, 2 length-delimited); 1e9 as a varint is
  // 80 94 eb dc 03 (7-bit groups, least significant first).
  const std::string want = Bytes({
      0x0a, 0x03, 'a',  '.',  'S',                    // service = 1
      0x12, 0x01, 'M',                                // method = 2
      0x1a, 0x02, 0x08, 0x01,                         // payload = 3
      0x20, 0x80, 0x94, 0xeb, 0xdc, 0x03,             // timeout_nano = 4
      0x2a, 0x06, 0x0a, 0x01, 'k',  0x12, 0x01, 'v',  // metadata = 5 {key = 1, value = 2}
  });
  EXPECT_EQ(req.SerializeAsString(), want);

  ::ttrpc::Request back;
  ASSERT_TRUE(back.ParseFromString(want));
  EXPECT_EQ(back.service(), "a.S");
  EXPECT_EQ(back.timeout_nano(), 1000000000);
  ASSERT_EQ(back.metadata_size(), 1);
  EXPECT_EQ(back.metadata(0).value(), "v");
}

TEST(TtrpcProtoTest, ResponseGoldenBytes) {
  ::ttrpc::Response resp;
  resp.mutable_status()->set_code(12);  // UNIMPLEMENTED
  resp.mutable_status()->set_message("x");
  EXPECT_EQ(resp.SerializeAsString(),
            Bytes({0x0a, 0x05, 0x08, 0x0c, 0x12, 0x01, 'x'}));  // status = 1 {code, message}
}

// ---- containerd shim API --------------------------------------------------------------------

TEST(TaskProtoTest, TaskServiceHasAll17Methods) {
  ASSERT_NE(task::CreateTaskRequest::descriptor(), nullptr);
  const ServiceDescriptor* s = Service("containerd.task.v2.Task");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(std::string(task::TaskTtrpc::kServiceName), std::string("containerd.task.v2.Task"));
  EXPECT_THAT(MethodNames(s),
              ElementsAreArray({"State", "Create", "Start", "Delete", "Pids", "Pause", "Resume",
                                "Checkpoint", "Kill", "Exec", "ResizePty", "CloseIO", "Update",
                                "Wait", "Stats", "Connect", "Shutdown"}));
  EXPECT_EQ(s->FindMethodByName("Create")->input_type()->full_name(),
            "containerd.task.v2.CreateTaskRequest");
  EXPECT_EQ(s->FindMethodByName("Exec")->input_type()->full_name(),
            "containerd.task.v2.ExecProcessRequest");
  EXPECT_EQ(s->FindMethodByName("Kill")->output_type()->full_name(), "google.protobuf.Empty");
  EXPECT_EQ(s->FindMethodByName("Delete")->output_type()->full_name(),
            "containerd.task.v2.DeleteResponse");
}

TEST(TaskProtoTest, FieldNumbers) {
  ExpectFields(task::CreateTaskRequest::descriptor(),
               {{"id", 1, kString},
                {"bundle", 2, kString},
                {"rootfs", 3, kMessage, true, "containerd.types.Mount"},
                {"terminal", 4, kBool},
                {"stdin", 5, kString},
                {"stdout", 6, kString},
                {"stderr", 7, kString},
                {"checkpoint", 8, kString},
                {"parent_checkpoint", 9, kString},
                {"options", 10, kMessage, false, "google.protobuf.Any"}});
  ExpectFields(task::DeleteResponse::descriptor(),
               {{"pid", 1, kUint32},
                {"exit_status", 2, kUint32},
                {"exited_at", 3, kMessage, false, "google.protobuf.Timestamp"}});
  ExpectFields(task::StateResponse::descriptor(),
               {{"pid", 3, kUint32},
                {"status", 4, kEnum, false, "containerd.v1.types.Status"},
                {"exited_at", 10, kMessage, false, "google.protobuf.Timestamp"},
                {"exec_id", 11, kString}});
  ExpectFields(task::ExecProcessRequest::descriptor(),
               {{"terminal", 3, kBool}, {"spec", 7, kMessage, false, "google.protobuf.Any"}});
  ExpectFields(task::KillRequest::descriptor(), {{"signal", 3, kUint32}, {"all", 4, kBool}});
  ExpectFields(task::UpdateTaskRequest::descriptor(),
               {{"resources", 2, kMessage, false, "google.protobuf.Any"},
                {"annotations", 3, kMessage, true}});
  ExpectFields(task::WaitResponse::descriptor(),
               {{"exit_status", 1, kUint32}, {"exited_at", 2, kMessage}});
  ExpectFields(task::ConnectResponse::descriptor(),
               {{"shim_pid", 1, kUint32}, {"task_pid", 2, kUint32}, {"version", 3, kString}});
  ExpectFields(task::PidsResponse::descriptor(),
               {{"processes", 1, kMessage, true, "containerd.v1.types.ProcessInfo"}});
  ExpectFields(task::ShutdownRequest::descriptor(), {{"now", 2, kBool}});
  ExpectFields(::containerd::types::Mount::descriptor(), {{"type", 1, kString},
                                                          {"source", 2, kString},
                                                          {"target", 3, kString},
                                                          {"options", 4, kString, true}});
  ExpectFields(::containerd::v1::types::ProcessInfo::descriptor(),
               {{"pid", 1, kUint32}, {"info", 2, kMessage, false, "google.protobuf.Any"}});

  namespace ct = ::containerd::v1::types;
  EXPECT_EQ(ct::UNKNOWN, 0);
  EXPECT_EQ(ct::CREATED, 1);
  EXPECT_EQ(ct::RUNNING, 2);
  EXPECT_EQ(ct::STOPPED, 3);
  EXPECT_EQ(ct::PAUSED, 4);
  EXPECT_EQ(ct::PAUSING, 5);
}

TEST(TaskProtoTest, DeleteResponseGoldenBytes) {
  task::DeleteResponse resp;
  resp.set_pid(42);
  resp.set_exit_status(137);
  resp.mutable_exited_at()->set_seconds(1700000000);
  resp.mutable_exited_at()->set_nanos(5);
  // 137 = 0x89 -> 89 01; 1700000000 -> 80 e2 cf aa 06.
  const std::string want = Bytes({
      0x08, 0x2a,                          // pid = 1
      0x10, 0x89, 0x01,                    // exit_status = 2
      0x1a, 0x08,                          // exited_at = 3, 8 bytes:
      0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06,  //   seconds = 1
      0x10, 0x05,                          //   nanos = 2
  });
  EXPECT_EQ(resp.SerializeAsString(), want);

  task::DeleteResponse back;
  ASSERT_TRUE(back.ParseFromString(want));
  EXPECT_EQ(back.exit_status(), 137u);
  EXPECT_EQ(back.exited_at().seconds(), 1700000000);
}

// A handler is written against the generated service interface; the methods it does not override
// answer UNIMPLEMENTED, which the ttRPC server passes back unchanged.
class DeleteOnlyTask final : public task::TaskTtrpc::Service {
 public:
  absl::Status Delete(kata::ttrpc::ServerContext&, const task::DeleteRequest& req,
                      task::DeleteResponse* resp) override {
    resp->set_pid(req.exec_id().empty() ? 1 : 2);
    return absl::OkStatus();
  }
};

TEST(TaskProtoTest, GeneratedServiceInterfaceIsUsable) {
  DeleteOnlyTask handler;
  kata::ttrpc::ServerContext context(nullptr);  // the handler does not look at it
  task::DeleteRequest req;
  req.set_id("c1");
  task::DeleteResponse resp;
  EXPECT_TRUE(handler.Delete(context, req, &resp).ok());
  EXPECT_EQ(resp.pid(), 1u);
  EXPECT_EQ(handler.ServiceName(), "containerd.task.v2.Task");
  EXPECT_EQ(handler.Methods().size(), 17u);

  task::PauseRequest pause;
  ::google::protobuf::Empty empty;
  absl::Status s = static_cast<task::TaskTtrpc::Service&>(handler).Pause(context, pause, &empty);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnimplemented);
  EXPECT_EQ(s.message(), "containerd.task.v2.Task/Pause is not implemented");
}

// ---- containerd events ----------------------------------------------------------------------

TEST(EventsProtoTest, ForwardServiceAndEnvelope) {
  namespace ev = ::containerd::services::events::ttrpc::v1;
  ASSERT_NE(ev::ForwardRequest::descriptor(), nullptr);
  const ServiceDescriptor* s = Service("containerd.services.events.ttrpc.v1.Events");
  ASSERT_NE(s, nullptr);
  EXPECT_THAT(MethodNames(s), ElementsAreArray({"Forward"}));
  EXPECT_EQ(s->method(0)->input_type()->full_name(),
            "containerd.services.events.ttrpc.v1.ForwardRequest");
  EXPECT_EQ(s->method(0)->output_type()->full_name(), "google.protobuf.Empty");
  ExpectFields(ev::ForwardRequest::descriptor(),
               {{"envelope", 1, kMessage, false, "containerd.services.events.ttrpc.v1.Envelope"}});
  ExpectFields(ev::Envelope::descriptor(),
               {{"timestamp", 1, kMessage, false, "google.protobuf.Timestamp"},
                {"namespace", 2, kString},
                {"topic", 3, kString},
                {"event", 4, kMessage, false, "google.protobuf.Any"}});
  EXPECT_EQ(std::string(ev::EventsTtrpc::kServiceName),
            std::string("containerd.services.events.ttrpc.v1.Events"));
}

TEST(EventsProtoTest, TaskEventNamesAndNumbers) {
  namespace ce = ::containerd::events;
  // The message full names are the Any type URLs containerd decodes ("containerd.events.X").
  EXPECT_EQ(ce::TaskCreate::descriptor()->full_name(), "containerd.events.TaskCreate");
  for (const char* name :
       {"TaskCreate", "TaskStart", "TaskDelete", "TaskIO", "TaskExit", "TaskOOM", "TaskExecAdded",
        "TaskExecStarted", "TaskPaused", "TaskResumed", "TaskCheckpointed"}) {
    EXPECT_NE(DescriptorPool::generated_pool()->FindMessageTypeByName(
                  std::string("containerd.events.") + name),
              nullptr)
        << name;
  }
  ExpectFields(ce::TaskCreate::descriptor(),
               {{"container_id", 1, kString},
                {"bundle", 2, kString},
                {"rootfs", 3, kMessage, true, "containerd.types.Mount"},
                {"io", 4, kMessage, false, "containerd.events.TaskIO"},
                {"checkpoint", 5, kString},
                {"pid", 6, kUint32}});
  ExpectFields(ce::TaskDelete::descriptor(),
               {{"exit_status", 3, kUint32}, {"exited_at", 4, kMessage}, {"id", 5, kString}});
  ExpectFields(ce::TaskExit::descriptor(), {{"container_id", 1, kString},
                                            {"id", 2, kString},
                                            {"pid", 3, kUint32},
                                            {"exit_status", 4, kUint32},
                                            {"exited_at", 5, kMessage}});
  ExpectFields(ce::TaskExecStarted::descriptor(), {{"exec_id", 2, kString}, {"pid", 3, kUint32}});
  ExpectFields(ce::TaskIO::descriptor(), {{"terminal", 4, kBool}});
  ExpectFields(ce::TaskCheckpointed::descriptor(), {{"checkpoint", 2, kString}});
}

// ---- runtime options ------------------------------------------------------------------------

TEST(RuntimeOptionsProtoTest, FieldNumbersAndBytes) {
  EXPECT_EQ(::runtimeoptions::v1::Options::descriptor()->full_name(), "runtimeoptions.v1.Options");
  ExpectFields(::runtimeoptions::v1::Options::descriptor(),
               {{"type_url", 1, kString}, {"config_path", 2, kString}, {"config_body", 3, kBytes}});
  ::runtimeoptions::v1::Options o;
  ASSERT_TRUE(o.ParseFromString(Bytes({0x12, 0x02, '/', 'c'})));  // config_path = 2
  EXPECT_EQ(o.config_path(), "/c");
}

// ---- OpenTelemetry OTLP traces --------------------------------------------------------------

TEST(OtlpTraceProtoTest, NamesAndFieldNumbersAreOtlps) {
  namespace otc = ::opentelemetry::proto::collector::trace::v1;
  namespace ott = ::opentelemetry::proto::trace::v1;
  namespace otcm = ::opentelemetry::proto::common::v1;
  constexpr auto kFixed64 = FieldDescriptor::TYPE_FIXED64;
  constexpr auto kFixed32 = FieldDescriptor::TYPE_FIXED32;
  constexpr auto kDouble = FieldDescriptor::TYPE_DOUBLE;
  EXPECT_EQ(otc::ExportTraceServiceRequest::descriptor()->full_name(),
            "opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest");
  ExpectFields(
      otc::ExportTraceServiceRequest::descriptor(),
      {{"resource_spans", 1, kMessage, true, "opentelemetry.proto.trace.v1.ResourceSpans"}});
  ExpectFields(ott::ResourceSpans::descriptor(),
               {{"resource", 1, kMessage, false, "opentelemetry.proto.resource.v1.Resource"},
                {"scope_spans", 2, kMessage, true, "opentelemetry.proto.trace.v1.ScopeSpans"},
                {"schema_url", 3, kString}});
  ExpectFields(ott::ScopeSpans::descriptor(),
               {{"scope", 1, kMessage, false, "opentelemetry.proto.common.v1.InstrumentationScope"},
                {"spans", 2, kMessage, true, "opentelemetry.proto.trace.v1.Span"},
                {"schema_url", 3, kString}});
  ExpectFields(ott::Span::descriptor(),
               {{"trace_id", 1, kBytes},
                {"span_id", 2, kBytes},
                {"trace_state", 3, kString},
                {"parent_span_id", 4, kBytes},
                {"name", 5, kString},
                {"kind", 6, kEnum, false, "opentelemetry.proto.trace.v1.Span.SpanKind"},
                {"start_time_unix_nano", 7, kFixed64},
                {"end_time_unix_nano", 8, kFixed64},
                {"attributes", 9, kMessage, true, "opentelemetry.proto.common.v1.KeyValue"},
                {"dropped_attributes_count", 10, kUint32},
                {"events", 11, kMessage, true},
                {"dropped_events_count", 12, kUint32},
                {"links", 13, kMessage, true},
                {"dropped_links_count", 14, kUint32},
                {"status", 15, kMessage, false, "opentelemetry.proto.trace.v1.Status"},
                {"flags", 16, kFixed32}});
  ExpectFields(ott::Status::descriptor(),
               {{"message", 2, kString},
                {"code", 3, kEnum, false, "opentelemetry.proto.trace.v1.Status.StatusCode"}});
  ExpectFields(otcm::KeyValue::descriptor(), {{"key", 1, kString}, {"value", 2, kMessage}});
  ExpectFields(otcm::AnyValue::descriptor(), {{"string_value", 1, kString},
                                              {"bool_value", 2, kBool},
                                              {"int_value", 3, kInt64},
                                              {"double_value", 4, kDouble},
                                              {"bytes_value", 7, kBytes}});
  ExpectFields(::opentelemetry::proto::resource::v1::Resource::descriptor(),
               {{"attributes", 1, kMessage, true}});
  // A span with name "a" (field 5) and start 1 (fixed64 field 7): hand-encoded.
  ott::Span s;
  ASSERT_TRUE(s.ParseFromString(
      Bytes({0x2a, 0x01, 'a', 0x39, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00})));
  EXPECT_EQ(s.name(), "a");
  EXPECT_EQ(s.start_time_unix_nano(), 1u);
  EXPECT_EQ(ott::Status::STATUS_CODE_ERROR, 2);
  EXPECT_EQ(ott::Span::SPAN_KIND_CLIENT, 3);
}

}  // namespace
}  // namespace protocols
}  // namespace kata
