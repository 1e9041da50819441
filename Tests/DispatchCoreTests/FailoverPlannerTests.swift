import DispatchCore
import KubeModels
import Testing

/// The leader's failover and failback decisions, with plain values: the example rules (team-*
/// least-loaded over external1 and external2 with fallback main; external* on "{namespace}"
/// with reject) over the seed clusters.
@Suite struct FailoverPlannerTests {
    static let namespace = "direktiv-services-direktiv"
    static let now = 1_800_000_000.0

    func inventory(lost: Set<String> = []) throws -> ClusterInventory {
        try seedInventory { nodes in
            for index in nodes.indices where lost.contains(nodes[index].metadata.labels?["direktiv.io/namespace"] ?? "") {
                nodes[index].status?.conditions = [Condition(type: "Ready", status: "Unknown")]
            }
        }
    }

    func function(
        _ name: String, _ direktivNamespace: String, on cluster: String, lostSince: Double? = nil, from origin: String? = nil,
        originBackSince: Double? = nil
    ) -> FailoverPlanner.Function {
        FailoverPlanner.Function(
            key: FunctionKey(namespace: Self.namespace, name: name), direktivNamespace: direktivNamespace, cluster: cluster,
            requestPerPod: Resources(milliCPU: 100, memoryBytes: 64_000_000), replicas: 1, lostSince: lostSince, failedOverFrom: origin,
            originBackSince: originBackSince)
    }

    func key(_ name: String) -> FunctionKey { FunctionKey(namespace: Self.namespace, name: name) }

    func moves(_ actions: [FailoverPlanner.Action]) -> [String] {
        actions.compactMap {
            if case .move(let key, let from, let decision, let kind) = $0 {
                return "\(key.name) \(from)->\(decision.cluster ?? "-") \(kind.rawValue)"
            }
            return nil
        }
    }

