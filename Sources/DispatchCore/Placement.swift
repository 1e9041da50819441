import KubeModels

/// Decides where a function runs: a pure function of rules, overrides, inventory, reservations and the request.
public enum Placement {
    /// Places one function and explains the decision.
    ///
    /// Order: an override (pin, prefer, exclude) for the Direktiv namespace, then the first rule
    /// matching it; candidates are filtered (known, healthy, not excluded, the pod fits one node
    /// after open reservations) and chosen by the strategy; with none eligible, the rule's
    /// `onNoFit` applies. An existing placement is kept while its cluster stays healthy and allowed.
    public static func decide(
        _ request: PlacementRequest,
        rules: Rules,
        overrides: [String: NamespaceOverride] = [:],
        inventory: ClusterInventory,
        reservations: ReservationBook = ReservationBook(),
        latencies: LatencyTable = .empty
    ) -> PlacementDecision {
        let override = request.direktivNamespace.flatMap { overrides[$0] }
        var evaluation = Evaluation(
            request: request, inventory: inventory, reservations: reservations, excluded: override?.exclude ?? [], latencies: latencies,
            tolerance: rules.latencyTolerance)

        let namespace = request.direktivNamespace
        let matched: (index: Int, rule: NamespaceRule)?
        if let namespace {
            matched = rules.rule(for: namespace)
            if matched == nil, override?.pin == nil, (override?.prefer ?? []).isEmpty {
                return evaluation.unplaced("no rule matches Direktiv namespace \"\(namespace)\"", rule: nil, override: override)
            }
        } else {
            // Rules for named namespaces cannot apply, but one for every namespace can: without it
            // the function would be admitted unplaced and Liqo might run it on any peer.
            matched = rules.catchAllRule
            guard let matched else {
                return evaluation.unplaced("\(Self.unknownNamespace); no catch-all rule (match: \"*\") to place it by", rule: nil, override: nil)
            }
            if matched.rule.clusters.allSatisfy({ $0 == .direktivNamespace }) {
                return evaluation.unplaced(
                    "\(Self.unknownNamespace); the catch-all rule namespaces[\(matched.index)] (\(matched.rule.match)) names only {namespace}, which needs it",
                    rule: MatchedRule(index: matched.index, rule: matched.rule), override: nil)
            }
        }
        let matchedRule = matched.map { MatchedRule(index: $0.index, rule: $0.rule) }
        let subject = namespace.map { "Direktiv namespace \"\($0)\"" } ?? "a function of unknown Direktiv namespace"

        // Groups are tried in order: the pin alone, or the preferred clusters, then the rule's candidates.
        var groups: [(rows: [Int], strategy: PlacementStrategy)] = []
        if let pin = override?.pin {
            groups.append((evaluation.consider([.named(pin)], namespace: namespace), .ordered))
        } else {
            if let prefer = override?.prefer, !prefer.isEmpty {
                groups.append((evaluation.consider(prefer.map(ClusterReference.named), namespace: namespace), .ordered))
            }
            if let rule = matched?.rule {
                groups.append((evaluation.consider(rule.clusters, namespace: namespace), rule.strategy))
            }
        }
        evaluation.applyOverride(pinned: override?.pin != nil)

        var ruleText = matchedRule.map { " by rule namespaces[\($0.index)] (\($0.match))" } ?? ""
        var warnings: [String] = []
        if namespace == nil {
            ruleText = matchedRule.map { " by catch-all rule namespaces[\($0.index)] (\($0.match))" } ?? ""
            let skipped = matched?.rule.clusters.contains(.direktivNamespace) == true ? ", its {namespace} candidate skipped" : ""
            warnings.append("\(Self.unknownNamespace); placed by the catch-all rule\(skipped)")
        }
        if let namespace, let override {
            for name in override.namedClusters where inventory.cluster(named: name) == nil {
                warnings.append("override for \"\(namespace)\" names unknown cluster \"\(name)\"")
            }
        }

        if let current = request.currentCluster, let row = evaluation.candidateRow(current),
            row.blockers.subtracting([.doesNotFit]).isEmpty
        {
            // Its pods already hold their share, so fit does not matter; moving would cost cold starts.
            return evaluation.finish(
                .kept, cluster: current, summary: "kept on \(current): already placed there and the cluster is healthy", rule: matchedRule,
                override: override, warnings: warnings)
        }

        for (position, group) in groups.enumerated() {
            guard let chosen = evaluation.choose(among: group.rows, strategy: group.strategy) else { continue }
            let how: String
            if override?.pin != nil {
                how = "pinned by override"
            } else if position == 0, override?.prefer?.isEmpty == false {
                how = "first eligible preferred cluster (override)"
            } else {
                let eligible = evaluation.eligibleCount(group.rows)
                switch group.strategy {
                case .leastLoaded: how = "least loaded of \(eligible) eligible\(ruleText)"
                case .ordered: how = "first eligible in order\(ruleText)"
                case .lowestLatency:
                    let latency = evaluation.row(chosen)?.latency
                    how =
                        latency.map { "lowest latency of \(eligible) eligible, \($0.text)\(ruleText)" }
                        ?? "lowest latency of \(eligible) eligible: no latency known for any, least loaded\(ruleText)"
                }
            }
            return evaluation.finish(
                .placed, cluster: chosen, summary: "placed on \(chosen): \(how)", rule: matchedRule, override: override, warnings: warnings)
        }

        let considered = evaluation.condensedReasons()
        let onNoFit = matched?.rule.onNoFit ?? .reject
        switch onNoFit {
        case .reject:
            return evaluation.finish(
                .rejected, cluster: nil, summary: "rejected: no eligible cluster for \(subject)\(ruleText): \(considered)",
                rule: matchedRule, override: override, warnings: warnings)
        case .admitUnplaced:
            let summary = "admitted unplaced: no eligible cluster for \(subject)\(ruleText): \(considered)"
            return evaluation.finish(.unplaced, cluster: nil, summary: summary, rule: matchedRule, override: override, warnings: warnings + [summary])
        case .fallback(let fallback):
            let row = evaluation.considerFallback(fallback)
            let blockers = row?.blockers.subtracting([.doesNotFit]) ?? [.unknown]
            guard blockers.isEmpty else {
                let why = row.map { $0.withBlockers(blockers).reasons.joined(separator: "; ") } ?? "unknown cluster"
                return evaluation.finish(
                    .rejected, cluster: nil,
                    summary:
                        "rejected: no eligible cluster for \(subject)\(ruleText) (\(considered)) and fallback \(fallback) is not usable: \(why)",
                    rule: matchedRule, override: override, warnings: warnings)
            }
            if row?.blockers.contains(.doesNotFit) == true {
                warnings.append("fallback cluster \(fallback) lacks free capacity for this function; its pods may stay Pending")
            }
            return evaluation.finish(
                .fallback, cluster: fallback, summary: "fallback to \(fallback): no eligible candidate (\(considered))", rule: matchedRule,
                override: override, warnings: warnings)
        }
    }

