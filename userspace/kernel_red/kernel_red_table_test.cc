#include "userspace/kernel_red/kernel_red_table.h"

#include <map>
#include <set>
#include <string>

#include "gtest/gtest.h"
#include "prometheus/registry.h"
#include "userspace/kernel_red/red_key.h"
#include "userspace/metrics/red_metrics.h"

namespace loupe {
namespace {

// The kernel maps as plain containers; "the kernel" counts by writing slots directly.
class FakeMaps : public KernelRedMaps {
 public:
  absl::Status ZeroSlot(uint32_t slot) override {
    slots[slot] = loupe_red_slot{};
    ++zeroed;
    return absl::OkStatus();
  }
  absl::Status InsertKey(const loupe_red_key& key, uint32_t slot) override {
    if (fail_insert) return absl::InternalError("E2BIG");
    keys[key.request_hash] = slot;
    return absl::OkStatus();
  }
  absl::Status DeleteKey(const loupe_red_key& key) override {
    keys.erase(key.request_hash);
    return absl::OkStatus();
  }
  absl::Status ReadSlots(uint32_t count, std::vector<loupe_red_slot>* out) override {
    if (fail_read) return absl::InternalError("EPERM");
    out->assign(count, loupe_red_slot{});
    for (uint32_t i = 0; i < count; ++i) {
      if (slots.contains(i)) (*out)[i] = slots[i];
    }
    return absl::OkStatus();
  }
  // What the kernel does when an exchange of the key in `slot` ends.
  void Count(uint32_t slot, uint64_t duration_ns, uint32_t bucket) {
    slots[slot].count += 1;
    slots[slot].duration_sum_ns += duration_ns;
    slots[slot].buckets[bucket] += 1;
  }

  std::map<uint64_t, uint32_t> keys;  // request_hash -> slot
  std::map<uint32_t, loupe_red_slot> slots;
  int zeroed = 0;
  bool fail_insert = false;
  bool fail_read = false;
};

loupe_red_key Key(uint64_t hash, uint16_t status = 200, uint32_t tgid = 7) {
  loupe_red_key key{};
  key.request_hash = hash;
  key.tgid = tgid;
  key.role = LOUPE_ROLE_SERVER;
  key.server_port = 80;
  key.status = status;
  return key;
}

Record HttpRecord(const std::string& status) {
  Record record;
  record.instrument = &instruments::kHttpServer;
  record.attributes = {{"http.request.method", "GET"},
                        {"http.response.status_code", status, true},
                        {"http.route", "/"},
                        {"server.port", "80", true}};
  return record;
}

class KernelRedTableTest : public ::testing::Test {
 protected:
  KernelRedTable MakeTable(uint32_t capacity) {
    KernelRedOptions options;
    options.capacity = capacity;
    options.reclaim_delay_ns = 10;
    options.liveness_check_interval_ns = 1;
    return KernelRedTable(options, &maps_, registry_,
                          [this](uint32_t tgid) { return !dead_.contains(tgid); });
  }
  prometheus::Histogram& Series() {
    return prometheus::BuildHistogram().Name("h").Help("h").Register(registry_).Add(
        {{"series", std::to_string(series_++)}}, DurationBuckets());
  }
  double Counter(const std::string& name, const std::string& label_value = "") {
    for (const auto& family : registry_.Collect()) {
      if (family.name != name) continue;
      for (const auto& metric : family.metric) {
        if (!label_value.empty() &&
            (metric.label.empty() || metric.label[0].value != label_value)) {
          continue;
        }
        return family.type == prometheus::MetricType::Gauge ? metric.gauge.value
                                                            : metric.counter.value;
      }
    }
    return -1;
  }

