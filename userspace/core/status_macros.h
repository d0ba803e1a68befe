// Debian's Abseil (2022) lacks RETURN_IF_ERROR / ASSIGN_OR_RETURN; these are ours.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define LOUPE_RETURN_IF_ERROR(expr)              \
  do {                                           \
    ::absl::Status loupe_status_ = (expr);       \
    if (!loupe_status_.ok()) return loupe_status_; \
  } while (0)

#define LOUPE_CONCAT_INNER_(a, b) a##b
#define LOUPE_CONCAT_(a, b) LOUPE_CONCAT_INNER_(a, b)

#define LOUPE_ASSIGN_OR_RETURN(lhs, expr) \
  LOUPE_ASSIGN_OR_RETURN_IMPL_(LOUPE_CONCAT_(loupe_statusor_, __LINE__), lhs, expr)

#define LOUPE_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return tmp.status();                \
  lhs = std::move(tmp).value()
