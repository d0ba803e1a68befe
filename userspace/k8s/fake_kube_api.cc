#include "userspace/k8s/fake_kube_api.h"

#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "userspace/core/civetweb_stop.h"

namespace loupe {
namespace {

void Respond(mg_connection* conn, int status, const std::string& body) {
  const std::string head = absl::StrFormat(
      "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", status,
      status == 200 ? "OK" : "Error", body.size());
  mg_write(conn, head.data(), head.size());
  if (!body.empty()) mg_write(conn, body.data(), body.size());
}

}  // namespace

absl::StatusOr<std::unique_ptr<FakeKubeApi>> FakeKubeApi::Start() {
  mg_init_library(0);
  std::unique_ptr<FakeKubeApi> api(new FakeKubeApi());
  const char* options[] = {"listening_ports", "127.0.0.1:0", "num_threads", "4",
                           "enable_keep_alive", "no", nullptr};
  mg_callbacks callbacks;
  std::memset(&callbacks, 0, sizeof(callbacks));
  api->ctx_ = mg_start(&callbacks, api.get(), options);
  if (api->ctx_ == nullptr) return absl::UnavailableError("fake API server could not listen");
  mg_server_port ports[2];
  std::memset(ports, 0, sizeof(ports));
  if (mg_get_server_ports(api->ctx_, 2, ports) < 1 || ports[0].port <= 0) {
    return absl::InternalError("fake API server could not learn its port");
  }
  api->port_ = ports[0].port;
  mg_set_request_handler(api->ctx_, "/", &FakeKubeApi::HandleRequest, api.get());
  return api;
}

FakeKubeApi::~FakeKubeApi() {
  if (ctx_ == nullptr) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  StopCivetwebOnLoopback(ctx_, port_);
}

std::string FakeKubeApi::url() const { return absl::StrCat("http://127.0.0.1:", port_); }

void FakeKubeApi::SetResponse(const std::string& path, int status, std::string body,
                              const std::string& query_contains) {
  std::lock_guard<std::mutex> lock(mu_);
  for (Answer& answer : responses_) {
    if (answer.path == path && answer.query_contains == query_contains) {
      answer.status = status;
      answer.body = std::move(body);
      return;
    }
  }
  Answer answer{path, query_contains, status, std::move(body)};
  // Query-specific answers first, so they win over the path's general one.
  if (query_contains.empty()) {
    responses_.push_back(std::move(answer));
  } else {
    responses_.insert(responses_.begin(), std::move(answer));
  }
}

void FakeKubeApi::SetWatchStatus(int status, std::string body) {
  std::lock_guard<std::mutex> lock(mu_);
  watch_status_ = status;
  watch_body_ = std::move(body);
}

void FakeKubeApi::PushWatchLine(std::string line) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    watch_lines_.push_back(std::move(line));
  }
  changed_.notify_all();
}

void FakeKubeApi::EndWatch() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    end_watch_ = true;
  }
  changed_.notify_all();
}

std::vector<std::string> FakeKubeApi::requests() const {
  std::lock_guard<std::mutex> lock(mu_);
  return requests_;
}

int FakeKubeApi::CountRequests(const std::string& prefix) const {
  std::lock_guard<std::mutex> lock(mu_);
  int n = 0;
  for (const std::string& request : requests_) n += absl::StartsWith(request, prefix) ? 1 : 0;
  return n;
}

std::string FakeKubeApi::last_authorization() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_authorization_;
}

int FakeKubeApi::watches_open() const {
  std::lock_guard<std::mutex> lock(mu_);
  return watches_open_;
}

bool FakeKubeApi::WaitFor(const std::function<bool()>& done, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

int FakeKubeApi::HandleRequest(mg_connection* conn, void* self) {
  return static_cast<FakeKubeApi*>(self)->Handle(conn);
}

int FakeKubeApi::Handle(mg_connection* conn) {
  const mg_request_info* info = mg_get_request_info(conn);
  const std::string path = info->local_uri != nullptr ? info->local_uri : "";
  const std::string query = info->query_string != nullptr ? info->query_string : "";
  const char* authorization = mg_get_header(conn, "Authorization");
  std::unique_lock<std::mutex> lock(mu_);
  requests_.push_back(absl::StrCat(info->request_method, " ", path, "?", query));
  last_authorization_ = authorization != nullptr ? authorization : "";
  if (absl::StrContains(query, "watch=true")) {
    if (watch_status_ != 200) {
      const int status = watch_status_;
      const std::string body = watch_body_;
      lock.unlock();
      Respond(conn, status, body);
      return status;
    }
    lock.unlock();
    return StreamWatch(conn);
  }
  int status = 404;
  std::string body;
  for (const Answer& answer : responses_) {
    if (answer.path == path && absl::StrContains(query, answer.query_contains)) {
      status = answer.status;
      body = answer.body;
      break;
    }
  }
  lock.unlock();
  Respond(conn, status, body);
  return status;
}

int FakeKubeApi::StreamWatch(mg_connection* conn) {
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  mg_write(conn, head.data(), head.size());
  std::unique_lock<std::mutex> lock(mu_);
  ++watches_open_;
  bool client_gone = false;
  while (!client_gone) {
    changed_.wait(lock, [this] { return stopping_ || end_watch_ || !watch_lines_.empty(); });
    while (!watch_lines_.empty() && !client_gone) {
      std::string line = std::move(watch_lines_.front());
      watch_lines_.pop_front();
      line.push_back('\n');
      lock.unlock();
      const int sent = mg_send_chunk(conn, line.data(), static_cast<unsigned>(line.size()));
      lock.lock();
      client_gone = sent <= 0;
    }
    if (stopping_ || end_watch_) break;
  }
  end_watch_ = false;
  --watches_open_;
  lock.unlock();
  mg_send_chunk(conn, "", 0);
  return 200;
}

}  // namespace loupe
