// Validates Kubernetes manifests offline against the upstream OpenAPI schemas that the
// `kubernetes-models` packages compile (types, required fields, enums, formats).
// Usage: node validate_k8s.mjs FILE.yaml...   (run `npm ci` in tests/deploy first)
// Limitation: those schemas do not reject unknown fields; check_k8s_policy.py checks the
// fields that matter for Loupe by name, so a misspelt one fails there.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";

const kinds = {
  "v1/Namespace": "kubernetes-models/v1/Namespace",
  "v1/ServiceAccount": "kubernetes-models/v1/ServiceAccount",
  "v1/ConfigMap": "kubernetes-models/v1/ConfigMap",
  "v1/Service": "kubernetes-models/v1/Service",
  "apps/v1/DaemonSet": "kubernetes-models/apps/v1/DaemonSet",
  "rbac.authorization.k8s.io/v1/ClusterRole": "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole",
  "rbac.authorization.k8s.io/v1/ClusterRoleBinding": "kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding",
  "monitoring.coreos.com/v1/ServiceMonitor": "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor",
  "kustomize.config.k8s.io/v1beta1/Kustomization": null, // not an API object; checked by policy
};

let failures = 0;
let validated = 0;
for (const file of process.argv.slice(2)) {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      console.error(`${file}: YAML error: ${doc.errors[0].message}`);
      failures++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null || obj === undefined) continue;
    const key = `${obj.apiVersion}/${obj.kind}`;
    if (!(key in kinds)) {
      console.error(`${file}: no schema for ${key}; add it to validate_k8s.mjs`);
      failures++;
      continue;
    }
    if (kinds[key] === null) continue;
    const module = await import(kinds[key]);
    const Model = module[obj.kind];
    try {
      new Model(obj).validate();
      validated++;
      console.log(`ok   ${file}: ${key} ${obj.metadata?.name}`);
    } catch (e) {
      console.error(`FAIL ${file}: ${key} ${obj.metadata?.name}: ${e.message}`);
      failures++;
    }
  }
}
if (validated === 0 && failures === 0) {
  console.error("no manifests validated");
  process.exit(1);
}
console.log(`${validated} manifests valid, ${failures} invalid`);
process.exit(failures === 0 ? 0 : 1);