    /// Why a function without a known Direktiv namespace is treated apart.
    static let unknownNamespace =
        "the Direktiv namespace of this function is unknown (list it in direktivNamespaces, let the agent discover it with --direktiv-api, or set the \(FunctionIdentity.namespaceAnnotation) annotation)"
}

/// The working state of one decision: a row per inventory cluster plus rows for unknown candidates.
private struct Evaluation {
    let request: PlacementRequest
    let inventory: ClusterInventory
    let context: PlacementContext
    var rows: [ClusterEvaluation]
    /// Consideration order of candidates, as indices into `rows`.
    var candidateOrder: [Int] = []
    var unknownIndex: [String: Int] = [:]

    /// Latencies that tie under `lowest-latency`.
    let tolerance: LatencyTolerance

    init(
        request: PlacementRequest, inventory: ClusterInventory, reservations: ReservationBook, excluded: [String],
        latencies: LatencyTable = .empty, tolerance: LatencyTolerance = LatencyTolerance()
    ) {
        self.request = request
        self.inventory = inventory
        self.tolerance = tolerance
        var reserved = reservations.isEmpty ? [:] : reservations.byCluster()
        if let own = request.function {
            // A function's own earlier reservation must not count against it.
            for (cluster, entries) in reserved where entries.contains(where: { $0.function == own }) {
                reserved[cluster] = entries.filter { $0.function != own }
            }
        }
        // Reserved pods take what they fit into, node by node, in closed form: a reservation
        // larger than its cluster holds no more than the cluster has.
        var packings: [String: NodePacking] = [:]
        var reservedTotals: [String: Resources] = [:]
        for cluster in inventory.clusters {
            guard let entries = reserved[cluster.name], !entries.isEmpty else { continue }
            var packing = NodePacking(schedulableNodesOf: cluster)
            var total = Resources.zero
            for reservation in entries.sorted(by: { $0.function < $1.function }) {
                total += reservation.requestPerPod * Int64(packing.spread(reservation.replicas, of: reservation.requestPerPod))
            }
            packings[cluster.name] = packing
            reservedTotals[cluster.name] = total
        }
        self.context = PlacementContext(
            request: request, totalRequest: request.requestPerPod * Int64(request.replicas), reservedPacking: packings, excluded: Set(excluded))
        var rows: [ClusterEvaluation] = []
        rows.reserveCapacity(inventory.clusters.count + 2)
        let health = Placement.healthFilter
        let aligned = latencies.isAligned(with: inventory)
        for (position, cluster) in inventory.clusters.enumerated() {
            let reservedTotal = reservedTotals[cluster.name] ?? .zero
            let ready = health.admits(cluster, in: context)
            rows.append(
                ClusterEvaluation(
                    cluster: cluster.name,
                    isCandidate: false,
                    freeBefore: Self.clamped(cluster.schedulable.free - reservedTotal),
                    blockers: ready ? [.notCandidate] : [.notCandidate, health.blocker],
                    healthProblems: ready ? [] : cluster.problems,
                    largestNodeFree: cluster.largestNodeFree,
                    requestNeeded: request.requestPerPod,
                    latency: latencies.isEmpty ? nil : aligned ? latencies.estimate(at: position) : latencies[cluster.name]
                )
            )
        }
        self.rows = rows
    }

