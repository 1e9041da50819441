import KubeModels
import Yams

/// Reads rules files: YAML decoded strictly, every problem reported with line, column and key path.
public enum RulesParser {
    /// Parses and validates a rules document; throws ``RulesError`` listing every problem found.
    public static func parse(_ yaml: String) throws(RulesError) -> Rules {
        let node: Yams.Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw RulesError(issues: [syntaxIssue(error)])
        }
        guard let node else { return Rules() }

        let locations = YAMLLocations(node)
        let sink = DiagnosticSink()
        for duplicate in locations.duplicateKeys {
            sink.record(duplicate.path, "duplicate key \"\(duplicate.path.last ?? "")\"", atKey: true)
        }
        var rules: Rules?
        do {
            let document = try YAMLDecoder().decode(RulesDocument.self, from: node, userInfo: [DiagnosticSink.userInfoKey: sink])
            rules = document.rules
        } catch {
            sink.record(error, at: [])
        }
        guard let rules, sink.problems.isEmpty else {
            let issues = sink.problems.map { problem in
                let mark = locations.mark(for: problem.path, atKey: problem.atKey)
                return RulesIssue(
                    line: mark?.line ?? 0,
                    column: mark?.column ?? 0,
                    path: YAMLLocations.display(problem.path),
                    message: problem.message
                )
            }
            throw RulesError(issues: issues.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
        return rules
    }

    private static func syntaxIssue(_ error: any Error) -> RulesIssue {
        switch error {
        case YamlError.scanner(let context, let problem, let mark, _),
            YamlError.parser(let context, let problem, let mark, _),
            YamlError.composer(let context, let problem, let mark, _):
            let detail = context.map { "\($0.text); " } ?? ""
            return RulesIssue(line: mark.line, column: mark.column, path: "", message: "invalid YAML: \(detail)\(problem)")
        case YamlError.duplicatedKeysInMapping(let duplicates, let context):
            return RulesIssue(
                line: context.mark.line,
                column: context.mark.column,
                path: "",
                message: "duplicate keys \(duplicates.joined(separator: ", ")) in a mapping"
            )
        default:
            return RulesIssue(line: 0, column: 0, path: "", message: "invalid YAML: \(error)")
        }
    }
}

/// The top level of a rules file as written.
private struct RulesDocument: Decodable {
    var rules: Rules

    init(from decoder: any Decoder) throws {
        let defaults = Rules()
        guard
            let mapping = StrictMapping(
                decoder,
                allowedKeys: [
                    "clusterLabel", "functionsNamespaces", "direktivNamespaces", "namespaces", "sizes", "liqo", "reservationTimeoutSeconds",
                    "placementRetentionSeconds", "failover", "latencyTolerance",
                ]
            )
        else {
            rules = defaults
            return
        }

        let clusterLabel = mapping.value("clusterLabel", default: defaults.clusterLabel)
        if !KubernetesNames.isLabelKey(clusterLabel) {
            mapping.problem("clusterLabel", "\"\(clusterLabel)\" is not a valid Kubernetes label key")
        }

        let functionsNamespaces = mapping.value("functionsNamespaces", default: Lenient<String>(defaults.functionsNamespaces)).elements
        if mapping.contains("functionsNamespaces"), functionsNamespaces.isEmpty {
            mapping.problem("functionsNamespaces", "must name at least one Kubernetes namespace")
        }
        Self.checkList(functionsNamespaces, key: "functionsNamespaces", in: mapping) { name in
            KubernetesNames.isDNS1123Label(name) ? nil : "\"\(name)\" is not a valid Kubernetes namespace name"
        }

        let direktivNamespaces = mapping.value("direktivNamespaces", default: Lenient<String>([])).elements
        Self.checkList(direktivNamespaces, key: "direktivNamespaces", in: mapping) { name in
            DirektivNames.isNamespaceName(name) ? nil : "\"\(name)\" is not a valid Direktiv namespace name"
        }

        var namespaceRules = defaults.namespaces
        if let written = mapping.optional("namespaces", as: Lenient<RuleDocument>.self) {
            namespaceRules = written.elements.compactMap(\.rule)
            Self.checkReachability(written.elements, in: mapping)
            if written.elements.isEmpty { mapping.problem("namespaces", "must hold at least one rule") }
        }

        let sizes = mapping.optional("sizes", as: SizesDocument.self)?.sizes ?? defaults.sizes
        let liqo = mapping.optional("liqo", as: LiqoDocument.self)?.settings ?? defaults.liqo
        let timeout = mapping.value("reservationTimeoutSeconds", default: defaults.reservationTimeoutSeconds)
        if !(1...3600).contains(timeout) {
            mapping.problem("reservationTimeoutSeconds", "must be between 1 and 3600 seconds")
        }
        let retention = mapping.value("placementRetentionSeconds", default: defaults.placementRetentionSeconds)
        if !(60...604_800).contains(retention) {
            mapping.problem("placementRetentionSeconds", "must be between 60 seconds and 7 days (604800)")
        }

        let failover = mapping.optional("failover", as: FailoverDocument.self)?.settings ?? defaults.failover
        let tolerance = mapping.optional("latencyTolerance", as: LatencyToleranceDocument.self)?.tolerance ?? defaults.latencyTolerance

        rules = Rules(
            clusterLabel: clusterLabel,
            functionsNamespaces: functionsNamespaces,
            direktivNamespaces: direktivNamespaces,
            namespaces: namespaceRules,
            sizes: sizes,
            liqo: liqo,
            reservationTimeoutSeconds: timeout,
            placementRetentionSeconds: retention,
            failover: failover,
            latencyTolerance: tolerance
        )
    }

