#include "userspace/daemon/ps_command.h"

#include <civetweb.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "userspace/core/absl_compat.h"

namespace loupe {
namespace {

constexpr const char* kUsage =
    "usage: loupe ps [--address=HOST:PORT] [--json]\n"
    "Asks the agent listening on HOST:PORT (default 127.0.0.1:9400, its --listen_address) for\n"
    "/status and prints a line per process it knows: pid, service, Kubernetes namespace/pod and\n"
    "workload, protocols seen, exchanges counted, instrumented (yes / partly / no) and why not.\n"
    "--json prints /status as the agent answered it.\n"
    "Exit status: 0 answered, 1 no agent answered, 2 usage.\n";

constexpr int kTimeoutMs = 5000;
constexpr size_t kMaxBodyBytes = 64 << 20;  // a full table of 4096 rows is a few MiB

using google::protobuf::Struct;
using google::protobuf::Value;

const Value* Field(const Struct& object, const std::string& name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

std::string Text(const Struct& object, const std::string& name) {
  const Value* value = Field(object, name);
  return value != nullptr && value->has_string_value() ? value->string_value() : "";
}

uint64_t Number(const Struct& object, const std::string& name) {
  const Value* value = Field(object, name);
  return value != nullptr && value->has_number_value()
             ? static_cast<uint64_t>(value->number_value())
             : 0;
}

const Struct* Object(const Struct& object, const std::string& name) {
  const Value* value = Field(object, name);
  return value != nullptr && value->has_struct_value() ? &value->struct_value() : nullptr;
}

std::vector<const Value*> List(const Struct& object, const std::string& name) {
  std::vector<const Value*> items;
  const Value* value = Field(object, name);
  if (value == nullptr || !value->has_list_value()) return items;
  for (const Value& item : value->list_value().values()) items.push_back(&item);
  return items;
}

constexpr size_t kColumns = 8;
using Line = std::array<std::string, kColumns>;

Line LineFor(const Struct& process) {
  Line line;
  line[0] = absl::StrCat(Number(process, "pid"));
  line[1] = Text(process, "service_name");
  if (line[1].empty()) line[1] = absl::StrCat("[", Text(process, "comm"), "]");
  line[2] = "-";
  line[3] = "-";
  if (const Struct* k8s = Object(process, "kubernetes")) {
    line[2] = absl::StrCat(Text(*k8s, "namespace"), "/", Text(*k8s, "pod"));
    if (!Text(*k8s, "workload_kind").empty()) {
      line[3] = absl::StrCat(Text(*k8s, "workload_kind"), "/", Text(*k8s, "workload_name"));
    }
  }
  std::vector<std::string> protocols;
  for (const Value* protocol : List(process, "protocols")) {
    protocols.push_back(protocol->string_value());
  }
  line[4] = protocols.empty() ? "-" : absl::StrJoin(protocols, ",");
  line[5] = absl::StrCat(Number(process, "exchanges"));
  line[6] = Text(process, "instrumented");
  std::vector<std::string> why;
  for (const Value* gap : List(process, "not_instrumented")) {
    if (!gap->has_struct_value()) continue;
    const Struct& g = gap->struct_value();
    why.push_back(absl::StrCat(Text(g, "reason"), " (", Text(g, "detail"), ")"));
  }
  line[7] = absl::StrJoin(why, "; ");
  return line;
}

absl::StatusOr<std::pair<std::string, int>> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  int port = 0;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(AbslView(std::string_view(address).substr(colon + 1)), &port) ||
      port <= 0 || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("--address=", address, ": expected HOST:PORT, e.g. 127.0.0.1:9400"));
  }
  std::string host = address.substr(0, colon);
  if (host == "0.0.0.0") host = "127.0.0.1";  // the agent's default listen address
  return std::make_pair(host, port);
}

