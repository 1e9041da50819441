"""Runs the real agent with the configuration the Helm chart renders, and probes it where the
chart's objects point: the chart and the agent cannot drift apart.

Used by helm-lint.py when it is given the agent binary (`--agent PATH`). It starts
`direktiv-dispatch sim` for an API server, writes the chart's rendered rules ConfigMap, TLS
Secret and admin-token Secret where the Deployment mounts them (under a temporary directory),
starts `direktiv-dispatch serve` with exactly the container's DISPATCH_* environment (with
the agent keeping its own webhook CA, the rendered MutatingWebhookConfiguration is created in
the simulator first and the agent must patch its caBundle; with the agent keeping the admin
token, it must create the Secret), then:
the variables must be ones the agent reads (`serve --help`), the probes answer on their paths
and ports, the ServiceMonitor's path serves Prometheus text, the webhook Service's path answers
an AdmissionReview over TLS verified with the chart's caBundle for the Service's DNS name, and
the proxy Service's port is the proxy (403 for a host that is not a function).

The agent runs with exactly the chart's RBAC: the rendered ServiceAccount, (Cluster)Roles and
(Cluster)RoleBindings are created in the simulator, which enforces RBAC for service-account
tokens, and the agent's kubeconfig carries a token minted for that ServiceAccount (TokenRequest),
so a verb the chart forgets is a 403 here, not on a cluster.
"""
import base64
import json
import pathlib
import re
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The name the downward API would give the agent's pod.
POD_NAME = "direktiv-dispatch-5f7c9d8b6-x2k4p"


