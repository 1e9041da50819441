import DispatchCore
import KubeModels
import Testing

@Suite struct RulesParserTests {
    @Test func parsesTheExampleFile() throws {
        let rules = try exampleRules()
        #expect(rules.clusterLabel == "direktiv.io/namespace")
        #expect(rules.functionsNamespaces == ["direktiv-services-direktiv"])
        #expect(rules.direktivNamespaces == ["main", "external1", "external2", "team-a", "team-b"])
        #expect(rules.namespaces.count == 3)
        #expect(rules.namespaces[0].clusters == [.direktivNamespace])
        #expect(rules.namespaces[1].match.text == "team-*")
        #expect(rules.namespaces[1].clusters == [.named("external1"), .named("external2")])
        #expect(rules.namespaces[1].onNoFit == .fallback("main"))
        #expect(rules.namespaces[2].strategy == .ordered)
        #expect(rules.namespaces[2].onNoFit == .admitUnplaced)
        #expect(rules.sizes.large.limits == Resources(milliCPU: 1000, memoryBytes: 2_048_000_000))
        #expect(rules.sizes.small.requests == Resources(milliCPU: 100, memoryBytes: 64_000_000))
        #expect(rules.liqo.addToleration)
        #expect(rules.reservationTimeoutSeconds == 120)
    }

    @Test func emptyDocumentMeansDefaults() throws {
        let rules = try RulesParser.parse("")
        #expect(rules == Rules())
        #expect(rules.namespaces[0].clusters == [.direktivNamespace])
        #expect(try RulesParser.parse("# only a comment\n") == Rules())
    }

    @Test func partialSizesKeepDirektivDefaults() throws {
        let rules = try RulesParser.parse("sizes:\n  large: {cpu: 2}\n")
        #expect(rules.sizes.large.requests == Resources(milliCPU: 2000, memoryBytes: 64_000_000))
        #expect(rules.sizes.small == SizeTable.direktivDefaults.small)
    }

