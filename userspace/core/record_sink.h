// Where records go, and what travels with each: the interfaces between the tracker (conn/), the
// pipeline (daemon/) and the span stage (spans/). They live in the model layer so that each of
// those depends on these interfaces and not on the others' internals.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>

#include "userspace/core/exchange.h"
#include "userspace/core/exchange_key.h"
#include "userspace/core/record.h"
#include "userspace/core/resource.h"

namespace loupe {

// Where a record came from.
struct RecordContext {
  uint32_t tgid = 0;
  uint32_t tid = 0;
  uint64_t conn_id = 0;
  Role role = Role::kServer;
  std::string_view protocol;
  std::string_view comm;  // the process's comm when the connection opened
  std::string_view local_address;
  uint16_t local_port = 0;
  std::string_view remote_address;
  uint16_t remote_port = 0;
  // Set when this record is the only one of an exchange an ExchangeKeySource gave a key
  // (core/record_stage.h): opaque here, read by the stage that made it.
  const ExchangeKey* aggregation_key = nullptr;
};

// Receives records as the tracker makes them.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  virtual void OnRecord(const RecordContext& context, Record record) = 0;
  // A connection of `tgid` was just given a protocol: records will follow, often only when the
  // process is exiting (a client's last call ends at its close), too late to read its /proc.
  virtual void OnConnectionClassified(uint32_t /*tgid*/, std::string_view /*comm*/) {}
};

// Receives records with their process resource (span assembly lives behind this).
class ResolvedRecordSink {
 public:
  virtual ~ResolvedRecordSink() = default;
  virtual void OnResolvedRecord(const RecordContext& context,
                                const std::shared_ptr<const ProcessResource>& resource,
                                Record record) = 0;
};

}  // namespace loupe
