// Synthetic clusters shared by the benchmarks: 10 nodes and 100 pods per cluster, every other
// cluster a Liqo virtual node cluster with the Liqo taint.
import DispatchCore
import Foundation
import KubeModels

public func clusterName(_ index: Int) -> String { "cluster-\(index)" }

public func makeNodesJSON(clusters: Int, nodesPerCluster: Int) -> [JSONValue] {
    var nodes: [JSONValue] = []
    for cluster in 0..<clusters {
        for node in 0..<nodesPerCluster {
            let virtual = cluster % 2 == 1
            var labels: [String: JSONValue] = [
                "direktiv.io/namespace": .string(clusterName(cluster)),
                "kubernetes.io/hostname": .string("node-\(cluster)-\(node)"),
                "kubernetes.io/os": "linux",
            ]
            if virtual {
                labels["liqo.io/type"] = "virtual-node"
                labels["liqo.io/remote-cluster-id"] = .string("remote-\(cluster)")
            }
            let taints: JSONValue = virtual ? [["key": "virtual-node.liqo.io/not-allowed", "value": "true", "effect": "NoExecute"]] : []
            nodes.append([
                "apiVersion": "v1", "kind": "Node",
                "metadata": [
                    "name": .string("node-\(cluster)-\(node)"), "uid": .string(UUID().uuidString.lowercased()), "resourceVersion": "1",
                    "labels": .object(labels),
                ],
                "spec": ["taints": taints],
                "status": [
                    "allocatable": ["cpu": .string("\(8 + cluster % 5)"), "memory": .string("\(32 + cluster % 7)Gi"), "pods": "110"],
                    "capacity": ["cpu": .string("\(8 + cluster % 5)"), "memory": .string("\(32 + cluster % 7)Gi"), "pods": "110"],
                    "conditions": [["type": "Ready", "status": "True", "reason": "KubeletReady"]],
                ],
            ])
        }
    }
    return nodes
}

public func makePodsJSON(clusters: Int, nodesPerCluster: Int, podsPerNode: Int) -> [JSONValue] {
    var pods: [JSONValue] = []
    pods.reserveCapacity(clusters * nodesPerCluster * podsPerNode)
    for cluster in 0..<clusters {
        for node in 0..<nodesPerCluster {
            for pod in 0..<podsPerNode {
                let name = "fn-\(cluster)-\(node)-\(pod)"
                pods.append([
                    "apiVersion": "v1", "kind": "Pod",
                    "metadata": [
                        "name": .string(name + "-deployment-7d9c5-x2k8p"), "namespace": "direktiv-services-direktiv",
                        "uid": .string(UUID().uuidString.lowercased()),
                        "resourceVersion": "2", "labels": ["serving.knative.dev/service": .string(name), "direktiv-app": "direktiv"],
                    ],
                    "spec": [
                        "nodeName": .string("node-\(cluster)-\(node)"),
                        "containers": [
                            [
                                "name": "direktiv-container", "image": "direktiv/greeting:v3",
                                "resources": [
                                    "requests": ["cpu": .string("\(50 + pod % 4 * 25)m"), "memory": "64M"],
                                    "limits": ["cpu": "500m", "memory": "1024M"],
                                ],
                            ],
                            [
                                "name": "direktiv-sidecar", "image": "direktiv/sidecar:v0.8.10",
                                "resources": ["requests": ["cpu": "10m", "memory": "32Mi"]],
                            ],
                        ],
                    ],
                    "status": ["phase": pod % 10 == 9 ? "Succeeded" : "Running"],
                ])
            }
        }
    }
    return pods
}

public func list(_ items: [JSONValue], kind: String) -> Data {
    try! JSONValue.object(["apiVersion": "v1", "kind": .string(kind), "metadata": ["resourceVersion": "100"], "items": .array(items)]).encoded()
}

public func inventory(clusters: Int) -> ClusterInventory {
    let nodes = try! JSONDecoder().decode(KubeList<Node>.self, from: list(makeNodesJSON(clusters: clusters, nodesPerCluster: 10), kind: "NodeList"))
        .items
    let pods = try! JSONDecoder().decode(
        KubeList<Pod>.self, from: list(makePodsJSON(clusters: clusters, nodesPerCluster: 10, podsPerNode: 10), kind: "PodList")
    ).items
    return ClusterInventory(nodes: nodes, pods: pods, clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])
}

/// Peak resident set size of this process, from /proc/self/status (VmHWM), in MiB.
public func peakRSSMiB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return -1 }
    let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
    return kilobytes / 1024
}
