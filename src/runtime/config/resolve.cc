#include "src/runtime/config/resolve.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "src/libs/base/status_macros.h"
#include "src/libs/base/status_util.h"

namespace kata::config {
namespace {

// OK if `path` is an existing non-directory; NOT_FOUND if absent; other errors as errno says.
absl::Status Exists(const std::string& path, absl::string_view what) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    return ErrnoStatus(errno, absl::StrCat("configuration ", path, " (", what, ")"));
  }
  if (S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("configuration ", path, " (", what, "): is a directory"));
  }
  return absl::OkStatus();
}

}  // namespace

const char* SourceName(ConfigSource source) {
  switch (source) {
    case ConfigSource::kRuntimeOptions:
      return "runtime options config_path";
    case ConfigSource::kEnvironment:
      return "KATA_CONF_FILE";
    case ConfigSource::kSysConfig:
      return "/etc default";
    case ConfigSource::kInstalledDefault:
      return "installed default";
  }
  return "unknown";
}

Environment ProcessEnvironment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Environment MapEnvironment(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

absl::StatusOr<ResolvedPath> ResolvePath(absl::string_view runtime_options_path,
                                         const Environment& env, const SearchPaths& paths) {
  if (!runtime_options_path.empty()) {
    std::string path(runtime_options_path);
    KATA_RETURN_IF_ERROR(Exists(path, SourceName(ConfigSource::kRuntimeOptions)));
    return ResolvedPath{path, ConfigSource::kRuntimeOptions};
  }
  if (std::optional<std::string> from_env = env(kConfigPathEnv);
      from_env.has_value() && !from_env->empty()) {
    KATA_RETURN_IF_ERROR(Exists(*from_env, SourceName(ConfigSource::kEnvironment)));
    return ResolvedPath{*from_env, ConfigSource::kEnvironment};
  }
  const std::pair<const std::string*, ConfigSource> defaults[] = {
      {&paths.sys_config, ConfigSource::kSysConfig},
      {&paths.installed_default, ConfigSource::kInstalledDefault},
  };
  for (const auto& [path, source] : defaults) {
    absl::Status s = Exists(*path, SourceName(source));
    if (s.ok()) return ResolvedPath{*path, source};
    if (!absl::IsNotFound(s)) return s;
  }
  return absl::NotFoundError(absl::StrCat(
      "no configuration file: runtime options config_path and ", kConfigPathEnv,
      " are not set, and neither ", paths.sys_config, " nor ", paths.installed_default, " exists"));
}

absl::StatusOr<ResolvedConfig> Resolve(absl::string_view runtime_options_path,
                                       const Environment& env, const SearchPaths& paths) {
  KATA_ASSIGN_OR_RETURN(ResolvedPath where, ResolvePath(runtime_options_path, env, paths));
  KATA_ASSIGN_OR_RETURN(RuntimeConfig config, Load(where.path));
  return ResolvedConfig{std::move(where.path), where.source, std::move(config)};
}

}  // namespace kata::config
