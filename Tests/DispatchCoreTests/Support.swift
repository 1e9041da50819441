import DispatchCore
import Foundation
import KubeModels

/// The repository root, for the example files the tests read.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func exampleData(_ path: String) throws -> Data {
    try Data(contentsOf: repositoryRoot.appendingPathComponent("examples").appendingPathComponent(path))
}

func exampleJSON(_ path: String) throws -> JSONValue {
    try JSONValue.parse(exampleData(path))
}

func exampleRules() throws -> Rules {
    try RulesParser.parse(String(decoding: try exampleData("rules.yaml"), as: UTF8.self))
}

func seedNodes() throws -> [Node] {
    try JSONDecoder().decode(KubeList<Node>.self, from: exampleData("seed-nodes.json")).items
}

func seedPods() throws -> [Pod] {
    try JSONDecoder().decode(KubeList<Pod>.self, from: exampleData("seed-pods.json")).items
}

func seedInventory(nodes transform: (inout [Node]) -> Void = { _ in }, extraPods: [Pod] = []) throws -> ClusterInventory {
    var nodes = try seedNodes()
    transform(&nodes)
    return ClusterInventory(
        nodes: nodes, pods: try seedPods() + extraPods, clusterLabel: "direktiv.io/namespace",
        toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])
}

func quantity(_ text: String) -> Quantity {
    try! Quantity(parsing: text)
}

/// A node as the API returns it: labels, allocatable, a Ready condition.
func makeNode(
    _ name: String,
    cluster: String?,
    cpu: String = "4",
    memory: String = "16Gi",
    ready: String = "True",
    virtual: Bool = false,
    unschedulable: Bool = false,
    taints: [Node.Taint] = []
) -> Node {
    var labels = ["kubernetes.io/hostname": name]
    if let cluster { labels["direktiv.io/namespace"] = cluster }
    if virtual {
        labels["liqo.io/type"] = "virtual-node"
        labels["liqo.io/remote-cluster-id"] = "remote-\(name)"
    }
    return Node(
        metadata: ObjectMeta(name: name, labels: labels),
        spec: Node.Spec(unschedulable: unschedulable, taints: taints),
        status: Node.Status(
            allocatable: ["cpu": quantity(cpu), "memory": quantity(memory), "pods": quantity("110")],
            conditions: [Condition(type: "Ready", status: ready, reason: ready == "True" ? "KubeletReady" : "KubeletNotReady")]
        )
    )
}

/// A bound pod with one container requesting `cpu` and `memory`.
func makePod(
    _ name: String, node: String?, cpu: String, memory: String, phase: String = "Running", namespace: String = "default",
    labels: [String: String] = [:]
) -> Pod {
    Pod(
        metadata: ObjectMeta(name: name, namespace: namespace, labels: labels),
        spec: Pod.Spec(
            nodeName: node,
            containers: [Pod.Container(name: "c", resources: ResourceRequirements(requests: ["cpu": quantity(cpu), "memory": quantity(memory)]))]),
        status: Pod.Status(phase: phase)
    )
}

extension Resources {
    static func cpu(_ cpu: String, memory: String) -> Resources {
        Resources(milliCPU: try! quantity(cpu).milliValue(), memoryBytes: try! quantity(memory).value())
    }
}