    static func clamped(_ resources: Resources) -> Resources {
        Resources(milliCPU: max(0, resources.milliCPU), memoryBytes: max(0, resources.memoryBytes))
    }

    /// Turns cluster references into row indices, scoring each new candidate once; a cluster
    /// named in several groups is considered where it first appears.
    mutating func consider(_ references: [ClusterReference], namespace: String?) -> [Int] {
        var indices: [Int] = []
        func add(_ index: Int) {
            guard !rows[index].isCandidate else { return }
            scoreCandidate(index)
            candidateOrder.append(index)
            indices.append(index)
        }
        for reference in references {
            switch reference {
            case .all:
                for index in inventory.clusters.indices { add(index) }
            case .named(let name):
                addNamed(name, into: &indices)
            case .direktivNamespace:
                // Without a namespace there is no cluster named like it: skipped (the decision says so).
                if let namespace, KubernetesNames.isLabelValue(namespace) { addNamed(namespace, into: &indices) }
            }
        }
        return indices
    }

    private mutating func addNamed(_ name: String, into indices: inout [Int]) {
        if let known = inventory.index(of: name) {
            guard !rows[known].isCandidate else { return }
            scoreCandidate(known)
            candidateOrder.append(known)
            indices.append(known)
        } else if unknownIndex[name] == nil {
            var row = ClusterEvaluation(
                cluster: name, isCandidate: true, freeBefore: .zero, blockers: [.unknown], healthProblems: [], largestNodeFree: .zero,
                requestNeeded: request.requestPerPod)
            row.candidateRank = candidateOrder.count
            unknownIndex[name] = rows.count
            candidateOrder.append(rows.count)
            indices.append(rows.count)
            rows.append(row)
        }
    }

    /// Marks excluded clusters that are not candidates too (explanations list every cluster),
    /// and names the pin as the reason under a pin.
    mutating func applyOverride(pinned: Bool) {
        for name in context.excluded {
            if let index = inventory.index(of: name) ?? unknownIndex[name] { rows[index].add(.excluded) }
        }
        if pinned {
            // Under a pin the rule's candidates do not count; say so instead of "not a candidate of the rule".
            for index in rows.indices where !rows[index].isCandidate {
                rows[index].remove(.notCandidate)
                rows[index].add(.notPinned)
            }
        }
    }

    /// Evaluates the fallback cluster like a candidate so its fit and free capacity are known.
    mutating func considerFallback(_ name: String) -> ClusterEvaluation? {
        guard let index = inventory.index(of: name) else { return unknownIndex[name].map { rows[$0] } }
        if !rows[index].isCandidate {
            rows[index].remove(.notPinned)
            scoreCandidate(index)
            candidateOrder.append(index)
        }
        return rows[index]
    }

    /// Makes a cluster a candidate: the candidate filters give their blockers, the scorer its score.
    private mutating func scoreCandidate(_ index: Int) {
        let cluster = inventory.clusters[index]
        let after = rows[index].freeBefore - context.totalRequest
        rows[index].isCandidate = true
        rows[index].candidateRank = candidateOrder.count
        rows[index].remove(.notCandidate)
        rows[index].freeAfter = Self.clamped(after)
        rows[index].score = Placement.scorer.score(cluster, freeAfter: after, in: context)
        guard cluster.isReady else { return }
        for filter in CandidateFilter.allCases where !filter.admits(cluster, in: context) {
            rows[index].add(filter.blocker)
        }
    }

