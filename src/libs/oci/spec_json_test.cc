#include "src/libs/oci/spec_json.h"

#include <unistd.h>

#include <cstdint>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rapidjson/document.h"
#include "src/libs/base/file.h"
#include "src/libs/base/testing/temp_dir.h"

namespace kata {
namespace oci {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Every member the model knows, at least once, with values at the edges of their ranges.
constexpr char kFullSpec[] = R"json({
  "ociVersion": "1.0.2-dev",
  "process": {
    "terminal": false,
    "consoleSize": {"height": 25, "width": 80},
    "user": {"uid": 4294967295, "gid": 0, "umask": 18, "additionalGids": [1, 2, 4294967295]},
    "args": ["sh", "-c", "echo \"hi\" \u00e9\n"],
    "env": ["PATH=/bin", "EMPTY="],
    "cwd": "/",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": [], "inheritable": ["CAP_KILL"],
                     "permitted": ["CAP_KILL"], "ambient": ["CAP_KILL"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 18446744073709551615, "soft": 1024}],
    "noNewPrivileges": true,
    "apparmorProfile": "docker-default",
    "oomScoreAdj": -1000,
    "selinuxLabel": "system_u:system_r:container_t:s0"
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "h",
  "domainname": "",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/data", "type": "bind", "source": "/srv", "options": ["rbind", "ro"],
     "uidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}],
     "gidMappings": [{"containerID": 0, "hostID": 100000, "size": 65536}]}
  ],
  "hooks": {
    "prestart": [{"path": "/bin/true", "args": ["true"], "env": ["A=1"], "timeout": 5}],
    "createRuntime": [{"path": "/bin/a"}], "createContainer": [{"path": "/bin/b"}],
    "startContainer": [{"path": "/bin/c"}], "poststart": [{"path": "/bin/d"}],
    "poststop": [{"path": "/bin/e"}]
  },
  "annotations": {"io.kubernetes.cri.sandbox-id": "abc", "b": ""},
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": 1000, "size": 1}],
    "sysctl": {"net.ipv4.ip_forward": "1"},
    "resources": {
      "devices": [{"allow": false, "access": "rwm"},
                  {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                  {"allow": true, "type": "b", "major": 8}],
      "memory": {"limit": 9223372036854775807, "reservation": 0, "swap": -1, "kernel": -1,
                 "kernelTCP": 1, "swappiness": 18446744073709551615, "disableOOMKiller": false,
                 "useHierarchy": true, "checkBeforeUpdate": true},
      "cpu": {"shares": 1024, "quota": -9223372036854775808, "burst": 0, "period": 100000,
              "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "0-1", "mems": "0",
              "idle": 1},
      "pids": {"limit": -1},
      "blockIO": {"weight": 65535, "leafWeight": 10,
                  "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300}],
                  "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
                  "throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": 700}],
                  "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 800}],
                  "throttleWriteIOPSDevice": [{"major": 8, "minor": 0, "rate": 900}]},
      "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}],
      "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
      "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
      "unified": {"io.weight": "100", "memory.high": "max"}
    },
    "cgroupsPath": "/default/c1",
    "namespaces": [{"type": "pid"}, {"type": "network", "path": "/var/run/netns/n"},
                   {"type": "mount"}, {"type": "time"}],
    "devices": [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229,
                 "fileMode": 438, "uid": 0, "gid": 0},
                {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0}],
    "seccomp": {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "listenerPath": "/run/l.sock", "listenerMetadata": "m",
                "syscalls": [{"names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
                              "errnoRet": 38,
                              "args": [{"index": 0, "value": 18446744073709551615,
                                        "valueTwo": 0, "op": "SCMP_CMP_EQ"}]}]},
    "rootfsPropagation": "rslave",
    "maskedPaths": ["/proc/kcore"],
    "readonlyPaths": ["/proc/sys"],
    "mountLabel": "system_u:object_r:container_file_t:s0",
    "intelRdt": {"closID": "c", "l3CacheSchema": "L3:0=ff", "memBwSchema": "MB:0=70",
                 "enableCMT": true, "enableMBM": false},
    "personality": {"domain": "LINUX32", "flags": []},
    "timeOffsets": {"boottime": {"secs": -5, "nanosecs": 999999999}, "monotonic": {"secs": 1}}
  },
  "vm": {
    "hypervisor": {"path": "/usr/bin/qemu", "parameters": ["-m", "256"]},
    "kernel": {"path": "/boot/vmlinux", "parameters": ["quiet"], "initrd": "/boot/initrd"},
    "image": {"path": "/img.raw", "format": "raw"}
  }
})json";

