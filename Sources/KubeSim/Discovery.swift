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

    static func groupVersions(_ group: String, types: [ResourceType] = ResourceType.all) -> [String] {
        Array(Set(types.filter { $0.group == group }.map(\.version))).sorted()
    }

    static func groupDocument(_ group: String) -> JSONValue {
        let versions = groupVersions(group)
        let entries: [JSONValue] = versions.map { ["groupVersion": .string("\(group)/\($0)"), "version": .string($0)] }
        return ["name": .string(group), "versions": .array(entries), "preferredVersion": entries.first ?? [:]]
    }

    static func groups(types: [ResourceType] = ResourceType.all) -> JSONValue {
        let names = Array(Set(types.map(\.group).filter { !$0.isEmpty })).sorted()
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(names.map(groupDocument))]
    }

    static func group(_ group: String) -> JSONValue {
        groupDocument(group).setting("kind", "APIGroup").setting("apiVersion", "v1")
    }

    static func resourceList(group: String, version: String, types: [ResourceType] = ResourceType.all) -> JSONValue {
        var resources: [JSONValue] = []
        for type in types where type.group == group && type.version == version {
            var entry: [String: JSONValue] = [
                "name": .string(type.plural), "singularName": .string(type.singular), "namespaced": .bool(type.namespaced),
                "kind": .string(type.kind), "verbs": .array(ResourceType.verbs.map { .string($0) }),
            ]
            if !type.shortNames.isEmpty { entry["shortNames"] = .array(type.shortNames.map { .string($0) }) }
            if !type.categories.isEmpty { entry["categories"] = .array(type.categories.map { .string($0) }) }
            resources.append(.object(entry))
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
