import Foundation
import KubeModels

/// The rest of the seed setup, done as the operations guide prescribes: what `direktiv-dispatch
/// doctor` checks, present and right.
extension Scenario {
    /// The agent's proxy as Direktiv's engine is told it (the chart's proxy Service).
    public static let engineProxyURL = "http://direktiv-dispatch-proxy.direktiv-dispatch.svc:8080"
    /// The API server's ClusterIP (Service `default/kubernetes`).
    public static let apiServerClusterIP = "10.96.0.1"
    /// The round trip to each peer that its Liqo Connection reports, as FunctionServers delays answers.
    public static let peerLatency = ["external1": "15ms", "external2": "40ms"]

    /// `default/kubernetes`, which kube-apiserver keeps in every cluster.
    static func apiServerService() -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Service", "metadata": ["name": "kubernetes", "namespace": "default", "labels": ["component": "apiserver"]],
            "spec": [
                "type": "ClusterIP", "clusterIP": .string(apiServerClusterIP), "clusterIPs": [.string(apiServerClusterIP)],
                "ports": [["name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443]], "sessionAffinity": "None",
            ],
        ]
    }

    /// The two NamespaceOffloadings of the seed document: Direktiv's namespace reflected under its
    /// own name with its pods kept home; the functions namespace offloaded to every virtual node.
    static var namespaceOffloadings: [JSONValue] {
        [
            [
                "apiVersion": "offloading.liqo.io/v1beta1", "kind": "NamespaceOffloading",
                "metadata": ["name": "offloading", "namespace": "direktiv"],
                "spec": ["namespaceMappingStrategy": "EnforceSameName", "podOffloadingStrategy": "Local"],
                "status": ["offloadingPhase": "Ready", "remoteNamespaceName": "direktiv", "observedGeneration": 1],
            ],
            [
                "apiVersion": "offloading.liqo.io/v1beta1", "kind": "NamespaceOffloading",
                "metadata": ["name": "offloading", "namespace": .string(functionsNamespace)],
                "spec": [
                    "namespaceMappingStrategy": "DefaultName", "podOffloadingStrategy": "LocalAndRemote",
                    "clusterSelector": [
                        "nodeSelectorTerms": [["matchExpressions": [["key": "liqo.io/type", "operator": "In", "values": ["virtual-node"]]]]]
                    ],
                ],
                "status": ["offloadingPhase": "Ready", "remoteNamespaceName": .string("\(functionsNamespace)-main"), "observedGeneration": 1],
            ],
        ]
    }

    /// A peered provider as Liqo 1.x reports it: every module enabled and established.
    static func foreignCluster(_ cluster: String, id: String) -> JSONValue {
        let now = JSONValue.string(ObjectStore.timestamp())
        func condition(_ type: String, _ status: String) -> JSONValue {
            ["type": .string(type), "status": .string(status), "lastTransitionTime": now, "reason": .string(status), "message": ""]
        }
        return [
            "apiVersion": "core.liqo.io/v1beta1", "kind": "ForeignCluster",
            "metadata": ["name": .string(id), "labels": ["liqo.io/remote-cluster-id": .string(id)]],
            "spec": ["clusterID": .string(id)],
            "status": [
                "role": "Provider",
                "apiServerUrl": .string("https://\(cluster).example:6443"),
                "tenantNamespace": ["local": .string("liqo-tenant-\(id)"), "remote": "liqo-tenant-main"],
                "conditions": [condition("APIServerStatus", "Ready")],
                "modules": [
                    "networking": [
                        "enabled": true,
                        "conditions": [
                            condition("NetworkConnectionStatus", "Established"), condition("NetworkGatewayPresence", "Established"),
                            condition("NetworkConfigurationStatus", "Established"),
                        ],
                    ],
                    "authentication": [
                        "enabled": true,
                        "conditions": [condition("AuthIdentityControlPlaneStatus", "Established"), condition("AuthTenantStatus", "Established")],
                    ],
                    "offloading": [
                        "enabled": true,
                        "conditions": [condition("OffloadingVirtualNodeStatus", "Ready"), condition("OffloadingNodeStatus", "Ready")],
                    ],
                ],
            ],
        ]
    }

    /// The gateway connection to a peer, with the round trip Liqo measured.
    static func connection(_ cluster: String, id: String) -> JSONValue {
        let namespace = "liqo-tenant-\(id)"
        return [
            "apiVersion": "networking.liqo.io/v1beta1", "kind": "Connection",
            "metadata": ["name": .string("gw-\(cluster)"), "namespace": .string(namespace), "labels": ["liqo.io/remote-cluster-id": .string(id)]],
            "spec": [
                "type": "Client",
                "gatewayRef": [
                    "apiVersion": "networking.liqo.io/v1beta1", "kind": "GatewayClient", "name": .string("gw-\(cluster)"),
                    "namespace": .string(namespace),
                ],
            ],
            "status": [
                "value": "Connected", "latency": ["value": .string(peerLatency[cluster] ?? "1ms"), "timestamp": .string(ObjectStore.timestamp())],
            ],
        ]
    }