// Compares numbers as ParseSpec reads them: correctly rounded (full precision).
bool SameJson(const std::string& a, const std::string& b) {
  rapidjson::Document da, db;
  da.Parse<rapidjson::kParseFullPrecisionFlag>(a.c_str());
  db.Parse<rapidjson::kParseFullPrecisionFlag>(b.c_str());
  EXPECT_FALSE(da.HasParseError()) << a;
  EXPECT_FALSE(db.HasParseError()) << b;
  return da == db;  // member order does not matter to rapidjson's equality
}

std::string RoundTrip(const std::string& json, bool pretty = true) {
  absl::StatusOr<Spec> spec = ParseSpec(json);
  EXPECT_TRUE(spec.ok()) << spec.status();
  if (!spec.ok()) return "";
  SerializeOptions options;
  options.pretty = pretty;
  return SerializeSpec(*spec, options);
}

absl::Status ParseError(const std::string& json) { return ParseSpec(json).status(); }

TEST(SpecJson, FullSpecRoundTripsExactly) {
  EXPECT_TRUE(SameJson(kFullSpec, RoundTrip(kFullSpec)));
  EXPECT_TRUE(SameJson(kFullSpec, RoundTrip(kFullSpec, /*pretty=*/false)));
  // And the output is stable: serializing twice gives the same bytes.
  EXPECT_EQ(RoundTrip(kFullSpec), RoundTrip(RoundTrip(kFullSpec)));
}

TEST(SpecJson, FullSpecValidates) {
  absl::StatusOr<Spec> spec = ParseSpec(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(ValidateSpec(*spec).ok()) << ValidateSpec(*spec);
}

TEST(SpecJson, KeepsFullIntegerRanges) {
  absl::StatusOr<Spec> spec = ParseSpec(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->process->user.uid.value_or(0), std::numeric_limits<uint32_t>::max());
  EXPECT_EQ(spec->process->user.gid, std::optional<uint32_t>(0));  // present, not absent
  EXPECT_EQ((*spec->process->rlimits)[0].hard, std::numeric_limits<uint64_t>::max());
  const LinuxResources& r = *spec->linux->resources;
  EXPECT_EQ(*r.memory->swap, -1);
  EXPECT_EQ(*r.memory->limit, std::numeric_limits<int64_t>::max());
  EXPECT_EQ(*r.memory->swappiness, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(*r.cpu->quota, std::numeric_limits<int64_t>::min());
  EXPECT_EQ(r.pids->limit, -1);
  EXPECT_EQ(*r.block_io->weight, 65535);
}

TEST(SpecJson, AbsentStaysAbsentAndWildcardsAreNotZero) {
  absl::StatusOr<Spec> spec = ParseSpec(kFullSpec);
  ASSERT_TRUE(spec.ok()) << spec.status();
  const auto& rules = *spec->linux->resources->devices;
  EXPECT_FALSE(rules[0].type.has_value());
  EXPECT_FALSE(rules[0].major.has_value());
  EXPECT_FALSE(rules[0].minor.has_value());
  EXPECT_EQ(*rules[2].major, 8);
  EXPECT_FALSE(rules[2].minor.has_value());
  // Present-but-false and present-but-empty are kept.
  EXPECT_EQ(spec->process->terminal, std::optional<bool>(false));
  EXPECT_EQ(spec->domainname, std::optional<std::string>(""));
  EXPECT_TRUE(spec->process->capabilities->effective.has_value());
  EXPECT_TRUE(spec->process->capabilities->effective->empty());
  EXPECT_FALSE(spec->process->console_size->unknown.members.size());
  // Absent members are not written.
  const std::string out = RoundTrip(R"({"ociVersion":"1.0.0"})", false);
  EXPECT_EQ(out, R"({"ociVersion":"1.0.0"})");
}

TEST(SpecJson, KeepsUnknownMembersVerbatim) {
  const std::string doc = R"({
    "ociVersion": "1.1.0",
    "process": {"cwd": "/", "user": {"uid": 0, "gid": 0},
                "ioPriority": {"class": "IOPRIO_CLASS_IDLE", "priority": 4},
                "scheduler": {"policy": "SCHED_OTHER", "nice": -5}},
    "linux": {"memoryPolicy": {"mode": "MPOL_BIND", "nodes": "0-1"},
              "resources": {"memory": {"limit": 1, "future": [1, [2, {"x": null}]]}}},
    "solaris": {"milestone": "svc:/milestone/container:default"},
    "windows": {"layerFolders": ["C:\\a"]},
    "zos": {"devices": []},
    "x-big": 123456789012345678901234567890,
    "x-float": 1.5e-3
  })";
  const std::string out = RoundTrip(doc);
  EXPECT_TRUE(SameJson(doc, out)) << out;
  absl::StatusOr<Spec> spec = ParseSpec(doc);
  ASSERT_TRUE(spec.ok());
  ASSERT_EQ(spec->process->unknown.members.size(), 2u);
  EXPECT_EQ(spec->process->unknown.members[0].first, "ioPriority");
}

