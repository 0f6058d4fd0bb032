// Clock alignment of another machine's spans (the guest agent's) with ours. A guest's wall
// clock may be off by seconds (under TCG it is read from the RTC at boot, to the second), so
// its spans cannot be put beside the shim's as they come. Each agent rpc span (kind server) is
// the child of the shim's client span of that call, and the call's work lies inside the
// client's time: as NTP does, the offset is taken from the pair with the least slack
// (client duration - server duration), centring the server span in its client span.
//
// Contracts: ClockOffset returns the nanoseconds to add to `remote` spans' times, from the
// remote server spans whose parent is a local client span no shorter than them; nullopt when
// there is no such pair. Shift adds `offset` to every span's start and end.
#ifndef KATA_SRC_LIBS_TRACE_ALIGN_H_
#define KATA_SRC_LIBS_TRACE_ALIGN_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "src/libs/trace/span.h"

namespace kata::trace {

std::optional<int64_t> ClockOffset(const std::vector<SpanData>& local,
                                   const std::vector<SpanData>& remote);
void Shift(int64_t offset, std::vector<SpanData>& spans);

}  // namespace kata::trace

#endif  // KATA_SRC_LIBS_TRACE_ALIGN_H_
