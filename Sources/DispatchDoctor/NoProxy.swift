import Foundation

/// A `NO_PROXY` value read as Go's `net/http` reads it (golang.org/x/net/http/httpproxy), which
/// Direktiv's engine uses: comma-separated entries, case-insensitive; `*` matches everything; an
/// IP or CIDR matches only URLs that use an IP; a name `foo` matches `foo` and every subdomain,
/// `.foo` (or `*.foo`) only subdomains; an entry may carry `:port`.
public struct NoProxy: Sendable, Hashable {
    public let entries: [String]

    public init(_ value: String) {
        entries = value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
    }

    /// Whether a plain request to `host` (a name or an IP, without port) on `port` bypasses the proxy.
    public func bypasses(host rawHost: String, port: Int = 80) -> Bool {
        let host = rawHost.lowercased()
        // Go never proxies requests to localhost or loopback addresses.
        if host == "localhost" || host.hasPrefix("127.") || host == "::1" { return true }
        let hostIsIP = Self.ipv4(host) != nil || host.contains(":")
        for entry in entries {
            if entry == "*" { return true }
            var name = entry
            var entryPort: Int?
            if let colon = entry.lastIndex(of: ":"), !entry.contains("/"), entry.filter({ $0 == ":" }).count == 1 {
                name = String(entry[..<colon])
                entryPort = Int(entry[entry.index(after: colon)...])
            }
            if let entryPort, entryPort != port { continue }
            if name.contains("/") {
                if hostIsIP, Self.cidr(name, contains: host) { return true }
                continue
            }
            if Self.ipv4(name) != nil || name.contains(":") {
                if hostIsIP, name == host { return true }
                continue
            }
            if hostIsIP { continue }
            if name.hasPrefix("*.") { name.removeFirst() }
            if name.hasPrefix(".") {
                if host.hasSuffix(name) { return true }
            } else if host == name || host.hasSuffix("." + name) {
                return true
            }
        }
        return false
    }

    static func ipv4(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let octet = UInt8(part) else { return nil }
            value = value << 8 | UInt32(octet)
        }
        return value
    }

    static func cidr(_ entry: String, contains host: String) -> Bool {
        let parts = entry.split(separator: "/", maxSplits: 1)
        guard parts.count == 2, let network = ipv4(String(parts[0])), let bits = Int(parts[1]), (0...32).contains(bits),
            let address = ipv4(host)
        else { return false }
        let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
        return address & mask == network & mask
    }
}