// Found by spec_fuzzer (testdata/fuzz/spec/crash-078a7a78...): a number beyond int64/uint64
// in an unknown member was read with RapidJSON's fast, not correctly rounded, conversion, so
// the double written out read back as a neighbouring one and each round trip changed it.
TEST(SpecJson, BigAndFractionalNumbersReachAFixedPointAfterOneRoundTrip) {
  for (const char* number :
       {"123475689012345678901256743890", "1.2347568901234569e29", "1.2347568901234568e29",
        "9007199254740993", "18446744073709551616", "-9223372036854775809",
        "2.2250738585072011e-308", "4.9406564584124654e-324", "1.7976931348623157e308", "0.1",
        "1e-7", "123.456e-300",
        "0."
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
        "00000000000000000000000000000000000000001"}) {
    const std::string doc = absl::StrCat(R"({"ociVersion":"1.0.0","x-n":)", number, "}");
    const std::string once = RoundTrip(doc);
    EXPECT_EQ(RoundTrip(once), once) << number;
  }
}

// Found by spec_fuzzer (testdata/fuzz/spec/crash-7c278af7..., crash-818067be...,
// crash-07873530...): RapidJSON 1.1.0's correctly rounded conversion (kParseFullPrecisionFlag)
// mishandles a zero significand ("0e98" read as 4e295, undefined behaviour in
// DiyFp::Normalize), so numbers are converted by internal/json_numbers.cc instead.
TEST(SpecJson, ZeroWithAnExponentIsZero) {
  for (const char* number : {"0e98", "0E+98", "0.0e98", "-0e150", "0.000e-5", "0e308",
                             "0.0000000000000000000000000000"}) {
    const std::string doc = absl::StrCat(R"({"ociVersion":"1.0.0","x-n":[)", number, "]}");
    absl::StatusOr<Spec> spec = ParseSpec(doc);
    ASSERT_TRUE(spec.ok()) << number << ": " << spec.status();
    const std::string out = SerializeSpec(*spec, SerializeOptions{.pretty = false});
    const bool negative = number[0] == '-';
    EXPECT_EQ(out,
              absl::StrCat(R"({"ociVersion":"1.0.0","x-n":[)", negative ? "-0.0" : "0.0", "]}"))
        << number;
  }
  // Only whole numbers outside strings are touched: strings and nonzero numbers stay as written.
  const std::string doc = R"({"ociVersion":"0e98","x-s":["0e98\"0e98"],"x-n":[1e2,10e-1,0.5]})";
  absl::StatusOr<Spec> spec = ParseSpec(doc);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->oci_version, "0e98");
  EXPECT_EQ(SerializeSpec(*spec, SerializeOptions{.pretty = false}),
            R"({"ociVersion":"0e98","x-s":["0e98\"0e98"],"x-n":[100.0,1.0,0.5]})");
  // Errors keep pointing at the original text.
  EXPECT_EQ(ParseError(R"({"ociVersion":"1.0.0","x":0e98 1})"),
            ParseError(R"({"ociVersion":"1.0.0","x":7e98 1})"));
  // An exponent beyond RapidJSON's range is refused even for zero (as before).
  EXPECT_THAT(ParseError(R"({"ociVersion":"1.0.0","x":0e400})").message(),
              HasSubstr("Number too big"));
  // Never glued to what follows (crash-818067be...: "0e980e98" became "0.000e98"), and text
  // that is not JSON stays refused.
  for (const char* bad : {"0e980e98", "0e5e5", "0e5.0", "0e1 0e5e5", "-0E+1-"}) {
    const absl::Status s = ParseError(absl::StrCat(R"({"ociVersion":"1.0.0","x":[)", bad, "]}"));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(s.message(), HasSubstr("invalid JSON at line 1")) << bad;
  }
}

