#include "userspace/k8s/pod_json.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace loupe {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

constexpr char kServiceNameAnnotation[] = "resource.opentelemetry.io/service.name";

absl::StatusOr<Struct> ParseObject(std::string_view json, std::string_view what) {
  Struct object;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &object);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(absl::string_view(what.data(), what.size()), " is not a JSON object: ",
                     std::string(status.message())));
  }
  return object;
}

const Value* FieldOf(const Struct& object, const char* name) {
  auto it = object.fields().find(name);
  return it == object.fields().end() ? nullptr : &it->second;
}

const Struct* StructOf(const Struct& object, const char* name) {
  const Value* value = FieldOf(object, name);
  return value != nullptr && value->has_struct_value() ? &value->struct_value() : nullptr;
}

const ListValue* ListOf(const Struct& object, const char* name) {
  const Value* value = FieldOf(object, name);
  return value != nullptr && value->has_list_value() ? &value->list_value() : nullptr;
}

std::string StringOf(const Struct* object, const char* name) {
  if (object == nullptr) return "";
  const Value* value = FieldOf(*object, name);
  return value != nullptr && value->kind_case() == Value::kStringValue ? value->string_value()
                                                                       : "";
}

// "containerd://0123..." -> "0123..."; an id with no scheme is kept as it is.
std::string StripRuntimeScheme(const std::string& id) {
  const size_t scheme = id.find("://");
  return scheme == std::string::npos ? id : id.substr(scheme + 3);
}

std::vector<OwnerReference> OwnersOf(const Struct* metadata) {
  std::vector<OwnerReference> owners;
  const ListValue* list = metadata != nullptr ? ListOf(*metadata, "ownerReferences") : nullptr;
  if (list == nullptr) return owners;
  for (const Value& item : list->values()) {
    if (!item.has_struct_value()) continue;
    const Struct& ref = item.struct_value();
    OwnerReference owner;
    owner.kind = StringOf(&ref, "kind");
    owner.name = StringOf(&ref, "name");
    const Value* controller = FieldOf(ref, "controller");
    owner.controller = controller != nullptr && controller->kind_case() == Value::kBoolValue &&
                       controller->bool_value();
    if (!owner.kind.empty() && !owner.name.empty()) owners.push_back(std::move(owner));
  }
  return owners;
}

void AddContainers(const Struct* status, const char* list_name, std::vector<ContainerRef>* out) {
  const ListValue* list = status != nullptr ? ListOf(*status, list_name) : nullptr;
  if (list == nullptr) return;
  for (const Value& item : list->values()) {
    if (!item.has_struct_value()) continue;
    const Struct& container = item.struct_value();
    ContainerRef ref;
    ref.name = StringOf(&container, "name");
    ref.id = StripRuntimeScheme(StringOf(&container, "containerID"));
    if (!ref.id.empty()) out->push_back(std::move(ref));
  }
}

PodInfo PodFrom(const Struct& pod) {
  PodInfo info;
  const Struct* metadata = StructOf(pod, "metadata");
  const Struct* spec = StructOf(pod, "spec");
  const Struct* status = StructOf(pod, "status");
  info.uid = StringOf(metadata, "uid");
  info.namespace_name = StringOf(metadata, "namespace");
  info.name = StringOf(metadata, "name");
  info.resource_version = StringOf(metadata, "resourceVersion");
  info.node_name = StringOf(spec, "nodeName");
  info.phase = StringOf(status, "phase");
  if (const Struct* labels = metadata != nullptr ? StructOf(*metadata, "labels") : nullptr) {
    for (const auto& [key, value] : labels->fields()) {
      if (value.kind_case() == Value::kStringValue) info.labels.emplace_back(key, value.string_value());
    }
    std::sort(info.labels.begin(), info.labels.end());
  }
  if (const Struct* annotations =
          metadata != nullptr ? StructOf(*metadata, "annotations") : nullptr) {
    info.service_name_annotation = StringOf(annotations, kServiceNameAnnotation);
  }
  info.owners = OwnersOf(metadata);
  AddContainers(status, "initContainerStatuses", &info.containers);
  AddContainers(status, "containerStatuses", &info.containers);
  AddContainers(status, "ephemeralContainerStatuses", &info.containers);
  return info;
}

}  // namespace

const OwnerReference* ControllerOf(const std::vector<OwnerReference>& owners) {
  for (const OwnerReference& owner : owners) {
    if (owner.controller) return &owner;
  }
  return owners.empty() ? nullptr : &owners.front();
}

std::string StatusMessage(std::string_view json) {
  absl::StatusOr<Struct> status = ParseObject(json, "the Status");
  return status.ok() ? StringOf(&*status, "message") : "";
}

absl::StatusOr<PodList> ParsePodList(std::string_view json) {
  absl::StatusOr<Struct> list = ParseObject(json, "the pod list");
  if (!list.ok()) return list.status();
  if (StringOf(&*list, "kind") != "PodList") {
    return absl::InvalidArgumentError("the pod list's kind is not PodList");
  }
  PodList result;
  const Struct* metadata = StructOf(*list, "metadata");
  result.resource_version = StringOf(metadata, "resourceVersion");
  result.continue_token = StringOf(metadata, "continue");
  if (const ListValue* items = ListOf(*list, "items")) {
    result.pods.reserve(static_cast<size_t>(items->values_size()));
    for (const Value& item : items->values()) {
      if (item.has_struct_value()) result.pods.push_back(PodFrom(item.struct_value()));
    }
  }
  return result;
}

absl::StatusOr<WatchEvent> ParseWatchEvent(std::string_view json) {
  absl::StatusOr<Struct> event = ParseObject(json, "the watch event");
  if (!event.ok()) return event.status();
  const std::string type = StringOf(&*event, "type");
  const Struct* object = StructOf(*event, "object");
  if (object == nullptr) return absl::InvalidArgumentError("the watch event has no object");
  WatchEvent result;
  if (type == "ADDED") {
    result.type = WatchEventType::kAdded;
  } else if (type == "MODIFIED") {
    result.type = WatchEventType::kModified;
  } else if (type == "DELETED") {
    result.type = WatchEventType::kDeleted;
  } else if (type == "BOOKMARK") {
    result.type = WatchEventType::kBookmark;
  } else if (type == "ERROR") {
    result.type = WatchEventType::kError;
    const Value* code = FieldOf(*object, "code");
    if (code != nullptr && code->kind_case() == Value::kNumberValue) {
      result.error_code = static_cast<int>(code->number_value());
    }
    result.error_message = StringOf(object, "message");
    return result;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown watch event type '", type, "'"));
  }
  result.pod = PodFrom(*object);
  return result;
}

absl::StatusOr<OwnedObject> ParseOwnedObject(std::string_view json) {
  absl::StatusOr<Struct> object = ParseObject(json, "the owner object");
  if (!object.ok()) return object.status();
  OwnedObject result;
  result.owners = OwnersOf(StructOf(*object, "metadata"));
  return result;
}

}  // namespace loupe
