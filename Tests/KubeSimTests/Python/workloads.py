"""Built-in kinds through the official Kubernetes Python client: what Direktiv 0.10 creates
(Deployment, core Service 80 -> 8890, autoscaling/v2 HPA), what the agent touches (Leases,
events.k8s.io Events) and what the API server refuses or fills in.

Run by PythonClientTests with a kubeconfig for a running KubeSim whose control plane runs.
Each check names the kube-apiserver 1.32 behaviour it stands for. The client's generated
models raise on any pod, node, slice or event that lacks a field the API always sets, so
reading them at all is a check. Exits non-zero with a message on the first difference.
"""

import datetime
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

NAMESPACE = "direktiv-services-direktiv"
NAME = "team-a-hello-1234567890"


def expect(condition, message):
    if not condition:
        raise SystemExit("FAILED: " + message)


def refused(call, status, fragment=""):
    try:
        call()
    except ApiException as error:
        expect(error.status == status, f"expected {status}, got {error.status}: {error.body}")
        expect(fragment in error.body, f"expected {fragment!r} in {error.body}")
        return
    raise SystemExit(f"FAILED: expected {status}, the request was accepted")


def deployment(name, labels, selector=None):
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector or labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": "direktiv-container", "image": "direktiv/hello:v1"},
                        {"name": "direktiv-sidecar", "image": "direktiv/sidecar", "ports": [{"containerPort": 8890}]},
                    ]
                },
            },
        },
    }


