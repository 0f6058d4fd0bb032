// oci_tool: reads an OCI runtime-spec config.json, checks it, writes it back.
//
//   oci_tool roundtrip [--compact] [FILE]   parse + validate, print the spec (stdout)
//   oci_tool validate [FILE]                parse + validate, print nothing on success
//
// Input is FILE or stdin. Exit status: 0 valid, 1 invalid input (the error on stderr,
// naming the JSON path), 2 bad usage.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <iterator>
#include <string>

#include "absl/status/statusor.h"
#include "src/libs/oci/spec_json.h"

namespace {

constexpr char kUsage[] =
    "usage: oci_tool roundtrip [--compact] [FILE]\n"
    "       oci_tool validate [FILE]\n"
    "Reads an OCI runtime-spec config.json (FILE or stdin), validates it and, for\n"
    "roundtrip, writes it back on stdout. Exits 1 with the error on invalid input.\n";

int Usage() {
  std::fputs(kUsage, stderr);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return Usage();
  const std::string command = argv[1];
  if (command == "-h" || command == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (command != "roundtrip" && command != "validate") return Usage();
  bool compact = false;
  std::string file;
  for (int i = 2; i < argc; ++i) {
    if (command == "roundtrip" && std::strcmp(argv[i], "--compact") == 0) {
      compact = true;
    } else if (argv[i][0] != '-' && file.empty()) {
      file = argv[i];
    } else {
      return Usage();
    }
  }

  absl::StatusOr<kata::oci::Spec> spec;
  if (file.empty()) {
    std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    spec = kata::oci::ParseSpec(text);
  } else {
    spec = kata::oci::LoadSpecFile(file);
  }
  absl::Status status = spec.ok() ? kata::oci::ValidateSpec(*spec) : spec.status();
  if (!status.ok()) {
    std::fprintf(stderr, "oci_tool: invalid config: %s\n", std::string(status.message()).c_str());
    return 1;
  }
  if (command == "roundtrip") {
    kata::oci::SerializeOptions options;
    options.pretty = !compact;
    std::string out = kata::oci::SerializeSpec(*spec, options);
    out.push_back('\n');
    if (std::fwrite(out.data(), 1, out.size(), stdout) != out.size() || std::fflush(stdout) != 0) {
      std::perror("oci_tool: write");
      return 1;
    }
  }
  return 0;
}
