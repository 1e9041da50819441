import Foundation
import KubeModels

/// Starting states for the simulated cluster.
public enum Scenario: String, Sendable, CaseIterable {
    /// Namespaces only.
    case empty
    /// The seed setup: cluster `main` with two local nodes, `external1` and `external2` as Liqo
    /// virtual nodes, Direktiv's functions namespace, and a few running pods; and the rest of the
    /// setup as the operations guide prescribes it (``applySetup(to:)``): both NamespaceOffloadings
    /// Ready, a ForeignCluster and a Connection per peer, Direktiv's engine Deployment with its
    /// proxy variables, the API server's Service. `direktiv-dispatch doctor` passes on it.
    case seed

    public static let functionsNamespace = "direktiv-services-direktiv"

    /// Creates the scenario's objects in `store`.
    public func apply(to store: ObjectStore) throws {
        for namespace in ["default", "kube-system", "direktiv", Self.functionsNamespace, "knative-serving", "direktiv-dispatch", "liqo"] {
            _ = try store.create(
                [
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": ["name": .string(namespace), "labels": ["kubernetes.io/metadata.name": .string(namespace)]],
                    "status": ["phase": "Active"],
                ], .namespaces, namespace: nil)
        }
        guard self == .seed else { return }
        // Knative as Direktiv installs it, with the features the agent's patch needs.
        _ = try store.create(
            [
                "apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": "config-features", "namespace": "knative-serving"],
                "data": ["kubernetes.podspec-affinity": "enabled", "kubernetes.podspec-tolerations": "enabled", "multi-container": "enabled"],
            ],
            .configMaps, namespace: "knative-serving")
        for node in Self.seedNodes { _ = try store.create(node, .nodes, namespace: nil) }
        try Self.applySetup(to: store)
        for pod in Self.seedPods {
            let node = Self.seedNodes.first { $0[path: "metadata", "name"] == pod[path: "spec", "nodeName"] }
            let running = pod.setting("status", Pods.runningStatus(pod, node: node, now: Date()))
            _ = try store.create(running, .pods, namespace: pod[path: "metadata", "namespace"]?.stringValue)
        }
    }

    /// The Liqo remote cluster IDs of the seed's virtual nodes.
    public static let remoteClusterIDs = ["external1": "3f2a6c1e-8d4b-4c2e-9a51-7b0e2d9c4f10", "external2": "a91d7e52-1c3f-4e8a-b6d2-5f4c8e1a2b37"]

    static var seedNodes: [JSONValue] {
        [
            node("main-1", cluster: "main", cpu: "4", memory: "16Gi"),
            node("main-2", cluster: "main", cpu: "4", memory: "16Gi"),
            node("liqo-external1", cluster: "external1", cpu: "8", memory: "32Gi", remoteID: remoteClusterIDs["external1"]),
            node("liqo-external2", cluster: "external2", cpu: "4", memory: "8Gi", remoteID: remoteClusterIDs["external2"]),
        ]
    }

    /// A node as a kubelet (or Liqo's virtual kubelet) reports it.
    public static func node(_ name: String, cluster: String, cpu: String, memory: String, remoteID: String? = nil) -> JSONValue {
        var labels: [String: JSONValue] = [
            "kubernetes.io/hostname": .string(name), "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
            "direktiv.io/namespace": .string(cluster),
        ]
        var spec: [String: JSONValue] = [:]
        if let remoteID {
            labels["liqo.io/type"] = "virtual-node"
            labels["liqo.io/remote-cluster-id"] = .string(remoteID)
            spec["taints"] = [["key": "virtual-node.liqo.io/not-allowed", "value": "true", "effect": "NoExecute"]]
        } else {
            labels["node-role.kubernetes.io/worker"] = ""
        }
        let resources: JSONValue = ["cpu": .string(cpu), "memory": .string(memory), "pods": "110", "ephemeral-storage": "102400Mi"]
        return [
            "apiVersion": "v1", "kind": "Node",
            "metadata": ["name": .string(name), "labels": .object(labels)],
            "spec": .object(spec),
            "status": [
                "capacity": resources, "allocatable": resources,
                "conditions": [
                    ["type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory"],
                    ["type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"],
                    ["type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID"],
                    ["type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"],
                ],
                "addresses": [
                    ["type": "InternalIP", "address": .string(Pods.address("10.0", name))], ["type": "Hostname", "address": .string(name)],
                ],
                "daemonEndpoints": ["kubeletEndpoint": ["Port": 10250]],
                "nodeInfo": [
                    "kubeletVersion": remoteID == nil ? "v1.32.0" : "v1.32.0-liqo", "kubeProxyVersion": "", "operatingSystem": "linux",
                    "architecture": "amd64", "osImage": remoteID == nil ? "Debian GNU/Linux 12 (bookworm)" : "Liqo virtual node",
                    "kernelVersion": "6.1.0-28-amd64", "containerRuntimeVersion": "containerd://1.7.24",
                    "machineID": .string(Pods.digest("machine/\(name)", length: 32)),
                    "systemUUID": .string(Pods.digest("system/\(name)", length: 32)),
                    "bootID": .string(Pods.digest("boot/\(name)", length: 32)),
                ],
            ],
        ]
    }

    static var seedPods: [JSONValue] {
        [
            pod("direktiv", "direktiv-api-7c8d9e6f5-q9w7e", node: "main-2", labels: ["app": "direktiv-api"], containers: [("api", "250m", "512Mi")]),
            pod(
                "kube-system", "coredns-5d78c9869d-4m2nb", node: "main-1", labels: ["k8s-app": "kube-dns"], containers: [("coredns", "100m", "70Mi")]),
            pod(
                functionsNamespace, "external1-greeter-00001-deployment-5b7d9c-h2j4k", node: "liqo-external1", tolerations: [Self.liqoToleration],
                labels: ["serving.knative.dev/service": "external1-greeter-3b1f0c9a2d", "app": "external1-greeter-00001"],
                containers: [("direktiv-container", "100m", "64M"), ("direktiv-sidecar", nil, nil), ("queue-proxy", "25m", nil)]),
            pod(
                functionsNamespace, "external2-resize-00001-deployment-8f6a2b-p5r6t", node: "liqo-external2", tolerations: [Self.liqoToleration],
                labels: ["serving.knative.dev/service": "external2-resize-9c8e7d6b5a", "app": "external2-resize-00001"],
                containers: [("direktiv-container", "1", "2Gi"), ("direktiv-sidecar", nil, nil), ("queue-proxy", "25m", nil)]),
        ]
    }

    /// What every pod offloaded to a Liqo virtual node carries (the agent's patch adds it too):
    /// without it the taint eviction controller would evict it from the virtual node at once.
    static let liqoToleration: JSONValue = ["key": "virtual-node.liqo.io/not-allowed", "operator": "Exists", "effect": "NoExecute"]

    static func pod(
        _ namespace: String, _ name: String, node: String, tolerations: [JSONValue] = [], labels: [String: String],
        containers: [(String, String?, String?)]
    ) -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Pod",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .object(labels.mapValues(JSONValue.string))],
            "spec": [
                "nodeName": .string(node),
                "tolerations": .array(tolerations),
                "containers": .array(
                    containers.map { name, cpu, memory in
                        var requests: [String: JSONValue] = [:]
                        if let cpu { requests["cpu"] = .string(cpu) }
                        if let memory { requests["memory"] = .string(memory) }
                        return ["name": .string(name), "image": .string("registry.example/\(name)"), "resources": ["requests": .object(requests)]]
                    }),
            ],
        ]
    }
}
