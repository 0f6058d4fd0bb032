// Which configuration.toml the runtime uses, found the way Kata's shim finds it.
//
//   KATA_ASSIGN_OR_RETURN(ResolvedConfig resolved,
//                         Resolve(options.config_path(), ProcessEnvironment()));
//   LOG(INFO) << "configuration " << resolved.path << " (" << SourceName(resolved.source) << ")";
//
// The order (first match wins):
//   1. the path in the runtime options containerd passes to Task.Create
//      (`runtimeoptions.v1.Options.config_path`), if not empty;
//   2. the `KATA_CONF_FILE` environment variable, if set and not empty;
//   3. /etc/kata-containers/configuration.toml (the administrator's copy), if it exists;
//   4. /usr/share/defaults/kata-containers/configuration.toml (the installed default), if it
//      exists.
// As in Kata, a path named by 1 or 2 is used or fails: a missing file there is NOT_FOUND
// naming it and where it came from, never a silent fall-back to 3 or 4. When neither 1 nor 2
// names a file and neither 3 nor 4 exists, the result is NOT_FOUND listing both places.
// (Kata additionally restricts KATA_CONF_FILE to its shipped files; kata-cpp does not.)
#ifndef KATA_SRC_RUNTIME_CONFIG_RESOLVE_H_
#define KATA_SRC_RUNTIME_CONFIG_RESOLVE_H_

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/runtime/config/config.h"

namespace kata::config {

inline constexpr char kConfigPathEnv[] = "KATA_CONF_FILE";
inline constexpr char kSysConfigPath[] = "/etc/kata-containers/configuration.toml";
inline constexpr char kDefaultConfigPath[] =
    "/usr/share/defaults/kata-containers/configuration.toml";

// Where the configuration came from (the numbers of the order above).
enum class ConfigSource { kRuntimeOptions, kEnvironment, kSysConfig, kInstalledDefault };

// "runtime options config_path", "KATA_CONF_FILE", "/etc default", "installed default".
const char* SourceName(ConfigSource source);

// The environment lookup: a variable's value, or nullopt when unset.
using Environment = std::function<std::optional<std::string>(const std::string& name)>;

// The process environment (getenv).
Environment ProcessEnvironment();

// An environment made of a map (for tests).
Environment MapEnvironment(std::map<std::string, std::string> vars);

// The places 3 and 4 (replaceable for tests).
struct SearchPaths {
  std::string sys_config = kSysConfigPath;
  std::string installed_default = kDefaultConfigPath;
};

struct ResolvedPath {
  std::string path;
  ConfigSource source;
};

struct ResolvedConfig {
  std::string path;
  ConfigSource source;
  RuntimeConfig config;
};

// The file to use, by the order above; "exists" means stat() succeeds and it is not a
// directory. NOT_FOUND as described above; other stat errors (EACCES, ...) are returned as
// they are, naming the path.
absl::StatusOr<ResolvedPath> ResolvePath(absl::string_view runtime_options_path,
                                         const Environment& env,
                                         const SearchPaths& paths = SearchPaths());

// ResolvePath, then Load of that file.
absl::StatusOr<ResolvedConfig> Resolve(absl::string_view runtime_options_path,
                                       const Environment& env,
                                       const SearchPaths& paths = SearchPaths());

}  // namespace kata::config

#endif  // KATA_SRC_RUNTIME_CONFIG_RESOLVE_H_
