// Tests: a Kubernetes API server on loopback (civetweb) that answers what the test sets, streams
// watch events the test pushes, and records what it was asked.
#pragma once

#include <civetweb.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe {

class FakeKubeApi {
 public:
  static absl::StatusOr<std::unique_ptr<FakeKubeApi>> Start();
  ~FakeKubeApi();

  std::string url() const;

  // The answer to GETs of `path` (no query) that are not watches; 404 for paths never set. With
  // `query_contains`, only for requests whose query contains it (tried before the others).
  void SetResponse(const std::string& path, int status, std::string body,
                   const std::string& query_contains = "");
  // Watches: with 200 (the default) the stream sends pushed lines until EndWatch; anything else
  // is answered at once with `body`.
  void SetWatchStatus(int status, std::string body = "");
  void PushWatchLine(std::string line);
  // Ends the open watch once its pushed lines are sent (or the next one, if none is open).
  void EndWatch();

  // "GET <path>?<query>" of every request, in order.
  std::vector<std::string> requests() const;
  // Requests whose line starts with `prefix`.
  int CountRequests(const std::string& prefix) const;
  std::string last_authorization() const;
  int watches_open() const;

  // Polls `done` until it holds or `timeout_ms` passed (the watch runs on its own thread).
  static bool WaitFor(const std::function<bool()>& done, int timeout_ms = 5000);

 private:
  FakeKubeApi() = default;
  static int HandleRequest(mg_connection* conn, void* self);
  int Handle(mg_connection* conn);
  int StreamWatch(mg_connection* conn);

  mg_context* ctx_ = nullptr;
  int port_ = 0;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  struct Answer {
    std::string path;
    std::string query_contains;
    int status = 0;
    std::string body;
  };
  std::vector<Answer> responses_;
  int watch_status_ = 200;
  std::string watch_body_;
  std::deque<std::string> watch_lines_;
  bool end_watch_ = false;
  bool stopping_ = false;
  int watches_open_ = 0;
  std::vector<std::string> requests_;
  std::string last_authorization_;
};

}  // namespace loupe
