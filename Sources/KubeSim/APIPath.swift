/// What a request path addresses in the Kubernetes API.
enum APIPath: Equatable {
    case version
    case health
    /// `/api`
    case coreVersions
    /// `/apis`
    case groups
    /// `/apis/<group>`
    case group(String)
    /// `/api/v1` or `/apis/<group>/<version>`
    case resourceList(group: String, version: String)
    /// `/openapi/v2`, `/openapi/v3` and below.
    case openAPI(String)
    /// A collection, an object or an object's subresource.
    case resource(ResourceType, namespace: String?, name: String?, subresource: String?)
    /// `/kubesim/v1/peers/<cluster>/<reachable|unreachable>`: Liqo peer loss and return.
    case peer(cluster: String, reachable: Bool)
    /// `/kubesim/v1/peers/<cluster>/latency?ms=N`: the simulated WAN to a peer.
    case peerLatency(cluster: String)
    /// A resource path for a group, version or resource this server does not serve.
    case unknownResource(String)
    case notFound

    /// Parses a request path against the served resource types.
    static func parse(_ path: String, types: [ResourceType]) -> APIPath {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map { String($0).removingPercentEncodingSafely() }
        switch parts.first {
        case "version": return parts.count == 1 ? .version : .notFound
        case "healthz", "livez", "readyz": return .health
        case "openapi": return .openAPI(parts.dropFirst().joined(separator: "/"))
        case "kubesim":
            guard parts.count == 5, parts[1] == "v1", parts[2] == "peers", ["reachable", "unreachable", "latency"].contains(parts[4]) else {
                return .notFound
            }
            if parts[4] == "latency" { return .peerLatency(cluster: parts[3]) }
            return .peer(cluster: parts[3], reachable: parts[4] == "reachable")
        case "api":
            if parts.count == 1 { return .coreVersions }
            guard parts[1] == "v1" else { return .unknownResource(path) }
            if parts.count == 2 { return .resourceList(group: "", version: "v1") }
            return resource(group: "", version: "v1", rest: Array(parts.dropFirst(2)), types: types, path: path)
        case "apis":
            switch parts.count {
            case 1: return .groups
            case 2: return types.contains { $0.group == parts[1] } ? .group(parts[1]) : .unknownResource(path)
            case 3:
                return types.contains { $0.group == parts[1] && $0.version == parts[2] }
                    ? .resourceList(group: parts[1], version: parts[2]) : .unknownResource(path)
            default:
                return resource(group: parts[1], version: parts[2], rest: Array(parts.dropFirst(3)), types: types, path: path)
            }
        default:
            return .notFound
        }
    }

    /// `[namespaces, ns, plural, name, sub]`, `[plural, name, sub]`, or `[namespaces, name, status]`.
    private static func resource(group: String, version: String, rest: [String], types: [ResourceType], path: String) -> APIPath {
        func type(_ plural: String) -> ResourceType? {
            types.first { $0.group == group && $0.version == version && $0.plural == plural }
        }
        if rest.first == "namespaces", rest.count >= 3, let namespaced = type(rest[2]), namespaced.namespaced {
            guard rest.count <= 5 else { return .unknownResource(path) }
            return .resource(namespaced, namespace: rest[1], name: rest.count > 3 ? rest[3] : nil, subresource: rest.count > 4 ? rest[4] : nil)
        }
        guard let first = rest.first, let resourceType = type(first), rest.count <= 3 else { return .unknownResource(path) }
        return .resource(resourceType, namespace: nil, name: rest.count > 1 ? rest[1] : nil, subresource: rest.count > 2 ? rest[2] : nil)
    }
}

extension String {
    fileprivate func removingPercentEncodingSafely() -> String {
        guard contains("%") else { return self }
        var bytes: [UInt8] = []
        var iterator = utf8.makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%"), let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            {
                bytes.append(value)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