    private static func checkList(_ values: [String], key: String, in mapping: StrictMapping, validate: (String) -> String?) {
        var seen: Set<String> = []
        for (index, value) in values.enumerated() {
            let path = mapping.path + [key, "[\(index)]"]
            if let problem = validate(value) { mapping.sink.record(path, problem) }
            if !seen.insert(value).inserted { mapping.sink.record(path, "\"\(value)\" is listed twice") }
        }
    }

    /// A rule whose pattern repeats an earlier one, or that follows a catch-all, can never match.
    private static func checkReachability(_ rules: [RuleDocument], in mapping: StrictMapping) {
        var seen: [String: Int] = [:]
        var catchAll: Int?
        for (index, rule) in rules.enumerated() {
            guard let pattern = rule.rule?.match else { continue }
            let path = mapping.path + ["namespaces", "[\(index)]", "match"]
            if let first = seen[pattern.text] {
                mapping.sink.record(path, "duplicate rule: namespaces[\(first)] already matches \"\(pattern.text)\"")
            } else if let catchAll {
                mapping.sink.record(path, "unreachable rule: namespaces[\(catchAll)] matches every namespace before it")
            }
            if seen[pattern.text] == nil { seen[pattern.text] = index }
            if pattern.matchesEverything, catchAll == nil { catchAll = index }
        }
    }
}

extension Lenient {
    fileprivate init(_ elements: [Element]) {
        self.elements = elements
    }
}

/// One entry of `namespaces` as written.
private struct RuleDocument: Decodable {
    var rule: NamespaceRule?

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: ["match", "clusters", "strategy", "onNoFit", "failover"]) else {
            return
        }
        var pattern: NamespacePattern?
        if let text = mapping.optional("match", as: String.self) {
            do {
                pattern = try NamespacePattern(text)
            } catch {
                mapping.problem("match", error.description)
            }
        } else if !mapping.contains("match") {
            pattern = try? NamespacePattern("*")
        }

        var clusters: [ClusterReference] = []
        if let written = mapping.optional("clusters", as: Lenient<String>.self)?.elements {
            var seen: Set<String> = []
            for (index, entry) in written.enumerated() {
                let path = mapping.path + ["clusters", "[\(index)]"]
                if !seen.insert(entry).inserted {
                    mapping.sink.record(path, "cluster \"\(entry)\" is listed twice")
                    continue
                }
                switch entry {
                case "{namespace}": clusters.append(.direktivNamespace)
                case "*": clusters.append(.all)
                default:
                    if entry.isEmpty || !KubernetesNames.isLabelValue(entry) {
                        mapping.sink.record(path, "\"\(entry)\" is not a valid cluster name (a label value), \"{namespace}\" or \"*\"")
                    } else {
                        clusters.append(.named(entry))
                    }
                }
            }
            if written.isEmpty { mapping.problem("clusters", "must list at least one cluster") }
        } else if !mapping.contains("clusters") {
            mapping.problem("missing required key \"clusters\"")
        }

