#include "userspace/metrics/metric_registration.h"

#include "gtest/gtest.h"

namespace loupe {
namespace {

TEST(MetricRegistrationTest, TheSameSeriesAskedTwiceIsOne) {
  prometheus::Registry registry;
  prometheus::Counter& a =
      AddCounter(registry, "loupe_things_total", "Things, by kind", {{"kind", "a"}});
  prometheus::Counter& again =
      AddCounter(registry, "loupe_things_total", "Things, by kind", {{"kind", "a"}});
  prometheus::Counter& b = CounterFamily(registry, "loupe_things_total", "Things, by kind")
                               .Add({{"kind", "b"}});
  EXPECT_EQ(&a, &again);
  EXPECT_NE(&a, &b);
  const auto families = registry.Collect();
  ASSERT_EQ(families.size(), 1u);
  EXPECT_EQ(families[0].help, "Things, by kind");
  EXPECT_EQ(families[0].metric.size(), 2u);
}

TEST(MetricRegistrationTest, GaugesStartAtZero) {
  prometheus::Registry registry;
  prometheus::Gauge& gauge = AddGauge(registry, "loupe_level", "A level");
  EXPECT_EQ(gauge.Value(), 0);
  GaugeFamily(registry, "loupe_levels", "Levels, by part").Add({{"part", "x"}}).Set(3);
  EXPECT_EQ(registry.Collect().size(), 2u);
}

TEST(MirroredCounterTest, AddsWhatTheTotalGainedAndNeverGoesBack) {
  prometheus::Registry registry;
  prometheus::Counter& counter = AddCounter(registry, "loupe_mirrored_total", "Mirrored");
  MirroredCounter mirror(counter);
  mirror.AdvanceTo(5);
  EXPECT_EQ(counter.Value(), 5);
  mirror.AdvanceTo(3);  // a per-CPU read racing an update
  EXPECT_EQ(counter.Value(), 5);
  mirror.AdvanceTo(9);  // added from the highest value seen
  EXPECT_EQ(counter.Value(), 9);
}

TEST(MirroredCounterTest, WithoutACounterMirrorsNothing) {
  MirroredCounter none;
  none.AdvanceTo(7);  // no crash, nothing to count
}

}  // namespace
}  // namespace loupe
