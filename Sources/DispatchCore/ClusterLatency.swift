import Foundation

/// What is known of the round trip from the main cluster to one cluster, from each source.
///
/// Which wins when both exist: the agent's own measurement, once it has ``minimumSamples``
/// recent calls, because it is the path Direktiv's calls take (the agent's proxy, Liqo's tunnel,
/// the function's Service and sidecar), which Liqo's gateway ping does not cover. Before that,
/// or when its calls are older than ``maximumAge``, Liqo's `Connection` latency, which exists for
/// every peer from the moment it is peered. A local cluster without calls counts as 0 ms.
public struct ClusterLatency: Sendable, Hashable, Codable {
    /// Where a latency comes from.
    public enum Source: String, Sendable, Hashable, Codable {
        /// Liqo's `Connection` (`networking.liqo.io/v1beta1`) `status.latency`.
        case liqo
        /// A low percentile of the agent's proxied calls to the cluster.
        case agent
        /// A local cluster without calls: no network in between.
        case local
    }

    /// One measurement: seconds, and when it was taken.
    public struct Measurement: Sendable, Hashable, Codable {
        public var seconds: Double
        public var observedAt: Date
        /// Calls the value was taken from (the agent's source only).
        public var samples: Int?

        public init(seconds: Double, observedAt: Date, samples: Int? = nil) {
            self.seconds = seconds
            self.observedAt = observedAt
            self.samples = samples
        }
    }

    public var liqo: Measurement?
    public var agent: Measurement?
    public var isLocal: Bool

    public init(liqo: Measurement? = nil, agent: Measurement? = nil, isLocal: Bool = false) {
        self.liqo = liqo
        self.agent = agent
        self.isLocal = isLocal
    }

    public static let minimumSamples = 5
    public static let maximumAge: TimeInterval = 600

    /// The value placement uses at `now`, or nil when nothing is known.
    public func estimate(at now: Date) -> LatencyEstimate? {
        var estimate: LatencyEstimate
        if let agent, (agent.samples ?? 0) >= Self.minimumSamples, now.timeIntervalSince(agent.observedAt) <= Self.maximumAge {
            estimate = LatencyEstimate(seconds: agent.seconds, source: .agent, ageSeconds: max(0, now.timeIntervalSince(agent.observedAt)))
        } else if let liqo {
            estimate = LatencyEstimate(seconds: liqo.seconds, source: .liqo, ageSeconds: max(0, now.timeIntervalSince(liqo.observedAt)))
        } else if isLocal {
            estimate = LatencyEstimate(seconds: 0, source: .local, ageSeconds: nil)
        } else {
            return nil
        }
        // The other source beside it, for explanations.
        estimate.liqoSeconds = liqo?.seconds
        estimate.agentSeconds = agent?.seconds
        return estimate
    }

    /// Reads a Go duration as Liqo writes `status.latency.value` (`15ms`, `1.5s`, `850µs`,
    /// `1m2.5s`); nil for anything else, a negative value included.
    public static func seconds(goDuration text: String) -> Double? {
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty, rest.utf8.count <= 64 else { return nil }
        if rest == "0" { return 0 }
        let units: [(String, Double)] = [("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3), ("s", 1), ("m", 60), ("h", 3600)]
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, let value = Double(number) else { return nil }
            rest = rest.dropFirst(number.count)
            // Longest unit first: "ms" before "m".
            guard let unit = units.sorted(by: { $0.0.count > $1.0.count }).first(where: { rest.hasPrefix($0.0) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            total += value * unit.1
        }
        // A day bounds any round trip worth placing by; more is a broken measurement.
        return total.isFinite && total <= 86_400 ? total : nil
    }
}

/// The latency placement uses for one cluster, with its source and age, as explanations show it.
public struct LatencyEstimate: Sendable, Hashable, Codable {
    public var seconds: Double
    public var source: ClusterLatency.Source
    /// How old the measurement is; nil for a local cluster's assumed 0 ms.
    public var ageSeconds: Double?
    /// Both sources as they stand, shown side by side (the one used is `seconds`).
    public var liqoSeconds: Double?
    public var agentSeconds: Double?

    public init(seconds: Double, source: ClusterLatency.Source, ageSeconds: Double?, liqoSeconds: Double? = nil, agentSeconds: Double? = nil) {
        self.seconds = seconds
        self.source = source
        self.ageSeconds = ageSeconds
        self.liqoSeconds = liqoSeconds
        self.agentSeconds = agentSeconds
    }

    /// `16.2 ms (agent, 1 s old; liqo 15.0 ms)`: the value used, its source and age, then the
    /// other source's; clamped, never trapping, whatever a decoded value holds.
    public var text: String {
        let age = ageSeconds.map { ", \(Self.clampedInteger($0)) s old" } ?? ""
        var others: [String] = []
        if source != .liqo, let liqoSeconds { others.append("liqo \(Self.milliseconds(liqoSeconds))") }
        if source != .agent, let agentSeconds { others.append("agent \(Self.milliseconds(agentSeconds))") }
        return "\(milliseconds) (\(source.rawValue)\(age)\(others.isEmpty ? "" : "; " + others.joined(separator: ", ")))"
    }

    /// `15.0 ms`, without Foundation's locale-dependent formatting.
    public var milliseconds: String { Self.milliseconds(seconds) }

    static func milliseconds(_ seconds: Double) -> String {
        let tenths = clampedInteger(seconds * 10_000)
        return "\(tenths / 10).\(tenths % 10) ms"
    }

    static func clampedInteger(_ value: Double) -> Int64 {
        guard value.isFinite else { return 0 }
        return Int64(min(max(value.rounded(), 0), 1e15))
    }
}

/// The latencies one decision reads, aligned with an inventory's clusters so that a decision over
/// a thousand clusters reads them by position instead of hashing a thousand names (a third of
/// the decision's time, measured). Built once per latency read; a decision over an inventory
/// whose cluster names changed since falls back to lookups by name.
public struct LatencyTable: Sendable, ExpressibleByDictionaryLiteral {
    public let estimates: [String: LatencyEstimate]
    private let aligned: [LatencyEstimate?]
    private let digest: Int?

    public static let empty = LatencyTable([:])

    /// `estimates` by cluster name, aligned with `inventory` when given.
    public init(_ estimates: [String: LatencyEstimate], for inventory: ClusterInventory? = nil) {
        self.estimates = estimates
        if let inventory {
            aligned = inventory.clusters.map { estimates[$0.name] }
            digest = inventory.clusterNamesDigest
        } else {
            aligned = []
            digest = nil
        }
    }

    public init(dictionaryLiteral elements: (String, LatencyEstimate)...) {
        self.init(Dictionary(elements, uniquingKeysWith: { $1 }))
    }

    public var isEmpty: Bool { estimates.isEmpty }

    /// Whether positions in `inventory` can be read directly.
    func isAligned(with inventory: ClusterInventory) -> Bool {
        digest == inventory.clusterNamesDigest && aligned.count == inventory.clusters.count
    }

    /// The estimate of the cluster at `position` of an inventory this table is aligned with.
    func estimate(at position: Int) -> LatencyEstimate? {
        aligned.indices.contains(position) ? aligned[position] : nil
    }

    public subscript(cluster: String) -> LatencyEstimate? { estimates[cluster] }
}
