import DispatchCore

/// Where a proxied request goes: a Direktiv function in a functions namespace, or nowhere.
///
/// The proxy is never open: only `http://<fn>.<ns>`, `http://<fn>.<ns>.svc` and
/// `http://<fn>.<ns>.svc.cluster.local` (port 80) with `<ns>` a functions namespace, or the
/// reverse form `/functions/<ns>/<fn>/<path>`, are forwarded. IP literals, other hosts, ports,
/// schemes and `CONNECT` are refused with a reason.
public struct ProxyTarget: Sendable, Hashable {
    /// The function's Service (Knative Service or Deployment) name.
    public var function: String
    /// Its Kubernetes namespace.
    public var namespace: String
    /// The host the caller asked for (kept as `Host`), or the cluster-local name for the reverse form.
    public var host: String
    /// Path and query to send upstream, starting with `/`.
    public var pathAndQuery: String

    /// The fully qualified in-cluster name.
    public var canonicalHost: String { "\(function).\(namespace).svc.cluster.local" }

    public enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        case connect
        case notAFunctionHost(String)
        case ipLiteral(String)
        case port(String)
        case scheme(String)
        case namespace(String)
        case malformed(String)

        /// The metric label.
        public var reason: String {
            switch self {
            case .connect: "connect"
            case .notAFunctionHost: "not_a_function_host"
            case .ipLiteral: "ip_literal"
            case .port: "port"
            case .scheme: "scheme"
            case .namespace: "namespace"
            case .malformed: "malformed"
            }
        }

        public var description: String {
            switch self {
            case .connect: "CONNECT is not allowed: this proxy only forwards calls to Direktiv functions"
            case .notAFunctionHost(let host): "\(host) is not a Direktiv function host"
            case .ipLiteral(let host): "IP addresses are not allowed (\(host))"
            case .port(let port): "only port 80 is allowed (\(port))"
            case .scheme(let scheme): "only http is allowed (\(scheme))"
            case .namespace(let namespace): "\(namespace) is not a Direktiv functions namespace"
            case .malformed(let target): "malformed request target \(target)"
            }
        }
    }

    /// Resolves a request's target from its method, request-target and `Host` header.
    public static func resolve(method: String, target: String, hostHeader: String?, functionsNamespaces: [String]) throws(Refusal) -> ProxyTarget {
        if method.uppercased() == "CONNECT" { throw .connect }
        if target.hasPrefix("/") {
            return try reverse(target, functionsNamespaces: functionsNamespaces)
        }
        // Absolute form: scheme://authority/path?query
        guard let schemeEnd = target.firstRange(of: "://") else { throw .malformed(target) }
        let scheme = target[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" else { throw .scheme(scheme) }
        let rest = target[schemeEnd.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = String(rest[..<authorityEnd])
        var pathAndQuery = String(rest[authorityEnd...])
        if pathAndQuery.isEmpty { pathAndQuery = "/" } else if pathAndQuery.hasPrefix("?") { pathAndQuery = "/" + pathAndQuery }
        guard !authority.contains("@") else { throw .malformed(target) }
        let (host, port) = try split(authority)
        if let port, port != "80" { throw .port(port) }
        return try functionHost(host, pathAndQuery: pathAndQuery, functionsNamespaces: functionsNamespaces)
    }

    /// `host[:port]`, refusing bracketed IPv6 literals.
    static func split(_ authority: String) throws(Refusal) -> (String, String?) {
        if authority.hasPrefix("[") { throw .ipLiteral(authority) }
        let parts = authority.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return (authority.lowercased(), nil)
        case 2: return (String(parts[0]).lowercased(), String(parts[1]))
        default: throw .ipLiteral(authority)
        }
    }

    static func functionHost(_ host: String, pathAndQuery: String, functionsNamespaces: [String]) throws(Refusal) -> ProxyTarget {
        let trimmed = host.hasSuffix(".") ? String(host.dropLast()) : host
        if isIPv4(trimmed) { throw .ipLiteral(host) }
        var labels = trimmed.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if labels.count == 5, labels[2...] == ["svc", "cluster", "local"] {
            labels.removeLast(3)
        } else if labels.count == 3, labels[2] == "svc" {
            labels.removeLast()
        }
        guard labels.count == 2, KubernetesNames.isDNS1123Label(labels[0]), KubernetesNames.isDNS1123Label(labels[1]) else {
            throw .notAFunctionHost(host)
        }
        guard functionsNamespaces.contains(labels[1]) else { throw .namespace(labels[1]) }
        return ProxyTarget(function: labels[0], namespace: labels[1], host: trimmed, pathAndQuery: pathAndQuery)
    }

    /// `/functions/<namespace>/<function>[/<path>][?query]`.
    static func reverse(_ target: String, functionsNamespaces: [String]) throws(Refusal) -> ProxyTarget {
        let queryStart = target.firstIndex(of: "?") ?? target.endIndex
        let path = target[..<queryStart]
        let query = target[queryStart...]
        let parts = path.split(separator: "/", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 4, parts[0].isEmpty, parts[1] == "functions" else { throw .notAFunctionHost(target) }
        let namespace = String(parts[2])
        let function = String(parts[3])
        let rest = parts.count > 4 ? "/" + parts[4] : "/"
        guard KubernetesNames.isDNS1123Label(namespace), KubernetesNames.isDNS1123Label(function) else { throw .malformed(target) }
        guard functionsNamespaces.contains(namespace) else { throw .namespace(namespace) }
        return ProxyTarget(function: function, namespace: namespace, host: "\(function).\(namespace).svc.cluster.local", pathAndQuery: rest + query)
    }

    static func isIPv4(_ host: String) -> Bool {
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        // Decimal, and also the hex or octal or shortened forms resolvers accept.
        if parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isHexDigit || $0 == "x" || $0 == "X" } }) && parts.contains(where: { $0.first?.isNumber == true }) {
            return parts.count <= 4
        }
        return false
    }
}
