// A plain driver for a libFuzzer target (LLVMFuzzerTestOneInput), so `bazel test` runs a
// short, deterministic fuzz-like pass with gcc: built-in seeds, then ~20,000 inputs made by
// mutating valid ttRPC frames (fixed seed).
//
//   frame_fuzzer_replay                      seeds + generated inputs
//   frame_fuzzer_replay FILE|DIR...          replay those inputs (e.g. a crash artifact)
//   frame_fuzzer_replay --write-seeds DIR    write the seed corpus for libFuzzer into DIR
//
// A failing input aborts (the target calls abort()); the driver prints which one it was.
#include <dirent.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "src/libs/base/file.h"
#include "src/libs/protocols/ttrpc.pb.h"
#include "src/libs/ttrpc/frame.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

using kata::ttrpc::EncodeFrameHeader;
using kata::ttrpc::FrameHeader;
using kata::ttrpc::kFrameHeaderSize;
using kata::ttrpc::kMaxFrameData;

constexpr int kGenerated = 20000;

std::string Frame(uint32_t length_field, uint32_t stream_id, uint8_t type, uint8_t flags,
                  const std::string& data) {
  FrameHeader h;
  h.length = length_field;
  h.stream_id = stream_id;
  h.type = type;
  h.flags = flags;
  char head[kFrameHeaderSize];
  EncodeFrameHeader(h, head);
  return std::string(head, kFrameHeaderSize) + data;
}

std::string Frame(uint32_t stream_id, uint8_t type, uint8_t flags, const std::string& data) {
  return Frame(static_cast<uint32_t>(data.size()), stream_id, type, flags, data);
}

class Generator {
 public:
  explicit Generator(uint32_t seed) : rng_(seed) {}

  uint32_t Below(uint32_t n) { return n == 0 ? 0 : static_cast<uint32_t>(rng_() % n); }

  std::string Bytes(size_t max) {
    std::string s(Below(static_cast<uint32_t>(max) + 1), '\0');
    for (char& c : s) c = static_cast<char>(rng_());
    return s;
  }

  std::string Text(size_t max) {
    static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCXYZ0123456789./_-";
    std::string s(Below(static_cast<uint32_t>(max) + 1), '\0');
    for (char& c : s) c = kAlphabet[Below(sizeof kAlphabet - 1)];
    return s;
  }

  std::string Request() {
    ::ttrpc::Request r;
    r.set_service(Below(4) == 0 ? "ttrpc.interop.Echo" : Text(40));
    r.set_method(Text(20));
    r.set_payload(Bytes(Below(8) == 0 ? 2000 : 64));
    if (Below(2))
      r.set_timeout_nano(static_cast<int64_t>(rng_()) * (Below(2) ? 1 : -1) *
                         static_cast<int64_t>(1 + Below(1000000)));
    for (uint32_t i = Below(4); i > 0; --i) {
      ::ttrpc::KeyValue* kv = r.add_metadata();
      kv->set_key(Text(10));
      kv->set_value(Text(20));
    }
    return r.SerializeAsString();
  }

  std::string Response() {
    ::ttrpc::Response r;
    if (Below(4) != 0) {
      const int32_t codes[] = {0, 1, 4, 5, 8, 12, 14, 16, 17, -1, 1000, INT32_MIN, INT32_MAX};
      r.mutable_status()->set_code(codes[Below(sizeof codes / sizeof codes[0])]);
      r.mutable_status()->set_message(Text(60));
    }
    r.set_payload(Bytes(Below(8) == 0 ? 2000 : 64));
    return r.SerializeAsString();
  }

  // 1-5 frames, then one mutation.
  std::string Input() {
    std::string out;
    std::vector<size_t> starts;
    for (uint32_t n = 1 + Below(5); n > 0; --n) {
      starts.push_back(out.size());
      const uint32_t id = Below(8) == 0 ? static_cast<uint32_t>(rng_()) : 2 * Below(50) + 1;
      switch (Below(5)) {
        case 0:
        case 1:
          out += Frame(id, 1, static_cast<uint8_t>(Below(3)), Request());
          break;
        case 2:
          out += Frame(id, 2, 0, Response());
          break;
        case 3:
          out += Frame(id, 3, static_cast<uint8_t>(Below(8)), Bytes(100));
          break;
        default:
          out += Frame(id, static_cast<uint8_t>(rng_()), static_cast<uint8_t>(rng_()), Bytes(100));
          break;
      }
    }
    switch (Below(7)) {
      case 0:
        break;
      case 1:  // truncated
        out.resize(Below(static_cast<uint32_t>(out.size())));
        break;
      case 2:  // a few bytes flipped
        for (uint32_t n = 1 + Below(8); n > 0 && !out.empty(); --n) {
          out[Below(static_cast<uint32_t>(out.size()))] ^= static_cast<char>(1 + Below(255));
        }
        break;
      case 3: {  // a length field at or past the limit, or just wrong
        const uint32_t lengths[] = {kMaxFrameData, kMaxFrameData + 1, 0xFFFFFFFFu,
                                    static_cast<uint32_t>(rng_()), Below(300)};
        const uint32_t len = lengths[Below(5)];
        const size_t at = starts[Below(static_cast<uint32_t>(starts.size()))];
        out[at] = static_cast<char>(len >> 24);
        out[at + 1] = static_cast<char>(len >> 16);
        out[at + 2] = static_cast<char>(len >> 8);
        out[at + 3] = static_cast<char>(len);
        break;
      }
      case 4:  // garbage inserted
        out.insert(Below(static_cast<uint32_t>(out.size()) + 1), Bytes(64));
        break;
      case 5:  // pure garbage
        out = Bytes(4096);
        break;
      default:  // the same frames twice
        out += out;
        break;
    }
    return out;
  }