    func row(_ name: String) -> ClusterEvaluation? {
        (inventory.index(of: name) ?? unknownIndex[name]).map { rows[$0] }
    }

    func candidateRow(_ name: String) -> ClusterEvaluation? {
        row(name).flatMap { $0.isCandidate ? $0 : nil }
    }

    func eligibleCount(_ indices: [Int]) -> Int {
        indices.reduce(0) { $0 + (rows[$1].isEligible ? 1 : 0) }
    }

    /// The chosen eligible cluster of a group: the first for `ordered`; for `least-loaded` the
    /// highest score, then most free CPU after placing, then list order; for `lowest-latency`
    /// the least loaded of those within the tolerance of the lowest known latency (those without
    /// one only when none is known: unknown ranks last, it never rules a cluster out).
    func choose(among indices: [Int], strategy: PlacementStrategy) -> String? {
        let chosen: Int?
        switch strategy {
        case .ordered:
            chosen = indices.first { rows[$0].isEligible }
        case .leastLoaded:
            chosen = leastLoaded(indices) { rows[$0].isEligible }
        case .lowestLatency:
            // Two passes, no intermediate arrays: this runs over every candidate of a `*` rule.
            var lowest: Double?
            for index in indices where rows[index].isEligible {
                if let seconds = rows[index].latency?.seconds, seconds < (lowest ?? .infinity) { lowest = seconds }
            }
            if let lowest {
                let ceiling = tolerance.ceiling(over: lowest)
                chosen = leastLoaded(indices) { rows[$0].isEligible && (rows[$0].latency?.seconds ?? .infinity) <= ceiling }
            } else {
                chosen = leastLoaded(indices) { rows[$0].isEligible }
            }
        }
        return chosen.map { rows[$0].cluster }
    }

    /// Among `indices` that pass `included`: the highest score, then most free CPU after placing, then the first.
    private func leastLoaded(_ indices: [Int], where included: (Int) -> Bool) -> Int? {
        var best: Int?
        for index in indices where included(index) {
            guard let current = best else {
                best = index
                continue
            }
            let score = rows[index].score ?? 0
            let bestScore = rows[current].score ?? 0
            if score > bestScore || (score == bestScore && (rows[index].freeAfter?.milliCPU ?? 0) > (rows[current].freeAfter?.milliCPU ?? 0)) {
                best = index
            }
        }
        return best
    }

    /// `a (not ready: ...), b (does not fit: ...)` over the candidates.
    func condensedReasons() -> String {
        let parts = candidateOrder.map { index in
            let row = rows[index]
            let reasons = row.reasons
            return reasons.isEmpty ? row.cluster : "\(row.cluster) (\(reasons.joined(separator: "; ")))"
        }
        return parts.isEmpty ? "the rule names no clusters" : parts.joined(separator: ", ")
    }

    func unplaced(_ summary: String, rule: MatchedRule?, override: NamespaceOverride?) -> PlacementDecision {
        var copy = self
        return copy.finish(
            .unplaced, cluster: nil, summary: "admitted unplaced: " + summary, rule: rule, override: override,
            warnings: ["admitted unplaced: " + summary])
    }

    mutating func finish(
        _ outcome: PlacementDecision.Outcome,
        cluster: String?,
        summary: String,
        rule: MatchedRule?,
        override: NamespaceOverride?,
        warnings: [String]
    ) -> PlacementDecision {
        if let cluster, let index = inventory.index(of: cluster) ?? unknownIndex[cluster] { rows[index].isChosen = true }
        return PlacementDecision(
            outcome: outcome,
            cluster: cluster,
            summary: summary,
            direktivNamespace: request.direktivNamespace,
            requestPerPod: request.requestPerPod,
            replicas: request.replicas,
            rule: rule,
            override: override,
            rows: rows,
            warnings: warnings
        )
    }
}

extension ClusterEvaluation {
    mutating func add(_ blocker: Blockers) {
        blockers.insert(blocker)
        isEligible = blockers.isEmpty
    }

    mutating func remove(_ blocker: Blockers) {
        blockers.remove(blocker)
        isEligible = blockers.isEmpty
    }

    func withBlockers(_ replacement: Blockers) -> ClusterEvaluation {
        var copy = self
        copy.blockers = replacement
        copy.isEligible = replacement.isEmpty
        return copy
    }
}
