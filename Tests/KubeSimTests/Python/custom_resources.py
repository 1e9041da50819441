"""KubeSim's custom resources through the official Kubernetes Python client.

Run by PythonClientTests with a kubeconfig for a running KubeSim and a CRD (JSON). Every check
stands for what kube-apiserver 1.32 does; the client's own models must be able to read every
answer (its generated classes refuse objects that lack fields the API always sets).
Exits non-zero with a message on the first difference.
"""

import json
import sys

from kubernetes import client, config
from kubernetes.client.rest import ApiException

GROUP = "dispatch.example.io"
VERSION = "v1alpha1"
PLURAL = "placements"
NAMESPACE = "direktiv-services-direktiv"


def expect(condition, message):
    if not condition:
        raise SystemExit("FAILED: " + message)


def refused(call, status):
    try:
        call()
    except ApiException as error:
        expect(error.status == status, f"expected {status}, got {error.status}: {error.body}")
        return json.loads(error.body)
    raise SystemExit(f"FAILED: expected {status}, the request was accepted")


def placement(name, **spec):
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Placement", "metadata": {"name": name}, "spec": spec}


def main(kubeconfig, definition_path):
    config.load_kube_config(config_file=kubeconfig)
    extensions = client.ApiextensionsV1Api()
    custom = client.CustomObjectsApi()

    # Knative's and Liqo's definitions are installed, and the typed models read them whole.
    installed = {crd.metadata.name for crd in extensions.list_custom_resource_definition().items}
    for name in [
        "services.serving.knative.dev",
        "namespaceoffloadings.offloading.liqo.io",
        "foreignclusters.core.liqo.io",
        "connections.networking.liqo.io",
        "resourceslices.authentication.liqo.io",
    ]:
        expect(name in installed, f"{name} is not installed: {sorted(installed)}")

    with open(definition_path) as file:
        definition = json.load(file)
    created = extensions.create_custom_resource_definition(body=definition)
    expect(created.status.accepted_names.kind == "Placement", f"accepted names: {created.status.accepted_names}")
    read = extensions.read_custom_resource_definition(f"{PLURAL}.{GROUP}")
    established = [c for c in read.status.conditions if c.type == "Established"]
    expect(established and established[0].status == "True", f"conditions: {read.status.conditions}")
    expect(read.spec.conversion.strategy == "None", "conversion strategy defaulted to None")

    # Defaulting and pruning.
    stored = custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, placement("fn", cluster="external1", typo=1))
    expect(stored["spec"].get("outcome") == "placed", f"default not applied: {stored['spec']}")
    expect("typo" not in stored["spec"], f"unknown field kept: {stored['spec']}")

    # Schema violations are 422 Invalid with a cause per field.
    body = refused(
        lambda: custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, placement("bad", cluster=3)), 422
    )
    expect(body["reason"] == "Invalid", f"reason: {body}")
    expect(body["details"]["causes"][0]["field"] == "spec.cluster", f"causes: {body['details']}")
    refused(lambda: custom.create_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, placement("bad")), 422)
    refused(lambda: custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "bad"), 404)

    # The status subresource: status only through /status, generation bumped by spec only.
    status = custom.patch_namespaced_custom_object_status(
        GROUP, VERSION, NAMESPACE, PLURAL, "fn", {"status": {"reason": "least loaded", "conditions": [{"type": "Ready", "status": "True"}]}}
    )
    expect(status["status"]["reason"] == "least loaded", f"status: {status.get('status')}")
    expect(status["metadata"]["generation"] == 1, "a status write bumped generation")
    patched = custom.patch_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "fn", {"spec": {"cluster": "external2"}, "status": {"reason": "ignored"}})
    expect(patched["metadata"]["generation"] == 2, "a spec write did not bump generation")
    expect(patched["status"]["reason"] == "least loaded", "status changed through the main resource")

    # Deleting the definition removes its objects and stops serving them.
    extensions.delete_custom_resource_definition(f"{PLURAL}.{GROUP}")
    refused(lambda: custom.get_namespaced_custom_object(GROUP, VERSION, NAMESPACE, PLURAL, "fn"), 404)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