TEST(SpecJson, NullOptionalMemberIsAbsent) {
  absl::StatusOr<Spec> spec = ParseSpec(R"({"ociVersion":"1.0.0","hostname":null,"linux":null})");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->hostname.has_value());
  EXPECT_FALSE(spec->linux.has_value());
}

TEST(SpecJson, MistypedMembersNameTheirPath) {
  struct Case {
    std::string doc;
    std::string message;
  } cases[] = {
      {R"({"ociVersion":"1.0.0","linux":{"resources":{"devices":[{"allow":true},
          {"allow":true,"major":"8"}]}}})",
       "linux.resources.devices[1].major: expected a signed 64-bit integer, got string \"8\""},
      {R"({"ociVersion":1})", "ociVersion: expected a string, got number 1"},
      {R"({"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":-1,"gid":0}}})",
       "process.user.uid: expected an unsigned 32-bit integer, got number -1"},
      {R"({"ociVersion":"1.0.0","process":{"cwd":"/","user":{"uid":4294967296,"gid":0}}})",
       "process.user.uid: expected an unsigned 32-bit integer, got number 4294967296"},
      {R"({"ociVersion":"1.0.0","linux":{"resources":{"memory":{"limit":1.5}}}})",
       "linux.resources.memory.limit: expected a signed 64-bit integer, got number 1.5"},
      {R"({"ociVersion":"1.0.0","linux":{"resources":{"memory":{"limit":9223372036854775808}}}})",
       "linux.resources.memory.limit: expected a signed 64-bit integer, got number "
       "9223372036854775808"},
      {R"({"ociVersion":"1.0.0","linux":{"resources":{"blockIO":{"weight":65536}}}})",
       "linux.resources.blockIO.weight: expected an unsigned 16-bit integer"},
      {R"({"ociVersion":"1.0.0","process":{"terminal":"yes","cwd":"/","user":{"uid":0,"gid":0}}})",
       "process.terminal: expected a boolean, got string \"yes\""},
      {R"({"ociVersion":"1.0.0","mounts":{"destination":"/"}})",
       "mounts: expected an array, got an object"},
      {R"({"ociVersion":"1.0.0","annotations":{"a":"1","b":2}})",
       "annotations[\"b\"]: expected a string, got number 2"},
      {R"({"ociVersion":"1.0.0","process":{"user":{"uid":0,"gid":0}}})",
       "process.cwd: required member is missing"},
      {R"({"ociVersion":"1.0.0","process":{"cwd":null,"user":{"uid":0,"gid":0}}})",
       "process.cwd: required member is null"},
      {R"({"process":{}})", "ociVersion: required member is missing"},
      {R"({"ociVersion":"1.0.0","hostname":"a","hostname":"b"})", "hostname: duplicate key"},
      {R"({"ociVersion":"1.0.0","x":1,"x":2})", "x: duplicate key"},
      {R"({"ociVersion":"1.0.0","annotations":{"a":"1","a":"2"}})",
       "annotations[\"a\"]: duplicate key"},
      {R"([1,2])", "the document must be a JSON object, got an array"},
  };
  for (const Case& c : cases) {
    absl::Status s = ParseError(c.doc);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.doc;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.doc;
  }
}

TEST(SpecJson, SyntaxErrorsGiveLineAndColumn) {
  absl::Status s = ParseError("{\n  \"ociVersion\": \"1.0.0\"\n  \"hostname\": \"x\"\n}");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("invalid JSON at line 3, column 3"));
  EXPECT_THAT(std::string(ParseError("").message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(ParseError(R"({"ociVersion":"1.0.0"} x)").message()),
              HasSubstr("root must not be followed"));
  EXPECT_FALSE(ParseSpec(std::string("{\"ociVersion\":\"1\0\"}", 19)).ok());
}