        var strategy = PlacementStrategy.leastLoaded
        if let text = mapping.optional("strategy", as: String.self) {
            if let parsed = PlacementStrategy(rawValue: text) {
                strategy = parsed
            } else {
                mapping.problem(
                    "strategy", "unknown strategy \"\(text)\" (allowed: \(PlacementStrategy.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
        }

        let onNoFit = mapping.optional("onNoFit", as: NoFitDocument.self)?.policy ?? .reject
        let failover = mapping.optional("failover", as: FailoverOverrideDocument.self)?.override

        if let pattern {
            rule = NamespaceRule(match: pattern, clusters: clusters, strategy: strategy, onNoFit: onNoFit, failover: failover)
        }
    }
}

/// `onNoFit`: `reject`, `admit-unplaced`, or `{fallback: <cluster>}`.
private struct NoFitDocument: Decodable {
    var policy: NoFitPolicy = .reject

    init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            switch text {
            case "reject": policy = .reject
            case "admit-unplaced": policy = .admitUnplaced
            default:
                DiagnosticSink.from(decoder).record(
                    DiagnosticSink.path(decoder.codingPath),
                    "unknown onNoFit \"\(text)\" (allowed: reject, admit-unplaced, or fallback: <cluster>)"
                )
            }
            return
        }
        guard let mapping = StrictMapping(decoder, allowedKeys: ["fallback"]) else { return }
        guard let cluster = mapping.optional("fallback", as: String.self) else {
            if !mapping.contains("fallback") { mapping.problem("missing required key \"fallback\"") }
            return
        }
        if cluster.isEmpty || !KubernetesNames.isLabelValue(cluster) {
            mapping.problem("fallback", "\"\(cluster)\" is not a valid cluster name")
            return
        }
        policy = .fallback(cluster)
    }
}

/// `sizes` as written: any of small, medium, large, each overriding Direktiv's defaults.
private struct SizesDocument: Decodable {
    var sizes = SizeTable.direktivDefaults

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: FunctionSize.allCases.map(\.rawValue)) else { return }
        for size in FunctionSize.allCases {
            guard let written = mapping.optional(size.rawValue, as: SizeDocument.self) else { continue }
            let spec = written.spec(over: sizes[size])
            switch size {
            case .small: sizes.small = spec
            case .medium: sizes.medium = spec
            case .large: sizes.large = spec
            }
        }
    }
}

/// One size: `cpu` and `memory` requests and optional `limits`.
private struct SizeDocument: Decodable {
    var cpu: Int64?
    var memory: Int64?
    var limits: LimitsDocument?

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: ["cpu", "memory", "limits"]) else { return }
        cpu = QuantityReader.read("cpu", in: mapping, milli: true)
        memory = QuantityReader.read("memory", in: mapping, milli: false)
        limits = mapping.optional("limits", as: LimitsDocument.self)
        if let limits {
            if let cpu, let limit = limits.cpu, cpu > limit { mapping.problem("cpu", "request exceeds the cpu limit") }
            if let memory, let limit = limits.memory, memory > limit { mapping.problem("memory", "request exceeds the memory limit") }
        }
    }

    func spec(over defaults: SizeSpec) -> SizeSpec {
        let requests = Resources(milliCPU: cpu ?? defaults.requests.milliCPU, memoryBytes: memory ?? defaults.requests.memoryBytes)
        var resultLimits = defaults.limits
        if let limits {
            let base = defaults.limits ?? requests
            resultLimits = Resources(milliCPU: limits.cpu ?? base.milliCPU, memoryBytes: limits.memory ?? base.memoryBytes)
        }
        return SizeSpec(requests: requests, limits: resultLimits)
    }
}

private struct LimitsDocument: Decodable {
    var cpu: Int64?
    var memory: Int64?

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: ["cpu", "memory"]) else { return }
        cpu = QuantityReader.read("cpu", in: mapping, milli: true)
        memory = QuantityReader.read("memory", in: mapping, milli: false)
    }
}