absl::StatusOr<std::string> FetchStatus(const std::string& host, int port) {
  mg_init_library(0);
  char error[256] = {};
  mg_connection* conn = mg_connect_client(host.c_str(), port, 0, error, sizeof(error));
  if (conn == nullptr) {
    return absl::UnavailableError(absl::StrCat("no agent answers on ", host, ":", port, " (",
                                               error, "): is loupe running with that "
                                               "--listen_address? pass --address=HOST:PORT"));
  }
  mg_printf(conn, "GET /status HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", host.c_str());
  std::string body;
  if (mg_get_response(conn, error, sizeof(error), kTimeoutMs) < 0) {
    mg_close_connection(conn);
    return absl::UnavailableError(absl::StrCat("no answer from ", host, ":", port, ": ", error));
  }
  const int status = mg_get_response_info(conn)->status_code;
  char buf[16384];
  for (int n; (n = mg_read(conn, buf, sizeof(buf))) > 0 && body.size() < kMaxBodyBytes;) {
    body.append(buf, static_cast<size_t>(n));
  }
  mg_close_connection(conn);
  if (status != 200) {
    return absl::UnavailableError(absl::StrCat(host, ":", port, " answered /status with HTTP ",
                                               status, ": is it a Loupe agent of this version?"));
  }
  return body;
}

}  // namespace

absl::StatusOr<std::string> FormatProcessStatus(std::string_view status_json) {
  Struct status;
  if (!google::protobuf::util::JsonStringToMessage(
           google::protobuf::StringPiece(status_json.data(), status_json.size()), &status)
           .ok() ||
      Field(status, "processes") == nullptr) {
    return absl::InvalidArgumentError("not a /status answer");
  }
  std::vector<Line> lines = {
      {"PID", "SERVICE", "NAMESPACE/POD", "WORKLOAD", "PROTOCOLS", "EXCHANGES", "INSTRUMENTED",
       "WHY NOT (ALL)"}};
  for (const Value* process : List(status, "processes")) {
    if (process->has_struct_value()) lines.push_back(LineFor(process->struct_value()));
  }
  std::array<size_t, kColumns> width{};
  for (const Line& line : lines) {
    for (size_t c = 0; c < kColumns; ++c) width[c] = std::max(width[c], line[c].size());
  }
  std::string out;
  for (const Line& line : lines) {
    std::string text;
    for (size_t c = 0; c < kColumns; ++c) {
      absl::StrAppend(&text, line[c]);
      if (c + 1 < kColumns) text.append(width[c] - line[c].size() + 2, ' ');
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    absl::StrAppend(&out, text, "\n");
  }
  if (const uint64_t refused = Number(status, "refused"); refused > 0) {
    absl::StrAppend(&out, "(table full at ", Number(status, "max_processes"),
                    " processes: ", refused, " reports about other processes refused)\n");
  }
  return out;
}

int RunPsCommand(const std::vector<std::string>& args) {
  std::string address = "127.0.0.1:9400";
  bool json = false;
  for (const std::string& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (arg == "--json") {
      json = true;
    } else if (absl::StartsWith(arg, "--address=")) {
      address = arg.substr(sizeof("--address=") - 1);
    } else {
      std::cerr << "loupe ps: unexpected argument '" << arg << "' (see `loupe ps --help`)\n";
      return 2;
    }
  }
  absl::StatusOr<std::pair<std::string, int>> target = SplitAddress(address);
  if (!target.ok()) {
    std::cerr << "loupe ps: " << target.status().message() << "\n";
    return 2;
  }
  absl::StatusOr<std::string> body = FetchStatus(target->first, target->second);
  if (!body.ok()) {
    std::cerr << "loupe ps: " << body.status().message() << "\n";
    return 1;
  }
  if (json) {
    std::cout << *body;
    return 0;
  }
  absl::StatusOr<std::string> table = FormatProcessStatus(*body);
  if (!table.ok()) {
    std::cerr << "loupe ps: " << address << " answered /status with " << table.status().message()
              << "\n";
    return 1;
  }
  std::cout << *table;
  return 0;
}

}  // namespace loupe