    /// Asserts that parsing fails with an issue at `line:column` on `path` whose message contains `message`.
    func expectIssue(_ yaml: String, line: Int, column: Int, path: String, message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try RulesParser.parse(yaml)
            Issue.record("expected the rules to be refused", sourceLocation: sourceLocation)
        } catch {
            let match = error.issues.first { $0.path == path && $0.message.contains(message) }
            #expect(match != nil, "no issue at \(path) containing \"\(message)\" in:\n\(error)", sourceLocation: sourceLocation)
            #expect(
                match?.line == line && match?.column == column, "wrong position for \(path): \(String(describing: match))",
                sourceLocation: sourceLocation)
        }
    }

    @Test func unknownKeysNameTheirPosition() {
        expectIssue("clusterLable: x\n", line: 1, column: 1, path: "clusterLable", message: "unknown key \"clusterLable\"")
        expectIssue(
            """
            namespaces:
              - match: "team-*"
                clusters: [a]
                stratgy: ordered
            """,
            line: 4, column: 5, path: "namespaces[0].stratgy", message: "unknown key"
        )
        expectIssue("liqo:\n  tolerate: true\n", line: 2, column: 3, path: "liqo.tolerate", message: "unknown key")
    }

    @Test func wrongTypesAreErrors() {
        expectIssue("functionsNamespaces: foo\n", line: 1, column: 22, path: "functionsNamespaces", message: "expected a list")
        expectIssue("liqo:\n  addToleration: maybe\n", line: 2, column: 18, path: "liqo.addToleration", message: "expected true or false")
        expectIssue("namespaces: {a: b}\n", line: 1, column: 13, path: "namespaces", message: "expected a list")
        expectIssue("sizes: [small]\n", line: 1, column: 8, path: "sizes", message: "expected a mapping")
        expectIssue("reservationTimeoutSeconds: soon\n", line: 1, column: 28, path: "reservationTimeoutSeconds", message: "expected a number")
    }

    @Test func badGlobsAreErrors() {
        expectIssue(
            "namespaces:\n  - match: \"team-[a\"\n    clusters: [a]\n", line: 2, column: 12, path: "namespaces[0].match", message: "without a closing"
        )
        expectIssue(
            "namespaces:\n  - match: Team*\n    clusters: [a]\n", line: 2, column: 12, path: "namespaces[0].match",
            message: "cannot occur in a Direktiv namespace name")
        expectIssue("namespaces:\n  - match: \"[z-a]\"\n    clusters: [a]\n", line: 2, column: 12, path: "namespaces[0].match", message: "reversed")
    }

    @Test func duplicateAndUnreachableRulesAreErrors() {
        expectIssue(
            "namespaces:\n  - match: team-*\n    clusters: [a]\n  - match: team-*\n    clusters: [b]\n",
            line: 4, column: 12, path: "namespaces[1].match", message: "duplicate rule"
        )
        expectIssue(
            "namespaces:\n  - match: \"*\"\n    clusters: [a]\n  - match: team-*\n    clusters: [b]\n",
            line: 4, column: 12, path: "namespaces[1].match", message: "unreachable rule"
        )
    }

    @Test func quantitiesMustParseAndNotBeNegative() {
        expectIssue("sizes:\n  small: {cpu: -1}\n", line: 2, column: 16, path: "sizes.small.cpu", message: "negative")
        expectIssue("sizes:\n  small: {memory: lots}\n", line: 2, column: 19, path: "sizes.small.memory", message: "not a Kubernetes quantity")
        expectIssue("sizes:\n  small: {cpu: 2, limits: {cpu: 1}}\n", line: 2, column: 16, path: "sizes.small.cpu", message: "exceeds the cpu limit")
        expectIssue("sizes:\n  huge: {cpu: 2}\n", line: 2, column: 3, path: "sizes.huge", message: "unknown key")
    }

    @Test func rulePartsAreChecked() {
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: [a]\n    onNoFit: explode\n", line: 4, column: 14, path: "namespaces[0].onNoFit",
            message: "unknown onNoFit")
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: [a]\n    onNoFit: {fallback: \"Bad Name\"}\n", line: 4, column: 25,
            path: "namespaces[0].onNoFit.fallback", message: "not a valid cluster name")
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: [a]\n    onNoFit: {fall: x}\n", line: 4, column: 15, path: "namespaces[0].onNoFit.fall",
            message: "unknown key")
        expectIssue("namespaces:\n  - match: a\n", line: 2, column: 5, path: "namespaces[0]", message: "missing required key \"clusters\"")
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: []\n", line: 3, column: 15, path: "namespaces[0].clusters", message: "at least one cluster")
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: [a, a]\n", line: 3, column: 19, path: "namespaces[0].clusters[1]", message: "listed twice")
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: [\"-bad-\"]\n", line: 3, column: 16, path: "namespaces[0].clusters[0]",
            message: "not a valid cluster name")
        expectIssue(
            "namespaces:\n  - match: a\n    clusters: [a]\n    strategy: random\n", line: 4, column: 15, path: "namespaces[0].strategy",
            message: "unknown strategy")
        expectIssue("namespaces: []\n", line: 1, column: 13, path: "namespaces", message: "at least one rule")
    }

    @Test func namesAreChecked() {
        expectIssue("clusterLabel: \"not a label\"\n", line: 1, column: 15, path: "clusterLabel", message: "not a valid Kubernetes label key")
        expectIssue(
            "functionsNamespaces: [Direktiv]\n", line: 1, column: 23, path: "functionsNamespaces[0]", message: "not a valid Kubernetes namespace name"
        )
        expectIssue("functionsNamespaces: []\n", line: 1, column: 22, path: "functionsNamespaces", message: "at least one")
        expectIssue(
            "direktivNamespaces: [ok, 9bad]\n", line: 1, column: 26, path: "direktivNamespaces[1]", message: "not a valid Direktiv namespace name")
        expectIssue("direktivNamespaces: [ok, ok]\n", line: 1, column: 26, path: "direktivNamespaces[1]", message: "listed twice")
        expectIssue("reservationTimeoutSeconds: 0\n", line: 1, column: 28, path: "reservationTimeoutSeconds", message: "between 1 and 3600")
        expectIssue("liqo:\n  taintKey: \"a b\"\n", line: 2, column: 13, path: "liqo.taintKey", message: "not a valid taint key")
    }

    @Test func yamlSyntaxErrorsHaveAPosition() {
        do {
            _ = try RulesParser.parse("namespaces:\n  - match: [unclosed\n")
            Issue.record("expected a syntax error")
        } catch {
            #expect(error.issues.count == 1)
            #expect(error.issues[0].message.hasPrefix("invalid YAML"))
            #expect(error.issues[0].line >= 2)
        }
        do {
            _ = try RulesParser.parse("clusterLabel: a\nclusterLabel: b\n")
            Issue.record("expected a duplicate key error")
        } catch {
            #expect(error.issues.first?.message.contains("duplicate") == true, "\(error)")
            #expect(error.issues.first?.line ?? 0 > 0)
        }
    }

    @Test func reportsEveryProblemAtOnceInLineOrder() {
        let yaml = """
            clusterLabel: "bad label"
            functionsNamespaces: [ok, BAD]
            namespaces:
              - match: "x["
                clusters: [a]
              - match: b
                clusters: [a]
                onNoFit: maybe
            sizes:
              small: {cpu: lots, memory: -5}
            colour: blue
            """
        do {
            _ = try RulesParser.parse(yaml)
            Issue.record("expected errors")
        } catch {
            let paths = error.issues.map(\.path)
            #expect(
                paths == [
                    "clusterLabel", "functionsNamespaces[1]", "namespaces[0].match", "namespaces[1].onNoFit", "sizes.small.cpu", "sizes.small.memory",
                    "colour",
                ], "\(error)")
            #expect(error.issues.map(\.line) == error.issues.map(\.line).sorted())
            #expect(error.description.contains("10:"))
        }
    }
}

