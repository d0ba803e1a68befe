#include "userspace/kernel_red/kernel_red_table.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>

#include <cstring>
#include <string_view>

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "userspace/kernel_red/red_key.h"
#include "userspace/logging/log.h"

namespace loupe {
namespace {

std::string KeyBytes(const loupe_red_key& key) {
  return std::string(reinterpret_cast<const char*>(&key), sizeof(key));
}

absl::Status Errno(const char* what) {
  return absl::InternalError(absl::StrCat(what, ": ", strerror(errno)));
}

class BpfKernelRedMaps final : public KernelRedMaps {
 public:
  // Takes ownership of both fds.
  BpfKernelRedMaps(int keys_fd, int stats_fd)
      : keys_fd_(keys_fd), stats_fd_(stats_fd), cpus_(libbpf_num_possible_cpus()) {}
  ~BpfKernelRedMaps() override {
    close(keys_fd_);
    close(stats_fd_);
  }
  BpfKernelRedMaps(const BpfKernelRedMaps&) = delete;
  BpfKernelRedMaps& operator=(const BpfKernelRedMaps&) = delete;

  absl::Status ZeroSlot(uint32_t slot) override {
    std::vector<loupe_red_slot> zeros(static_cast<size_t>(cpus_ > 0 ? cpus_ : 1));
    if (bpf_map_update_elem(stats_fd_, &slot, zeros.data(), BPF_ANY) != 0) {
      return Errno("zeroing a red_stats slot");
    }
    return absl::OkStatus();
  }

  absl::Status InsertKey(const loupe_red_key& key, uint32_t slot) override {
    if (bpf_map_update_elem(keys_fd_, &key, &slot, BPF_NOEXIST) != 0) {
      return Errno("inserting a red_keys key");
    }
    return absl::OkStatus();
  }

  absl::Status DeleteKey(const loupe_red_key& key) override {
    if (bpf_map_delete_elem(keys_fd_, &key) != 0 && errno != ENOENT) {
      return Errno("deleting a red_keys key");
    }
    return absl::OkStatus();
  }

  // One batch read of the per-CPU array instead of a syscall per slot.
  absl::Status ReadSlots(uint32_t count, std::vector<loupe_red_slot>* out) override {
    out->assign(count, loupe_red_slot{});
    if (count == 0) return absl::OkStatus();
    const size_t cpus = static_cast<size_t>(cpus_ > 0 ? cpus_ : 1);
    keys_.resize(count);
    values_.resize(count * cpus);
    uint32_t done = 0;
    uint32_t batch = 0;
    while (done < count) {
      uint32_t n = count - done;
      const int err = bpf_map_lookup_batch(stats_fd_, done == 0 ? nullptr : &batch, &batch,
                                           keys_.data() + done, values_.data() + done * cpus, &n,
                                           nullptr);
      done += n;
      if (err != 0) {
        if (errno == ENOENT) break;  // the end of the array
        return Errno("reading red_stats");
      }
      if (n == 0) break;
    }
    for (uint32_t i = 0; i < done; ++i) {
      const uint32_t slot = keys_[i];
      if (slot >= count) continue;
      loupe_red_slot& sum = (*out)[slot];
      for (size_t cpu = 0; cpu < cpus; ++cpu) {
        const loupe_red_slot& v = values_[i * cpus + cpu];
        sum.count += v.count;
        sum.duration_sum_ns += v.duration_sum_ns;
        for (int b = 0; b < LOUPE_RED_BUCKETS; ++b) sum.buckets[b] += v.buckets[b];
      }
    }
    return absl::OkStatus();
  }