TEST(SpecJson, NulBytesAreRefusedWherever) {
  using std::string_literals::operator""s;
  for (const std::string& doc : {"{\"ociVersion\":\"1.0.2\"}\0"s, "{\"ociVersion\":\"1.0.2\"}\0 "s,
                                 "{\"ociVersion\":\0\"1.0.2\"}"s}) {
    absl::Status s = ParseSpec(doc).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << doc.size();
    EXPECT_THAT(std::string(s.message()), HasSubstr("a NUL byte"));
  }
  // Escaped, a NUL is just a character of a string.
  EXPECT_TRUE(ParseSpec(R"({"ociVersion":"1.0.2","hostname":"a\u0000b"})").ok());
}

TEST(SpecJson, EveryControlCharacterIsEscapedOnWrite) {
  // Long enough for a vectorized writer to see each byte inside a 16-byte block.
  std::string text = "0123456789abcdef";
  for (int c = 0; c < 0x20; ++c) text += std::string(15, 'x') + static_cast<char>(c);
  Spec spec;
  spec.oci_version = "1.0.2";
  spec.hostname = text;
  for (bool pretty : {true, false}) {
    const std::string json = SerializeSpec(spec, {.pretty = pretty});
    for (char c : json) {
      if (c == '\n') continue;
      EXPECT_GE(static_cast<unsigned char>(c), 0x20u) << "a raw control byte";
    }
    absl::StatusOr<Spec> back = ParseSpec(json);
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back->hostname, text);
  }
}

// The pretty form (rapidjson's PrettyWriter) without the whitespace between tokens.
std::string WithoutIndentation(const std::string& pretty) {
  std::string out;
  bool in_string = false, escaped = false;
  for (char c : pretty) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == ' ' || c == '\n') {
      continue;
    }
    out.push_back(c);
  }
  return out;
}

// The compact writer (internal/json_writer.h) writes exactly what rapidjson's writer does:
// same escapes (every byte value, at every offset of an 8-byte block), numbers, order and
// unknown members.
TEST(SpecJson, CompactIsByteForByteRapidjsonsForm) {
  std::vector<std::string> docs = {
      kFullSpec, kata::testing::ReadFileOrDie("src/libs/oci/testdata/windows_config.json")};
  for (const std::string& doc : docs) {
    absl::StatusOr<Spec> spec = ParseSpec(doc);
    ASSERT_TRUE(spec.ok()) << spec.status();
    EXPECT_EQ(SerializeSpec(*spec, {.pretty = false}),
              WithoutIndentation(SerializeSpec(*spec, {.pretty = true})));
  }
  Spec spec;
  spec.oci_version = "1.0.2";
  std::string every_byte;
  for (int c = 255; c >= 0; --c) every_byte += std::string(c % 9, 'a') + static_cast<char>(c);
  spec.hostname = every_byte;
  spec.annotations.emplace();
  for (size_t i = 0; i + 16 <= every_byte.size(); i += 37) {
    (*spec.annotations)[every_byte.substr(i, 16)] = every_byte.substr(i / 2, i % 23);
  }
  Process& p = spec.process.emplace();
  p.cwd = "/";
  p.args = Strings{"", "\"", "\\", "\x7f\xc3\xa9", std::string(1, '\0')};
  p.oom_score_adj = -1000;
  p.user.uid = 4294967295u;
  p.rlimits = std::vector<PosixRlimit>{{"RLIMIT_NOFILE", UINT64_MAX, 0, {}}};
  spec.linux.emplace().resources.emplace().memory.emplace();
  spec.linux->resources->memory->limit = INT64_MIN;
  spec.linux->resources->memory->swap = INT64_MAX;
  spec.linux->resources->memory->reservation = -1;
  const std::string compact = SerializeSpec(spec, {.pretty = false});
  EXPECT_THAT(compact, ::testing::HasSubstr("\"limit\":-9223372036854775808,"));
  EXPECT_THAT(compact, ::testing::HasSubstr("\"hard\":18446744073709551615,"));
  EXPECT_EQ(SerializeSpec(spec, {.pretty = false}),
            WithoutIndentation(SerializeSpec(spec, {.pretty = true})));
}

