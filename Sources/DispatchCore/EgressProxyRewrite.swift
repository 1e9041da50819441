import KubeModels

/// Keeps a function's own outbound HTTP away from the agent's proxy.
///
/// Direktiv's service manager copies the engine's `http_proxy` setting into every function
/// container as `HTTP_PROXY` and `http_proxy`. When that setting points at this agent (so the
/// engine's calls to functions are measured), a function calling any plain-HTTP API would go
/// through the agent too, which refuses hosts that are not functions (403), and on a remote
/// cluster the agent's Service name does not even resolve. So, in each container and init
/// container of the pod template, an `HTTP_PROXY` or `http_proxy` entry whose value is the
/// agent's proxy URL is removed, or, with a replacement set, given that value. Everything else
/// stays exactly as it was: `NO_PROXY`, the user's variables, their order, a proxy that is not
/// the agent's, entries taken from a Secret or ConfigMap (`valueFrom`).
public struct EgressProxyRewrite: Sendable, Hashable {
    /// The agent's proxy as functions see it, normalised.
    public let agentProxy: ProxyURL
    /// The value to put instead; nil removes the entry.
    public let replacement: String?

    /// Nil when `agentProxyURL` is not a usable URL (nothing would ever match it).
    public init?(agentProxyURL: String, replacement: String? = nil) {
        guard let url = ProxyURL(agentProxyURL) else { return nil }
        agentProxy = url
        self.replacement = replacement
    }

    /// The variables Direktiv sets; HTTPS goes through CONNECT, which the agent does not serve
    /// and Direktiv does not set.
    public static let variableNames: Set<String> = ["HTTP_PROXY", "http_proxy"]

    /// JSON Patch operations for `object` (a Knative Service or a Deployment): one `replace` of
    /// each container's `env` that changes, guarded by a `test` of the list as it was, so the
    /// patch cannot apply to anything but the object it was made for.
    public func operations(for object: JSONValue) -> [JSONPatchOperation] {
        var operations: [JSONPatchOperation] = []
        for list in ["initContainers", "containers"] {
            guard let containers = object[path: "spec", "template", "spec", list]?.arrayValue else { continue }
            for (index, container) in containers.enumerated() {
                guard let env = container["env"]?.arrayValue else { continue }
                let rewritten = rewrite(env)
                guard rewritten != env else { continue }
                let path = "/spec/template/spec/\(list)/\(index)/env"
                operations.append(JSONPatchOperation(op: .test, path: path, value: .array(env)))
                operations.append(JSONPatchOperation(op: .replace, path: path, value: .array(rewritten)))
            }
        }
        return operations
    }

    /// `env` without (or with the replacement for) the entries that name the agent's proxy.
    public func rewrite(_ env: [JSONValue]) -> [JSONValue] {
        var result: [JSONValue] = []
        result.reserveCapacity(env.count)
        for entry in env {
            guard let name = entry["name"]?.stringValue, Self.variableNames.contains(name), entry["valueFrom"] == nil,
                let value = entry["value"]?.stringValue, ProxyURL(value) == agentProxy
            else {
                result.append(entry)
                continue
            }
            if let replacement, var fields = entry.objectValue {
                fields["value"] = .string(replacement)
                result.append(.object(fields))
            }
        }
        return result
    }
}

/// A proxy URL compared as HTTP clients read it: scheme and host without regard to case, the
/// scheme's default port when none is given, no trailing slash; a value without a scheme is
/// `http://` (Go's and curl's reading of `HTTP_PROXY=host:port`).
public struct ProxyURL: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int
    public let path: String

    public init?(_ text: String) {
        guard text.utf8.count <= 2048 else { return nil }
        var rest = Substring(text).drop { $0 == " " || $0 == "\t" }
        while let last = rest.last, last == " " || last == "\t" { rest = rest.dropLast() }
        guard !rest.isEmpty else { return nil }
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://") {
            scheme = rest[..<colon].lowercased()
            rest = rest[rest.index(colon, offsetBy: 3)...]
        } else {
            scheme = "http"
        }
        let defaultPort: Int
        switch scheme {
        case "http": defaultPort = 80
        case "https": defaultPort = 443
        default: return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        var remainder = String(rest[authorityEnd...])
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        var hostPart = authority
        var portValue = defaultPort
        if authority.hasPrefix("[") {
            // An IPv6 literal: [::1]:8080
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let parsed = Int(after.dropFirst()), (1...65535).contains(parsed) else { return nil }
                portValue = parsed
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            let digits = authority[authority.index(after: colon)...]
            if !digits.isEmpty {
                guard let parsed = Int(digits), (1...65535).contains(parsed) else { return nil }
                portValue = parsed
            }
        }
        guard !hostPart.isEmpty else { return nil }
        host = hostPart.lowercased()
        port = portValue
        while remainder.hasSuffix("/") { remainder.removeLast() }
        path = remainder
    }

    public var description: String { "\(scheme)://\(host):\(port)\(path)" }
}