  FakeMaps maps_;
  prometheus::Registry registry_;
  std::set<uint32_t> dead_;
  int series_ = 0;
};

TEST_F(KernelRedTableTest, LearnedKeyGetsASlotAndItsCountsReachTheSeriesOnce) {
  KernelRedTable table = MakeTable(4);
  prometheus::Histogram& series = Series();
  table.Learn(Key(1), HttpRecord("200"), &series);
  ASSERT_EQ(maps_.keys.size(), 1u);
  EXPECT_EQ(maps_.keys[1], 0u);
  EXPECT_EQ(maps_.zeroed, 1);

  maps_.Count(0, 3'000'000, 0);
  maps_.Count(0, 300'000'000, 7);
  table.Collect(100);
  auto h = series.Collect().histogram;
  EXPECT_EQ(h.sample_count, 2u);
  EXPECT_DOUBLE_EQ(h.sample_sum, 0.303);
  EXPECT_EQ(h.bucket[0].cumulative_count, 1u);
  EXPECT_EQ(h.bucket[6].cumulative_count, 1u);  // le=0.25
  EXPECT_EQ(h.bucket[7].cumulative_count, 2u);  // le=0.5

  table.Collect(200);  // nothing new: nothing added twice
  EXPECT_EQ(series.Collect().histogram.sample_count, 2u);
  maps_.Count(0, 1, 0);
  table.Collect(300);
  EXPECT_EQ(series.Collect().histogram.sample_count, 3u);
  EXPECT_EQ(Counter("loupe_kernel_red_exchanges_total"), 3);
  EXPECT_EQ(Counter("loupe_kernel_red_keys"), 1);
}

// As a pipeline stage: a counted record teaches the key its exchange carried, if any.
TEST_F(KernelRedTableTest, CountedRecordTeachesTheKeyItsContextCarries) {
  KernelRedTable table = MakeTable(4);
  prometheus::Histogram& series = Series();
  RecordContext context;
  table.OnCountedRecord(context, HttpRecord("200"), &series);
  EXPECT_TRUE(maps_.keys.empty()) << "no key, nothing to learn";
  const ExchangeKey key = ToExchangeKey(Key(5));
  context.aggregation_key = &key;
  table.OnCountedRecord(context, HttpRecord("200"), &series);
  ASSERT_EQ(maps_.keys.size(), 1u);
  EXPECT_EQ(maps_.keys.count(5), 1u);
  EXPECT_EQ(table.live_keys(), 1u);
}

TEST_F(KernelRedTableTest, KnownKeyIsNotLearnedTwice) {
  KernelRedTable table = MakeTable(4);
  prometheus::Histogram& series = Series();
  table.Learn(Key(1), HttpRecord("200"), &series);
  table.Learn(Key(1), HttpRecord("200"), &series);
  EXPECT_EQ(maps_.zeroed, 1);
  EXPECT_EQ(table.live_keys(), 1u);
}

TEST_F(KernelRedTableTest, RecordsThatDoNotMatchTheKeyTeachNothing) {
  KernelRedTable table = MakeTable(4);
  prometheus::Histogram& series = Series();
  table.Learn(Key(1, 200), HttpRecord("500"), &series);  // the parser saw another status
  Record db = HttpRecord("200");
  db.instrument = &instruments::kDbClient;
  table.Learn(Key(2), db, &series);
  table.Learn(Key(3), HttpRecord("200"), nullptr);
  Record cut = HttpRecord("200");
  cut.is_error = true;
  cut.error_type = "response_cut";  // how this exchange ended, not what its key implies
  table.Learn(Key(4), cut, &series);
  EXPECT_TRUE(maps_.keys.empty());
}

TEST_F(KernelRedTableTest, StatusErrorTypeIsPartOfTheKey) {
  KernelRedTable table = MakeTable(4);
  prometheus::Histogram& series = Series();
  Record failed = HttpRecord("503");
  failed.is_error = true;
  failed.error_type = "503";
  table.Learn(Key(5, 503), failed, &series);
  EXPECT_EQ(maps_.keys.count(5), 1u);
}

TEST_F(KernelRedTableTest, FullTableRefusesAndCounts) {
  KernelRedTable table = MakeTable(1);
  prometheus::Histogram& series = Series();
  table.Learn(Key(1), HttpRecord("200"), &series);
  table.Learn(Key(2), HttpRecord("200"), &series);
  EXPECT_EQ(maps_.keys.size(), 1u);
  EXPECT_EQ(Counter("loupe_kernel_red_keys_refused_total", "table_full"), 1);
}

TEST_F(KernelRedTableTest, MapErrorRefusesAndKeepsTheSlotFree) {
  KernelRedTable table = MakeTable(1);
  prometheus::Histogram& series = Series();
  maps_.fail_insert = true;
  table.Learn(Key(1), HttpRecord("200"), &series);
  EXPECT_EQ(Counter("loupe_kernel_red_keys_refused_total", "map_error"), 1);
  maps_.fail_insert = false;
  table.Learn(Key(2), HttpRecord("200"), &series);
  EXPECT_EQ(maps_.keys[2], 0u);
}

TEST_F(KernelRedTableTest, ReadErrorIsCountedAndTheNextReadCatchesUp) {
  KernelRedTable table = MakeTable(2);
  prometheus::Histogram& series = Series();
  table.Learn(Key(1), HttpRecord("200"), &series);
  maps_.Count(0, 10, 0);
  maps_.fail_read = true;
  table.Collect(1);
  EXPECT_EQ(Counter("loupe_kernel_red_read_errors_total"), 1);
  EXPECT_EQ(series.Collect().histogram.sample_count, 0u);
  maps_.fail_read = false;
  table.Collect(2);
  EXPECT_EQ(series.Collect().histogram.sample_count, 1u);
}

TEST_F(KernelRedTableTest, ExitedProcessKeysAreDeletedDrainedAndTheirSlotsReused) {
  KernelRedTable table = MakeTable(1);
  prometheus::Histogram& old_series = Series();
  table.Learn(Key(1, 200, /*tgid=*/7), HttpRecord("200"), &old_series);
  dead_.insert(7);
  table.Collect(100);
  EXPECT_TRUE(maps_.keys.empty()) << "no new exchange may match a dead process's key";
  EXPECT_EQ(table.live_keys(), 0u);

  // An exchange still in flight when the process died is counted during the drain.
  maps_.Count(0, 10, 0);
  table.Collect(105);
  EXPECT_EQ(old_series.Collect().histogram.sample_count, 1u);

  prometheus::Histogram& new_series = Series();
  table.Learn(Key(2, 200, 8), HttpRecord("200"), &new_series);
  EXPECT_EQ(maps_.keys.count(2), 0u) << "slot still draining: the table is full";
  table.Collect(111);  // past the reclaim delay
  table.Learn(Key(2, 200, 8), HttpRecord("200"), &new_series);
  ASSERT_EQ(maps_.keys.count(2), 1u);
  EXPECT_EQ(maps_.keys[2], 0u);
  maps_.Count(0, 10, 0);
  table.Collect(120);
  EXPECT_EQ(new_series.Collect().histogram.sample_count, 1u);
  EXPECT_EQ(old_series.Collect().histogram.sample_count, 1u);
}

}  // namespace
}  // namespace loupe
