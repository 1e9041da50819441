import DispatchCore
import DispatchProxy
import KubeModels
import Synchronization

/// What the agent's parts share and change while it runs: the rules, the overrides, open
/// reservations, recent placements, and what Knative allows.
public final class AgentState: Sendable {
    private struct State {
        var rules: Rules
        var overrides: [String: NamespaceOverride] = [:]
        var reservations = ReservationBook()
        var memory = PlacementMemory()
        var knativeFeatures: KnativeFeatures?
        var decisions: [FunctionKey: RecordedDecision] = [:]
    }

    /// The last decision taken for a function, for `/v1/functions`.
    public struct RecordedDecision: Sendable, Hashable {
        public var outcome: PlacementDecision.Outcome
        public var cluster: String?
        public var summary: String
    }

    /// Decisions kept at most; beyond it an arbitrary one is dropped (functions come and go).
    static let decisionLimit = 20_000

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

    /// Everything a decision reads, in one consistent copy.
    public struct PlacementInputs: Sendable {
        public var rules: Rules
        public var overrides: [String: NamespaceOverride]
        public var reservations: ReservationBook
        public var rememberedCluster: String?
    }

    /// The inputs for placing `function`, with reservations pruned against `inventory`.
    public func placementInputs(for function: FunctionKey?, inventory: ClusterInventory, now: ContinuousClock.Instant) -> PlacementInputs {
        state.withLock { state in
            state.reservations.prune(inventory: inventory, now: now)
            return PlacementInputs(
                rules: state.rules,
                overrides: state.overrides,
                reservations: state.reservations,
                rememberedCluster: function.flatMap { state.memory.cluster(of: $0, at: now) }
            )
        }
    }

    /// Records a placement: reserves its request (unless a dry run) and remembers its cluster.
    public func record(_ decision: PlacementDecision, for function: FunctionKey, dryRun: Bool, now: ContinuousClock.Instant) {
        guard !dryRun else { return }
        state.withLock { state in
            if state.decisions.count >= Self.decisionLimit, state.decisions[function] == nil, let any = state.decisions.keys.first {
                state.decisions[any] = nil
            }
            state.decisions[function] = RecordedDecision(outcome: decision.outcome, cluster: decision.cluster, summary: decision.summary)
        }
        guard let cluster = decision.cluster else { return }
        state.withLock { state in
            state.memory.remember(function, on: cluster, at: now)
            if decision.outcome == .placed || decision.outcome == .fallback {
                let timeout = Duration.seconds(state.rules.reservationTimeoutSeconds)
                state.reservations.reserve(
                    Reservation(
                        function: function, cluster: cluster, requestPerPod: decision.requestPerPod, replicas: decision.replicas,
                        expiresAt: now + timeout))
            }
        }
    }

    public func decision(for function: FunctionKey) -> RecordedDecision? {
        state.withLock { $0.decisions[function] }
    }

    /// Open reservations, for explanations and tests.
    public var reservations: ReservationBook { state.withLock { $0.reservations } }
}

/// Knative's `config-features` switches that decide whether a patched Service is accepted.
public struct KnativeFeatures: Sendable, Hashable {
    public var affinityEnabled: Bool
    public var tolerationsEnabled: Bool
    /// Where the switches were read, `namespace/name`, so warnings point at the right object.
    public var configMap: String

    public init(affinityEnabled: Bool, tolerationsEnabled: Bool, configMap: String = "knative-serving/config-features") {
        self.affinityEnabled = affinityEnabled
        self.tolerationsEnabled = tolerationsEnabled
        self.configMap = configMap
    }

    public static let affinityFlag = "kubernetes.podspec-affinity"
    public static let tolerationsFlag = "kubernetes.podspec-tolerations"

    /// Reads the ConfigMap's data; a missing key means Knative's default, disabled.
    public init(configMapData data: [String: String], configMap: String = "knative-serving/config-features") {
        affinityEnabled = data[Self.affinityFlag]?.lowercased() == "enabled"
        tolerationsEnabled = data[Self.tolerationsFlag]?.lowercased() == "enabled"
        self.configMap = configMap
    }

    /// The flags that must be enabled but are not.
    public func missingFlags(addsTolerations: Bool) -> [String] {
        var flags: [String] = []
        if !affinityEnabled { flags.append(Self.affinityFlag) }
        if addsTolerations, !tolerationsEnabled { flags.append(Self.tolerationsFlag) }
        return flags
    }
}
