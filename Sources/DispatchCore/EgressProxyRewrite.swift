import Foundation
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
    /// each container's `env` that changes. The API server applies an admission patch to the
    /// object it sent, so no `test` is needed, and applying it twice changes nothing.
    public func operations(for object: JSONValue) -> [JSONPatchOperation] {
        var operations: [JSONPatchOperation] = []
        for list in ["initContainers", "containers"] {
            guard let containers = object[path: "spec", "template", "spec", list]?.arrayValue else { continue }
            for (index, container) in containers.enumerated() {
                guard let env = container["env"]?.arrayValue else { continue }
                let rewritten = rewrite(env)
                guard rewritten != env else { continue }
                operations.append(JSONPatchOperation(op: .replace, path: "/spec/template/spec/\(list)/\(index)/env", value: .array(rewritten)))
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
/// `http://` (Go's and curl's reading of `HTTP_PROXY=host:port`). Parsed by Foundation's
/// `URLComponents`; only http and https are proxies here.
public struct ProxyURL: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    public let port: Int
    public let path: String

    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 2048,
            let components = URLComponents(string: trimmed.contains("://") ? trimmed : "http://" + trimmed),
            let scheme = components.scheme?.lowercased(), let host = components.host, !host.isEmpty
        else { return nil }
        switch (scheme, components.port) {
        case ("http", nil): port = 80
        case ("https", nil): port = 443
        case ("http", let given?), ("https", let given?):
            guard (1...65535).contains(given) else { return nil }
            port = given
        default: return nil
        }
        self.scheme = scheme
        self.host = host.lowercased()
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path
    }

    public var description: String { "\(scheme)://\(host):\(port)\(path)" }
}
