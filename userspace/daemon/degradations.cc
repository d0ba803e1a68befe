#include "userspace/daemon/degradations.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "userspace/logging/log.h"

namespace loupe {

std::vector<Degradation> DegradationsFor(const KernelFeatures& features) {
  std::vector<Degradation> degraded;
  auto add = [&](KernelFeature feature, std::string effect) {
    degraded.push_back({std::string(KernelFeatureName(feature)), std::move(effect),
                        features.FixFor(feature)});
  };
  if (!features.available(KernelFeature::kUprobes)) {
    add(KernelFeature::kUprobes,
        absl::StrCat("TLS plaintext capture is off (uprobes ",
                     features.result(KernelFeature::kUprobes).Describe(),
                     "): HTTPS and TLS-wrapped database calls are counted as TLS connections, "
                     "not parsed"));
  }
  if (!features.available(KernelFeature::kProcessExitProbe)) {
    add(KernelFeature::kProcessExitProbe,
        "connections of processes that exit without close(2) end by the pending timeout and "
        "stay in the kernel's connection table");
  }
  return degraded;
}

FeatureReport::FeatureReport(prometheus::Registry& registry, HealthState* health)
    : available_(prometheus::BuildGauge()
                     .Name("loupe_kernel_feature_available")
                     .Help("1 if the kernel feature loads and attaches with the agent's "
                           "capabilities, 0 if refused or disabled; reason is ok, disabled or "
                           "the errno of the refusal (loupe doctor explains each)")
                     .Register(registry)),
      degraded_(prometheus::BuildGauge()
                    .Name("loupe_feature_degraded")
                    .Help("1 for each feature the configuration asks for that the kernel or the "
                          "capabilities refuse: the agent runs without it (see /health/ready)")
                    .Register(registry)),
      health_(health) {}

void FeatureReport::Publish(const KernelFeatures& features) {
  // One field holding an object: {"tp_btf":"available","map_elem_iterator":"refused at ..."}.
  std::string object;
  for (const FeatureProbeResult& result : features.results()) {
    const std::string name(KernelFeatureName(result.feature));
    available_.Add({{"feature", name}, {"reason", result.Reason()}})
        .Set(result.available() ? 1 : 0);
    absl::StrAppend(&object, object.empty() ? "{" : ",", "\"", name, "\":\"",
                    JsonEscape(result.Describe()), "\"");
  }
  log::Field features_field("features", "");
  features_field.json = object + "}";
  log::Info("kernel features probed", {features_field});
  // Every feature that can degrade has its series from the start (0 = fine), so that an alert
  // or a dashboard tells "not degraded" from "not reported".
  for (const char* feature : {"uprobes", "process_exit_probe", "tls_attacher"}) {
    degraded_.Add({{"feature", feature}}).Set(0);
  }
  for (const Degradation& degradation : DegradationsFor(features)) Degrade(degradation);
}

void FeatureReport::Degrade(const Degradation& degradation) {
  degraded_.Add({{"feature", degradation.feature}}).Set(1);
  health_->AddDegradation(degradation);
  log::Warn("running degraded", {{"feature", degradation.feature},
                                 {"effect", degradation.effect},
                                 {"fix", degradation.fix}});
}

}  // namespace loupe
