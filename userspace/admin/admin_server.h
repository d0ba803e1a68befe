// The agent's HTTP endpoint: /metrics (Prometheus text format from the one registry),
// /health/live, /health/ready, /health/startup, and /status (the process table as JSON). prometheus-cpp's own Exposer cannot answer
// health checks with a status code, so we serve both through civetweb (which it already uses).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/registry.h"
#include "userspace/admin/health.h"
#include "userspace/admin/process_table.h"
#include "userspace/core/clock.h"

class CivetServer;
class CivetHandler;

namespace loupe {

class AdminServer {
 public:
  // `before_scrape` runs before each /metrics answer (refreshes gauges such as RSS). `clock`
  // tells the health endpoints how old the last heartbeat is; it, `health` and `processes` must
  // outlive the server. Without `processes`, /status is not served.
  static absl::StatusOr<std::unique_ptr<AdminServer>> Create(
      const std::string& listen_address, std::shared_ptr<prometheus::Registry> registry,
      const HealthState* health, const Clock* clock, std::function<void()> before_scrape,
      const ProcessTable* processes = nullptr);
  ~AdminServer();

  // The port actually bound (useful with port 0 in tests).
  int port() const { return port_; }

 private:
  AdminServer() = default;
  std::unique_ptr<CivetServer> server_;
  std::vector<std::unique_ptr<CivetHandler>> handlers_;
  int port_ = 0;
};

}  // namespace loupe