    @Test func aLostClusterIsMarkedThenLeftOnlyAfterTheWait() throws {
        let rules = try exampleRules()
        let lost = try inventory(lost: ["external2"])
        let first = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external2")], rules: rules, overrides: [:], inventory: lost, now: Self.now, budget: 30)
        #expect(first == [.markLost(key("mailer"), since: Self.now)], "the clock starts; nothing moves yet")
        let early = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external2", lostSince: Self.now)], rules: rules, overrides: [:], inventory: lost,
            now: Self.now + 59, budget: 30)
        #expect(early.isEmpty, "59 s: a glitch shorter than afterSeconds moves nothing")
        let due = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external2", lostSince: Self.now)], rules: rules, overrides: [:], inventory: lost,
            now: Self.now + 60, budget: 30)
        #expect(moves(due) == ["mailer external2->external1 failedOver"], "decided again by its rule, external2 excluded")
    }

    @Test func aClusterBackWithinTheWaitClearsTheMark() throws {
        let actions = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external2", lostSince: Self.now)], rules: try exampleRules(), overrides: [:],
            inventory: try inventory(), now: Self.now + 30, budget: 30)
        #expect(actions == [.clearLost(key("mailer"))])
    }

    @Test func aFunctionWithNowhereToGoIsStranded() throws {
        // external2's own namespace may only run on external2 (reject).
        let actions = FailoverPlanner.plan(
            [function("resize", "external2", on: "external2", lostSince: Self.now)], rules: try exampleRules(), overrides: [:],
            inventory: try inventory(lost: ["external2"]), now: Self.now + 60, budget: 30)
        guard case .stranded(let stranded, let from, let reason) = try #require(actions.first) else {
            Issue.record("expected stranded, got \(actions)")
            return
        }
        #expect(stranded == key("resize") && from == "external2")
        #expect(reason.contains("external2"), "\(reason)")
    }

    /// A namespace pinned to the lost cluster goes where a new function of it would go now: the
    /// pin cannot be met, so the rule's onNoFit decides (team-*: fallback main).
    @Test func aPinnedNamespaceGoesWhereANewFunctionWould() throws {
        let rules = try exampleRules()
        let overrides = ["team-b": NamespaceOverride(pin: "external2")]
        let lost = try inventory(lost: ["external2"])
        let actions = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external2", lostSince: Self.now)], rules: rules, overrides: overrides, inventory: lost,
            now: Self.now + 60, budget: 30)
        let fresh = Placement.decide(
            PlacementRequest(direktivNamespace: "team-b", requestPerPod: Resources(milliCPU: 100, memoryBytes: 64_000_000)), rules: rules,
            overrides: overrides, inventory: lost)
        #expect(fresh.cluster == "main" && fresh.outcome == .fallback)
        #expect(moves(actions) == ["mailer external2->main failedOver"])
    }

    @Test func theBudgetDefersWhatItCannotPay() throws {
        let functions = ["a", "b", "c"].map { function($0, "team-b", on: "external2", lostSince: Self.now) }
        let actions = FailoverPlanner.plan(
            functions, rules: try exampleRules(), overrides: [:], inventory: try inventory(lost: ["external2"]), now: Self.now + 60, budget: 2)
        #expect(moves(actions) == ["a external2->external1 failedOver", "b external2->external1 failedOver"])
        #expect(actions.last == .deferred(key("c"), kind: .failover))
    }

    @Test func disabledFailoverKeepsTheClockButMovesNothing() throws {
        let rules = try RulesParser.parse(
            """
            clusterLabel: direktiv.io/namespace
            failover: {enabled: false}
            namespaces:
              - match: "team-*"
                clusters: [external1, external2]
            """)
        let actions = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external2")], rules: rules, overrides: [:], inventory: try inventory(lost: ["external2"]),
            now: Self.now, budget: 30)
        #expect(actions == [.markLost(key("mailer"), since: Self.now)])
    }

    @Test func aFailedOverFunctionReturnsOnceItsClusterHasBeenBackForTheWait() throws {
        let rules = try exampleRules()
        let healthy = try inventory()
        let marked = FailoverPlanner.plan(
            [function("mailer", "team-b", on: "external1", from: "external2")], rules: rules, overrides: [:], inventory: healthy, now: Self.now,
            budget: 30)
        #expect(marked == [.markOriginBack(key("mailer"), since: Self.now)])
        let back = function("mailer", "team-b", on: "external1", from: "external2", originBackSince: Self.now)
        #expect(FailoverPlanner.plan([back], rules: rules, overrides: [:], inventory: healthy, now: Self.now + 59, budget: 30).isEmpty)
        let due = FailoverPlanner.plan([back], rules: rules, overrides: [:], inventory: healthy, now: Self.now + 60, budget: 30)
        #expect(moves(due) == ["mailer external1->external2 failedBack"])
        // Not when the rules no longer allow the origin, nor with failback off.
        let excluded = FailoverPlanner.plan(
            [back], rules: rules, overrides: ["team-b": NamespaceOverride(exclude: ["external2"])], inventory: healthy, now: Self.now + 60, budget: 30
        )
        #expect(moves(excluded).isEmpty)
        var noFailback = rules
        noFailback.failover.failback = false
        #expect(moves(FailoverPlanner.plan([back], rules: noFailback, overrides: [:], inventory: healthy, now: Self.now + 60, budget: 30)).isEmpty)
        // The origin lost again before the wait: its mark goes.
        let again = FailoverPlanner.plan(
            [back], rules: rules, overrides: [:], inventory: try inventory(lost: ["external2"]), now: Self.now + 30, budget: 30)
        #expect(again == [.clearOriginBack(key("mailer"))])
    }

    @Test func theNextDueClockIsTheEarliestFailoverOrFailbackStillAhead() throws {
        let rules = try exampleRules()
        let lost = try inventory(lost: ["external2"])
        let functions = [
            function("fresh", "team-b", on: "external2"),
            function("older", "team-b", on: "external2", lostSince: Self.now - 50),
            function("back", "team-a", on: "external1", from: "main", originBackSince: Self.now - 30),
            function("fine", "team-a", on: "external1"),
        ]
        #expect(FailoverPlanner.nextDue(functions, rules: rules, inventory: lost, now: Self.now) == Self.now + 10, "older's 60 s")
        #expect(FailoverPlanner.nextDue(Array(functions.prefix(1)), rules: rules, inventory: lost, now: Self.now) == Self.now + 60, "marked now")
        let overdue = [function("stuck", "external2", on: "external2", lostSince: Self.now - 600)]
        #expect(FailoverPlanner.nextDue(overdue, rules: rules, inventory: lost, now: Self.now) == nil, "due and not moved: no timer")
        #expect(FailoverPlanner.nextDue([function("fine", "team-a", on: "external1")], rules: rules, inventory: lost, now: Self.now) == nil)
    }
}
