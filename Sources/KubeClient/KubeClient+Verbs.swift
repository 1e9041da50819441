import KubeModels
import Logging
import NIOCore
import NIOHTTP1

extension KubeClient {
    /// Reads one object.
    public func get<T: Decodable>(_ type: T.Type, _ resource: ResourceDescriptor, name: String, namespace: String? = nil) async throws -> T {
        let body = try await perform(Request(method: .GET, path: resource.path(namespace: namespace, name: name)))
        return try Self.decode(T.self, from: body, what: "\(resource) \(name)")
    }

    /// Lists one page of objects (all of them when `options.limit` is nil).
    public func list<T: Decodable>(
        _ type: T.Type, _ resource: ResourceDescriptor, namespace: String? = nil, options: ListOptions = ListOptions()
    ) async throws -> KubeList<T> {
        let body = try await perform(Request(method: .GET, path: resource.path(namespace: namespace), query: options.queryItems))
        return try Self.decode(KubeList<T>.self, from: body, what: "\(resource) list")
    }

    /// Lists every object, page by page, and returns them with the list's resource version.
    public func listAll<T: Decodable & Sendable>(
        _ type: T.Type,
        _ resource: ResourceDescriptor,
        namespace: String? = nil,
        options: ListOptions = ListOptions(),
        pageSize: Int = 500
    ) async throws -> (items: [T], resourceVersion: String) {
        var items: [T] = []
        var options = options
        options.limit = pageSize
        while true {
            let page = try await list(T.self, resource, namespace: namespace, options: options)
            items.append(contentsOf: page.items)
            guard let token = page.metadata?.continue, !token.isEmpty else {
                return (items, page.metadata?.resourceVersion ?? "")
            }
            options.continueToken = token
            // Later pages must not repeat a resource version: the continue token carries it.
            options.resourceVersion = nil
        }
    }

    /// Creates an object and returns it as stored.
    public func create<T: Codable>(
        _ object: T, _ resource: ResourceDescriptor, namespace: String? = nil, fieldManager: String? = nil, dryRun: Bool = false
    ) async throws -> T {
        var query: [(String, String)] = []
        if let fieldManager { query.append(("fieldManager", fieldManager)) }
        if dryRun { query.append(("dryRun", "All")) }
        let body = try await perform(Request(method: .POST, path: resource.path(namespace: namespace), query: query, body: try Self.encode(object)))
        return try Self.decode(T.self, from: body, what: "created \(resource)")
    }

    /// Replaces an object (PUT); its `metadata.resourceVersion` makes the write conditional.
    public func update<T: Codable>(
        _ object: T, _ resource: ResourceDescriptor, name: String, namespace: String? = nil, subresource: String? = nil
    ) async throws -> T {
        let body = try await perform(
            Request(method: .PUT, path: resource.path(namespace: namespace, name: name, subresource: subresource), body: try Self.encode(object)))
        return try Self.decode(T.self, from: body, what: "updated \(resource) \(name)")
    }

    /// Patches an object with a merge patch, a JSON patch or server-side apply.
    public func patch<T: Decodable>(
        _ type: T.Type,
        _ resource: ResourceDescriptor,
        name: String,
        namespace: String? = nil,
        patch: Patch,
        subresource: String? = nil
    ) async throws -> T {
        var query: [(String, String)] = []
        let payload: ByteBuffer
        switch patch {
        case .merge(let value): payload = try Self.encode(value)
        case .json(let operations): payload = try Self.encode(operations)
        case .apply(let document, let fieldManager, let force):
            payload = ByteBuffer(string: document)
            query.append(("fieldManager", fieldManager))
            if force { query.append(("force", "true")) }
        }
        let body = try await perform(
            Request(
                method: .PATCH, path: resource.path(namespace: namespace, name: name, subresource: subresource), query: query, body: payload,
                contentType: patch.contentType)
        )
        return try Self.decode(T.self, from: body, what: "patched \(resource) \(name)")
    }

    /// Deletes an object; returns what the server answered (the object or a `Status`).
    @discardableResult
    public func delete(
        _ resource: ResourceDescriptor, name: String, namespace: String? = nil, options: DeleteOptions = DeleteOptions()
    ) async throws -> JSONValue {
        let body = try await perform(Request(method: .DELETE, path: resource.path(namespace: namespace, name: name), body: try Self.encode(options)))
        return try Self.decode(JSONValue.self, from: body, what: "deleted \(resource) \(name)")
    }

    /// Reads, changes and writes an object, reading again and retrying when the write conflicts.
    ///
    /// - Parameter attempts: writes tried before the last conflict is thrown.
    public func updateRetryingOnConflict<T: KubeObject>(
        _ type: T.Type,
        _ resource: ResourceDescriptor,
        name: String,
        namespace: String? = nil,
        attempts: Int = 5,
        change: (inout T) throws -> Void
    ) async throws -> T {
        var attempt = 0
        while true {
            attempt += 1
            var object = try await get(T.self, resource, name: name, namespace: namespace)
            try change(&object)
            do {
                return try await update(object, resource, name: name, namespace: namespace)
            } catch let error as KubeAPIError where error.isConflict && attempt < attempts {
                logger.debug("conflict updating \(resource) \(name), reading again", metadata: ["attempt": "\(attempt)"])
            }
        }
    }
}
