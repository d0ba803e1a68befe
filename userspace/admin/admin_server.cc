#include "userspace/admin/admin_server.h"

#include <CivetServer.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "prometheus/text_serializer.h"
#include "userspace/logging/log.h"

namespace loupe {
namespace {

void Reply(mg_connection* conn, int status, const char* content_type, const std::string& body) {
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
            "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
            status, status == 200 ? "OK" : "Service Unavailable", content_type, body.size());
  mg_write(conn, body.data(), body.size());
}

class MetricsHandler : public CivetHandler {
 public:
  MetricsHandler(std::shared_ptr<prometheus::Registry> registry, std::function<void()> before)
      : registry_(std::move(registry)), before_(std::move(before)) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    std::string body;
    {
      std::lock_guard<std::mutex> lock(mu_);  // before_scrape updates shared gauges
      if (before_) before_();
      body = prometheus::TextSerializer().Serialize(registry_->Collect());
    }
    Reply(conn, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    return true;
  }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  std::function<void()> before_;
  std::mutex mu_;
};

class HealthHandler : public CivetHandler {
 public:
  enum class Kind { kLive, kReady, kStartup };
  HealthHandler(const HealthState* health, const Clock* clock, Kind kind)
      : health_(health), clock_(clock), kind_(kind) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    const uint64_t now = clock_->MonotonicNs();
    bool ok = false;
    switch (kind_) {
      case Kind::kLive: ok = health_->Live(now); break;
      case Kind::kReady: ok = health_->Ready(now); break;
      case Kind::kStartup: ok = health_->Started(); break;
    }
    const bool degraded = ok && !health_->degradations().empty();
    const std::string body = absl::StrCat("{\"status\":\"",
                                          !ok ? "unavailable" : degraded ? "degraded" : "ok",
                                          "\",\"detail\":", health_->Describe(now), "}\n");
    Reply(conn, ok ? 200 : 503, "application/json", body);
    return true;
  }

 private:
  const HealthState* health_;
  const Clock* clock_;
  Kind kind_;
};

// /status: the last published snapshot of the process table (at most its publish interval old).
class StatusHandler : public CivetHandler {
 public:
  explicit StatusHandler(const ProcessTable* processes) : processes_(processes) {}
  bool handleGet(CivetServer*, mg_connection* conn) override {
    Reply(conn, 200, "application/json", ProcessStatusJson(*processes_->Snapshot()));
    return true;
  }

 private:
  const ProcessTable* processes_;
};

int LogCivetMessage(const mg_connection*, const char* message) {
  log::Warn("admin http server", {{"detail", message}});
  return 1;  // handled: civetweb must not print to stderr itself
}

}  // namespace

absl::StatusOr<std::unique_ptr<AdminServer>> AdminServer::Create(
    const std::string& listen_address, std::shared_ptr<prometheus::Registry> registry,
    const HealthState* health, const Clock* clock, std::function<void()> before_scrape,
    const ProcessTable* processes) {
  std::unique_ptr<AdminServer> admin(new AdminServer());
  const std::vector<std::string> options = {"listening_ports", listen_address, "num_threads", "2",
                                            "request_timeout_ms", "10000"};
  static CivetCallbacks callbacks = [] {
    CivetCallbacks c{};
    c.log_message = LogCivetMessage;
    return c;
  }();
  try {
    admin->server_ = std::make_unique<CivetServer>(options, &callbacks);
  } catch (const CivetException& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", listen_address,
        " (is another process using that port?): stop it or pass --listen_address=HOST:PORT"));
  }
  auto add = [&](const char* uri, std::unique_ptr<CivetHandler> handler) {
    admin->server_->addHandler(uri, handler.get());
    admin->handlers_.push_back(std::move(handler));
  };
  add("/metrics", std::make_unique<MetricsHandler>(registry, std::move(before_scrape)));
  add("/health/live", std::make_unique<HealthHandler>(health, clock, HealthHandler::Kind::kLive));
  add("/health/ready", std::make_unique<HealthHandler>(health, clock, HealthHandler::Kind::kReady));
  add("/health/startup",
      std::make_unique<HealthHandler>(health, clock, HealthHandler::Kind::kStartup));
  if (processes != nullptr) add("/status", std::make_unique<StatusHandler>(processes));
  const std::vector<int> ports = admin->server_->getListeningPorts();
  admin->port_ = ports.empty() ? 0 : ports.front();
  log::Info("admin endpoint listening", {{"address", listen_address}, {"port", admin->port_}});
  return admin;
}

AdminServer::~AdminServer() {
  if (server_) server_->close();
}

}  // namespace loupe
