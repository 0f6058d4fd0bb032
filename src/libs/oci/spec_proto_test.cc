#include "src/libs/oci/spec_proto.h"

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "src/libs/oci/internal/spec_proto_testing.h"

namespace kata {
namespace oci {
namespace {

using ::kata::oci::internal::DumpSpec;
using ::kata::oci::internal::FullSpec;
using ::testing::HasSubstr;

TEST(SpecProtoTest, FullSpecRoundTrips) {
  const Spec spec = FullSpec();
  absl::StatusOr<Spec> back = SpecFromProto(SpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DumpSpec(*back), DumpSpec(spec));
}

TEST(SpecProtoTest, SerializedBytesParseBack) {
  const Spec spec = FullSpec();
  const grpc::Spec proto = SpecToProto(spec);
  std::string bytes;
  ASSERT_TRUE(proto.SerializeToString(&bytes));
  grpc::Spec parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  // (Byte equality is not promised: protobuf does not fix the order of map entries.)
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(parsed, proto));
  absl::StatusOr<Spec> back = SpecFromProto(parsed);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DumpSpec(*back), DumpSpec(spec));
}

TEST(SpecProtoTest, FieldsAreFilledAsKataDoes) {
  const grpc::Spec p = SpecToProto(FullSpec());
  EXPECT_EQ(p.version(), "1.1.0");
  EXPECT_EQ(p.process().oomscoreadj(), -1000);
  EXPECT_EQ(p.process().user().username(), "alice");
  EXPECT_EQ(p.linux().uidmappings(0).hostid(), 100000u);
  EXPECT_EQ(p.linux().uidmappings(0).containerid(), 0u);
  EXPECT_EQ(p.linux().devices(0).major(), 254);
  EXPECT_EQ(p.linux().resources().hugepagelimits(0).pagesize(), "2MB");
  ASSERT_EQ(p.linux().seccomp().syscalls_size(), 3);
  EXPECT_FALSE(p.linux().seccomp().syscalls(0).has_errnoret());
  EXPECT_TRUE(p.linux().seccomp().syscalls(1).has_errnoret());
  EXPECT_EQ(p.linux().seccomp().syscalls(1).errnoret(), 1u);
  EXPECT_TRUE(p.linux().seccomp().syscalls(2).has_errnoret());
  EXPECT_FALSE(p.has_solaris());
  EXPECT_FALSE(p.has_windows());
}

TEST(SpecProtoTest, DeviceCgroupWildcardsSurvive) {
  Spec spec;
  LinuxResources& r = spec.linux.emplace().resources.emplace();
  LinuxDeviceCgroup all;  // deny everything: a *:* rwm
  all.allow = false;
  LinuxDeviceCgroup char_any;  // c *:* m
  char_any.allow = true;
  char_any.type = "c";
  char_any.access = "m";
  LinuxDeviceCgroup minor_any;  // b 8:* r
  minor_any.allow = true;
  minor_any.type = "b";
  minor_any.major = 8;
  minor_any.access = "r";
  LinuxDeviceCgroup major_any;  // c *:5 w
  major_any.allow = true;
  major_any.type = "c";
  major_any.minor = 5;
  major_any.access = "w";
  r.devices = std::vector<LinuxDeviceCgroup>{all, char_any, minor_any, major_any};

  const grpc::Spec proto = SpecToProto(spec);
  const auto& wire = proto.linux().resources().devices();
  ASSERT_EQ(wire.size(), 4);
  // On the wire a wildcard is 0 (what Kata's Go runtime sends) and "" for type/access.
  EXPECT_EQ(wire[0].major(), 0);
  EXPECT_EQ(wire[0].minor(), 0);
  EXPECT_EQ(wire[0].type(), "");
  EXPECT_EQ(wire[0].access(), "");
  EXPECT_EQ(wire[2].major(), 8);
  EXPECT_EQ(wire[2].minor(), 0);
  EXPECT_EQ(wire[3].major(), 0);
  EXPECT_EQ(wire[3].minor(), 5);

  absl::StatusOr<Spec> back = SpecFromProto(proto);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(DumpSpec(*back), DumpSpec(spec));
  const auto& rules = *back->linux->resources->devices;
  EXPECT_FALSE(rules[0].major.has_value());
  EXPECT_FALSE(rules[0].type.has_value());
  EXPECT_FALSE(rules[1].minor.has_value());
  EXPECT_EQ(rules[2].major, 8);
  EXPECT_FALSE(rules[2].minor.has_value());
  EXPECT_FALSE(rules[3].major.has_value());
  EXPECT_EQ(rules[3].minor, 5);
}

TEST(SpecProtoTest, NegativeDeviceCgroupNumbersAreWildcards) {
  grpc::Spec proto;
  grpc::LinuxDeviceCgroup* rule = proto.mutable_linux()->mutable_resources()->add_devices();
  rule->set_allow(true);
  rule->set_type("a");
  rule->set_major(-1);
  rule->set_minor(-1);
  rule->set_access("rwm");
  absl::StatusOr<Spec> spec = SpecFromProto(proto);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const LinuxDeviceCgroup& r = (*spec->linux->resources->devices)[0];
  EXPECT_EQ(r.type, "a");
  EXPECT_FALSE(r.major.has_value());
  EXPECT_FALSE(r.minor.has_value());
}

// A Linux runtime reads a config without process.user.uid/gid (valid in the schema) as runc
// does: uid 0, gid 0.
TEST(SpecProtoTest, AbsentUidAndGidAreRoot) {
  Spec spec;
  spec.process.emplace().user.additional_gids = std::vector<uint32_t>{5};
  const grpc::Spec proto = SpecToProto(spec);
  EXPECT_EQ(proto.process().user().uid(), 0u);
  EXPECT_EQ(proto.process().user().gid(), 0u);
  EXPECT_EQ(proto.process().user().additionalgids_size(), 1);
  spec.process->user.uid = 1000;
  spec.process->user.gid = 1001;
  EXPECT_EQ(SpecToProto(spec).process().user().uid(), 1000u);
  EXPECT_EQ(SpecToProto(spec).process().user().gid(), 1001u);
}

TEST(SpecProtoTest, EmptyProtoGivesAbsentFields) {
  absl::StatusOr<Spec> spec = SpecFromProto(grpc::Spec());
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->oci_version, "");
  EXPECT_FALSE(spec->process.has_value());
  EXPECT_FALSE(spec->root.has_value());
  EXPECT_FALSE(spec->hostname.has_value());
  EXPECT_FALSE(spec->mounts.has_value());
  EXPECT_FALSE(spec->hooks.has_value());
  EXPECT_FALSE(spec->annotations.has_value());
  EXPECT_FALSE(spec->linux.has_value());
}

