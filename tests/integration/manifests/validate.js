// Validates Kubernetes objects against the API schema, offline, with kubernetes-models' validators
// (the OpenAPI schema of each kind, compiled): reads a JSON array of objects on stdin and prints a
// JSON array of {kind, name, errors}. An object of a kind it has no model for is an error too.
"use strict";

const groups = {
  v1: () => require("kubernetes-models/v1"),
  "apps/v1": () => require("kubernetes-models/apps/v1"),
  "rbac.authorization.k8s.io/v1": () => require("kubernetes-models/rbac.authorization.k8s.io/v1"),
  "monitoring.coreos.com/v1": () =>
    require("@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1"),
};

function validate(object) {
  const name = (object.metadata && object.metadata.name) || "";
  const group = groups[object.apiVersion];
  const Model = group && group()[object.kind];
  if (!Model) return { kind: object.kind, name, errors: [`no schema for ${object.apiVersion} ${object.kind}`] };
  try {
    new Model(object).validate();
    return { kind: object.kind, name, errors: [] };
  } catch (e) {
    const details = (e.errors || []).map((d) => `${d.instancePath || "/"} ${d.message}`);
    return { kind: object.kind, name, errors: details.length ? details : [String(e.message)] };
  }
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  process.stdout.write(JSON.stringify(JSON.parse(input).map(validate)) + "\n");
});