/// The `failover` blocks: the global one, a rule's own over it, and what check-rules refuses.
@Suite struct FailoverRulesTests {
    @Test func defaultsAreTheDocumentedOnes() throws {
        let rules = try RulesParser.parse("")
        #expect(rules.failover == FailoverSettings(enabled: true, afterSeconds: 60, failback: true, maxMovesPerMinute: 30))
        #expect(rules.failover(for: "team-a") == rules.failover)
    }

    @Test func aRulesBlockOverridesTheGlobalOneForItsNamespaces() throws {
        let rules = try RulesParser.parse(
            """
            failover: {afterSeconds: 120, maxMovesPerMinute: 10}
            namespaces:
              - match: "external*"
                clusters: ["{namespace}"]
                failover: {enabled: false}
              - match: "team-*"
                clusters: [external1, external2]
                failover: {afterSeconds: 30, failback: false}
              - match: "*"
                clusters: [main]
            """)
        #expect(rules.failover(for: "external1") == FailoverSettings(enabled: false, afterSeconds: 120, failback: true, maxMovesPerMinute: 10))
        #expect(rules.failover(for: "team-a") == FailoverSettings(enabled: true, afterSeconds: 30, failback: false, maxMovesPerMinute: 10))
        #expect(rules.failover(for: "main") == FailoverSettings(enabled: true, afterSeconds: 120, failback: true, maxMovesPerMinute: 10))
        #expect(rules.failover(for: nil) == rules.failover, "an unknown namespace follows the global block")
    }

    @Test func lowestLatencyAndItsTolerance() throws {
        let rules = try RulesParser.parse(
            "latencyTolerance: {percent: 10, milliseconds: 2}\nnamespaces:\n  - match: edge-*\n    clusters: [a, b]\n    strategy: lowest-latency\n")
        #expect(rules.namespaces.first?.strategy == .lowestLatency)
        #expect(rules.latencyTolerance == LatencyTolerance(percent: 10, milliseconds: 2))
        #expect(try RulesParser.parse("").latencyTolerance == LatencyTolerance(percent: 20, milliseconds: 5))
    }

    @Test(arguments: [
        ("failover: {afterSeconds: 0}\n", "failover.afterSeconds", "between 1 and 86400"),
        ("failover: {maxMovesPerMinute: 0}\n", "failover.maxMovesPerMinute", "between 1 and 10000"),
        ("failover: {enabled: maybe}\n", "failover.enabled", ""),
        ("failover: {afterSecond: 5}\n", "failover.afterSecond", "unknown key"),
        ("failover: true\n", "failover", ""),
        (
            "namespaces:\n  - match: a\n    clusters: [x]\n    failover: {maxMovesPerMinute: 5}\n", "namespaces[0].failover.maxMovesPerMinute",
            "top-level"
        ),
        ("namespaces:\n  - match: a\n    clusters: [x]\n    failover: {afterSeconds: 100000}\n", "namespaces[0].failover.afterSeconds", "between 1"),
        ("latencyTolerance: {percent: -1}\n", "latencyTolerance.percent", "between 0 and 1000"),
        ("latencyTolerance: {milliseconds: 70000}\n", "latencyTolerance.milliseconds", "between 0 and 60000"),
        ("latencyTolerance: {ms: 5}\n", "latencyTolerance.ms", "unknown key"),
        ("namespaces:\n  - match: a\n    clusters: [x]\n    strategy: fastest\n", "namespaces[0].strategy", "lowest-latency"),
    ])
    func refusesWhatCannotWork(yaml: String, path: String, message: String) {
        do {
            _ = try RulesParser.parse(yaml)
            Issue.record("expected \(yaml) to be refused")
        } catch {
            #expect(error.issues.contains { $0.path == path && $0.message.contains(message) }, "\(error)")
        }
    }
}
