/// Where the proxy connects for a function.
///
/// In a cluster that is the function's Service name through cluster DNS (Liqo carries the
/// traffic to whichever cluster runs the pods). Beside KubeSim, which has no DNS, a table maps
/// the simulated hosts to the loopback addresses of its function servers.
public struct FunctionAddressResolver: Sendable {
    public enum Resolution: Sendable, Hashable {
        case address(host: String, port: Int)
        case unresolvable

        /// `host:port` or `[v6]:port`; nil for anything else.
        public init?(address: String) {
            guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]), (1...65535).contains(port) else {
                return nil
            }
            var host = String(address[..<colon])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { return nil }
            self = .address(host: host, port: port)
        }
    }

    private let resolveTarget: @Sendable (ProxyTarget) -> Resolution

    package init(_ resolve: @escaping @Sendable (ProxyTarget) -> Resolution) {
        resolveTarget = resolve
    }

    package func resolve(_ target: ProxyTarget) -> Resolution {
        resolveTarget(target)
    }

    /// Cluster DNS: `<fn>.<ns>.svc.cluster.local:80`, one connection pool for all three URL forms.
    public static let dns = FunctionAddressResolver { .address(host: $0.canonicalHost, port: 80) }

    /// A table from `<fn>.<ns>.svc.cluster.local` to `host:port`; hosts it lacks do not resolve.
    public static func table(_ lookup: @escaping @Sendable (String) -> String?) -> FunctionAddressResolver {
        FunctionAddressResolver { target in
            lookup(target.canonicalHost).flatMap(Resolution.init(address:)) ?? .unresolvable
        }
    }
}
