// The version kata-agent reports (Health.Version's agent_version, GetGuestDetails'
// agent_details.version): semver, the single place it is written.
#ifndef KATA_SRC_AGENT_VERSION_H_
#define KATA_SRC_AGENT_VERSION_H_

namespace kata {
namespace agent {

inline constexpr char kAgentVersion[] = "0.1.0";

}  // namespace agent
}  // namespace kata

#endif  // KATA_SRC_AGENT_VERSION_H_
