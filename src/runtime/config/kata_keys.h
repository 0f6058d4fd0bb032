// The explicit list of every key a configuration.toml may hold, section by section: Kata
// Containers' keys (Kata 4.1.0, src/runtime/pkg/katautils/config.go, whose stock
// configuration-qemu.toml is testdata/kata-configuration-qemu.toml) and kata-cpp's own, each
// with what kata-cpp does with it. config.cc reads a file against this list:
//
//   kSupported   Kata's key, read and acted on.
//   kOwn         kata-cpp's key (not in Kata), read and acted on.
//   kNotActedOn  Kata's key, read and checked (type, range), then not acted on: a warning.
//   kIgnored     Kata's key, not read: a warning.
//   kRefused     Kata's key whose other values would change security if ignored: `accepted`
//                (the value as TOML text: "false", "\"\"", "[]") describes what kata-cpp does
//                and loads silently; any other value is an INVALID_ARGUMENT error.
//   kGuard       Kata's annotation guard (valid_*_paths) for an annotation kata-cpp never
//                accepts: honoured (nothing passes it), no warning.
//
// A key in none of the lists is an error (a typo stays an error). docs/configuration.md
// documents the same list; config_test checks that it names every key here.
#ifndef KATA_SRC_RUNTIME_CONFIG_KATA_KEYS_H_
#define KATA_SRC_RUNTIME_CONFIG_KATA_KEYS_H_

#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace kata::config {

// The Kata release whose keys are listed.
inline constexpr char kKataKeysVersion[] = "4.1.0";

enum class KeyUse { kSupported, kOwn, kNotActedOn, kIgnored, kRefused, kGuard };

struct KeyInfo {
  const char* name;
  KeyUse use;
  const char* accepted;  // kRefused only: the one value accepted, as TOML text
  const char* note;      // what kata-cpp does instead, or why (may be "")
};

// The sections kata-cpp reads: "hypervisor.qemu", "agent.kata", "runtime", "factory".
const std::vector<absl::string_view>& KnownSections();

// The keys of one of KnownSections(); empty for any other name.
absl::Span<const KeyInfo> SectionKeys(absl::string_view section);

// The key `key` of `section`, or nullptr when it is in no list.
const KeyInfo* FindKey(absl::string_view section, absl::string_view key);

// Kata's other hypervisor sections ([hypervisor.clh], ...), refused with a clear message.
bool IsOtherKataHypervisor(absl::string_view name);

}  // namespace kata::config

#endif  // KATA_SRC_RUNTIME_CONFIG_KATA_KEYS_H_
