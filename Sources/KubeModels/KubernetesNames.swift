/// Kubernetes naming rules (`k8s.io/apimachinery/pkg/util/validation`): the rules file, the
/// admin API, the proxy and KubeSim check names against them.
public enum KubernetesNames {
    /// A DNS-1123 label: lower-case alphanumerics and `-`, starting and ending alphanumeric, at most 63.
    public static func isDNS1123Label(_ name: String) -> Bool {
        isDNS1123Label(name.utf8)
    }

    /// `isDNS1123Label` on bytes, without copying them (the proxy checks every call's host;
    /// inlinable so that it is specialised there rather than run through witness tables).
    @inlinable
    public static func isDNS1123Label(_ bytes: some Collection<UInt8>) -> Bool {
        guard (1...63).contains(bytes.count), let first = bytes.first else { return false }
        var last = first
        for byte in bytes {
            guard isLowerAlphanumeric(byte) || byte == UInt8(ascii: "-") else { return false }
            last = byte
        }
        return isLowerAlphanumeric(first) && isLowerAlphanumeric(last)
    }

    /// A DNS-1035 label (Knative Service names): a DNS-1123 label that starts with a letter.
    public static func isDNS1035Label(_ name: String) -> Bool {
        guard isDNS1123Label(name), let first = name.utf8.first else { return false }
        return first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z")
    }

    /// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
    public static func isDNS1123Subdomain(_ name: String) -> Bool {
        guard (1...253).contains(name.utf8.count) else { return false }
        return name.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNS1123Label(String($0)) }
    }

    /// A label value: empty, or up to 63 alphanumerics, `-`, `_`, `.`, starting and ending alphanumeric.
    public static func isLabelValue(_ value: String) -> Bool {
        if value.isEmpty { return true }
        guard value.utf8.count <= 63 else { return false }
        let bytes = Array(value.utf8)
        guard isAlphanumeric(bytes.first!), isAlphanumeric(bytes.last!) else { return false }
        return bytes.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// A label key: an optional DNS subdomain prefix and `/`, then a name like a non-empty label value.
    public static func isLabelKey(_ key: String) -> Bool {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return !key.isEmpty && isLabelValue(key)
        case 2: return isDNS1123Subdomain(String(parts[0])) && !parts[1].isEmpty && isLabelValue(String(parts[1]))
        default: return false
        }
    }

    /// A ConfigMap or Secret data key (`IsConfigMapKey`): at most 253 characters of
    /// alphanumerics, `-`, `_` and `.`, and neither `.` nor `..`.
    public static func isConfigMapKey(_ key: String) -> Bool {
        guard (1...253).contains(key.utf8.count), key != ".", key != ".." else { return false }
        return key.utf8.allSatisfy { isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    @usableFromInline
    static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9"))
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        isLowerAlphanumeric(byte) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
    }
}
