import KubeModels

/// The discovery documents kubectl reads to learn which resources exist.
enum Discovery {
    static let version: JSONValue = [
        "major": "1", "minor": "32", "gitVersion": "v1.32.0-kubesim", "gitCommit": "kubesim", "gitTreeState": "clean",
        "buildDate": "2026-11-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc", "platform": "linux/amd64",
    ]

    static func coreVersions(serverAddress: String?) -> JSONValue {
        [
            "kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress ?? "127.0.0.1:443")]],
        ]
    }

    /// A group's versions, the preferred first: by Kubernetes' version priority (GA before beta
    /// before alpha, higher numbers first), as the API server orders a CRD's versions.
    static func groupVersions(_ group: String, types: [ResourceType]) -> [String] {
        Array(Set(types.filter { $0.group == group }.map(\.version))).sorted { priority($0) > priority($1) }
    }

    /// `v2` > `v1` > `v1beta2` > `v1beta1` > `v1alpha1` > other names (by name, reversed).
    static func priority(_ version: String) -> (Int, Int, Int, String) {
        let scalars = Array(version.unicodeScalars)
        guard scalars.first == "v" else { return (0, 0, 0, String(version.reversed())) }
        let major = scalars.dropFirst().prefix { $0.properties.numericType != nil && $0.isASCII }
        guard let majorValue = Int(String(String.UnicodeScalarView(major))) else { return (0, 0, 0, String(version.reversed())) }
        let rest = String(String.UnicodeScalarView(scalars.dropFirst(1 + major.count)))
        if rest.isEmpty { return (3, majorValue, 0, "") }
        for (stage, level) in [("beta", 2), ("alpha", 1)] where rest.hasPrefix(stage) {
            if let minor = Int(rest.dropFirst(stage.count)) { return (level, majorValue, minor, "") }
        }
        return (0, 0, 0, String(version.reversed()))
    }

    static func groupDocument(_ group: String, types: [ResourceType]) -> JSONValue {
        let versions = groupVersions(group, types: types)
        let entries: [JSONValue] = versions.map { ["groupVersion": .string("\(group)/\($0)"), "version": .string($0)] }
        return ["name": .string(group), "versions": .array(entries), "preferredVersion": entries.first ?? [:]]
    }

    static func groups(types: [ResourceType]) -> JSONValue {
        let names = Array(Set(types.map(\.group).filter { !$0.isEmpty })).sorted()
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(names.map { groupDocument($0, types: types) })]
    }

    static func group(_ group: String, types: [ResourceType]) -> JSONValue {
        groupDocument(group, types: types).setting("kind", "APIGroup").setting("apiVersion", "v1")
    }

    static func resourceList(group: String, version: String, types: [ResourceType]) -> JSONValue {
        var resources: [JSONValue] = []
        for type in types where type.group == group && type.version == version {
            var entry: [String: JSONValue] = [
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind),
                "verbs": type == .selfSubjectAccessReviews ? ["create"] : .array(ResourceType.verbs.map { .string($0) }),
            ]
            if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map { .string($0) }) }
            if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map { .string($0) }) }
            resources.append(.object(entry))
            if type == .serviceAccounts {
                resources.append([
                    "name": "serviceaccounts/token", "singularName": "", "namespaced": true, "group": "authentication.k8s.io", "version": "v1",
                    "kind": "TokenRequest", "verbs": ["create"],
                ])
            }
            if type.hasStatusSubresource {
                resources.append([
                    "name": .string("\(type.plural)/status"), "singularName": "", "namespaced": .bool(type.namespaced), "kind": .string(type.kind),
                    "verbs": ["get", "patch", "update"],
                ])
            }
        }
        return [
            "kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(group.isEmpty ? version : "\(group)/\(version)"),
            "resources": .array(resources),
        ]
    }
}