/// Reads a quantity-valued key, refusing unparsable and negative values.
private enum QuantityReader {
    static func read(_ key: String, in mapping: StrictMapping, milli: Bool) -> Int64? {
        guard let text = mapping.optional(key, as: String.self) else { return nil }
        do {
            let quantity = try Quantity(parsing: text)
            if quantity.isNegative {
                mapping.problem(key, "\"\(text)\" is negative")
                return nil
            }
            return milli ? try quantity.milliValue() : try quantity.value()
        } catch {
            mapping.problem(key, error.description)
            return nil
        }
    }
}

/// `liqo` as written.
/// The top-level `failover` block: `enabled`, `afterSeconds`, `failback`, `maxMovesPerMinute`.
private struct FailoverDocument: Decodable {
    var settings = FailoverSettings()

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: ["enabled", "afterSeconds", "failback", "maxMovesPerMinute"]) else { return }
        settings.enabled = mapping.value("enabled", default: settings.enabled)
        settings.failback = mapping.value("failback", default: settings.failback)
        settings.afterSeconds = mapping.value("afterSeconds", default: settings.afterSeconds)
        if !FailoverSettings.afterSecondsRange.contains(settings.afterSeconds) {
            mapping.problem("afterSeconds", "must be between 1 and 86400 seconds")
        }
        settings.maxMovesPerMinute = mapping.value("maxMovesPerMinute", default: settings.maxMovesPerMinute)
        if !FailoverSettings.maxMovesPerMinuteRange.contains(settings.maxMovesPerMinute) {
            mapping.problem("maxMovesPerMinute", "must be between 1 and 10000")
        }
    }
}

/// A rule's `failover` block: `enabled`, `afterSeconds`, `failback`; the move budget is global.
private struct FailoverOverrideDocument: Decodable {
    var override = FailoverOverride()

    init(from decoder: any Decoder) throws {
        let mapping = StrictMapping(decoder, allowedKeys: ["enabled", "afterSeconds", "failback", "maxMovesPerMinute"])
        guard let mapping else { return }
        if mapping.contains("maxMovesPerMinute") {
            mapping.problem("maxMovesPerMinute", "is a single budget across all functions: set it in the top-level failover block")
        }
        override.enabled = mapping.optional("enabled", as: Bool.self)
        override.failback = mapping.optional("failback", as: Bool.self)
        override.afterSeconds = mapping.optional("afterSeconds", as: Int.self)
        if let seconds = override.afterSeconds, !FailoverSettings.afterSecondsRange.contains(seconds) {
            mapping.problem("afterSeconds", "must be between 1 and 86400 seconds")
        }
    }
}

/// `latencyTolerance: {percent: 20, milliseconds: 5}`.
private struct LatencyToleranceDocument: Decodable {
    var tolerance = LatencyTolerance()

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: ["percent", "milliseconds"]) else { return }
        let percent = mapping.value("percent", default: tolerance.percent)
        if (0...1000).contains(percent) {
            tolerance.percent = percent
        } else {
            mapping.problem("percent", "must be between 0 and 1000")
        }
        let milliseconds = mapping.value("milliseconds", default: tolerance.milliseconds)
        if (0...60_000).contains(milliseconds) {
            tolerance.milliseconds = milliseconds
        } else {
            mapping.problem("milliseconds", "must be between 0 and 60000")
        }
    }
}

private struct LiqoDocument: Decodable {
    var settings = LiqoSettings()

    init(from decoder: any Decoder) throws {
        guard let mapping = StrictMapping(decoder, allowedKeys: ["addToleration", "taintKey"]) else { return }
        settings.addToleration = mapping.value("addToleration", default: settings.addToleration)
        let taintKey = mapping.value("taintKey", default: settings.taintKey)
        if KubernetesNames.isLabelKey(taintKey) {
            settings.taintKey = taintKey
        } else {
            mapping.problem("taintKey", "\"\(taintKey)\" is not a valid taint key")
        }
    }
}

extension DiagnosticSink {
    static func from(_ decoder: any Decoder) -> DiagnosticSink {
        guard let sink = decoder.userInfo[userInfoKey] as? DiagnosticSink else {
            preconditionFailure("rules types decode only through RulesParser")
        }
        return sink
    }
}
