// A stand-alone OTLP/HTTP receiver for the end-to-end tests, built on the exporter's own protos:
// prints {"port":N}, then every decoded request as one JSON line
// ({"signal":"traces"|"metrics","request":{...}}) and every rejected one as {"error":"..."}.
// Commands on stdin: "stop" (refuse connections, as a collector that is down), "start", "quit".
#include <google/protobuf/util/json_util.h>
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>

#include "exporters/otlp/test_receiver/otlp_test_receiver.h"

namespace {

template <typename Message>
void PrintRequest(const char* signal, const Message& request) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  if (!google::protobuf::util::MessageToJsonString(request, &json, options).ok()) return;
  std::printf("{\"signal\":\"%s\",\"request\":%s}\n", signal, json.c_str());
}

}  // namespace

int main() {
  auto receiver = loupe::OtlpTestReceiver::Start();
  if (!receiver.ok()) {
    std::fprintf(stderr, "receiver: %s\n", std::string(receiver.status().message()).c_str());
    return 1;
  }
  std::printf("{\"port\":%d}\n", (*receiver)->port());
  std::fflush(stdout);
  size_t traces_seen = 0, metrics_seen = 0, errors_seen = 0;
  std::string line;
  while (true) {
    pollfd in{STDIN_FILENO, POLLIN, 0};
    if (poll(&in, 1, 100) > 0) {
      if (!std::getline(std::cin, line) || line == "quit") break;
      if (line == "stop") (*receiver)->Stop();
      if (line == "start" && !(*receiver)->Restart().ok()) return 1;
    }
    const auto traces = (*receiver)->TraceRequests();
    for (; traces_seen < traces.size(); ++traces_seen) PrintRequest("traces", traces[traces_seen]);
    const auto metrics = (*receiver)->MetricRequests();
    for (; metrics_seen < metrics.size(); ++metrics_seen) {
      PrintRequest("metrics", metrics[metrics_seen]);
    }
    const auto errors = (*receiver)->Errors();
    for (; errors_seen < errors.size(); ++errors_seen) {
      std::printf("{\"error\":\"%s\"}\n", errors[errors_seen].c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