    /// Direktiv's engine with the proxy variables the operations guide prescribes.
    static var engineDeployment: JSONValue {
        let noProxy =
            "localhost,127.0.0.1,\(apiServerClusterIP),kubernetes.default.svc,kubernetes.default.svc.cluster.local,direktiv,direktiv.svc,direktiv.svc.cluster.local,postgres-postgresql-ha-pgpool.postgres"
        let labels: JSONValue = ["app": "direktiv-flow"]
        return [
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": "direktiv-flow", "namespace": "direktiv", "labels": labels],
            "spec": [
                "replicas": 1, "selector": ["matchLabels": labels],
                "template": [
                    "metadata": ["labels": labels],
                    "spec": [
                        "containers": [
                            [
                                "name": "flow", "image": "registry.example/flow",
                                "resources": ["requests": ["cpu": "500m", "memory": "1Gi"]],
                                "env": [
                                    ["name": "HTTP_PROXY", "value": .string(engineProxyURL)],
                                    ["name": "http_proxy", "value": .string(engineProxyURL)],
                                    ["name": "NO_PROXY", "value": .string(noProxy)], ["name": "no_proxy", "value": .string(noProxy)],
                                ],
                            ]
                        ]
                    ],
                ],
            ],
        ]
    }

    /// Creates the engine's Deployment, its ReplicaSet and its one pod, linked as the controllers
    /// link them, so they adopt the seed's pod instead of starting a second engine.
    static func applyEngine(to store: ObjectStore, node: JSONValue?) throws {
        let deployment = try store.create(engineDeployment, .deployments, namespace: "direktiv")
        let template = deployment[path: "spec", "template"] ?? [:]
        let hash = DeploymentController.templateHash(template)
        let labels = (template[path: "metadata", "labels"] ?? [:]).setting(DeploymentController.hashLabel, .string(hash))
        let set = try store.create(
            [
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": [
                    "name": .string("direktiv-flow-\(hash)"), "namespace": "direktiv", "labels": labels,
                    "annotations": [.init(stringLiteral: DeploymentController.revisionAnnotation): "1"],
                    "ownerReferences": [OwnerReference.controller(deployment, kind: "Deployment", apiVersion: "apps/v1")],
                ],
                "spec": [
                    "replicas": 1, "selector": ["matchLabels": labels],
                    "template": template.setting("metadata", (template["metadata"] ?? [:]).setting("labels", labels)),
                ],
            ], .replicaSets, namespace: "direktiv")
        var pod = Pods.make(name: "direktiv-flow-6d9c7b5f4-x2k8p", namespace: "direktiv", template: set[path: "spec", "template"] ?? [:], labels: [:])
        pod = pod.setting(path: ["metadata", "ownerReferences"], [OwnerReference.controller(set, kind: "ReplicaSet", apiVersion: "apps/v1")])
            .setting(path: ["spec", "nodeName"], .string("main-1"))
        _ = try store.create(pod.setting("status", Pods.runningStatus(pod, node: node, now: Date())), .pods, namespace: "direktiv")
    }

    /// The type KubeSim serves for one of its bundled CRDs (Liqo's), as installing it made it.
    public static func bundledType(_ definitionName: String) throws -> ResourceType {
        guard let object = KubeSim.bundledDefinitions.first(where: { $0[path: "metadata", "name"]?.stringValue == definitionName }) else {
            throw Status.failure(500, .internalError, "the bundled definition \(definitionName) is missing")
        }
        let definition = try CustomResourceDefinition(object)
        guard let version = definition.versions.first(where: \.storage) ?? definition.versions.first else {
            throw Status.failure(500, .internalError, "the bundled definition \(definitionName) has no version")
        }
        return definition.resourceType(version)
    }

    /// Everything of the seed setup beyond nodes and pods.
    static func applySetup(to store: ObjectStore) throws {
        _ = try store.create(apiServerService(), .services, namespace: "default")
        let offloadings = try bundledType("namespaceoffloadings.offloading.liqo.io")
        let foreignClusters = try bundledType("foreignclusters.core.liqo.io")
        let connections = try bundledType("connections.networking.liqo.io")
        for object in namespaceOffloadings {
            _ = try store.create(object, offloadings, namespace: object[path: "metadata", "namespace"]?.stringValue)
        }
        for (cluster, id) in remoteClusterIDs.sorted(by: { $0.key < $1.key }) {
            _ = try store.create(foreignCluster(cluster, id: id), foreignClusters, namespace: nil)
            let namespace = "liqo-tenant-\(id)"
            _ = try store.create(
                [
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": ["name": .string(namespace), "labels": ["kubernetes.io/metadata.name": .string(namespace)]],
                    "status": ["phase": "Active"],
                ], .namespaces, namespace: nil)
            _ = try store.create(connection(cluster, id: id), connections, namespace: namespace)
        }
        try applyEngine(to: store, node: seedNodes.first { $0[path: "metadata", "name"] == "main-1" })
    }
}