def main(kubeconfig):
    config.load_kube_config(config_file=kubeconfig)
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    discovery = client.DiscoveryV1Api()
    autoscaling = client.AutoscalingV2Api()
    coordination = client.CoordinationV1Api()
    events = client.EventsV1Api()

    # SetDefaults_Deployment / _PodSpec / _Container: defaults clients see in the answer.
    labels = {"direktiv-service": NAME}
    created = apps.create_namespaced_deployment(NAMESPACE, deployment(NAME, labels))
    expect(created.spec.strategy.type == "RollingUpdate", "strategy defaults to RollingUpdate")
    expect(created.spec.strategy.rolling_update.max_surge == "25%", "maxSurge defaults to 25%")
    expect(created.spec.revision_history_limit == 10, "revisionHistoryLimit defaults to 10")
    expect(created.spec.progress_deadline_seconds == 600, "progressDeadlineSeconds defaults to 600")
    pod_spec = created.spec.template.spec
    expect(pod_spec.restart_policy == "Always", "restartPolicy defaults to Always")
    expect(pod_spec.dns_policy == "ClusterFirst", "dnsPolicy defaults to ClusterFirst")
    expect(pod_spec.termination_grace_period_seconds == 30, "terminationGracePeriodSeconds defaults to 30")
    container = pod_spec.containers[0]
    expect(container.image_pull_policy == "IfNotPresent", "a tagged image is pulled IfNotPresent")
    expect(pod_spec.containers[1].image_pull_policy == "Always", "an untagged image is pulled Always")
    expect(container.termination_message_path == "/dev/termination-log", "terminationMessagePath default")
    expect(pod_spec.containers[1].ports[0].protocol == "TCP", "container ports default to TCP")

    # Direktiv 0.10's Service (80 -> 8890) and HPA.
    service = core.create_namespaced_service(
        NAMESPACE,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": NAME},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8890}]},
        },
    )
    expect(service.spec.type == "ClusterIP" and service.spec.cluster_ip, "a ClusterIP is allocated")
    expect(service.spec.ports[0].protocol == "TCP", "service ports default to TCP")
    autoscaling.create_namespaced_horizontal_pod_autoscaler(
        NAMESPACE,
        {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": NAME},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
                "minReplicas": 2,
                "maxReplicas": 3,
            },
        },
    )

    # The HPA raises replicas to minReplicas; the Deployment goes through a ReplicaSet.
    stream = watch.Watch()
    ready = None
    for event in stream.stream(apps.list_namespaced_deployment, NAMESPACE, field_selector=f"metadata.name={NAME}", timeout_seconds=30):
        item = event["object"]
        if item.spec.replicas == 2 and (item.status.available_replicas or 0) == 2:
            ready = item
            stream.stop()
    expect(ready is not None, "the Deployment became available with the HPA's 2 replicas")
    sets = apps.list_namespaced_replica_set(NAMESPACE, label_selector=f"direktiv-service={NAME}").items
    expect(len(sets) == 1 and sets[0].metadata.owner_references[0].kind == "Deployment", "one ReplicaSet, owned by the Deployment")

    # The endpoints controller lists the ready pods, with the target port resolved.
    slices = discovery.list_namespaced_endpoint_slice(NAMESPACE, label_selector=f"kubernetes.io/service-name={NAME}").items
    expect(len(slices) == 1, f"one EndpointSlice for the Service, got {len(slices)}")
    ready_endpoints = [e for e in slices[0].endpoints if e.conditions.ready]
    expect(len(ready_endpoints) == 2, f"two ready endpoints, got {slices[0].endpoints}")
    expect(slices[0].ports[0].port == 8890, "targetPort 8890 in the slice")

    # Every pod and node reads as the client's models (container statuses, nodeInfo, addresses, pod IPs).
    pods = core.list_pod_for_all_namespaces().items
    expect(len(pods) >= 2, "pods listed")
    for pod in pods:
        if pod.status.phase == "Running":
            expect(pod.status.pod_ip and pod.status.pod_ips, f"pod {pod.metadata.name} has an IP")
            for status in pod.status.container_statuses:
                expect(status.image and status.image_id and status.state.running, f"container status of {pod.metadata.name}")
    for node in core.list_node().items:
        expect(node.status.node_info.kubelet_version, "nodeInfo")
        expect(any(a.type == "InternalIP" for a in node.status.addresses), "node addresses")

    # PodStrategy.PrepareForCreate: a pod created through the API starts Pending, whatever it says.
    pod = core.create_namespaced_pod(
        NAMESPACE,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "made-by-hand"},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
            "status": {"phase": "Succeeded"},
        },
    )
    expect(pod.status.phase == "Pending", f"a new pod is Pending, got {pod.status.phase}")
    expect(pod.spec.service_account_name == "default", "the ServiceAccount admission plugin sets the default account")

    # ValidateDeployment: the selector must select the template, and cannot change.
    refused(
        lambda: apps.create_namespaced_deployment(NAMESPACE, deployment("mismatch", {"app": "a"}, selector={"app": "b"})),
        422,
        "`selector` does not match template `labels`",
    )
    refused(
        lambda: apps.patch_namespaced_deployment(NAME, NAMESPACE, {"spec": {"selector": {"matchLabels": {"direktiv-service": "x"}}}}),
        422,
        "field is immutable",
    )
    # ValidatePodUpdate: only images and a few fields change.
    refused(lambda: core.patch_namespaced_pod("made-by-hand", NAMESPACE, {"spec": {"restartPolicy": "Never"}}), 422, "pod updates may not change")
    # ValidateConfigMap: at most 1 MiB, keys of config-key syntax; label syntax.
    big = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": "x" * (1024 * 1024 + 1)}}
    refused(lambda: core.create_namespaced_config_map(NAMESPACE, big), 422, "must have at most 1048576 bytes")
    bad_key = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad"}, "data": {"a/b": "x"}}
    refused(lambda: core.create_namespaced_config_map(NAMESPACE, bad_key), 422, "config key")
    bad_label = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bad", "labels": {"a": "not valid!"}}}
    refused(lambda: core.create_namespaced_config_map(NAMESPACE, bad_label), 422, "a valid label must be")
    # A patch carrying a stale resourceVersion is a conflict.
    stale = ready.metadata.resource_version
    apps.patch_namespaced_deployment(NAME, NAMESPACE, {"metadata": {"labels": {"touched": "yes"}}})
    refused(
        lambda: apps.patch_namespaced_deployment(NAME, NAMESPACE, {"metadata": {"resourceVersion": stale, "labels": {"touched": "again"}}}),
        409,
    )

    # Server-side apply: the creator owns spec.replicas (an Update), so an applier that wants
    # another value conflicts until it forces.
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME}, "spec": {"replicas": 3}}
    refused(
        lambda: apps.patch_namespaced_deployment(NAME, NAMESPACE, applied, field_manager="placer", _content_type="application/apply-patch+yaml"),
        409,
        ".spec.replicas",
    )
    forced = apps.patch_namespaced_deployment(
        NAME, NAMESPACE, applied, field_manager="placer", force=True, _content_type="application/apply-patch+yaml"
    )
    owners = {entry.manager: entry.operation for entry in forced.metadata.managed_fields}
    expect(forced.spec.replicas == 3 and owners.get("placer") == "Apply", f"the forced apply owns replicas: {owners}")

    # Finalizers: a delete leaves the object with deletionTimestamp until its last finalizer goes.
    core.create_namespaced_config_map(
        NAMESPACE, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["example.io/hold"]}}
    )
    core.delete_namespaced_config_map("held", NAMESPACE)
    held = core.read_namespaced_config_map("held", NAMESPACE)
    expect(held.metadata.deletion_timestamp is not None, "a deleted object with a finalizer stays, with deletionTimestamp")
    core.patch_namespaced_config_map("held", NAMESPACE, {"metadata": {"finalizers": None}})
    refused(lambda: core.read_namespaced_config_map("held", NAMESPACE), 404)

    # Graceful deletion: the test made external2 unreachable, so its kubelet never confirms and
    # the pod stays Terminating with its grace period, until a forced delete.
    remote = [p for p in core.list_namespaced_pod(NAMESPACE).items if p.spec.node_name == "liqo-external2"]
    expect(len(remote) == 1, "the seed's pod on external2")
    core.delete_namespaced_pod(remote[0].metadata.name, NAMESPACE)
    terminating = core.read_namespaced_pod(remote[0].metadata.name, NAMESPACE)
    expect(terminating.metadata.deletion_timestamp is not None and terminating.metadata.deletion_grace_period_seconds == 30,
           "a pod on an unreachable node stays Terminating with its grace period")
    core.delete_namespaced_pod(remote[0].metadata.name, NAMESPACE, grace_period_seconds=0)
    refused(lambda: core.read_namespaced_pod(remote[0].metadata.name, NAMESPACE), 404)

    # coordination.k8s.io Leases, as client-go's leader election writes them.
    now = datetime.datetime.now(datetime.timezone.utc)
    lease = coordination.create_namespaced_lease(
        "direktiv-dispatch",
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "direktiv-dispatch-leader"},
            "spec": {"holderIdentity": "replica-a", "leaseDurationSeconds": 15, "acquireTime": now, "renewTime": now, "leaseTransitions": 0},
        },
    )
    expect(lease.spec.holder_identity == "replica-a", "the lease holder")
    lease.spec.holder_identity = "replica-b"
    coordination.replace_namespaced_lease("direktiv-dispatch-leader", "direktiv-dispatch", lease)
    lease.spec.holder_identity = "replica-c"
    refused(lambda: coordination.replace_namespaced_lease("direktiv-dispatch-leader", "direktiv-dispatch", lease), 409)

    # events.k8s.io/v1 Events are core Events under other names.
    events.create_namespaced_event(
        NAMESPACE,
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "placed.1"},
            "eventTime": now,
            "type": "Normal",
            "reason": "Placed",
            "action": "Place",
            "note": "placed on external1",
            "reportingController": "dispatch.direktiv.io/agent",
            "reportingInstance": "replica-a",
            "regarding": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME, "namespace": NAMESPACE},
        },
    )
    legacy = core.read_namespaced_event("placed.1", NAMESPACE)
    expect(legacy.message == "placed on external1" and legacy.involved_object.name == NAME, "the Event through core/v1")
    expect(legacy.reporting_component == "dispatch.direktiv.io/agent", "reportingController is core's reportingComponent")
    # Paged lists are one snapshot (limit/continue, remainingItemCount); a change after the
    # first page does not show on the next.
    for index in range(3):
        core.create_namespaced_config_map(NAMESPACE, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"page-{index}", "labels": {"paged": "yes"}}, "data": {"v": "1"}})
    first = core.list_namespaced_config_map(NAMESPACE, limit=1)
    expect(first.metadata.remaining_item_count is not None and first.metadata.remaining_item_count >= 2, "remainingItemCount on a paged list")
    core.create_namespaced_config_map(NAMESPACE, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "zz-late"}, "data": {}})
    rest = core.list_namespaced_config_map(NAMESPACE, limit=100, _continue=first.metadata._continue)
    expect("zz-late" not in [item.metadata.name for item in rest.items], "a later object is not in the snapshot's next page")
    expect(rest.metadata.resource_version == first.metadata.resource_version, "every page has the first page's version")
    refused(lambda: core.list_namespaced_config_map(NAMESPACE, resource_version_match="Exact"), 422, "resourceVersionMatch is forbidden unless resourceVersion is provided")
    refused(lambda: core.list_namespaced_config_map(NAMESPACE, field_selector="spec.nodeName=x"), 400, "field label not supported")

    # A streaming list: the current objects, then the initial-events-end bookmark.
    stream = watch.Watch()
    initial = []
    ended = False
    for event in stream.stream(
        core.list_namespaced_config_map,
        NAMESPACE,
        label_selector="paged=yes",
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        timeout_seconds=10,
    ):
        if event["type"] == "ADDED":
            initial.append(event["object"].metadata.name)
        elif event["type"] == "BOOKMARK":
            # The client hands bookmarks over undecoded.
            bookmark = event["object"]
            metadata = bookmark.get("metadata", {}) if isinstance(bookmark, dict) else bookmark.metadata.to_dict()
            annotations = metadata.get("annotations") or {}
            ended = annotations.get("k8s.io/initial-events-end") == "true"
            stream.stop()
    expect(ended and sorted(initial) == ["page-0", "page-1", "page-2"], f"initial events then their bookmark, got {initial}")
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
