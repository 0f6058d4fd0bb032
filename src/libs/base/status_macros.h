// Status propagation macros for absl::Status / absl::StatusOr (Debian's Abseil 20220623
// has none).
//
//   KATA_RETURN_IF_ERROR(DoThing());              // returns the status if not OK
//   KATA_ASSIGN_OR_RETURN(Spec spec, Parse(text)); // declares spec, or returns the error
//
// Both evaluate their argument exactly once. The returned status is the original one,
// unchanged: add context at the place that knows it (see AnnotateStatus in status_util.h).
#ifndef KATA_SRC_LIBS_BASE_STATUS_MACROS_H_
#define KATA_SRC_LIBS_BASE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define KATA_STATUS_CONCAT_INNER_(a, b) a##b
#define KATA_STATUS_CONCAT_(a, b) KATA_STATUS_CONCAT_INNER_(a, b)

#define KATA_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::absl::Status kata_status_ = (expr);        \
    if (!kata_status_.ok()) return kata_status_; \
  } while (0)

#define KATA_ASSIGN_OR_RETURN(lhs, expr) \
  KATA_ASSIGN_OR_RETURN_IMPL_(KATA_STATUS_CONCAT_(kata_statusor_, __LINE__), lhs, expr)

#define KATA_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr)   \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()

#endif  // KATA_SRC_LIBS_BASE_STATUS_MACROS_H_
