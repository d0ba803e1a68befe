// What the kernel feature probe found, told three ways: one JSON log line at start, the
// loupe_kernel_feature_available gauge per feature, and — for each feature the configuration
// asks for that the kernel or the capabilities refuse — a degradation: one warning,
// loupe_feature_degraded{feature} = 1 and an entry in /health/ready's detail
// (docs/runbooks/LoupeDegraded.md). The agent still runs.
#pragma once

#include <string>
#include <vector>

#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/registry.h"
#include "userspace/admin/health.h"
#include "userspace/loader/kernel_features.h"

namespace loupe {

// Features whose loss changes what the agent sees. A feature with an equivalent fallback (the
// raw tracepoint for tp_btf, the triggered map walk for the map-element iterator) is not a
// degradation; one the configuration does not use is not either. (--metrics_only either has a
// timeout pass, with no loss, or refuses to start.)
std::vector<Degradation> DegradationsFor(const KernelFeatures& features);

class FeatureReport {
 public:
  FeatureReport(prometheus::Registry& registry, HealthState* health);

  // The start-up log line and gauges, and the degradations the probe implies.
  void Publish(const KernelFeatures& features);
  // A degradation found later (e.g. the TLS attacher could not start).
  void Degrade(const Degradation& degradation);

 private:
  prometheus::Family<prometheus::Gauge>& available_;
  prometheus::Family<prometheus::Gauge>& degraded_;
  HealthState* health_;
};

}  // namespace loupe
