/// Where the proxy connects for a function.
///
/// In a cluster that is the function's Service name through cluster DNS (Liqo carries the
/// traffic to whichever cluster runs the pods). Beside KubeSim, which has no DNS, a table maps
/// the simulated hosts to the loopback addresses of its function servers.
public struct FunctionAddressResolver: Sendable {
    public enum Resolution: Sendable, Hashable {
        case address(host: String, port: Int)
        case unresolvable
    }

    private let resolveTarget: @Sendable (ProxyTarget) -> Resolution

    public init(_ resolve: @escaping @Sendable (ProxyTarget) -> Resolution) {
        resolveTarget = resolve
    }

    public func resolve(_ target: ProxyTarget) -> Resolution {
        resolveTarget(target)
    }

    /// Cluster DNS: `<fn>.<ns>.svc.cluster.local:80`, one connection pool for all three URL forms.
    public static let dns = FunctionAddressResolver { .address(host: $0.canonicalHost, port: 80) }

    /// A table from `<fn>.<ns>.svc.cluster.local` to `host:port`; hosts it lacks do not resolve.
    public static func table(_ lookup: @escaping @Sendable (String) -> String?) -> FunctionAddressResolver {
        FunctionAddressResolver { target in
            guard let address = lookup(target.canonicalHost), let parsed = parseAddress(address) else { return .unresolvable }
            return .address(host: parsed.host, port: parsed.port)
        }
    }

    /// `host:port` or `[v6]:port`.
    static func parseAddress(_ address: String) -> (host: String, port: Int)? {
        // Bytes, not characters: the resolver file's table is read on every call.
        let bytes = address.utf8
        guard let colon = bytes.lastIndex(of: UInt8(ascii: ":")) else { return nil }
        let digits = bytes[bytes.index(after: colon)...]
        guard (1...5).contains(digits.count), digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        let port = digits.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        guard (1...65535).contains(port) else { return nil }
        var host = address[..<colon]
        if host.utf8.first == UInt8(ascii: "["), host.utf8.last == UInt8(ascii: "]") { host = host.dropFirst().dropLast() }
        return host.isEmpty ? nil : (String(host), port)
    }
}
