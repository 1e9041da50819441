import DispatchCore
import DispatchProxy
import Foundation
import KubeModels
import Synchronization

/// What the agent's parts share and change while it runs: the rules, the overrides and what
/// Knative allows. Placements themselves are not here: they are FunctionPlacement objects,
/// shared by every replica through the API server (``PlacementStore``).
public final class AgentState: Sendable {
    private struct State {
        var rules: Rules
        var overrides: [String: NamespaceOverride] = [:]
        var knativeFeatures: KnativeFeatures?
        var discoveredNamespaces: [String] = []
        var latencies: [String: ClusterLatency] = [:]
        var latencyTable = LatencyTable.empty
    }

    private let state: Mutex<State>

    /// The rules' functions namespaces, for the proxy, which checks them on every call.
    public let functionsNamespaces: Published<[String]>

    public init(rules: Rules) {
        state = Mutex(State(rules: rules))
        functionsNamespaces = Published(rules.functionsNamespaces)
    }

    public var rules: Rules {
        get { state.withLock { $0.rules } }
        set {
            state.withLock { state in
                state.rules = newValue
                functionsNamespaces.value = newValue.functionsNamespaces
            }
        }
    }

    public var overrides: [String: NamespaceOverride] {
        get { state.withLock { $0.overrides } }
        set { state.withLock { $0.overrides = newValue } }
    }

    public var knativeFeatures: KnativeFeatures? {
        get { state.withLock { $0.knativeFeatures } }
        set { state.withLock { $0.knativeFeatures = newValue } }
    }

    /// The Direktiv namespaces read from Direktiv's API (``DirektivNamespaceDiscovery``), known
    /// alongside the rules' `direktivNamespaces`.
    public var discoveredNamespaces: [String] {
        get { state.withLock { $0.discoveredNamespaces } }
        set { state.withLock { $0.discoveredNamespaces = newValue } }
    }

    /// Every Direktiv namespace name the agent reads function IDs with: the rules' and the
    /// discovered ones, without duplicates.
    public var direktivNamespaces: [String] {
        state.withLock { state in
            var seen = Set(state.rules.direktivNamespaces)
            return state.rules.direktivNamespaces + state.discoveredNamespaces.filter { seen.insert($0).inserted }
        }
    }

    /// What is known of the round trip to each cluster (``PeerLatencyReader``).
    public var latencies: [String: ClusterLatency] {
        get { state.withLock { $0.latencies } }
        set { state.withLock { $0.latencies = newValue } }
    }

    /// What decisions read: the estimates as of the last latency read, aligned with the
    /// inventory of that read (``PeerLatencyReader``), so a decision reads them by position.
    public var latencyTable: LatencyTable {
        get { state.withLock { $0.latencyTable } }
        set { state.withLock { $0.latencyTable = newValue } }
    }

    /// The rules and overrides a decision reads, in one consistent copy.
    public var placementInputs: (rules: Rules, overrides: [String: NamespaceOverride]) {
        state.withLock { ($0.rules, $0.overrides) }
    }
}
