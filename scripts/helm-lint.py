#!/usr/bin/env python3
"""Lint and render the Helm chart with the real Helm engine, then check what it renders.

Usage: helm-lint.py [--agent BINARY] [CHART_DIR]        (default: charts/direktiv-dispatch)

Needs PyPI helm-sdkpy (Helm's Go library; `pip install --ignore-requires-python helm-sdkpy`)
and PyYAML; installs nothing.

1. `helm lint` through helm_sdkpy.Lint; fails when the result's Errors is non-empty.
2. helm-sdkpy has no `helm template`, so rendering runs its Install action against a fake
   Kubernetes API server on 127.0.0.1 that answers discovery and accepts every write. The
   release it returns carries the rendered manifest, exactly what `helm install` would apply:
   values.schema.json, lookup, genCA and .Capabilities.KubeVersion all take part.
3. Asserts the chart's contract on the rendered objects, for the default values, for
   cert-manager with every optional object on, for the other options, for an upgrade (existing
   Secrets must be kept), for Kubernetes 1.29 (no sleep lifecycle action), and that bad values
   are refused.
4. With --agent: runs that direktiv-dispatch binary with the chart's rendered configuration and
   probes it where the chart's objects point (scripts/chart_agent_check.py).
"""
import asyncio
import base64
import copy
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

try:
    import helm_sdkpy
    import yaml
except ImportError as error:
    sys.exit(f"helm-lint: {error}; install with: pip install --ignore-requires-python helm-sdkpy pyyaml")

ROOT = pathlib.Path(__file__).resolve().parent.parent
RELEASE, NAMESPACE = "direktiv-dispatch", "direktiv-dispatch"
FUNCTIONS_NS = "direktiv-services-direktiv"
# The chart has no default image (none is published): every render names one, as an install must.
IMAGE = {"image": {"repository": "registry.example.com/direktiv-dispatch"}}
SEVERITY = {0: "UNKNOWN", 1: "INFO", 2: "WARNING", 3: "ERROR"}

# The agent's contract (DESIGN + issue 7): what the chart must hand to the container.
ENV_ALWAYS = [
    "DISPATCH_NAMESPACE", "DISPATCH_RULES", "DISPATCH_DIREKTIV_NAMESPACE", "DISPATCH_ENGINE_DEPLOYMENT", "DISPATCH_PROTECT_READS", "DISPATCH_OVERRIDES_CONFIGMAP",
    "DISPATCH_BIND_ADDRESS", "DISPATCH_WEBHOOK_PORT", "DISPATCH_PROXY_PORT", "DISPATCH_ADMIN_PORT",
    "DISPATCH_CONNECT_TIMEOUT", "DISPATCH_DEFAULT_DEADLINE", "DISPATCH_LONGEST_CALL_SECONDS", "DISPATCH_DRAIN_SECONDS",
    "DISPATCH_LOG_LEVEL", "DISPATCH_IDENTITY", "DISPATCH_LEADER_LEASE", "DISPATCH_ENGINE_PROXY_URL",
]
ENV_OPTIONAL = ["DISPATCH_FUNCTIONS_TARGET_NAMESPACE", "DISPATCH_SIDECAR_IMAGE", "DISPATCH_FUNCTION_EGRESS_PROXY",
                "DISPATCH_DIREKTIV_API", "DISPATCH_DIREKTIV_API_INTERVAL", "DISPATCH_DIREKTIV_API_KEY_FILE"]
# Who keeps the webhook certificate and the admin token decides which of these the chart sets.
ENV_AGENT_MANAGED_TLS = ["DISPATCH_WEBHOOK_CA_SECRET", "DISPATCH_WEBHOOK_CONFIGURATION", "DISPATCH_WEBHOOK_SERVICE"]
ENV_MOUNTED_TLS = ["DISPATCH_TLS_CERT", "DISPATCH_TLS_KEY"]
ENV_TOKEN = ["DISPATCH_ADMIN_TOKEN_SECRET", "DISPATCH_ADMIN_TOKEN_FILE"]
METRICS = [
    "direktiv_dispatch_admission_requests_total", "direktiv_dispatch_placements_total",
    "direktiv_dispatch_placement_duration_seconds", "direktiv_dispatch_invocations_total",
    "direktiv_dispatch_invocation_duration_seconds", "direktiv_dispatch_invocations_in_flight",
    "direktiv_dispatch_upstream_errors_total", "direktiv_dispatch_cold_starts_total",
    "direktiv_dispatch_first_invocation_duration_seconds", "direktiv_dispatch_cluster_free_cpu_cores",
    "direktiv_dispatch_cluster_free_memory_bytes", "direktiv_dispatch_cluster_ready",
    "direktiv_dispatch_inventory_stale", "direktiv_dispatch_rules_reload_failures_total",
    "direktiv_dispatch_knative_feature_disabled",
]

checked = []


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    checked.append(what)


# ---------------------------------------------------------------------------------- lint

def lint(chart):
    result = asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(str(chart)))
    for message in result.get("Messages") or []:
        # helm-sdkpy serializes Go errors as {}: only severity and path survive.
        print(f"  lint {SEVERITY.get(message.get('Severity'), '?')}: {message.get('Path')}")
    errors = result.get("Errors") or []
    print(f"helm lint: {result.get('TotalChartsLinted')} chart(s), {len(errors)} error(s)")
    return errors


# ------------------------------------------------------------------ fake API server

