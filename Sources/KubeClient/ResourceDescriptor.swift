import Foundation

/// Identifies a Kubernetes resource type for building request paths.
public struct ResourceDescriptor: Sendable, Hashable, CustomStringConvertible {
    /// The API group; empty for the core group.
    public var group: String
    public var version: String
    /// The plural resource name used in paths (`pods`, `services`).
    public var resource: String
    public var kind: String
    public var isNamespaced: Bool

    public init(group: String, version: String, resource: String, kind: String, isNamespaced: Bool) {
        self.group = group
        self.version = version
        self.resource = resource
        self.kind = kind
        self.isNamespaced = isNamespaced
    }

    /// `v1` or `apps/v1`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    /// `/api/v1` or `/apis/apps/v1`.
    public var groupVersionPath: String { group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)" }

    /// The path of the collection (in `namespace` when namespaced and given) or of one object.
    public func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var path = groupVersionPath
        if isNamespaced, let namespace { path += "/namespaces/\(Self.escape(namespace))" }
        path += "/\(resource)"
        if let name { path += "/\(Self.escape(name))" }
        if let subresource { path += "/\(subresource)" }
        return path
    }

    private static func escape(_ segment: String) -> String {
        segment.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(["/"])) ?? segment
    }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }

    public static let nodes = ResourceDescriptor(group: "", version: "v1", resource: "nodes", kind: "Node", isNamespaced: false)
    public static let pods = ResourceDescriptor(group: "", version: "v1", resource: "pods", kind: "Pod", isNamespaced: true)
    public static let namespaces = ResourceDescriptor(group: "", version: "v1", resource: "namespaces", kind: "Namespace", isNamespaced: false)
    public static let configMaps = ResourceDescriptor(group: "", version: "v1", resource: "configmaps", kind: "ConfigMap", isNamespaced: true)
    public static let secrets = ResourceDescriptor(group: "", version: "v1", resource: "secrets", kind: "Secret", isNamespaced: true)
    public static let events = ResourceDescriptor(group: "", version: "v1", resource: "events", kind: "Event", isNamespaced: true)
    public static let deployments = ResourceDescriptor(group: "apps", version: "v1", resource: "deployments", kind: "Deployment", isNamespaced: true)
    public static let leases = ResourceDescriptor(
        group: "coordination.k8s.io", version: "v1", resource: "leases", kind: "Lease", isNamespaced: true)
    public static let knativeServices = ResourceDescriptor(
        group: "serving.knative.dev", version: "v1", resource: "services", kind: "Service", isNamespaced: true)
    /// direktiv-dispatch's own record of each placement (charts/direktiv-dispatch/files/crds).
    public static let functionPlacements = ResourceDescriptor(
        group: "dispatch.direktiv.io", version: "v1alpha1", resource: "functionplacements", kind: "FunctionPlacement", isNamespaced: true)
    public static let mutatingWebhookConfigurations = ResourceDescriptor(
        group: "admissionregistration.k8s.io", version: "v1", resource: "mutatingwebhookconfigurations", kind: "MutatingWebhookConfiguration",
        isNamespaced: false)
    public static let services = ResourceDescriptor(group: "", version: "v1", resource: "services", kind: "Service", isNamespaced: true)
    /// Liqo 1.x: which namespaces are offloaded, where (offloading.liqo.io).
    public static let namespaceOffloadings = ResourceDescriptor(
        group: "offloading.liqo.io", version: "v1beta1", resource: "namespaceoffloadings", kind: "NamespaceOffloading", isNamespaced: true)
    /// Liqo 1.x: per-user limits on what runs on virtual nodes, with their enforcement.
    public static let liqoQuotas = ResourceDescriptor(
        group: "offloading.liqo.io", version: "v1beta1", resource: "quotas", kind: "Quota", isNamespaced: true)
    /// Liqo 1.x: one per peer, with the state of each module of the peering.
    public static let foreignClusters = ResourceDescriptor(
        group: "core.liqo.io", version: "v1beta1", resource: "foreignclusters", kind: "ForeignCluster", isNamespaced: false)
}
