// The fields of the API server's JSON (pods, pod lists, watch events, owners) that the pod watch
// reads, parsed with protobuf's JSON parser into google.protobuf.Struct and copied out. Nothing
// else of the objects is kept.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace loupe {

struct OwnerReference {
  std::string kind;
  std::string name;
  bool controller = false;
};

struct ContainerRef {
  std::string name;
  std::string id;  // the runtime's id without its "containerd://" (etc.) prefix
};

// One pod as the watch keeps it, before its owner is resolved.
struct PodInfo {
  std::string uid;
  std::string namespace_name;
  std::string name;
  std::string node_name;
  std::string phase;  // Pending, Running, Succeeded, Failed, Unknown
  std::string resource_version;
  std::vector<std::pair<std::string, std::string>> labels;  // all of them, sorted by key
  std::string service_name_annotation;  // resource.opentelemetry.io/service.name
  std::vector<OwnerReference> owners;
  // Containers with a runtime id (started at least once): regular, init and ephemeral.
  std::vector<ContainerRef> containers;
};

// The controlling owner (controller: true), else the first owner, else null.
const OwnerReference* ControllerOf(const std::vector<OwnerReference>& owners);

struct PodList {
  std::string resource_version;  // where a watch continues from
  std::string continue_token;    // non-empty: more pages
  std::vector<PodInfo> pods;
};

enum class WatchEventType { kAdded, kModified, kDeleted, kBookmark, kError };

struct WatchEvent {
  WatchEventType type = WatchEventType::kError;
  PodInfo pod;                 // kAdded, kModified, kDeleted; kBookmark: only resource_version
  int error_code = 0;          // kError: the Status object's code (410: resourceVersion expired)
  std::string error_message;   // kError
};

// A workload object (ReplicaSet, Job): only its owners matter.
struct OwnedObject {
  std::vector<OwnerReference> owners;
};

// A Status object's message, for a failed request ("pods is forbidden: User ... cannot list ...").
std::string StatusMessage(std::string_view json);

absl::StatusOr<PodList> ParsePodList(std::string_view json);
absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view json);
absl::StatusOr<OwnedObject> ParseOwnedObject(std::string_view json);

}  // namespace loupe