def _resources(group_version, *specs):
    resources = []
    for spec in specs:
        name, kind, namespaced = spec
        resources.append({"name": name, "singularName": kind.lower(), "kind": kind, "namespaced": namespaced,
                          "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources}


DISCOVERY = {
    "v1": _resources("v1", ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
                     ("services", "Service", True), ("serviceaccounts", "ServiceAccount", True),
                     ("namespaces", "Namespace", False)),
    "apps/v1": _resources("apps/v1", ("deployments", "Deployment", True)),
    "policy/v1": _resources("policy/v1", ("poddisruptionbudgets", "PodDisruptionBudget", True)),
    "rbac.authorization.k8s.io/v1": _resources(
        "rbac.authorization.k8s.io/v1", ("clusterroles", "ClusterRole", False),
        ("clusterrolebindings", "ClusterRoleBinding", False), ("roles", "Role", True),
        ("rolebindings", "RoleBinding", True)),
    "admissionregistration.k8s.io/v1": _resources(
        "admissionregistration.k8s.io/v1",
        ("mutatingwebhookconfigurations", "MutatingWebhookConfiguration", False)),
    "networking.k8s.io/v1": _resources("networking.k8s.io/v1", ("networkpolicies", "NetworkPolicy", True)),
    "apiextensions.k8s.io/v1": _resources("apiextensions.k8s.io/v1",
                                          ("customresourcedefinitions", "CustomResourceDefinition", False)),
    "cert-manager.io/v1": _resources("cert-manager.io/v1", ("issuers", "Issuer", True),
                                     ("certificates", "Certificate", True)),
    "monitoring.coreos.com/v1": _resources("monitoring.coreos.com/v1", ("servicemonitors", "ServiceMonitor", True),
                                           ("prometheusrules", "PrometheusRule", True)),
}


class FakeAPIServer:
    """Just enough of the Kubernetes API for helm install: version, legacy discovery, GET of
    the objects it is given (for lookup), empty lists, and writes echoed back."""

    def __init__(self, git_version, existing, without=()):
        self.git_version, self.existing = git_version, existing
        discovery = {gv: body for gv, body in DISCOVERY.items() if gv not in without}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, code, body):
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = self.path.split("?")[0].rstrip("/")
                if path == "/version":
                    major, minor = outer.git_version.lstrip("v").split(".")[:2]
                    return self.reply(200, {"major": major, "minor": minor, "gitVersion": outer.git_version})
                if path == "/api":
                    return self.reply(200, {"kind": "APIVersions", "versions": ["v1"]})
                if path == "/apis":
                    groups = {}
                    for gv in discovery:
                        if "/" in gv:
                            group, version = gv.split("/")
                            groups.setdefault(group, []).append({"groupVersion": gv, "version": version})
                    return self.reply(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                        {"name": g, "versions": v, "preferredVersion": v[0]} for g, v in groups.items()]})
                gv = path[len("/api/"):] if path.startswith("/api/") else path[len("/apis/"):]
                if gv in discovery:
                    return self.reply(200, discovery[gv])
                if path in outer.existing:
                    return self.reply(200, outer.existing[path])
                if path.split("/")[-1] in ("secrets", "configmaps") or "labelSelector" in self.path:
                    return self.reply(200, {"kind": "List", "apiVersion": "v1", "metadata": {}, "items": []})
                self.reply(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                 "reason": "NotFound", "code": 404, "message": f"{path} not found"})

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    echoed = json.loads(body)
                except ValueError:  # helm stores its release record as protobuf
                    echoed = {"kind": "Secret", "apiVersion": "v1", "metadata": {}}
                self.reply(201 if self.command == "POST" else 200, echoed)

            do_PUT = do_PATCH = do_POST

            def do_DELETE(self):
                self.reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def render(chart, values=None, kube_version="v1.31.0", existing=None, without=()):
    """Returns (objects, notes) rendered by helm install against the fake API server, which
    serves every API group but those in `without`."""
    with FakeAPIServer(kube_version, existing or {}, without) as url:
        kubeconfig = yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": url}}],
            "users": [{"name": "fake", "user": {"token": "fake"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        })
        config = helm_sdkpy.Configuration(namespace=NAMESPACE, kubeconfig=kubeconfig)
        release = asyncio.run(helm_sdkpy.Install(config).run(
            RELEASE, str(chart), values=merged(IMAGE, values or {}), wait=False, timeout=60))
    objects = [o for o in yaml.safe_load_all(release["manifest"]) if o]
    return objects, (release.get("info") or {}).get("notes", "")


# ------------------------------------------------------------------------ assertions

def merged(defaults, given):
    """Helm's coalescing of user values into the chart's: maps merge, everything else replaces."""
    if not (isinstance(defaults, dict) and isinstance(given, dict)):
        return copy.deepcopy(given)
    result = copy.deepcopy(defaults)
    for key, value in given.items():
        result[key] = merged(defaults.get(key), value) if key in defaults else copy.deepcopy(value)
    return result


def find(objects, kind, name=None, namespace=None):
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)
             and (namespace is None or o["metadata"].get("namespace") == namespace)]
    return found


def one(objects, kind, name=None, namespace=None):
    found = find(objects, kind, name, namespace)
    check(len(found) == 1, f"exactly one {kind} {name or ''} {namespace or ''}".replace("  ", " ").strip())
    return found[0]


def container_of(objects):
    deployment = one(objects, "Deployment", RELEASE, NAMESPACE)
    return deployment, deployment["spec"]["template"]["spec"]["containers"][0]