 private:
  std::mt19937 rng_;
};

std::vector<std::string> Seeds() {
  std::vector<std::string> seeds;
  seeds.push_back("");
  ::ttrpc::Request req;
  req.set_service("ttrpc.interop.Echo");
  req.set_method("Echo");
  req.set_payload("\x0a\x05hello");
  req.set_timeout_nano(1000000000);
  ::ttrpc::KeyValue* kv = req.add_metadata();
  kv->set_key("k");
  kv->set_value("v");
  const std::string request = Frame(1, 1, 0, req.SerializeAsString());
  seeds.push_back(request);
  ::ttrpc::Response resp;
  resp.mutable_status()->set_code(5);
  resp.mutable_status()->set_message("not found");
  const std::string response = Frame(1, 2, 0, resp.SerializeAsString());
  seeds.push_back(response);
  resp.clear_status();
  resp.set_payload("\x0a\x05hello");
  seeds.push_back(Frame(3, 2, 0, resp.SerializeAsString()));
  seeds.push_back(Frame(3, 1, 2, req.SerializeAsString()) + Frame(3, 3, 0, "abc") +
                  Frame(3, 3, 5, ""));
  seeds.push_back(Frame(kMaxFrameData + 1, 1, 1, 0, "xxxxxxxx") + request);
  seeds.push_back(Frame(0xFFFFFFFFu, 1, 2, 0, ""));
  seeds.push_back(Frame(0, 2, 1, 0, "") + Frame(5, 1, 0, ""));
  seeds.push_back(request.substr(0, 5));
  seeds.push_back(request + response + request.substr(0, 17));
  seeds.push_back(Frame(1, 1, 0, "\xff\xff\xff\xff"));
  resp.mutable_status()->set_code(-7);
  seeds.push_back(Frame(9, 2, 0, resp.SerializeAsString()));
  // One frame of exactly the maximum size.
  seeds.push_back(Frame(1, 3, 0, std::string(kMaxFrameData, 'm')));
  return seeds;
}

int Run(const std::string& input) {
  return LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

int ReplayPath(const std::string& path, int* count) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "cannot stat %s\n", path.c_str());
    return 1;
  }
  if (S_ISDIR(st.st_mode)) {
    DIR* d = opendir(path.c_str());
    if (d == nullptr) return 1;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      if (ReplayPath(path + "/" + e->d_name, count) != 0) {
        closedir(d);
        return 1;
      }
    }
    closedir(d);
    return 0;
  }
  absl::StatusOr<std::string> input = kata::ReadFileToString(path);
  if (!input.ok()) {
    std::fprintf(stderr, "%s\n", input.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "replaying %s (%zu bytes)\n", path.c_str(), input->size());
  Run(*input);
  ++*count;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  LLVMFuzzerInitialize(&argc, &argv);
  if (argc == 3 && std::strcmp(argv[1], "--write-seeds") == 0) {
    std::vector<std::string> corpus = Seeds();
    Generator gen(42);
    for (int i = 0; i < 200; ++i) corpus.push_back(gen.Input());
    int n = 0;
    for (const std::string& input : corpus) {
      if (input.size() > 65536) continue;  // keep the corpus small
      const std::string path = std::string(argv[2]) + "/seed-" + std::to_string(n++);
      if (absl::Status s = kata::WriteStringToFile(path, input); !s.ok()) {
        std::fprintf(stderr, "%s\n", s.ToString().c_str());
        return 1;
      }
    }
    std::printf("wrote %d seeds to %s\n", n, argv[2]);
    return 0;
  }
  if (argc > 1) {
    int count = 0;
    for (int i = 1; i < argc; ++i) {
      if (ReplayPath(argv[i], &count) != 0) return 1;
    }
    std::printf("replayed %d inputs: ok\n", count);
    return 0;
  }
  int count = 0;
  for (const std::string& seed : Seeds()) {
    Run(seed);
    ++count;
  }
  Generator gen(20240601);
  size_t bytes = 0;
  for (int i = 0; i < kGenerated; ++i) {
    const std::string input = gen.Input();
    bytes += input.size();
    Run(input);
    ++count;
  }
  std::printf("frame_fuzzer_replay: %d inputs (%zu generated bytes): ok\n", count, bytes);
  return 0;
}
