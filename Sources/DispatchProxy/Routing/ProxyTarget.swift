import DispatchCore
import KubeModels

/// Where a proxied request goes: a Direktiv function in a functions namespace, or nowhere.
///
/// The proxy is never open: only `http://<fn>.<ns>`, `http://<fn>.<ns>.svc` and
/// `http://<fn>.<ns>.svc.cluster.local` (port 80) with `<ns>` a functions namespace, or the
/// reverse form `/functions/<ns>/<fn>/<path>`, are forwarded. IP literals, other hosts, ports,
/// schemes and `CONNECT` are refused with a reason.
package struct ProxyTarget: Sendable, Hashable {
    /// The function's Service (Knative Service or Deployment) name.
    package let function: String
    /// Its Kubernetes namespace.
    package let namespace: String
    /// The host the caller asked for (kept as `Host`), or the cluster-local name for the reverse form.
    package let host: String
    /// Path and query to send upstream, starting with `/`.
    package let pathAndQuery: String

    /// The fully qualified in-cluster name (made once: resolvers and pools key on it per call).
    package let canonicalHost: String

    /// A target; `host` defaults to the canonical name, as for the reverse form.
    package init(function: String, namespace: String, host: String? = nil, pathAndQuery: String) {
        let canonicalHost = function + "." + namespace + ".svc.cluster.local"
        self.function = function
        self.namespace = namespace
        self.host = host ?? canonicalHost
        self.pathAndQuery = pathAndQuery
        self.canonicalHost = canonicalHost
    }

    package enum Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        case connect
        case notAFunctionHost(String)
        case ipLiteral(String)
        case port(String)
        case scheme(String)
        case namespace(String)
        case malformed(String)

        /// The metric label.
        package var reason: String {
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

        /// The refusal in words; what the caller sent is cut to `echoLimit` bytes, so an answer
        /// never grows with the request that caused it.
        package var description: String {
            switch self {
            case .connect: "CONNECT is not allowed: this proxy only forwards calls to Direktiv functions"
            case .notAFunctionHost(let host): "\(Self.echo(host)) is not a Direktiv function host"
            case .ipLiteral(let host): "IP addresses are not allowed (\(Self.echo(host)))"
            case .port(let port): "only port 80 is allowed (\(Self.echo(port)))"
            case .scheme(let scheme): "only http is allowed (\(Self.echo(scheme)))"
            case .namespace(let namespace): "\(Self.echo(namespace)) is not a Direktiv functions namespace"
            case .malformed(let target): "malformed request target \(Self.echo(target))"
            }
        }

        /// The most of a caller's text a refusal repeats.
        static let echoLimit = 128

        /// `text`, or its first `echoLimit` bytes and how long it was.
        static func echo(_ text: String) -> String {
            let bytes = text.utf8
            guard bytes.count > echoLimit else { return text }
            // Request-targets are visible ASCII (`HTTPHead`), so any byte boundary is a character's.
            return String(decoding: bytes.prefix(echoLimit), as: UTF8.self) + "... (\(bytes.count) bytes)"
        }
    }

    /// Resolves a request's target from its method and request-target.
    ///
    /// The request-target alone decides: in absolute form `Host` is ignored (RFC 9112 §3.2.2),
    /// and in the reverse form the path names the function. Every call passes here, so it scans
    /// bytes rather than characters and copies only what the target keeps.
    package static func resolve(method: String, target: String, functionsNamespaces: [String]) throws(Refusal) -> ProxyTarget {
        try check(method: method)
        let bytes = target.utf8
        if bytes.first == UInt8(ascii: "/") {
            return try reverse(target, functionsNamespaces: functionsNamespaces)
        }
        // Absolute form: scheme://authority/path?query
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")), bytes[colon...].starts(with: "://".utf8) else { throw .malformed(target) }
        let scheme = target[..<colon]
        guard ASCII.equalsIgnoringCase(scheme.utf8, "http") else { throw .scheme(scheme.lowercased()) }
        let authorityStart = bytes.index(colon, offsetBy: 3)
        let authorityEnd = bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        let authority = target[authorityStart..<authorityEnd]
        let rest = target[authorityEnd...]
        let pathAndQuery = rest.isEmpty ? "/" : rest.utf8.first == UInt8(ascii: "?") ? "/" + rest : String(rest)
        guard !authority.utf8.contains(UInt8(ascii: "@")) else { throw .malformed(target) }
        let (host, port) = try split(authority)
        if let port, port != "80" { throw .port(String(port)) }
        return try functionHost(host, pathAndQuery: pathAndQuery, functionsNamespaces: functionsNamespaces)
    }

    /// Refuses `CONNECT`: tunnels would pass anything.
    static func check(method: String) throws(Refusal) {
        if ASCII.equalsIgnoringCase(method.utf8, "connect") { throw .connect }
    }

    /// `host[:port]`, refusing bracketed IPv6 literals.
    static func split(_ authority: Substring) throws(Refusal) -> (Substring, Substring?) {
        if authority.utf8.first == UInt8(ascii: "[") { throw .ipLiteral(String(authority)) }
        guard let colon = authority.utf8.firstIndex(of: UInt8(ascii: ":")) else { return (authority, nil) }
        let port = authority[authority.utf8.index(after: colon)...]
        if port.utf8.contains(UInt8(ascii: ":")) { throw .ipLiteral(String(authority)) }
        return (authority[..<colon], port)
    }

    static func functionHost(_ host: Substring, pathAndQuery: String, functionsNamespaces: [String]) throws(Refusal) -> ProxyTarget {
        let lowered = ASCII.lowercased(host)
        let trimmed = lowered.utf8.last == UInt8(ascii: ".") ? lowered.dropLast() : lowered[...]
        if isIPv4(trimmed.utf8) { throw .ipLiteral(String(lowered)) }
        let labels = trimmed.utf8.split(separator: UInt8(ascii: "."), maxSplits: 5, omittingEmptySubsequences: false)
        let suffix = labels.dropFirst(2)
        let isFunctionName: Bool
        switch labels.count {
        case 2: isFunctionName = true
        case 3: isFunctionName = suffix.elementsEqual(["svc".utf8[...]], by: { $0.elementsEqual($1) })
        case 5: isFunctionName = suffix.elementsEqual(["svc".utf8[...], "cluster".utf8[...], "local".utf8[...]], by: { $0.elementsEqual($1) })
        default: isFunctionName = false
        }
        guard isFunctionName, KubernetesNames.isDNS1123Label(labels[0]), KubernetesNames.isDNS1123Label(labels[1]) else {
            throw .notAFunctionHost(String(lowered))
        }
        let namespace = String(Substring(labels[1]))
        guard functionsNamespaces.contains(namespace) else { throw .namespace(namespace) }
        return ProxyTarget(function: String(Substring(labels[0])), namespace: namespace, host: String(trimmed), pathAndQuery: pathAndQuery)
    }

    /// `/functions/<namespace>/<function>[/<path>][?query]`.
    static func reverse(_ target: String, functionsNamespaces: [String]) throws(Refusal) -> ProxyTarget {
        let bytes = target.utf8
        guard bytes.starts(with: "/functions/".utf8) else { throw .notAFunctionHost(target) }
        let queryStart = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex
        let namespaceStart = bytes.index(bytes.startIndex, offsetBy: 11)
        guard namespaceStart <= queryStart, let namespaceEnd = bytes[namespaceStart..<queryStart].firstIndex(of: UInt8(ascii: "/")) else {
            throw .notAFunctionHost(target)
        }
        let functionStart = bytes.index(after: namespaceEnd)
        let functionEnd = bytes[functionStart..<queryStart].firstIndex(of: UInt8(ascii: "/")) ?? queryStart
        guard KubernetesNames.isDNS1123Label(bytes[namespaceStart..<namespaceEnd]), KubernetesNames.isDNS1123Label(bytes[functionStart..<functionEnd])
        else {
            throw .malformed(target)
        }
        let namespace = String(target[namespaceStart..<namespaceEnd])
        guard functionsNamespaces.contains(namespace) else { throw .namespace(namespace) }
        let function = String(target[functionStart..<functionEnd])
        let rest = functionEnd < queryStart ? String(target[functionEnd...]) : "/" + target[queryStart...]
        return ProxyTarget(function: function, namespace: namespace, pathAndQuery: rest)
    }

    /// Decimal, and also the hex or octal or shortened forms resolvers accept.
    static func isIPv4(_ host: Substring.UTF8View) -> Bool {
        var parts = 1
        var partLength = 0
        var hasLeadingDigit = false
        for byte in host {
            if byte == UInt8(ascii: ".") {
                if partLength == 0 { return false }
                parts += 1
                partLength = 0
                continue
            }
            guard ASCII.isHexDigit(byte) || byte == UInt8(ascii: "x") || byte == UInt8(ascii: "X") else { return false }
            if partLength == 0, ASCII.isDigit(byte) { hasLeadingDigit = true }
            partLength += 1
        }
        return partLength > 0 && hasLeadingDigit && parts <= 4
    }
}