 private:
  int keys_fd_;
  int stats_fd_;
  int cpus_;
  std::vector<uint32_t> keys_;
  std::vector<loupe_red_slot> values_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<KernelRedMaps>> MakeBpfKernelRedMaps(int keys_fd, int stats_fd) {
  const int keys = fcntl(keys_fd, F_DUPFD_CLOEXEC, 0);
  if (keys < 0) return Errno("duplicating the red_keys map fd");
  const int stats = fcntl(stats_fd, F_DUPFD_CLOEXEC, 0);
  if (stats < 0) {
    absl::Status status = Errno("duplicating the red_stats map fd");
    close(keys);
    return status;
  }
  return std::make_unique<BpfKernelRedMaps>(keys, stats);
}

void KernelRedTable::OnCountedRecord(const RecordContext& context, const Record& record,
                                     prometheus::Histogram* series) {
  if (context.aggregation_key == nullptr) return;
  Learn(FromExchangeKey(*context.aggregation_key), record, series);
}

KernelRedTable::KernelRedTable(KernelRedOptions options, KernelRedMaps* maps,
                               prometheus::Registry& registry, ProcessAlive process_alive)
    : options_(options),
      maps_(maps),
      process_alive_(std::move(process_alive)),
      slots_(options.capacity),
      bucket_scratch_(LOUPE_RED_BUCKETS),
      keys_gauge_(prometheus::BuildGauge()
                      .Name("loupe_kernel_red_keys")
                      .Help("HTTP exchange keys the kernel aggregates (--metrics_only)")
                      .Register(registry)
                      .Add({})),
      refused_(prometheus::BuildCounter()
                   .Name("loupe_kernel_red_keys_refused_total")
                   .Help("Keys not handed to the kernel; their exchanges stay records")
                   .Register(registry)),
      refused_table_full_(refused_.Add({{"reason", "table_full"}})),
      refused_map_error_(refused_.Add({{"reason", "map_error"}})),
      exchanges_applied_(prometheus::BuildCounter()
                             .Name("loupe_kernel_red_exchanges_total")
                             .Help("Exchanges counted by the kernel and added to RED metrics")
                             .Register(registry)
                             .Add({})),
      read_errors_(prometheus::BuildCounter()
                       .Name("loupe_kernel_red_read_errors_total")
                       .Help("Failed reads of the kernel's RED slots (retried next tick)")
                       .Register(registry)
                       .Add({})) {}

void KernelRedTable::Learn(const loupe_red_key& key, const Record& record,
                           prometheus::Histogram* series) {
  if (series == nullptr) return;
  if (record.instrument != &instruments::kHttpServer &&
      record.instrument != &instruments::kHttpClient) {
    return;
  }
  // The kernel keys on the status it read; the record must carry that same status, and no
  // error type but one the status implies ("500"): not one from how the exchange ended
  // ("response_cut", "no_response"), which later exchanges of the key need not share.
  const std::string status_text = std::to_string(key.status);
  if (AttributeValue(record, "http.response.status_code") != status_text) return;
  if (!record.error_type.empty() && record.error_type != status_text) return;
  std::string bytes = KeyBytes(key);
  if (by_key_.contains(bytes)) return;
  uint32_t slot = 0;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
  } else if (used_ < slots_.size()) {
    slot = used_;
  } else {
    refused_table_full_.Increment();
    return;
  }
  // Zero first: a reused slot may hold a dead key's totals.
  absl::Status status = maps_->ZeroSlot(slot);
  if (status.ok()) status = maps_->InsertKey(key, slot);
  if (!status.ok()) {
    refused_map_error_.Increment();
    log::Warn("kernel RED key not learned", {{"error", status.message()}});
    return;
  }
  if (!free_slots_.empty()) {
    free_slots_.pop_back();
  } else {
    ++used_;
  }
  Slot& s = slots_[slot];
  s.state = SlotState::kLive;
  s.key = key;
  s.series = series;
  s.seen = loupe_red_slot{};
  by_key_.emplace(std::move(bytes), slot);
  keys_gauge_.Set(static_cast<double>(by_key_.size()));
}

void KernelRedTable::Collect(uint64_t now_ns) {
  std::vector<loupe_red_slot> totals;
  if (absl::Status status = maps_->ReadSlots(used_, &totals); !status.ok()) {
    read_errors_.Increment();
    return;
  }
  ApplyDeltas(totals);
  RetireExitedProcesses(now_ns);
}

void KernelRedTable::ApplyDeltas(const std::vector<loupe_red_slot>& totals) {
  for (uint32_t i = 0; i < used_ && i < totals.size(); ++i) {
    Slot& s = slots_[i];
    if (s.state == SlotState::kFree) continue;
    const loupe_red_slot& now = totals[i];
    // The count is read from the buckets (a histogram's count is their sum): a read racing
    // with the kernel's three adds may see a bucket before the sum, never the reverse order
    // mattering for more than one tick.
    uint64_t added = 0;
    for (int b = 0; b < LOUPE_RED_BUCKETS; ++b) {
      const uint64_t delta = now.buckets[b] - s.seen.buckets[b];
      bucket_scratch_[b] = static_cast<double>(delta);
      added += delta;
    }
    if (added == 0) continue;
    const uint64_t sum_ns = now.duration_sum_ns - s.seen.duration_sum_ns;
    s.series->ObserveMultiple(bucket_scratch_, static_cast<double>(sum_ns) / 1e9);
    exchanges_applied_.Increment(static_cast<double>(added));
    s.seen = now;
  }
}

void KernelRedTable::RetireExitedProcesses(uint64_t now_ns) {
  for (uint32_t i = 0; i < used_; ++i) {
    Slot& s = slots_[i];
    if (s.state == SlotState::kDraining && now_ns >= s.draining_since_ns + options_.reclaim_delay_ns) {
      s = Slot{};
      free_slots_.push_back(i);
    }
  }
  if (now_ns < next_liveness_check_ns_) return;
  next_liveness_check_ns_ = now_ns + options_.liveness_check_interval_ns;
  absl::flat_hash_map<uint32_t, bool> alive;
  for (uint32_t i = 0; i < used_; ++i) {
    Slot& s = slots_[i];
    if (s.state != SlotState::kLive) continue;
    auto [it, inserted] = alive.try_emplace(s.key.tgid, true);
    if (inserted) it->second = process_alive_(s.key.tgid);
    if (it->second) continue;
    // No new exchange can match the key once it is gone; one still in flight is counted into
    // the slot until the delay ends, and the collects until then still apply it.
    if (absl::Status status = maps_->DeleteKey(s.key); !status.ok()) {
      log::Warn("kernel RED key not deleted", {{"error", status.message()}});
      continue;
    }
    by_key_.erase(KeyBytes(s.key));
    s.state = SlotState::kDraining;
    s.draining_since_ns = now_ns;
  }
  keys_gauge_.Set(static_cast<double>(by_key_.size()));
}

}  // namespace loupe