TEST(SpecJson, InvalidUtf8IsRefusedWithThePathOfTheString) {
  const struct {
    std::string json;
    std::string path;
  } cases[] = {
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\xc0\xaf\"}", "hostname"},  // overlong '/'
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\xe0\x80\xaf\"}",
       "hostname"},  // overlong, 3 bytes
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\xe2\x28\xa1\"}", "hostname"},  // bad continuation
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\xed\xa0\x80\"}", "hostname"},  // a surrogate
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\xf4\x90\x80\x80\"}", "hostname"},  // > U+10FFFF
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"ab\xe2\x82\"}", "hostname"},        // truncated
      {"{\"ociVersion\":\"1.0.2\",\"hostname\":\"\x80\"}", "hostname"},  // a lone continuation
      {"{\"ociVersion\":\"1.0.2\",\"process\":{\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0},"
       "\"args\":[\"sh\",\"\xff\"]}}",
       "process.args[1]"},
      {"{\"ociVersion\":\"1.0.2\",\"annotations\":{\"k\":\"\xc1\xbf\"}}", "annotations.k"},
      {"{\"ociVersion\":\"1.0.2\",\"x-new\":{\"deep\":[{\"s\":\"\xf8\x88\x80\x80\x80\"}]}}",
       "x-new.deep[0].s"},
      {"{\"ociVersion\":\"1.0.2\",\"x-\xc0\x80\":1}", "<name>"},
  };
  for (const auto& c : cases) {
    absl::Status s = ParseSpec(c.json).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.path;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.path + ": invalid UTF-8")) << s;
  }
  // Well-formed text of every length passes and round-trips unchanged.
  const std::string good =
      "{\"ociVersion\":\"1.0.2\",\"hostname\":\"h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80\"}";
  absl::StatusOr<Spec> spec = ParseSpec(good);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(*spec->hostname, "h\xc3\xa9llo \xe2\x98\x83 \xf0\x9f\x98\x80");
}

// A lone low-surrogate escape (\uDC00-\uDFFF with no high surrogate before it) is ASCII text,
// but RapidJSON 1.1.0 decodes it to the surrogate's 3-byte form, which is not UTF-8: the
// spec_fuzzer found such a config parsing and its serialized form then failing to parse.
TEST(SpecJson, LoneLowSurrogateEscapeIsRefusedWithThePathOfTheString) {
  for (const char* json : {
           "{\"ociVersion\":\"1.0.2\",\"hostname\":\"a\\udc00b\"}",
           "{\"ociVersion\":\"1.0.2\",\"hostname\":\"\\uDFFF\"}",
           "{\"ociVersion\":\"1.0.2\",\"hostname\":\"\\ud83d\\ude00\\ude00\"}",
       }) {
    absl::Status s = ParseSpec(json).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(s.message()), HasSubstr("hostname: invalid UTF-8")) << s;
  }
  // A surrogate pair is one code point, and an escaped backslash before "udc00" no escape.
  absl::StatusOr<Spec> pair =
      ParseSpec("{\"ociVersion\":\"1.0.2\",\"hostname\":\"\\ud83d\\ude00 \\\\udc00\"}");
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(*pair->hostname, "\xf0\x9f\x98\x80 \\udc00");
}

TEST(SpecJson, EveryTruncationIsAnErrorNotACrash) {
  const std::string doc = kFullSpec;
  for (size_t n = 0; n < doc.size(); ++n) {
    absl::StatusOr<Spec> spec = ParseSpec(absl::string_view(doc.data(), n));
    // A prefix that ends right after the closing brace is the whole document.
    if (doc.find_first_not_of(" \n", n) != std::string::npos) {
      EXPECT_FALSE(spec.ok()) << "prefix of " << n << " bytes was accepted";
    }
  }
}