def _wait(what, attempt, seconds=60):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            result = attempt()
            if result:
                return result
        except Exception as error:  # noqa: BLE001 - retried until the deadline
            last = error
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what} ({last})")


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _https_post(port, server_name, ca_pem, path, body):
    context = ssl.create_default_context(cadata=ca_pem)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_name) as tls:
            request = (f"POST {path} HTTP/1.1\r\nHost: {server_name}\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode() + body
            tls.sendall(request)
            data = b""
            while chunk := tls.recv(65536):
                data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    if b"transfer-encoding: chunked" in head.lower():
        decoded, rest = b"", payload
        while rest:
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                break
            decoded, rest = decoded + rest[:size], rest[size + 2:]
        payload = decoded
    return status, payload


def _kube(kubeconfig, method, path, body=None):
    """One call to the simulator's API, authenticated and TLS-verified as kubectl would be."""
    config = yaml.safe_load(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    context = ssl.create_default_context(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    request = urllib.request.Request(cluster["server"] + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {user['token']}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _write_volume(objects, volume, directory, find_one, namespace):
    directory.mkdir(parents=True)
    if "configMap" in volume:
        source = find_one(objects, "ConfigMap", volume["configMap"]["name"], namespace)
        data = {key: value.encode() for key, value in source.get("data", {}).items()}
        items = volume["configMap"].get("items")
    elif "secret" in volume:
        source = find_one(objects, "Secret", volume["secret"]["secretName"], namespace)
        data = {key: base64.b64decode(value) for key, value in source.get("data", {}).items()}
        data.update({key: value.encode() for key, value in source.get("stringData", {}).items()})
        items = volume["secret"].get("items")
    else:
        raise AssertionError(f"volume {volume['name']}: only ConfigMap and Secret volumes are expected")
    for key, value in data.items():
        target = next((item["path"] for item in items if item["key"] == key), None) if items else key
        if target:
            (directory / target).write_bytes(value)


RBAC_PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
}


def _install_rbac(admin_kubeconfig, objects, deployment, namespace, work, check):
    """Creates the chart's RBAC objects and returns a kubeconfig with a token for its ServiceAccount."""
    for kind, path in RBAC_PATHS.items():
        for item in (o for o in objects if o["kind"] == kind):
            item_namespace = item["metadata"].get("namespace", namespace)
            status, answer = _kube(admin_kubeconfig, "POST", path.format(namespace=item_namespace), item)
            check(status == 201, f"the chart's {kind} {item['metadata']['name']} is accepted by the API server ({status} {answer.get('message', '')})")
    account = deployment["spec"]["template"]["spec"].get("serviceAccountName", "default")
    status, request = _kube(admin_kubeconfig, "POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
                            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 3600}})
    check(status == 201, f"a token is minted for the chart's ServiceAccount {account} ({status})")
    config = yaml.safe_load(admin_kubeconfig.read_text())
    config["users"][0]["user"]["token"] = request["status"]["token"]
    path = work / "service-account-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def check_agent(binary, objects, monitor_objects, check, find_one, release, namespace):
    deployment = find_one(objects, "Deployment", release, namespace)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    help_text = subprocess.run([binary, "serve", "--help"], capture_output=True, text=True, check=True).stdout
    agent_variables = set(re.findall(r"\[(DISPATCH_[A-Z_]+)\]", help_text))
    chart_variables = {entry["name"] for entry in container["env"]}
    unknown = sorted(name for name in chart_variables if name.startswith("DISPATCH_") and name not in agent_variables)
    check(not unknown, f"every DISPATCH_* variable the chart sets is one `serve --help` lists (unknown: {unknown})")

    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    with tempfile.TemporaryDirectory() as temporary:
        work = pathlib.Path(temporary)
        volumes = {volume["name"]: volume for volume in pod["volumes"]}
        replacements = {}
        for mount in container["volumeMounts"]:
            local = work / "mounts" / mount["name"]
            _write_volume(objects, volumes[mount["name"]], local, find_one, namespace)
            replacements[mount["mountPath"].rstrip("/") + "/"] = str(local) + "/"
        environment = {"PATH": "/usr/bin:/bin", "HOME": str(work)}
        for entry in container["env"]:
            if "value" in entry:
                value = entry["value"]
                for prefix, local in replacements.items():
                    if value.startswith(prefix):
                        value = local + value[len(prefix):]
                environment[entry["name"]] = value
            elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
                environment[entry["name"]] = "direktiv-dispatch"
            elif entry.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
                environment[entry["name"]] = POD_NAME
        environment["DISPATCH_BIND_ADDRESS"] = "127.0.0.1"

        sim_log = open(work / "sim.log", "w")
        sim = subprocess.Popen([binary, "sim", "--port", "0", "--kubeconfig-out", str(work / "kubeconfig")],
                               stdout=sim_log, stderr=subprocess.STDOUT)
        agent = None
        try:
            _wait("KubeSim's kubeconfig", lambda: (work / "kubeconfig").exists() and (work / "kubeconfig").stat().st_size > 0)
            environment["DISPATCH_KUBECONFIG"] = str(_install_rbac(work / "kubeconfig", objects, deployment, namespace, work, check))
            configuration = find_one(objects, "MutatingWebhookConfiguration", release)
            agent_tls = "DISPATCH_WEBHOOK_CA_SECRET" in environment
            if agent_tls:
                status, _ = _kube(work / "kubeconfig", "POST", "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", configuration)
                check(status == 201, f"the rendered MutatingWebhookConfiguration is accepted by the API server ({status})")
            agent_log = open(work / "agent.log", "w")
            agent = subprocess.Popen([binary, "serve"], env=environment, stdout=agent_log, stderr=subprocess.STDOUT)

            def probe(kind):
                http = container[kind]["httpGet"]
                port = ports.get(http["port"], http["port"])
                return _get(f"http://127.0.0.1:{port}{http['path']}")

            try:
                status, _, body = _wait("the readiness probe to pass", lambda: (lambda r: r if r[0] == 200 else None)(probe("readinessProbe")))
            except AssertionError:
                agent.terminate()
                agent.wait(10)
                raise AssertionError("the agent did not get ready with the chart's configuration:\n" + (work / "agent.log").read_text()[-3000:])
            check(status == 200, f"readinessProbe {container['readinessProbe']['httpGet']['path']} answers 200 with the chart's configuration")
            check(probe("livenessProbe")[0] == 200, f"livenessProbe {container['livenessProbe']['httpGet']['path']} answers 200")

            monitor = find_one(monitor_objects, "ServiceMonitor", release, namespace)
            (endpoint,) = monitor["spec"]["endpoints"]
            admin_service = next(s for s in monitor_objects if s["kind"] == "Service"
                                 and any(p.get("name") == endpoint["port"] for p in s["spec"]["ports"])
                                 and s["spec"]["selector"].items() <= pod_labels.items()
                                 and s["metadata"]["labels"].items() >= monitor["spec"]["selector"]["matchLabels"].items())
            (service_port,) = admin_service["spec"]["ports"]
            target = ports.get(service_port["targetPort"], service_port["targetPort"])
            status, headers, body = _get(f"http://127.0.0.1:{target}{endpoint['path']}")
            content_type = {k.lower(): v for k, v in headers.items()}.get("content-type", "")
            check(status == 200 and content_type.startswith("text/plain; version=0.0.4")
                  and b"# TYPE direktiv_dispatch_" in body,
                  f"the ServiceMonitor's port {endpoint['port']} and path {endpoint['path']} serve Prometheus text 0.0.4")

            if agent_tls:
                def patched():
                    status, live = _kube(work / "kubeconfig", "GET", f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{release}")
                    return live if status == 200 and live["webhooks"][0]["clientConfig"].get("caBundle") else None
                configuration = _wait("the agent to write caBundle", patched)
                status, ca_secret = _kube(work / "kubeconfig", "GET", f"/api/v1/namespaces/{namespace}/secrets/{environment['DISPATCH_WEBHOOK_CA_SECRET']}")
                check(status == 200 and {"ca.crt", "ca.key"} <= ca_secret.get("data", {}).keys(),
                      f"the agent keeps its CA in Secret {environment['DISPATCH_WEBHOOK_CA_SECRET']}")
            (webhook,) = configuration["webhooks"]
            service = webhook["clientConfig"]["service"]
            webhook_service = find_one(objects, "Service", service["name"], namespace)
            (webhook_port,) = [p for p in webhook_service["spec"]["ports"] if p["port"] == service["port"]]
            target = ports.get(webhook_port["targetPort"], webhook_port["targetPort"])
            ca_pem = base64.b64decode(webhook["clientConfig"]["caBundle"]).decode()
            ksvc = json.loads((ROOT / "examples" / "direktiv" / "ksvc-0.6.7.json").read_text())
            review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
                "uid": "chart-check", "kind": {"group": "serving.knative.dev", "version": "v1", "kind": "Service"},
                "resource": {"group": "serving.knative.dev", "version": "v1", "resource": "services"},
                "namespace": ksvc["metadata"]["namespace"], "name": ksvc["metadata"]["name"],
                "operation": "CREATE", "object": ksvc}}
            server_name = f"{service['name']}.{service['namespace']}.svc"
            status, payload = _https_post(target, server_name, ca_pem, service["path"], json.dumps(review).encode())
            answer = json.loads(payload) if status == 200 else {}
            check(status == 200 and answer.get("response", {}).get("uid") == "chart-check"
                  and answer["response"].get("allowed") is True and answer["response"].get("patchType") == "JSONPatch",
                  f"the webhook Service ({service['port']} -> {target}{service['path']}) answers an AdmissionReview with a patch, "
                  f"over TLS verified with the {'caBundle the agent wrote' if agent_tls else 'chart' + chr(39) + 's caBundle'} for {server_name}")
            # The decision is shared as a FunctionPlacement, written with the chart's RBAC (a
            # forgotten verb would leave the decision unshared: the agent only logs it).
            status, placement = _kube(work / "kubeconfig", "GET",
                                      f"/apis/dispatch.direktiv.io/v1alpha1/namespaces/{ksvc['metadata']['namespace']}/functionplacements/{ksvc['metadata']['name']}")
            check(status == 200 and placement.get("status", {}).get("decidedBy") == POD_NAME
                  and placement["status"].get("outcome") == "placed" and placement["spec"].get("cluster"),
                  f"the webhook's decision is a FunctionPlacement decided by the pod ({status})")
            lease_name = environment["DISPATCH_LEADER_LEASE"]
            lease = _wait(f"the agent to take Lease {lease_name}", lambda: (lambda r: r[1] if r[0] == 200 and r[1]["spec"].get("holderIdentity") else None)(
                _kube(work / "kubeconfig", "GET", f"/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases/{lease_name}")))
            check(lease["spec"]["holderIdentity"] == POD_NAME and lease["spec"]["leaseDurationSeconds"] == 15,
                  f"the single replica leads through Lease {namespace}/{lease_name} with client-go's 15 s")
            status, _, doctor_body = _get(f"http://127.0.0.1:{ports['admin']}/v1/doctor")
            doctor = json.loads(doctor_body) if status == 200 else {}
            unreadable = [f["detail"] for f in doctor.get("findings", []) if "cannot read" in f["detail"]]
            check(status == 200 and doctor.get("findings") and not unreadable,
                  f"GET /v1/doctor reads everything it checks under the chart's RBAC ({status}, unreadable: {unreadable})")
            metrics_text = _get(f"http://127.0.0.1:{ports['admin']}/metrics")[2].decode()
            check("direktiv_dispatch_placement_write_failures_total 0" in metrics_text,
                  "no decision failed to be written under the chart's RBAC")

            if "DISPATCH_ADMIN_TOKEN_SECRET" in environment:
                name = environment["DISPATCH_ADMIN_TOKEN_SECRET"]
                secret = _wait(f"the agent to create Secret {name}", lambda: (lambda r: r[1] if r[0] == 200 else None)(
                    _kube(work / "kubeconfig", "GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")))
                token = base64.b64decode(secret["data"]["token"]).decode()
                admin = ports["admin"]

                def delete_override(headers):
                    request = urllib.request.Request(f"http://127.0.0.1:{admin}/v1/namespaces/team-x/override", method="DELETE", headers=headers)
                    try:
                        with urllib.request.urlopen(request, timeout=5) as response:
                            return response.status
                    except urllib.error.HTTPError as error:
                        return error.code
                without, with_token = delete_override({}), _wait("the token to be in use", lambda: (lambda c: c if c != 401 else None)(
                    delete_override({"Authorization": f"Bearer {token}"})))
                check(len(token) >= 32 and without == 401 and with_token != 401,
                      f"the admin token the agent created in Secret {name} authorizes mutating calls (without: {without}, with: {with_token})")

            proxy_service = find_one(objects, "Service", f"{release}-proxy", namespace)
            (proxy_port,) = proxy_service["spec"]["ports"]
            target = ports.get(proxy_port["targetPort"], proxy_port["targetPort"])
            with socket.create_connection(("127.0.0.1", target), timeout=5) as connection:
                connection.sendall(b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
                reply = connection.recv(4096)
            check(reply.startswith(b"HTTP/1.1 403"), f"the proxy Service's port {target} is the proxy (403 for a non-function host)")
        finally:
            if agent:
                agent.terminate()
                agent.wait(20)
            sim.terminate()
            sim.wait(20)