TEST(SpecProtoTest, ZeroValuesBecomeAbsentButSetMessagesStayPresent) {
  Spec spec;
  Process& p = spec.process.emplace();
  p.terminal = false;
  p.oom_score_adj = 0;
  p.args = Strings{};
  p.capabilities.emplace();  // empty object: stays present (message presence)
  spec.hostname = "";
  LinuxResources& r = spec.linux.emplace().resources.emplace();
  r.memory.emplace().swappiness = 0;
  absl::StatusOr<Spec> back = SpecFromProto(SpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_TRUE(back->process.has_value());
  EXPECT_FALSE(back->process->terminal.has_value());
  EXPECT_FALSE(back->process->oom_score_adj.has_value());
  EXPECT_FALSE(back->process->args.has_value());
  ASSERT_TRUE(back->process->capabilities.has_value());
  EXPECT_FALSE(back->process->capabilities->bounding.has_value());
  EXPECT_FALSE(back->hostname.has_value());
  ASSERT_TRUE(back->linux->resources->memory.has_value());
  EXPECT_FALSE(back->linux->resources->memory->swappiness.has_value());
}

TEST(SpecProtoTest, FieldsKataLacksAreDropped) {
  Spec spec = FullSpec();
  spec.domainname = "example.com";
  spec.process->user.umask = 022;
  spec.process->command_line = "cmd.exe";
  spec.linux->intel_rdt->clos_id = "clos";
  spec.linux->resources->unified = StringMap{{"memory.high", "1G"}};
  spec.unknown.members.push_back({"solaris", "{}"});
  absl::StatusOr<Spec> back = SpecFromProto(SpecToProto(spec));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_FALSE(back->domainname.has_value());
  EXPECT_FALSE(back->process->user.umask.has_value());
  EXPECT_FALSE(back->process->command_line.has_value());
  EXPECT_FALSE(back->linux->intel_rdt->clos_id.has_value());
  EXPECT_FALSE(back->linux->resources->unified.has_value());
  EXPECT_TRUE(back->unknown.empty());
  EXPECT_EQ(DumpSpec(*back), DumpSpec(FullSpec()));
}

TEST(SpecProtoTest, ConsoleSizeSaturates) {
  Spec spec;
  spec.process.emplace().console_size = Box{uint64_t{1} << 40, 80, {}};
  const grpc::Spec proto = SpecToProto(spec);
  EXPECT_EQ(proto.process().consolesize().height(), std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(proto.process().consolesize().width(), 80u);
}

void ExpectInvalid(const grpc::Spec& proto, const std::string& field) {
  absl::StatusOr<Spec> spec = SpecFromProto(proto);
  ASSERT_FALSE(spec.ok()) << field;
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(spec.status().message()), HasSubstr(field + ": "));
}

TEST(SpecProtoTest, RejectsOomScoreAdjOutsideInt32) {
  grpc::Spec proto;
  proto.mutable_process()->set_oomscoreadj(int64_t{1} << 31);
  ExpectInvalid(proto, "process.oomScoreAdj");
  proto.mutable_process()->set_oomscoreadj(-(int64_t{1} << 31) - 1);
  ExpectInvalid(proto, "process.oomScoreAdj");
  proto.mutable_process()->set_oomscoreadj(std::numeric_limits<int32_t>::min());
  EXPECT_TRUE(SpecFromProto(proto).ok());
}

TEST(SpecProtoTest, RejectsBlockIoWeightsAboveUint16) {
  grpc::Spec proto;
  grpc::LinuxBlockIO* bio = proto.mutable_linux()->mutable_resources()->mutable_blockio();
  bio->set_weight(65536);
  ExpectInvalid(proto, "linux.resources.blockIO.weight");
  bio->set_weight(65535);
  bio->set_leafweight(70000);
  ExpectInvalid(proto, "linux.resources.blockIO.leafWeight");
  bio->set_leafweight(0);
  bio->add_weightdevice()->set_weight(10);
  bio->add_weightdevice()->set_leafweight(70000);
  ExpectInvalid(proto, "linux.resources.blockIO.weightDevice[1].leafWeight");
  EXPECT_THAT(std::string(SpecFromProto(proto).status().message()),
              HasSubstr("70000 does not fit in uint16"));
}

TEST(SpecProtoTest, RejectsSeccompArgIndexAboveUint32) {
  grpc::Spec proto;
  grpc::LinuxSyscall* sc = proto.mutable_linux()->mutable_seccomp()->add_syscalls();
  sc->add_names("read");
  sc->add_args()->set_index(1);
  grpc::LinuxSyscall* sc2 = proto.mutable_linux()->mutable_seccomp()->add_syscalls();
  sc2->add_names("write");
  sc2->add_args()->set_index(2);
  sc2->add_args()->set_index(uint64_t{1} << 32);
  ExpectInvalid(proto, "linux.seccomp.syscalls[1].args[1].index");
}

// Kata's field numbers: a renumbering in oci.proto must fail here.
int Number(const google::protobuf::Descriptor* d, const std::string& field) {
  const google::protobuf::FieldDescriptor* f = d->FindFieldByName(field);
  return f == nullptr ? -1 : f->number();
}

TEST(SpecProtoTest, FieldNumbersMatchKata) {
  EXPECT_EQ(grpc::Spec::descriptor()->full_name(), "grpc.Spec");
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Version"), 1);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Process"), 2);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Mounts"), 5);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Annotations"), 7);
  EXPECT_EQ(Number(grpc::Spec::descriptor(), "Linux"), 8);
  EXPECT_EQ(Number(grpc::Process::descriptor(), "OOMScoreAdj"), 11);
  EXPECT_EQ(Number(grpc::Hooks::descriptor(), "Poststop"), 3);
  EXPECT_EQ(Number(grpc::Hooks::descriptor(), "StartContainer"), 6);
  EXPECT_EQ(Number(grpc::Linux::descriptor(), "Resources"), 4);
  EXPECT_EQ(Number(grpc::Linux::descriptor(), "Devices"), 7);
  EXPECT_EQ(Number(grpc::Linux::descriptor(), "IntelRdt"), 13);
  EXPECT_EQ(Number(grpc::LinuxIDMapping::descriptor(), "HostID"), 1);
  EXPECT_EQ(Number(grpc::LinuxIDMapping::descriptor(), "ContainerID"), 2);
  EXPECT_EQ(Number(grpc::LinuxDevice::descriptor(), "Path"), 1);
  EXPECT_EQ(Number(grpc::LinuxDevice::descriptor(), "Major"), 3);
  EXPECT_EQ(Number(grpc::LinuxResources::descriptor(), "Devices"), 1);
  EXPECT_EQ(Number(grpc::LinuxDeviceCgroup::descriptor(), "Major"), 3);
  EXPECT_EQ(Number(grpc::LinuxDeviceCgroup::descriptor(), "Minor"), 4);
  EXPECT_EQ(Number(grpc::LinuxSyscall::descriptor(), "errnoret"), 3);
  EXPECT_EQ(Number(grpc::Mount::descriptor(), "type"), 3);
  EXPECT_EQ(grpc::LinuxDeviceCgroup::descriptor()->FindFieldByName("Major")->type(),
            google::protobuf::FieldDescriptor::TYPE_INT64);
}

}  // namespace
}  // namespace oci
}  // namespace kata