TEST(SpecJson, DeepNestingIsRefusedWithoutOverflowingTheStack) {
  for (int depth : {1000, 1000000}) {
    std::string doc =
        R"({"ociVersion":"1.0.0","x":)" + std::string(depth, '[') + std::string(depth, ']') + "}";
    absl::Status s = ParseError(doc);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(s.message()), HasSubstr("x: nested too deeply"));
    // Unbalanced: a syntax error, still no crash.
    EXPECT_FALSE(ParseSpec(std::string(depth, '{')).ok());
  }
  // Nesting inside a typed member is a type error at the first level.
  EXPECT_THAT(std::string(ParseError(R"({"ociVersion":"1.0.0","hostname":)" +
                                     std::string(100000, '[') + std::string(100000, ']') + "}")
                              .message()),
              HasSubstr("hostname: expected a string, got an array"));
}

TEST(SpecJson, HugeDocuments) {
  // Large but sane: 100,000 env vars and a 1 MiB string round-trip.
  std::string doc = R"({"ociVersion":"1.0.0","hostname":")" + std::string(1 << 20, 'h') +
                    R"(","process":{"cwd":"/","user":{"uid":0,"gid":0},"env":[)";
  for (int i = 0; i < 100000; ++i) absl::StrAppend(&doc, i ? "," : "", "\"V", i, "=x\"");
  doc += "]}}";
  absl::StatusOr<Spec> spec = ParseSpec(doc);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_EQ(spec->process->env->size(), 100000u);
  EXPECT_TRUE(SameJson(doc, SerializeSpec(*spec, {false})));
  // Over the limit: refused before parsing.
  std::string too_big(kMaxSpecBytes + 1, ' ');
  EXPECT_EQ(ParseError(too_big).code(), absl::StatusCode::kResourceExhausted);
}

TEST(ValidateSpec, RejectsSemanticErrorsWithTheirPath) {
  struct Case {
    std::string doc;
    std::string message;
  } cases[] = {
      {R"({"ociVersion":"one"})", "ociVersion: \"one\" is not a version"},
      {R"({"ociVersion":"1.0.0","process":{"cwd":"rel","user":{"uid":0,"gid":0}}})",
       "process.cwd: \"rel\" is not absolute"},
      {R"({"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"pidd"}]}})",
       "linux.namespaces[1]: unknown namespace type \"pidd\""},
      {R"({"ociVersion":"1.0.0","linux":{"namespaces":[{"type":"pid"},{"type":"pid"}]}})",
       "linux.namespaces[1]: namespace \"pid\" appears twice"},
      {R"({"ociVersion":"1.0.0","linux":{"devices":[{"path":"/dev/x","type":"z","major":1,"minor":1}]}})",
       "linux.devices[0]: device type must be c, b, u or p"},
      {R"({"ociVersion":"1.0.0","linux":{"resources":{"devices":[{"allow":true,"access":"rwx"}]}}})",
       "linux.resources.devices[0]: access must be made of r, w and m"},
      {R"({"ociVersion":"1.0.0","mounts":[{"destination":"proc"}]})",
       "mounts[0].destination: \"proc\" is not absolute"},
      {R"({"ociVersion":"1.0.0","linux":{"seccomp":{"defaultAction":"SCMP_ACT_NOPE"}}})",
       "linux.seccomp.defaultAction: unknown action"},
      {R"({"ociVersion":"1.0.0","hooks":{"poststop":[{"path":"/x","timeout":0}]}})",
       "hooks.poststop[0]: timeout must be positive"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Spec> spec = ParseSpec(c.doc);
    ASSERT_TRUE(spec.ok()) << c.doc << ": " << spec.status();
    absl::Status s = ValidateSpec(*spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.doc;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.doc;
  }
}

// Issue 11 item 16: a config for another platform round-trips; the codec applies no Linux rule.
// testdata/windows_config.json follows the runtime-spec's Windows fields: process.user has only
// `username`, process.cwd is "C:\", a `windows` section and no `linux` one.
TEST(SpecJson, WindowsConfigRoundTripsExactly) {
  const std::string doc = kata::testing::ReadFileOrDie("src/libs/oci/testdata/windows_config.json");
  absl::StatusOr<Spec> spec = ParseSpec(doc);
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_FALSE(spec->process->user.uid.has_value());
  EXPECT_FALSE(spec->process->user.gid.has_value());
  EXPECT_EQ(spec->process->user.username, std::optional<std::string>("ContainerUser"));
  EXPECT_EQ(spec->process->cwd, "C:\\");
  EXPECT_FALSE(spec->linux.has_value());
  EXPECT_TRUE(ValidateSpec(*spec).ok()) << ValidateSpec(*spec);
  const std::string pretty = SerializeSpec(*spec);
  EXPECT_TRUE(SameJson(doc, pretty)) << pretty;
  EXPECT_TRUE(SameJson(doc, RoundTrip(doc, /*pretty=*/false)));
  EXPECT_THAT(pretty, Not(HasSubstr("\"uid\"")));  // absent stays absent
  EXPECT_EQ(RoundTrip(pretty), pretty);            // a fixed point, byte for byte
}

