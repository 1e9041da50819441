import KubeModels
import Synchronization

/// The resource types KubeSim serves right now: the built-in kinds plus every served version of
/// every stored CustomResourceDefinition.
///
/// The store stays the only source of truth: each request reads the CRDs from it, and a
/// definition is parsed again only when its `resourceVersion` changed.
final class CustomResourceRegistry: Sendable {
    /// A custom resource type as served: its definition and the version the request named.
    struct Served: Sendable {
        var definition: CustomResourceDefinition
        var version: CustomResourceDefinition.Version

        var schema: StructuralSchema { version.schema }
    }

    /// What one request sees.
    struct Snapshot: Sendable {
        var types: [ResourceType]
        var custom: [ResourceType: Served]
    }

    private let parsed = Mutex<[String: (resourceVersion: String, definition: CustomResourceDefinition)]>([:])

    func snapshot(_ store: ObjectStore) -> Snapshot {
        let stored = (try? store.list(.customResourceDefinitions).items) ?? []
        let definitions: [CustomResourceDefinition] = parsed.withLock { cache in
            var current: [String: (resourceVersion: String, definition: CustomResourceDefinition)] = [:]
            for object in stored {
                guard let name = object[path: "metadata", "name"]?.stringValue else { continue }
                let version = object[path: "metadata", "resourceVersion"]?.stringValue ?? ""
                if let cached = cache[name], cached.resourceVersion == version {
                    current[name] = cached
                } else if let definition = try? CustomResourceDefinition(object) {
                    current[name] = (version, definition)
                }
            }
            cache = current
            return current.keys.sorted().compactMap { current[$0]?.definition }
        }
        var types = ResourceType.builtIn
        var custom: [ResourceType: Served] = [:]
        for definition in definitions {
            for version in definition.versions where version.served {
                let type = definition.resourceType(version)
                // A definition never shadows a built-in kind.
                guard !types.contains(where: { $0.group == type.group && $0.version == type.version && $0.plural == type.plural }) else { continue }
                types.append(type)
                custom[type] = Served(definition: definition, version: version)
            }
        }
        return Snapshot(types: types, custom: custom)
    }
}
