// The userspace half of kernel RED aggregation (--metrics_only; bpf/red_aggregate.bpf.h).
//
// Learning: when an EXCHANGE record the kernel flagged as a candidate parses into exactly one
// HTTP record, its key gets a slot, and the slot is tied to the RED series that record went to.
// The kernel then counts later exchanges with the same key in the slot instead of sending them.
// Collecting: every housekeeping tick the slots are read (one batch read of the per-CPU array)
// and what they gained since the last read is added to their series.
//
// Bounded: at most `capacity` keys; past that new keys are refused (counted) and their
// exchanges keep coming as records, so nothing is lost. Keys of processes that exited are
// deleted and their slots reused once no exchange of theirs can still be counted.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "bpf/shared/loupe_abi.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"
#include "userspace/core/record.h"
#include "userspace/core/record_stage.h"

namespace loupe {

// The kernel maps red_keys and red_stats; a fake in tests.
class KernelRedMaps {
 public:
  virtual ~KernelRedMaps() = default;
  virtual absl::Status ZeroSlot(uint32_t slot) = 0;
  virtual absl::Status InsertKey(const loupe_red_key& key, uint32_t slot) = 0;
  virtual absl::Status DeleteKey(const loupe_red_key& key) = 0;
  // Slots [0, count), each summed over all CPUs.
  virtual absl::Status ReadSlots(uint32_t count, std::vector<loupe_red_slot>* out) = 0;
};

// The maps behind these fds (the capture's red_keys and red_stats). The result holds its own
// duplicates of the fds, closed when it is destroyed, so it may outlive the capture.
absl::StatusOr<std::unique_ptr<KernelRedMaps>> MakeBpfKernelRedMaps(int keys_fd, int stats_fd);

struct KernelRedOptions {
  uint32_t capacity = 1024;
  // A dead process's slot is reused only this long after its death was noticed: by then the
  // kernel's timeout pass has counted any exchange of it still in flight.
  uint64_t reclaim_delay_ns = 10'000'000'000;
  uint64_t liveness_check_interval_ns = 5'000'000'000;
};

// A pipeline stage (core/record_stage.h): a counted record whose exchange carried a kernel key
// (KernelRedKeySource) teaches that key.
class KernelRedTable final : public CountedRecordObserver {
 public:
  using ProcessAlive = std::function<bool(uint32_t tgid)>;

  KernelRedTable(KernelRedOptions options, KernelRedMaps* maps, prometheus::Registry& registry,
                 ProcessAlive process_alive);

  // `record` is the only record parsed from an exchange whose key is `key`; `series` is the
  // RED series it was observed in.
  void Learn(const loupe_red_key& key, const Record& record, prometheus::Histogram* series);

  // Learn()s the record's key, if its context carries one.
  void OnCountedRecord(const RecordContext& context, const Record& record,
                       prometheus::Histogram* series) override;

  // Adds what the kernel counted since the last call; reclaims slots of exited processes.
  void Collect(uint64_t now_ns);

  size_t live_keys() const { return by_key_.size(); }

 private:
  enum class SlotState : uint8_t { kFree, kLive, kDraining };
  struct Slot {
    SlotState state = SlotState::kFree;
    loupe_red_key key{};
    prometheus::Histogram* series = nullptr;
    loupe_red_slot seen{};         // the kernel's totals at the last Collect
    uint64_t draining_since_ns = 0;
  };

  void ApplyDeltas(const std::vector<loupe_red_slot>& totals);
  void RetireExitedProcesses(uint64_t now_ns);

  KernelRedOptions options_;
  KernelRedMaps* maps_;
  ProcessAlive process_alive_;
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;  // reusable slots below used_
  uint32_t used_ = 0;                 // slots ever handed out: [0, used_) are read
  absl::flat_hash_map<std::string, uint32_t> by_key_;  // key bytes -> slot
  uint64_t next_liveness_check_ns_ = 0;
  std::vector<double> bucket_scratch_;

  prometheus::Gauge& keys_gauge_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Counter& refused_table_full_;
  prometheus::Counter& refused_map_error_;
  prometheus::Counter& exchanges_applied_;
  prometheus::Counter& read_errors_;
};

}  // namespace loupe