TEST(ValidateSpec, PathsAreAbsoluteInTheConfigsOwnPlatformsSense) {
  const std::string windows = R"(,"windows":{"layerFolders":["C:\\l"]}})";
  const std::string linux = R"(,"linux":{}})";
  struct Case {
    std::string doc;
    std::string message;  // "" when valid
  } cases[] = {
      {R"({"ociVersion":"1.0.2","process":{"cwd":"C:\\","user":{}})" + windows, ""},
      {R"({"ociVersion":"1.0.2","process":{"cwd":"d:/work","user":{}})" + windows, ""},
      {R"({"ociVersion":"1.0.2","mounts":[{"destination":"\\\\?\\pipe\\p"}])" + windows, ""},
      {R"({"ociVersion":"1.0.2","process":{"cwd":"Users\\me","user":{}})" + windows,
       "process.cwd: \"Users\\me\" is not absolute"},
      {R"({"ociVersion":"1.0.2","process":{"cwd":"C:","user":{}})" + windows,
       "process.cwd: \"C:\" is not absolute"},
      {R"({"ociVersion":"1.0.2","mounts":[{"destination":"/data"}])" + windows,
       "mounts[0].destination: \"/data\" is not absolute"},
      {R"({"ociVersion":"1.0.2","hooks":{"prestart":[{"path":"hook.exe"}]})" + windows,
       "hooks.prestart[0]: path \"hook.exe\" is not absolute"},
      // A Linux config keeps the POSIX rule, and a Linux one without uid/gid is valid (a
      // runtime reads them as 0, as runc does).
      {R"({"ociVersion":"1.0.2","process":{"cwd":"C:\\","user":{}})" + linux,
       "process.cwd: \"C:\\\" is not absolute"},
      {R"({"ociVersion":"1.0.2","process":{"cwd":"C:\\","user":{}}})",
       "process.cwd: \"C:\\\" is not absolute"},
      {R"({"ociVersion":"1.0.2","process":{"cwd":"/","user":{}})" + linux, ""},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Spec> spec = ParseSpec(c.doc);
    ASSERT_TRUE(spec.ok()) << c.doc << ": " << spec.status();
    absl::Status s = ValidateSpec(*spec);
    if (c.message.empty()) {
      EXPECT_TRUE(s.ok()) << c.doc << ": " << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.doc;
      EXPECT_THAT(std::string(s.message()), HasSubstr(c.message)) << c.doc;
    }
  }
}

TEST(SpecFile, SaveThenLoad) {
  testing::TempDir dir;
  const std::string path = dir.Join("config.json");
  absl::StatusOr<Spec> spec = ParseSpec(kFullSpec);
  ASSERT_TRUE(spec.ok());
  ASSERT_TRUE(SaveSpecFile(*spec, path).ok());
  absl::StatusOr<Spec> loaded = LoadSpecFile(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(SerializeSpec(*loaded), SerializeSpec(*spec));
  // Saved atomically: nothing but config.json is left in the directory.
  ASSERT_EQ(unlink(path.c_str()), 0);
  EXPECT_EQ(rmdir(dir.path().c_str()), 0) << "temporary files left behind";

  absl::Status missing = LoadSpecFile(path).status();
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr(path));
  EXPECT_FALSE(SaveSpecFile(*spec, "/nonexistent-dir/config.json").ok());
}

TEST(SpecFile, LoadErrorsNameTheFile) {
  testing::TempDir dir;
  const std::string path = dir.Join("config.json");
  ASSERT_TRUE(WriteStringToFile(path, "{\"ociVersion\": 5}").ok());
  absl::Status s = LoadSpecFile(path).status();
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(absl::StrCat(path, ": ociVersion: expected a string")));
}

}  // namespace
}  // namespace oci
}  // namespace kata