/// ASCII helpers for the proxy's per-call parsing: no Unicode work, no copies when nothing changes.
enum ASCII {
    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    static func isHexDigit(_ byte: UInt8) -> Bool {
        isDigit(byte) || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "f")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "F"))
    }

    static func lowercase(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte
    }

    /// Whether `bytes` spell `lowercased` in any case; `lowercased` must be lower-case.
    static func equalsIgnoringCase(_ bytes: some Collection<UInt8>, _ lowercased: StaticString) -> Bool {
        guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
        // An index loop, not `zip`: the head parser compares every field name with this.
        let expected = lowercased.utf8Start
        var offset = 0
        for byte in bytes {
            guard lowercase(byte) == expected[offset] else { return false }
            offset += 1
        }
        return true
    }

    /// Whether `bytes` spell `lowercased` (lower-case bytes) in any case.
    static func equalsIgnoringCase(_ bytes: some Collection<UInt8>, lowercasedBytes lowercased: some Collection<UInt8>) -> Bool {
        bytes.count == lowercased.count && zip(bytes, lowercased).allSatisfy { lowercase($0) == $1 }
    }

    /// `text` in lower case; the same string when it has no upper-case letter.
    static func lowercased(_ text: Substring) -> Substring {
        guard text.utf8.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else { return text }
        return Substring(String(decoding: text.utf8.map(lowercase), as: UTF8.self))
    }
}