def check_common(objects, values_rules):
    deployment, container = container_of(objects)
    pod = deployment["spec"]["template"]["spec"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    check(ports == {"webhook": 8443, "proxy": 8080, "admin": 9090, "metrics": 9091},
          "container ports webhook 8443, proxy 8080, admin 9090, metrics 9091")

    # Services: 443 -> 8443, 8080 -> 8080, 9090 -> 9090 through the named ports.
    for name, port, target in [(f"{RELEASE}-webhook", 443, 8443), (f"{RELEASE}-proxy", 8080, 8080),
                               (f"{RELEASE}-admin", 9090, 9090), (f"{RELEASE}-metrics", 9091, 9091)]:
        service = one(objects, "Service", name, NAMESPACE)
        (service_port,) = service["spec"]["ports"]
        resolved = ports.get(service_port["targetPort"], service_port["targetPort"])
        check(service_port["port"] == port and resolved == target, f"Service {name} {port} -> {target}")
        check(service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items(),
              f"Service {name} selects the agent's pods")

    env = {e["name"]: e for e in container["env"]}
    missing = [name for name in ENV_ALWAYS if name not in env]
    check(not missing, f"container env has {len(ENV_ALWAYS)} DISPATCH_* variables (missing: {missing})")
    check(env["DISPATCH_NAMESPACE"].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace",
          "DISPATCH_NAMESPACE comes from the downward API metadata.namespace")
    check("DISPATCH_KUBECONFIG" not in env, "no DISPATCH_KUBECONFIG: in-cluster config")
    check(not any(n.upper() in ("HTTP_PROXY", "HTTPS_PROXY") for n in env), "the agent itself has no HTTP_PROXY")
    check(env["DISPATCH_WEBHOOK_PORT"]["value"] == "8443" and env["DISPATCH_PROXY_PORT"]["value"] == "8080"
          and env["DISPATCH_ADMIN_PORT"]["value"] == "9090" and env["DISPATCH_METRICS_PORT"]["value"] == "9091",
          "port variables match the container ports")
    check(env["DISPATCH_KNATIVE_NAMESPACE"]["value"] == "knative-serving", "knative.namespace reaches the agent")
    proxy_service = one(objects, "Service", f"{RELEASE}-proxy", NAMESPACE)
    check(env["DISPATCH_ENGINE_PROXY_URL"]["value"]
          == f"http://{RELEASE}-proxy.{NAMESPACE}.svc:{proxy_service['spec']['ports'][0]['port']}",
          "DISPATCH_ENGINE_PROXY_URL is the proxy Service's URL, as NOTES.txt tells Direktiv's engine")
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    check(not any("subPath" in m for m in mounts.values()), "no subPath mounts (they never see updates)")
    check(all(m.get("readOnly") for m in mounts.values()), "all mounts read-only")
    agent_tls = "DISPATCH_WEBHOOK_CA_SECRET" in env
    check(all((n in env) == agent_tls for n in ENV_AGENT_MANAGED_TLS) and all((n in env) != agent_tls for n in ENV_MOUNTED_TLS),
          "TLS: either the agent keeps its CA (three variables) or a mounted pair is read (two), never both")
    check(("DISPATCH_ADMIN_TOKEN_SECRET" in env) != ("DISPATCH_ADMIN_TOKEN_FILE" in env), "admin token: from a Secret the agent keeps, or a mounted file")
    wanted = [("DISPATCH_RULES", "rules", "/etc/direktiv-dispatch/rules/rules.yaml")]
    if not agent_tls:
        wanted += [("DISPATCH_TLS_CERT", "tls", "/etc/direktiv-dispatch/tls/tls.crt"), ("DISPATCH_TLS_KEY", "tls", "/etc/direktiv-dispatch/tls/tls.key")]
    check(agent_tls != ("tls" in mounts), "a tls volume exactly when the certificate is mounted")
    check(("DISPATCH_ADMIN_TOKEN_FILE" in env) == ("admin-token" in mounts), "an admin-token volume exactly when the token is a file")
    if "DISPATCH_ADMIN_TOKEN_FILE" in env:
        wanted.append(("DISPATCH_ADMIN_TOKEN_FILE", "admin-token", "/etc/direktiv-dispatch/admin/token"))
    for variable, mount, path in wanted:
        check(env[variable]["value"] == path and path.startswith(mounts[mount]["mountPath"] + "/"),
              f"{variable} is the agent's default path, inside the {mount} volume")

    security = container["securityContext"]
    check(security.get("runAsNonRoot") is True and security.get("runAsUser") == 65532
          and security.get("runAsGroup") == 65532, "container runs as non-root 65532:65532")
    check(security.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem")
    check(security.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation false")
    check(security.get("capabilities", {}).get("drop") == ["ALL"] and not security["capabilities"].get("add"),
          "all capabilities dropped, none added")
    check(pod["securityContext"].get("seccompProfile", {}).get("type") == "RuntimeDefault"
          and security.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccomp RuntimeDefault")
    resources = container["resources"]
    check(resources.get("requests", {}).get("cpu") and resources.get("requests", {}).get("memory")
          and resources.get("limits", {}).get("memory") and "cpu" not in resources.get("limits", {}),
          "resources: CPU and memory requests, a memory limit, no CPU limit (no throttling on the data path)")
    spread = pod.get("topologySpreadConstraints", [])
    check([c["topologyKey"] for c in spread] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
          and all(c["whenUnsatisfiable"] == "ScheduleAnyway" and c["labelSelector"]["matchLabels"].items()
                  <= deployment["spec"]["template"]["metadata"]["labels"].items() for c in spread),
          "topology spread over hosts and zones, ScheduleAnyway, selecting the agent's pods")
    anti_required = "requiredDuringSchedulingIgnoredDuringExecution" in pod["affinity"].get("podAntiAffinity", {})
    rolling = deployment["spec"]["strategy"]["rollingUpdate"]
    check(rolling == ({"maxUnavailable": 1, "maxSurge": 0} if anti_required else {"maxUnavailable": 0, "maxSurge": 1}),
          "rollout: surge one pod, or with required anti-affinity replace one at a time (a surge pod could find no node)")
    check(container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
          and container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"},
          "liveness /healthz and readiness /readyz on the admin port")

    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    check(terms and all({"key": "liqo.io/type", "operator": "NotIn", "values": ["virtual-node"]} in t["matchExpressions"]
                        for t in terms), "required node affinity liqo.io/type NotIn [virtual-node] in every term")

    # Webhook configuration.
    webhook_config = one(objects, "MutatingWebhookConfiguration", RELEASE)
    (webhook,) = webhook_config["webhooks"]
    service = webhook["clientConfig"]["service"]
    check(service == {"name": f"{RELEASE}-webhook", "namespace": NAMESPACE, "path": "/mutate", "port": 443},
          "webhook calls the webhook Service on 443 at /mutate")
    check(webhook["sideEffects"] == "None" and webhook["admissionReviewVersions"] == ["v1"],
          "sideEffects None, admissionReviewVersions [v1]")
    rules = {(r["apiGroups"][0], r["apiVersions"][0], r["resources"][0]): r["operations"] for r in webhook["rules"]}
    check(rules == {("serving.knative.dev", "v1", "services"): ["CREATE", "UPDATE"],
                    ("apps", "v1", "deployments"): ["CREATE", "UPDATE"]},
          "webhook rules: serving.knative.dev/v1 services and apps/v1 deployments, CREATE and UPDATE")
    expressions = webhook["namespaceSelector"]["matchExpressions"]
    functions_namespaces = (values_rules or {}).get("functionsNamespaces", [FUNCTIONS_NS])
    check({"key": "kubernetes.io/metadata.name", "operator": "In", "values": functions_namespaces} in expressions,
          f"namespaceSelector In {functions_namespaces}")
    check({"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [NAMESPACE]} in expressions,
          "namespaceSelector NotIn the agent's own namespace")
    check(webhook["failurePolicy"] in ("Fail", "Ignore") and 1 <= webhook["timeoutSeconds"] <= 30,
          "failurePolicy and timeoutSeconds set")
    conditions = {c["name"]: c["expression"] for c in webhook.get("matchConditions", [])}
    check(set(conditions) == {"not-an-update-of-an-object-being-deleted", "not-an-update-leaving-the-pod-template-alone"}
          and all(e.startswith("request.operation != 'UPDATE' ||") for e in conditions.values())
          and "has(object.spec.template)" in conditions["not-an-update-leaving-the-pod-template-alone"],
          "matchConditions skip UPDATEs of objects being deleted or leaving spec.template alone, CREATE always called")

    # RBAC: no wildcard anywhere; exactly the grants of the contract.
    for role in find(objects, "ClusterRole") + find(objects, "Role"):
        fields = ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs")
        check(not any("*" in rule.get(field, []) for rule in role["rules"] for field in fields),
              f"no '*' in any rule of {role['kind']} {role['metadata']['name']}")
    cluster_role = one(objects, "ClusterRole", RELEASE)
    inventory = [{"apiGroups": [""], "resources": ["nodes", "pods"], "verbs": ["list", "watch"]}]
    webhook_rule = [{"apiGroups": ["admissionregistration.k8s.io"], "resources": ["mutatingwebhookconfigurations"],
                     "resourceNames": [RELEASE], "verbs": ["get", "patch"] if agent_tls else ["get"]}]
    doctor = [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["list"]},
              {"apiGroups": ["offloading.liqo.io"], "resources": ["namespaceoffloadings", "quotas"], "verbs": ["list"]},
              {"apiGroups": ["core.liqo.io"], "resources": ["foreignclusters"], "verbs": ["list"]},
              {"apiGroups": ["networking.liqo.io"], "resources": ["connections"], "verbs": ["list"]}]
    check(cluster_role["rules"] == inventory + webhook_rule + doctor,
          "ClusterRole: list/watch nodes and pods; " + ("get/patch" if agent_tls else "get") +
          " this release's webhook configuration only; list namespaces and Liqo's offloadings, quotas, peers (doctor), connections (latency)")
    engine_role = one(objects, "Role", f"{RELEASE}-engine", "direktiv")
    check(engine_role["rules"] == [{"apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["direktiv-flow"], "verbs": ["get"]}],
          "Direktiv namespace Role: get the engine's Deployment only (doctor)")
    kept = ([f"{RELEASE}-webhook-ca"] if agent_tls else []) + (
        [env["DISPATCH_ADMIN_TOKEN_SECRET"]["value"]] if "DISPATCH_ADMIN_TOKEN_SECRET" in env else [])
    if agent_tls:
        check(env["DISPATCH_WEBHOOK_CA_SECRET"]["value"] == f"{RELEASE}-webhook-ca"
              and env["DISPATCH_WEBHOOK_CONFIGURATION"]["value"] == RELEASE
              and env["DISPATCH_WEBHOOK_SERVICE"]["value"] == f"{RELEASE}-webhook",
              "agent-managed TLS: the CA Secret, this release's webhook configuration and its Service")
    if kept:
        secrets_role = one(objects, "Role", f"{RELEASE}-secrets", NAMESPACE)
        check(secrets_role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["create"]},
                                        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": kept, "verbs": ["get", "update"]}],
              f"secrets Role: create, and get/update on {kept} only")
    else:
        check(not find(objects, "Role", f"{RELEASE}-secrets"), "no secrets Role when the agent keeps no Secret")
    for namespace in functions_namespaces:
        role = one(objects, "Role", f"{RELEASE}-functions", namespace)
        check(role["rules"] == [
            {"apiGroups": ["serving.knative.dev"], "resources": ["services"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["dispatch.direktiv.io"], "resources": ["functionplacements"],
             "verbs": ["get", "list", "watch", "create", "patch", "delete"]},
            {"apiGroups": ["dispatch.direktiv.io"], "resources": ["functionplacements/status"], "verbs": ["patch"]},
            {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}],
              f"Role in {namespace}: read Knative services and apps deployments, keep FunctionPlacements, create Events; nothing more")
    check(env["DISPATCH_IDENTITY"].get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name",
          "DISPATCH_IDENTITY is the pod's name (downward API)")
    lease = env["DISPATCH_LEADER_LEASE"]["value"]
    check(lease == f"{RELEASE}-leader", "the leader Lease is named after the release")
    leader_role = one(objects, "Role", f"{RELEASE}-leader", NAMESPACE)
    check(leader_role["rules"] == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": [lease], "verbs": ["get", "update"]}],
          "leader Role: create leases, get/update the leader Lease only")
    crd_file = yaml.safe_load((ROOT / "charts/direktiv-dispatch/files/crds/dispatch.direktiv.io_functionplacements.yaml").read_text())
    for crd in find(objects, "CustomResourceDefinition"):
        check(crd == crd_file and crd["metadata"]["annotations"].get("helm.sh/resource-policy") == "keep",
              "the FunctionPlacement definition is the very file KubeSim serves, kept on uninstall")
    overrides_role = one(objects, "Role", f"{RELEASE}-overrides", NAMESPACE)
    check(overrides_role["rules"] == [{"apiGroups": [""], "resources": ["configmaps"],
                                       "resourceNames": ["direktiv-dispatch-overrides"],
                                       "verbs": ["get", "list", "watch", "update"]}],
          "overrides Role: get/list/watch/update on direktiv-dispatch-overrides only")
    service_account = pod["serviceAccountName"]
    for binding in find(objects, "RoleBinding") + find(objects, "ClusterRoleBinding"):
        ref = binding["roleRef"]
        bound = find(objects, ref["kind"], ref["name"], None if ref["kind"] == "ClusterRole"
                     else binding["metadata"]["namespace"])
        check(len(bound) == 1 and binding["subjects"] == [
            {"kind": "ServiceAccount", "name": service_account, "namespace": NAMESPACE}],
            f"{binding['kind']} {binding['metadata']['name']} binds an existing role to the agent's ServiceAccount")
    one(objects, "ServiceAccount", service_account, NAMESPACE)

    for overrides in find(objects, "ConfigMap", "direktiv-dispatch-overrides", NAMESPACE):
        check(overrides["metadata"]["annotations"].get("helm.sh/resource-policy") == "keep" and "data" not in overrides,
              "overrides ConfigMap is empty and annotated helm.sh/resource-policy: keep")
    rules_map = one(objects, "ConfigMap", f"{RELEASE}-rules", NAMESPACE)
    check(yaml.safe_load(rules_map["data"]["rules.yaml"]) == values_rules, "rules ConfigMap holds the rules values")
    check_rules_with_agent(rules_map["data"]["rules.yaml"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    check(volumes["rules"]["configMap"]["name"] == rules_map["metadata"]["name"], "rules volume is the rules ConfigMap")
    if "tls" in volumes:
        check(volumes["tls"]["secret"]["secretName"] in (f"{RELEASE}-tls", "ops-tls"), "tls volume is the TLS Secret")
    return deployment, container, webhook


def check_rules_reject_nothing(text, agent):
    """The chart's default rules on a cluster whose nodes carry no cluster label yet: every
    Direktiv namespace is admitted (unplaced), none refused (explain exits 2 on a rejection)."""
    nodes = json.loads((ROOT / "examples" / "seed-nodes.json").read_text())
    for node in nodes["items"]:
        node["metadata"]["labels"] = {k: v for k, v in node["metadata"].get("labels", {}).items() if k != "direktiv.io/namespace"}
    with tempfile.TemporaryDirectory() as directory:
        rules, unlabelled = pathlib.Path(directory) / "rules.yaml", pathlib.Path(directory) / "nodes.json"
        rules.write_text(text)
        unlabelled.write_text(json.dumps(nodes))
        codes = {}
        for namespace in ("main", "external1", "team-a", "anything"):
            result = subprocess.run([agent, "explain", "--rules", str(rules), "--nodes", str(unlabelled), "--pods",
                                     str(ROOT / "examples" / "seed-pods.json"), "--namespace", namespace, "--size", "medium"],
                                    capture_output=True, text=True, timeout=60)
            codes[namespace] = result.returncode
        example = subprocess.run([agent, "explain", "--rules", str(ROOT / "examples" / "rules.yaml"), "--nodes", str(unlabelled),
                                  "--pods", str(ROOT / "examples" / "seed-pods.json"), "--namespace", "external1", "--size", "medium"],
                                 capture_output=True, text=True, timeout=60).returncode
    check(all(code == 3 for code in codes.values()) and example == 2,
          f"default rules on unlabelled nodes admit every namespace unplaced ({codes}); the example's reject rule would refuse ({example})")


def check_rules_with_agent(text):
    """The agent's own strict parser on the rendered file, when a built binary is at hand."""
    binary = pathlib.Path(os.environ.get("DISPATCH_BIN") or ROOT / ".build" / "debug" / "direktiv-dispatch")
    if not binary.exists():
        print(f"  (no {binary}: rendered rules.yaml not checked with check-rules)")
        return
    with tempfile.NamedTemporaryFile("w", suffix="-rules.yaml") as rules:
        rules.write(text)
        rules.flush()
        result = subprocess.run([str(binary), "check-rules", rules.name], capture_output=True, text=True, timeout=60)
    what = "direktiv-dispatch check-rules accepts the rendered rules.yaml"
    check(result.returncode == 0, what if result.returncode == 0 else f"{what}: {result.stdout}{result.stderr}")


def check_agent_managed_secrets(objects, webhook):
    """Nothing random at render time: no TLS or token Secret, no caBundle (the agent writes it)."""
    check(not find(objects, "Secret"), "agent-managed TLS and token: the chart renders no Secret")
    check("caBundle" not in webhook["clientConfig"], "agent-managed TLS: no caBundle rendered (the agent patches it)")


def check_match_conditions(webhook):
    """Evaluates the rendered CEL (cel-python) on the requests it must and must not let through:
    the API server calls the webhook only when every condition is true."""
    try:
        import celpy
    except ImportError:
        print("  (cel-python not installed: matchConditions not evaluated)")
        return
    environment = celpy.Environment()
    programs = [environment.program(environment.compile(c["expression"])) for c in webhook["matchConditions"]]

    def called(operation, new, old):
        activation = {"request": celpy.json_to_cel({"operation": operation}), "object": celpy.json_to_cel(new),
                      "oldObject": celpy.json_to_cel(old)}
        return all(bool(program.evaluate(activation)) for program in programs)

    template = {"spec": {"containers": [{"name": "c", "image": "a"}]}}
    service = {"metadata": {"name": "f", "labels": {"a": "1"}}, "spec": {"template": template}}
    relabelled = copy.deepcopy(service)
    relabelled["metadata"]["labels"]["a"] = "2"
    new_image = copy.deepcopy(service)
    new_image["spec"]["template"]["spec"]["containers"][0]["image"] = "b"
    deleting = copy.deepcopy(new_image)
    deleting["metadata"]["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    bare = {"metadata": {"name": "f"}}
    check(called("CREATE", service, None) and called("UPDATE", new_image, service) and called("UPDATE", bare, bare)
          and not called("UPDATE", relabelled, service) and not called("UPDATE", deleting, service),
          "matchConditions (evaluated with cel-python): CREATE and template changes call the webhook, "
          "label-only updates and updates of objects being deleted do not, objects without a template are still called")


def scenario_defaults(chart, values_rules):
    objects, notes = render(chart)
    deployment, container, webhook = check_common(objects, values_rules)
    pod = deployment["spec"]["template"]["spec"]
    check(deployment["spec"]["replicas"] == 2, "2 replicas by default")
    check([c["metadata"]["name"] for c in find(objects, "CustomResourceDefinition")] == ["functionplacements.dispatch.direktiv.io"],
          "crds.enabled by default: the chart installs and upgrades the FunctionPlacement definition")
    one(objects, "ConfigMap", "direktiv-dispatch-overrides", NAMESPACE)
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    check(anti and anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname",
          "preferred pod anti-affinity across nodes")
    check(container["lifecycle"]["preStop"] == {"sleep": {"seconds": 5}}, "preStop sleep action (Kubernetes >= 1.30)")
    env = {e["name"]: e.get("value") for e in container["env"]}
    check(pod["terminationGracePeriodSeconds"] > 5 + int(env["DISPATCH_DRAIN_SECONDS"]),
          "terminationGracePeriodSeconds > preStop + drain")
    check(int(env["DISPATCH_DRAIN_SECONDS"]) >= int(env["DISPATCH_LONGEST_CALL_SECONDS"]) == 600,
          "the drain lasts at least the longest call (600 s, Direktiv's default timeout)")
    check(webhook["failurePolicy"] == "Fail" and webhook["timeoutSeconds"] == 5, "default failurePolicy Fail, timeout 5 s")
    pdb = one(objects, "PodDisruptionBudget", RELEASE, NAMESPACE)
    check(pdb["spec"].get("unhealthyPodEvictionPolicy") == "AlwaysAllow", "PodDisruptionBudget lets drains evict unready pods")
    check(pdb["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items(),
          "PodDisruptionBudget selects the agent's pods")
    features = one(objects, "Role", f"{RELEASE}-knative-features", "knative-serving")
    check(features["rules"] == [{"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["config-features"],
                                 "verbs": ["get"]}], "knative-serving Role: get config-features only")
    check_agent_managed_secrets(objects, webhook)
    check_match_conditions(webhook)
    again, _ = render(chart)
    check(yaml.safe_dump_all(again) == yaml.safe_dump_all(objects), "two renders without a cluster are identical (GitOps)")
    for kind in ("NetworkPolicy", "ServiceMonitor", "PrometheusRule", "Certificate", "Issuer"):
        check(not find(objects, kind), f"no {kind} by default")
    check(not [o for o in find(objects, "ConfigMap") if "grafana_dashboard" in o["metadata"].get("labels", {})],
          "no dashboard ConfigMap by default")
    for namespaced in objects:
        if namespaced["kind"] not in ("ClusterRole", "ClusterRoleBinding", "MutatingWebhookConfiguration", "CustomResourceDefinition"):
            check(namespaced["metadata"].get("namespace"), f"{namespaced['kind']} {namespaced['metadata']['name']} has a namespace")
    if notes:
        for needle in ("HTTP_PROXY=http://direktiv-dispatch-proxy.direktiv-dispatch.svc:8080", "NO_PROXY=localhost",
                       "kubernetes.podspec-affinity", "kubernetes.podspec-tolerations",
                       "kind: NamespaceOffloading", "podOffloadingStrategy: LocalAndRemote"):
            check(needle in notes, f"NOTES.txt mentions {needle}")
        check("WARNING: rules" not in notes, "NOTES.txt: no rejection warning with the default rules")
        example_notes = render(chart, {"rulesYaml": (ROOT / "examples" / "rules.yaml").read_text()})[1]
        check("WARNING: rules for external*" in example_notes and "kubectl label node <node> direktiv.io/namespace=main" in example_notes,
              "NOTES.txt warns while rules that reject (the example's) are in use, and tells how to label nodes")
        for needle in ("get secret direktiv-dispatch-admin-token -o jsonpath='{.data.token}'", "ignoreDifferences",
                       ".webhooks[].clientConfig.caBundle"):
            check(needle in notes, f"NOTES.txt mentions {needle}")
    else:
        print("  (helm-sdkpy returned no notes: NOTES.txt not checked)")
    return objects


def scenario_cert_manager(chart, values_rules):
    values = {
        "tls": {"certManager": {"enabled": True}},
        "serviceMonitor": {"enabled": True},
        "prometheusRule": {"enabled": True},
        "networkPolicy": {"enabled": True},
        "dashboards": {"enabled": True},
        "direktiv": {"functionsTargetNamespace": "dispatch-functions", "sidecarImage": "direktiv/direktiv:v0.8.10",
                     "functionEgressProxy": "http://egress.corp:3128",
                     "api": {"url": "http://direktiv-flow.direktiv:6665", "keySecret": "direktiv-api-key", "intervalSeconds": 15}},
        "agent": {"protectReads": True},
    }
    objects, _ = render(chart, values)
    _, container, webhook = check_common(objects, values_rules)
    check(not find(objects, "Secret", f"{RELEASE}-tls"), "cert-manager: the chart renders no TLS Secret")
    check("caBundle" not in webhook["clientConfig"], "cert-manager: no caBundle (cainjector fills it)")
    config = one(objects, "MutatingWebhookConfiguration", RELEASE)
    certificate = one(objects, "Certificate", RELEASE, NAMESPACE)
    check(config["metadata"]["annotations"].get("cert-manager.io/inject-ca-from") == f"{NAMESPACE}/{RELEASE}",
          "cert-manager: cert-manager.io/inject-ca-from names the Certificate")
    check(certificate["spec"]["secretName"] == f"{RELEASE}-tls"
          and f"{RELEASE}-webhook.{NAMESPACE}.svc" in certificate["spec"]["dnsNames"],
          "cert-manager: Certificate writes the mounted Secret for the webhook Service's names")
    one(objects, "Issuer", f"{RELEASE}-selfsigned", NAMESPACE)
    ca = one(objects, "Certificate", f"{RELEASE}-ca", NAMESPACE)
    ca_issuer = one(objects, "Issuer", f"{RELEASE}-ca", NAMESPACE)
    check(ca["spec"]["isCA"] and ca["spec"]["issuerRef"]["name"] == f"{RELEASE}-selfsigned"
          and ca_issuer["spec"]["ca"]["secretName"] == ca["spec"]["secretName"]
          and certificate["spec"]["issuerRef"]["name"] == ca_issuer["metadata"]["name"],
          "cert-manager: serving certificate issued by the chart's own CA (stable caBundle across renewals)")
    other, _ = render(chart, {"tls": {"certManager": {"enabled": True, "issuerRef": {"name": "corp-ca", "kind": "ClusterIssuer"}}}})
    check(not find(other, "Issuer") and one(other, "Certificate", RELEASE, NAMESPACE)["spec"]["issuerRef"]
          == {"name": "corp-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"},
          "cert-manager: a given issuerRef is used and no Issuer is created")
    env = {e["name"]: e.get("value") for e in container["env"]}
    check(env.get("DISPATCH_FUNCTIONS_TARGET_NAMESPACE") == "dispatch-functions"
          and env.get("DISPATCH_SIDECAR_IMAGE") == "direktiv/direktiv:v0.8.10" and env["DISPATCH_PROTECT_READS"] == "true"
          and env.get("DISPATCH_FUNCTION_EGRESS_PROXY") == "http://egress.corp:3128"
          and env.get("DISPATCH_DIREKTIV_API") == "http://direktiv-flow.direktiv:6665" and env.get("DISPATCH_DIREKTIV_API_INTERVAL") == "15"
          and env.get("DISPATCH_DIREKTIV_API_KEY_FILE") == "/etc/direktiv-dispatch/direktiv-api/key",
          f"optional env set when given: {', '.join(ENV_OPTIONAL)}, protectReads")
    key_volume = next((v for v in container_of(objects)[0]["spec"]["template"]["spec"]["volumes"] if v["name"] == "direktiv-api-key"), None)
    key_mount = next((m for m in container["volumeMounts"] if m["name"] == "direktiv-api-key"), None)
    check(key_volume is not None and key_volume["secret"]["secretName"] == "direktiv-api-key"
          and key_volume["secret"]["items"] == [{"key": "apikey", "path": "key"}]
          and key_mount is not None and key_mount["mountPath"] == "/etc/direktiv-dispatch/direktiv-api" and key_mount["readOnly"],
          "Direktiv's API key Secret is mounted as the file DISPATCH_DIREKTIV_API_KEY_FILE names (whole directory, read-only)")
    target = one(objects, "Role", f"{RELEASE}-functions-api", "dispatch-functions")
    check(target["rules"] == [{"apiGroups": ["serving.knative.dev"], "resources": ["services"],
                               "verbs": ["get", "create", "delete"]}], "target namespace Role: get/create/delete services")
    monitor = one(objects, "ServiceMonitor", RELEASE, NAMESPACE)
    check(monitor["spec"]["endpoints"][0]["port"] == "metrics" and monitor["spec"]["endpoints"][0]["path"] == "/metrics"
          and monitor["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component") == "metrics",
          "ServiceMonitor scrapes /metrics on the metrics Service's port, never the admin API")
    check_prometheus_rule(one(objects, "PrometheusRule", RELEASE, NAMESPACE))
    policy = one(objects, "NetworkPolicy", RELEASE, NAMESPACE)
    by_port = {rule["ports"][0]["port"]: rule for rule in policy["spec"]["ingress"]}
    check("from" not in by_port["webhook"], "NetworkPolicy: webhook port open (API server)")
    check(by_port["proxy"]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "direktiv"}}}],
          "NetworkPolicy: proxy port only from Direktiv's namespace")
    check("admin" not in by_port and by_port["metrics"]["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
          "NetworkPolicy: admin port closed by default, metrics port open to namespace monitoring only")
    dashboards = [o for o in find(objects, "ConfigMap") if o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"]
    check(len(dashboards) == 1 and "direktiv-dispatch.json" in dashboards[0]["data"], "dashboard ConfigMap labelled grafana_dashboard: \"1\"")
    json.loads(dashboards[0]["data"]["direktiv-dispatch.json"])


def check_prometheus_rule(rule):
    """The alerts pass `promtool check rules` and only use metrics the agent exports."""
    alerts = {r["alert"]: r["expr"] for g in rule["spec"]["groups"] for r in g["rules"]}
    check(set(alerts) == {"DirektivDispatchInventoryStale", "DirektivDispatchWebhookCertificateExpiring",
                          "DirektivDispatchRulesReloadFailing", "DirektivDispatchNoLeader", "DirektivDispatchPlacementWritesFailing"},
          "PrometheusRule: stale inventory, expiring certificate, refused rules, no leader, unshared decisions")
    names = set(re.findall(r"direktiv_dispatch_[a-z_]+", " ".join(alerts.values())))
    check(names <= set(METRICS) | {"direktiv_dispatch_inventory_stale", "direktiv_dispatch_webhook_certificate_expiry_timestamp_seconds",
                                   "direktiv_dispatch_leader", "direktiv_dispatch_placement_write_failures_total"},
          f"PrometheusRule: only metrics the agent exports ({sorted(names)})")
    promtool = shutil.which("promtool")
    if not promtool:
        print("  (promtool not installed: PrometheusRule not checked)")
        return
    with tempfile.NamedTemporaryFile("w", suffix="-rules.yaml") as file:
        yaml.safe_dump({"groups": rule["spec"]["groups"]}, file)
        file.flush()
        result = subprocess.run([promtool, "check", "rules", file.name], capture_output=True, text=True, timeout=60)
    check(result.returncode == 0, "PrometheusRule passes promtool check rules" if result.returncode == 0
          else f"PrometheusRule passes promtool check rules: {result.stdout}{result.stderr}")


def scenario_own_secrets(chart, values_rules):
    """A TLS Secret and a token of the operator's: mounted, caBundle as given, nothing generated."""
    bundle = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").decode()
    objects, _ = render(chart, {"tls": {"existingSecret": "ops-tls", "caBundle": bundle}, "adminToken": {"value": "s3cret-token"}})
    deployment, container, webhook = check_common(objects, values_rules)
    check(webhook["clientConfig"].get("caBundle") == bundle, "tls.existingSecret: caBundle is tls.caBundle")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    check(volumes["tls"]["secret"]["secretName"] == "ops-tls", "tls.existingSecret is mounted")
    token = one(objects, "Secret", f"{RELEASE}-admin-token", NAMESPACE)
    check(base64.b64decode(token["data"]["token"]).decode() == "s3cret-token"
          and volumes["admin-token"]["secret"]["secretName"] == f"{RELEASE}-admin-token",
          "adminToken.value: rendered as given and mounted")
    check(not find(objects, "Role", f"{RELEASE}-secrets"), "no secrets Role when TLS and token are the operator's")


def scenario_other_options(chart, values_rules):
    values = {
        "rules": {"functionsNamespaces": ["fns-a", "fns-b"]},
        "replicaCount": 3, "podAntiAffinity": "required", "preStop": {"mode": "none"},
        "extraNodeAffinityExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"}],
        "knative": {"enabled": False}, "adminToken": {"existingSecret": "ops-token"}, "overrides": {"create": False},
        "webhook": {"failurePolicy": "Ignore", "objectSelector": None}, "podDisruptionBudget": {"enabled": False},
        "imagePullSecrets": [{"name": "pull"}], "podAnnotations": {"a": "b"}, "nodeSelector": {"pool": "system"},
        "tolerations": [{"key": "dedicated", "operator": "Exists"}], "priorityClassName": "system-cluster-critical",
        "agent": {"proxyThreads": 2, "proxyCPUAffinity": "off"},
        # The documented setup: the functions API's target is a functions namespace, so the webhook places what it creates.
        "direktiv": {"functionsTargetNamespace": "fns-b"},
        "crds": {"enabled": False},
    }
    objects, _ = render(chart, values)
    check(not find(objects, "CustomResourceDefinition"), "crds.enabled false: the definition is left to whoever manages it")
    deployment, container, webhook = check_common(objects, merged(values_rules, values["rules"]))
    env = {v["name"]: v.get("value") for v in container["env"]}
    check(env.get("DISPATCH_PROXY_THREADS") == "2" and env.get("DISPATCH_PROXY_CPU_AFFINITY") == "off",
          "agent.proxyThreads and agent.proxyCPUAffinity reach the container's environment")
    pod = deployment["spec"]["template"]["spec"]
    for namespace in ("fns-a", "fns-b"):
        one(objects, "RoleBinding", f"{RELEASE}-functions", namespace)
    check(one(objects, "Role", f"{RELEASE}-functions-api", "fns-b")["rules"][0]["verbs"] == ["get", "create", "delete"]
          and env.get("DISPATCH_FUNCTIONS_TARGET_NAMESPACE") == "fns-b",
          "a target namespace that is also a functions namespace renders, with create/delete in the functions-API Role only")
    check(webhook["failurePolicy"] == "Ignore" and "objectSelector" not in webhook, "failurePolicy and objectSelector from values")
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    check({"key": "node-role.kubernetes.io/control-plane", "operator": "DoesNotExist"} in term["matchExpressions"],
          "extra node affinity expressions join the NotIn virtual-node term")
    check("requiredDuringSchedulingIgnoredDuringExecution" in pod["affinity"]["podAntiAffinity"], "required anti-affinity")
    check("lifecycle" not in container, "preStop mode none: no lifecycle hook")
    check(not find(objects, "Role", f"{RELEASE}-knative-features"), "knative disabled: no knative-serving Role")
    check(not find(objects, "Secret", f"{RELEASE}-admin-token")
          and {v["name"]: v for v in pod["volumes"]}["admin-token"]["secret"]["secretName"] == "ops-token",
          "adminToken.existingSecret is mounted instead of a generated Secret")
    check(not find(objects, "ConfigMap", "direktiv-dispatch-overrides"), "overrides.create false: no overrides ConfigMap")
    check(not find(objects, "PodDisruptionBudget"), "podDisruptionBudget.enabled false: no PDB")
    check(deployment["spec"]["replicas"] == 3 and pod["imagePullSecrets"] == [{"name": "pull"}]
          and pod["nodeSelector"] == {"pool": "system"} and pod["tolerations"] == values["tolerations"]
          and pod["priorityClassName"] == "system-cluster-critical"
          and deployment["spec"]["template"]["metadata"]["annotations"] == {"a": "b"},
          "replicas, pull secrets, nodeSelector, tolerations, priority class, pod annotations from values")
    # rulesYaml: a whole file, verbatim, replacing the rules map (no merging with the example).
    text = "# ops' rules\nfunctionsNamespaces: [fns-c]\nnamespaces:\n  - match: \"*\"\n    clusters: [main]\n"
    verbatim, _ = render(chart, {"rulesYaml": text})
    (verbatim_webhook,) = one(verbatim, "MutatingWebhookConfiguration", RELEASE)["webhooks"]
    check(one(verbatim, "ConfigMap", f"{RELEASE}-rules", NAMESPACE)["data"]["rules.yaml"].strip() == text.strip()
          and {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["fns-c"]}
          in verbatim_webhook["namespaceSelector"]["matchExpressions"]
          and find(verbatim, "Role", f"{RELEASE}-functions", "fns-c"),
          "rulesYaml is mounted verbatim and its functionsNamespaces drive the webhook and Roles")
    check_rules_with_agent(text)
    empty, _ = render(chart, {"rulesYaml": "# all defaults\n"})
    (empty_webhook,) = one(empty, "MutatingWebhookConfiguration", RELEASE)["webhooks"]
    check({"key": "kubernetes.io/metadata.name", "operator": "In", "values": [FUNCTIONS_NS]}
          in empty_webhook["namespaceSelector"]["matchExpressions"],
          "rules without functionsNamespaces: webhook on the agent's default functions namespace")


def scenario_old_kubernetes(chart):
    objects, _ = render(chart, kube_version="v1.29.4")
    _, container = container_of(objects)
    check(container["lifecycle"]["preStop"] == {"exec": {"command": ["/bin/sleep", "5"]}},
          "Kubernetes 1.29: preStop falls back to /bin/sleep from the image")
    (webhook,) = one(objects, "MutatingWebhookConfiguration", RELEASE)["webhooks"]
    check(len(webhook.get("matchConditions", [])) == 2, "Kubernetes 1.29: matchConditions rendered (>= 1.28)")
    older, _ = render(chart, kube_version="v1.27.9")
    (old_webhook,) = one(older, "MutatingWebhookConfiguration", RELEASE)["webhooks"]
    check("matchConditions" not in old_webhook, "Kubernetes 1.27: no matchConditions (the field is unknown there)")


def scenario_refusals(chart):
    # Each must fail for its own reason, not because the chart fails to render at all.
    bad = [
        ("an unknown value key", {"bogus": 1}, "'bogus' not allowed"),
        ("an unknown rules key", {"rules": {"clusterLabels": "x"}}, "'clusterLabels' not allowed"),
        ("rulesYaml that is not a mapping", {"rulesYaml": "- a\n- b\n"}, "rulesYaml is not a YAML mapping"),
        ("failurePolicy Maybe", {"webhook": {"failurePolicy": "Maybe"}}, "/webhook/failurePolicy"),
        ("timeoutSeconds 31", {"webhook": {"timeoutSeconds": 31}}, "/webhook/timeoutSeconds"),
        ("proxyCPUAffinity always", {"agent": {"proxyCPUAffinity": "always"}}, "/agent/proxyCPUAffinity"),
        ("a Direktiv API URL with a query", {"direktiv": {"api": {"url": "http://direktiv-flow:6665/?x=1"}}}, "/direktiv/api/url"),
        ("a function egress proxy that is not an http URL", {"direktiv": {"functionEgressProxy": "socks5://x:1080"}},
         "/direktiv/functionEgressProxy"),
        ("the agent's namespace as a functions namespace", {"rules": {"functionsNamespaces": [NAMESPACE]}},
         "must not contain the agent's own namespace"),
        ("Direktiv's own functions namespace as target namespace", {"direktiv": {"functionsTargetNamespace": FUNCTIONS_NS}},
         "is Direktiv's own functions namespace"),
        ("cert-manager and an existing Secret at once", {"tls": {"certManager": {"enabled": True}, "existingSecret": "x"}},
         "exclude each other"),
        ("no image repository", {"image": {"repository": ""}}, "image.repository is required"),
        ("zero replicas", {"replicaCount": 0}, "/replicaCount"),
        ("a ServiceMonitor on a cluster without the Prometheus Operator",
         ({"serviceMonitor": {"enabled": True}}, "monitoring.coreos.com/v1"), "needs the Prometheus Operator"),
        ("a PrometheusRule on a cluster without the Prometheus Operator",
         ({"prometheusRule": {"enabled": True}}, "monitoring.coreos.com/v1"), "needs the Prometheus Operator's PrometheusRule API"),
        ("cert-manager objects on a cluster without cert-manager",
         ({"tls": {"certManager": {"enabled": True}}}, "cert-manager.io/v1"), "needs cert-manager's API"),
        ("an existing TLS Secret without caBundle", {"tls": {"existingSecret": "x"}}, "needs tls.caBundle"),
        ("a grace period shorter than preStop + drain", {"terminationGracePeriodSeconds": 12},
         "terminationGracePeriodSeconds (12) must exceed"),
        ("a drain shorter than the longest call", {"agent": {"drainSeconds": 30}}, "agent.drainSeconds (30) must be at least"),
        ("a default deadline beyond the longest call", {"agent": {"longestCallSeconds": 60}, "terminationGracePeriodSeconds": 700},
         "agent.defaultDeadlineSeconds (300) must not exceed"),
    ]
    for what, values, reason in bad:
        values, without = values if isinstance(values, tuple) else (values, None)
        try:
            render(chart, values, without=(without,) if without else ())
        except helm_sdkpy.HelmError as error:
            message = " ".join(str(error).split())
            check(reason in message, f"refuses {what}: {reason}" if reason in message
                  else f"refuses {what} because {reason!r}, not: {message[-200:]}")
        else:
            check(False, f"refuses {what}")


def check_dashboard(chart):
    for path in sorted((chart / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        text = " ".join(expressions)
        used = {m for m in METRICS if m in text}
        names = {re.sub(r"_(bucket|sum|count)$", "", n) for n in re.findall(r"direktiv_dispatch_[a-z_]+", text)}
        unknown = names - set(METRICS)
        check(not unknown, f"{path.name}: only contract metric names (unknown: {sorted(unknown)})")
        check(used == set(METRICS), f"{path.name}: uses all {len(METRICS)} metrics (missing: {sorted(set(METRICS) - used)})")


def scenario_agent(chart, binary):
    sys.path.insert(0, str(ROOT / "scripts"))
    import chart_agent_check

    # With the example's rules, so the webhook's answer carries a placement patch.
    example = {"rulesYaml": (ROOT / "examples" / "rules.yaml").read_text()}
    objects, _ = render(chart, example)
    monitored, _ = render(chart, {**example, "serviceMonitor": {"enabled": True}})
    chart_agent_check.check_agent(binary, objects, monitored, check, one, RELEASE, NAMESPACE)
    defaults, _ = render(chart)
    check_rules_reject_nothing(one(defaults, "ConfigMap", f"{RELEASE}-rules", NAMESPACE)["data"]["rules.yaml"], binary)
    # The optional variables too, as the chart renders them.
    options, _ = render(chart, {"direktiv": {"functionsTargetNamespace": "dispatch-functions", "sidecarImage": "direktiv/direktiv:v0.8.10",
                                             "functionEgressProxy": "http://egress.corp:3128"},
                                "agent": {"proxyThreads": 2, "proxyCPUAffinity": "off"}})
    _, container = container_of(options)
    help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    known = set(re.findall(r"\[(DISPATCH_[A-Z_]+)\]", help_text))
    check(set(ENV_ALWAYS + ENV_OPTIONAL + ENV_AGENT_MANAGED_TLS + ENV_MOUNTED_TLS + ENV_TOKEN) <= known and {e["name"] for e in container["env"] if e["name"].startswith("DISPATCH_")} <= known,
          "every variable of the chart's contract, optional ones included, is one the agent reads")


def main():
    arguments = sys.argv[1:]
    agent = None
    if arguments[:1] == ["--agent"]:
        agent, arguments = arguments[1], arguments[2:]
    chart = pathlib.Path(arguments[0]) if arguments else ROOT / "charts" / "direktiv-dispatch"
    chart = chart.resolve()
    errors = lint(chart)
    if errors:
        print(f"helm lint found {len(errors)} error(s) (helm-sdkpy drops their text; the render below shows it)",
              file=sys.stderr)

    values_rules = yaml.safe_load((chart / "values.yaml").read_text())["rules"]
    check(values_rules == {"functionsNamespaces": [FUNCTIONS_NS]},
          "values.yaml rules are the agent's defaults (functionsNamespaces only; the full example stays in examples/)")
    failed = bool(errors)
    for name, run in [("defaults", lambda: scenario_defaults(chart, values_rules)),
                      ("cert-manager and every option", lambda: scenario_cert_manager(chart, values_rules)),
                      ("a TLS Secret and a token of the operator's", lambda: scenario_own_secrets(chart, values_rules)),
                      ("other options", lambda: scenario_other_options(chart, values_rules)),
                      ("Kubernetes 1.29", lambda: scenario_old_kubernetes(chart)),
                      ("bad values", lambda: scenario_refusals(chart)),
                      ("dashboard", lambda: check_dashboard(chart))] + (
                      [("the agent with the chart's configuration", lambda: scenario_agent(chart, agent))] if agent else []):
        before = len(checked)
        try:
            run()
            print(f"render {name}: ok, {len(checked) - before} checks")
        except (AssertionError, helm_sdkpy.HelmError) as error:
            failed = True
            print(f"render {name}: FAILED: {error}", file=sys.stderr)
    for what in dict.fromkeys(checked):
        print(f"  checked: {what}")
    print(f"{len(checked)} checks, {'FAILED' if failed else 'all passed'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
