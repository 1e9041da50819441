import AsyncHTTPClient
import DispatchAgent
import DispatchCore
import DispatchDoctor
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import NIOHTTP1

/// The demo's steps: Direktiv creates and calls functions, a Liqo peer goes away, an operator
/// sets an override. Each step checks what it expects and prints a table.
struct DemoScript: Sendable {
    let options: DemoOptions
    let endpoints: DemoEndpoints
    let sim: KubeSim
    let functionServers: FunctionServers
    /// Replica A: the proxy and admin API the demo calls, and whose caches it reads.
    let agent: Agent
    /// Replica B, which decides every other creation.
    let replica: Agent
    let webhooks: WebhookRoute
    let client: KubeClient
    let token: String
    let output: @Sendable (String) -> Void

    static let functionsNamespace = Scenario.functionsNamespace

    /// A function as Direktiv defines it: Direktiv namespace, name, size.
    struct Function: Sendable, Hashable {
        var namespace: String
        var name: String
        var size: FunctionSize = .small
        var minScale = 1
        /// The Knative Service's name, as Direktiv 0.6-0.8.0 derive it.
        var serviceName: String { "\(namespace)-\(name)" }
        var key: FunctionKey { FunctionKey(namespace: DemoScript.functionsNamespace, name: serviceName) }
    }

    static let initialFunctions = [
        Function(namespace: "main", name: "hello"),
        // Three large pods make external1 the busier peer, relative to its size.
        Function(namespace: "external1", name: "greeter", size: .large, minScale: 3),
        Function(namespace: "external2", name: "resize", size: .medium),
        Function(namespace: "team-a", name: "csv"),
        Function(namespace: "team-a", name: "pdf", size: .medium),
        Function(namespace: "team-b", name: "mailer"),
    ]

    /// Placed by latency (the demo rules' `edge-*` rule), in step 2.
    static let edgeFunction = Function(namespace: "edge-eu", name: "thumbs")

    func perform() async throws {
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(2), read: .seconds(30))))
        do {
            try await steps(http)
            try await http.shutdown()
        } catch {
            try? await http.shutdown()
            throw error
        }
    }

    private func steps(_ http: HTTPClient) async throws {
        output(
            "direktiv-dispatch demo: KubeSim (seed: main + Liqo peers external1, external2) at https://\(endpoints.host):\(endpoints.api), agent webhook :\(endpoints.webhook), proxy :\(endpoints.proxy), admin :\(endpoints.admin)"
        )
        output("files: \(URL(fileURLWithPath: endpoints.kubeconfig).deletingLastPathComponent().path)")

        // 0. The setup the seed document prescribes, checked link by link (GET /v1/doctor).
        let doctorStep = "doctor: the setup, checked"
        let doctorAnswer = try await admin(.GET, "/v1/doctor", http: http, step: doctorStep)
        guard let doctorReport = try? JSONDecoder().decode(DoctorReport.self, from: Data(doctorAnswer.body)) else {
            throw DemoFailure(step: doctorStep, reason: "GET /v1/doctor did not answer a report")
        }
        output(
            "\n== \(doctorStep) (GET /v1/doctor; the same as direktiv-dispatch doctor --kubeconfig \(endpoints.kubeconfig))\n" + doctorReport.render()
        )
        let failed = doctorReport.findings.filter { $0.status == .fail }.map { "\($0.check): \($0.detail)" }
        try expect(failed.isEmpty, doctorStep, "the seed setup fails: \(failed.joined(separator: "; "))")

        // 1. Direktiv creates its functions; the webhook places each one.
        var step = "1/6 Direktiv creates functions"
        progress(
            step,
            "creating \(Self.initialFunctions.count) Knative Services through the API server; the webhook reaches replicas agent-a and agent-b in turn"
        )
        for function in Self.initialFunctions { try await create(function, step: step) }
        try await waitUntilReady(Self.initialFunctions, step: step)
        for function in Self.initialFunctions {
            let expected: Set<String> = function.namespace.hasPrefix("team-") ? ["external1", "external2"] : [function.namespace]
            try expect(
                cluster(of: function).map(expected.contains) == true, step,
                "\(function.serviceName) on \(cluster(of: function) ?? "no cluster"), expected \(expected.sorted().joined(separator: " or "))")
        }
        table(step, Self.initialFunctions)

        // 2. The engine calls them through the proxy, as with HTTP_PROXY set.
        step = "2/6 the engine calls each function through the proxy"
        progress(step, "\(options.callsPerFunction) calls per function with Direktiv's headers")
        for function in Self.initialFunctions { try await invoke(function, step: step) }
        // The edge namespace's rule (strategy lowest-latency) ranks the peers by their measured
        // round trip: external1 answers in 15 ms, external2 in 40 ms, though external2 has more room.
        // Either replica may decide: both must have read the peers' latencies (every second, the
        // first right after their inventory synced; a loaded machine can delay it).
        let (stateA, stateB) = (agent.state, replica.state)
        _ = try await within(step, "both replicas to read the peers' latencies") {
            while stateA.latencyTable.isEmpty || stateB.latencyTable.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            return true
        }
        let byLoad = try await explain("team-b", http: http, step: step)
        let byLatency = try await explain("edge-eu", http: http, step: step)
        progress(step, "explain edge-eu (lowest-latency): \(byLatency.summary); team-b (least-loaded) would take \(byLoad.cluster ?? "none")")
        try expect(byLoad.cluster == "external2", step, "least-loaded chose \(byLoad.cluster ?? "no cluster"), expected external2")
        try expect(byLatency.cluster == "external1", step, "lowest-latency chose \(byLatency.cluster ?? "no cluster"), expected external1")
        try await create(Self.edgeFunction, step: step)
        try await waitUntilReady([Self.edgeFunction], step: step)
        try expect(cluster(of: Self.edgeFunction) == "external1", step, "edge-eu/thumbs went to \(cluster(of: Self.edgeFunction) ?? "no cluster")")
        try await invoke(Self.edgeFunction, step: step)
        for function in Self.initialFunctions + [Self.edgeFunction] {
            guard let cluster = cluster(of: function), let p50 = agent.statistics.latency(function: function.key)?.p50 else { continue }
            // The simulated WAN delay is a floor under every call to that cluster.
            try expect(p50 >= functionServers.latency(of: cluster), step, "\(function.serviceName): p50 \(p50) below \(cluster)'s simulated latency")
        }
        table(step, Self.initialFunctions + [Self.edgeFunction])

        // 3. A Liqo peer goes away: the next team function lands on the other one.
        step = "3/6 Liqo peer external2 is lost: new functions avoid it"
        let before = try await explain("team-b", http: http, step: step)
        progress(step, "explain team-b before: \(before.summary)")
        // external1 carries three large pods, so relative to its size external2 has more room.
        try expect(
            before.cluster == "external2", step, "explain chose \(before.cluster ?? "no cluster") for team-b, expected external2 (least loaded)")
        // What ran on external2 when it was lost: under load, step 3 may outlast failover.afterSeconds.
        let onExternal2 = Self.initialFunctions.filter { cluster(of: $0) == "external2" }
        try sim.setPeer(cluster: "external2", reachable: false)
        try await waitForInventory(step) { $0.cluster(named: "external2")?.isReady == false }
        let after = try await explain("team-b", http: http, step: step)
        progress(step, "explain team-b after:  \(after.summary)")
        try expect(after.cluster == "external1", step, "explain chose \(after.cluster ?? "no cluster") with external2 NotReady")
        let external2Row = after.rows.first { $0.cluster == "external2" }
        try expect(external2Row?.isEligible == false, step, "explain still counts external2 as eligible")
        progress(step, "external2 in the explanation: \(external2Row?.reasons.joined(separator: "; ") ?? "-")")
        let digest = Function(namespace: "team-b", name: "digest")
        try await create(digest, step: step)
        try await waitUntilReady([digest], step: step)
        try expect(
            cluster(of: digest) == "external1", step,
            "team-b/digest went to \(cluster(of: digest) ?? "no cluster"), expected external1 while external2 is NotReady")
        try await invoke(digest, step: step)
        table(step, [digest])

        // 4. external2 stays lost past failover.afterSeconds: the leader moves what may move.
        step = "4/6 external2 stays lost: its functions fail over"
        let movable = onExternal2.filter { $0.namespace.hasPrefix("team-") }
        let pinned = onExternal2.filter { !$0.namespace.hasPrefix("team-") }
        try expect(!movable.isEmpty, step, "no team function ran on external2 to fail over")
        progress(
            step,
            "after \(DemoFiles.failoverAfterSeconds) s (failover.afterSeconds) the leader moves \(movable.map(\.name).joined(separator: ", ")) to external1; \(pinned.map(\.name).joined(separator: ", ")) may run only on external2 and is stranded"
        )
        try await waitForPlacements(step, "the leader to fail over \(movable.count + pinned.count) functions") { directory in
            movable.allSatisfy { Self.isReady($0, on: "external1", outcome: FailoverPlanner.MoveKind.failover.rawValue, in: directory) }
                && pinned.allSatisfy { directory.placement(for: $0.key)?.condition(FunctionPlacement.ConditionType.stranded)?.status == "True" }
        }
        // Calls are answered again, by the new revision on external1.
        for function in movable { try await invoke(function, step: step) }
        table(step, movable + pinned)

        // 5. An operator pins team-a to the main cluster and moves what already runs.
        step = "5/6 operator pins team-a to main and rebalances"
        try await putOverride("team-a", ["pin": "main"], http: http, step: step)
        progress(step, "PUT \(endpoints.adminURL)/v1/namespaces/team-a/override {\"pin\": \"main\"}")
        let report = Function(namespace: "team-a", name: "report")
        try await create(report, step: step)
        try await waitUntilReady([report], step: step)
        try expect(cluster(of: report) == "main", step, "team-a/report went to \(cluster(of: report) ?? "no cluster"), expected main (pinned)")
        let teamA = Self.initialFunctions.filter { $0.namespace == "team-a" }
        let rebalance = try await admin(.POST, "/v1/namespaces/team-a/rebalance", body: ["dryRun": false], http: http, step: step)
        let moves = (try? JSONValue.parse(rebalance.body))?["functions"]?.arrayValue?.filter { $0["moves"]?.boolValue == true } ?? []
        progress(
            step,
            "POST \(endpoints.adminURL)/v1/namespaces/team-a/rebalance: "
                + moves.map { "\($0["name"]?.stringValue ?? "") \($0["from"]?.stringValue ?? "") -> \($0["to"]?.stringValue ?? "")" }
                .joined(separator: ", "))
        try await waitForPlacements(step, "the leader to move team-a to main") { directory in
            teamA.allSatisfy { Self.isReady($0, on: "main", in: directory) }
        }
        for function in teamA + [report] { try await invoke(function, step: step) }
        table(step, teamA + [report])

        // 6. external2 comes back: what left it returns once it has been healthy for afterSeconds.
        step = "6/6 external2 is back: functions fail back; all called again"
        try sim.setPeer(cluster: "external2", reachable: true)
        try await waitForInventory(step) { $0.cluster(named: "external2")?.isReady == true }
        progress(
            step,
            "once external2 has been healthy for \(DemoFiles.failoverAfterSeconds) s, what failed over returns (failover.failback): \(movable.map(\.name).joined(separator: ", "))"
        )
        try await waitForPlacements(step, "the leader to fail back") { directory in
            movable.allSatisfy { Self.isReady($0, on: "external2", outcome: FailoverPlanner.MoveKind.failback.rawValue, in: directory) }
                && pinned.allSatisfy { function in
                    directory.placement(for: function.key)?.condition(FunctionPlacement.ConditionType.stranded)?.status != "True"
                        && directory.record(namespace: Self.functionsNamespace, name: function.serviceName)?.isReady == true
                }
        }
        let all = Self.initialFunctions + [digest, report]
        for function in all { try await invoke(function, step: step) }
        table(step, all)
        clusterTable()
        try await placementTable(all, step: step)
        output("all steps behaved as expected")
    }

    // MARK: acting as Direktiv

    /// Creates the Knative Service as Direktiv 0.8.0 does (labels name the namespace).
    func create(_ function: Function, step: String) async throws {
        var spec = FunctionSpec(
            namespace: function.namespace, name: function.serviceName, image: "direktiv/\(function.name):v1", size: function.size,
            minScale: function.minScale)
        spec.envs = ["DIREKTIV_DEMO": "1"]
        var object = try DirektivServiceBuilder.knativeService(
            spec, namespace: Self.functionsNamespace, sizes: agent.state.rules.sizes, sidecarImage: nil)
        // Direktiv itself sets neither the agent's annotation nor its managed-by label.
        object =
            object
            .setting(path: ["metadata", "annotations", FunctionIdentity.namespaceAnnotation], nil)
            .setting(path: ["metadata", "labels", DirektivServiceBuilder.managedByLabel], nil)
            .setting(path: ["metadata", "labels", "direktiv.io/name"], .string(function.name))
        do {
            try webhooks.next()
            _ = try await client.create(object, .knativeServices, namespace: Self.functionsNamespace)
        } catch {
            throw DemoFailure(step: step, reason: "creating \(function.serviceName): \(error)")
        }
    }

    func invoke(_ function: Function, step: String) async throws {
        let proxy = ForwardProxyClient(host: endpoints.host, port: endpoints.proxy)
        let deadline = Date().addingTimeInterval(30).formatted(.iso8601)
        for call in 1...options.callsPerFunction {
            let actionID = UUID().uuidString.lowercased()
            let body = Array(#"{"call": \#(call), "function": "\#(function.name)"}"#.utf8)
            let answer: ForwardProxyClient.Answer
            do {
                answer = try await proxy.post(
                    "http://\(function.serviceName).\(Self.functionsNamespace)/",
                    headers: [
                        ("Host", "\(function.serviceName).\(Self.functionsNamespace)"), ("Content-Type", "application/json"),
                        ("Direktiv-ActionID", actionID), ("Direktiv-TempDir", "/mnt/shared/\(actionID)"), ("Direktiv-Deadline", deadline),
                    ],
                    body: body
                )
            } catch {
                throw DemoFailure(step: step, reason: "calling \(function.serviceName) through the proxy: \(error)")
            }
            try expect(
                answer.status == 200, step,
                "\(function.serviceName) answered \(answer.status): \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
            try expect(answer.body == body, step, "\(function.serviceName) did not echo the body")
            try expect(answer.headers.first(name: "Direktiv-ActionID") == actionID, step, "\(function.serviceName) lost the Direktiv-ActionID")
        }
    }

    // MARK: acting as an operator

    func explain(_ namespace: String, http: HTTPClient, step: String) async throws -> PlacementDecision {
        let answer = try await admin(
            .POST, "/v1/placements/explain", body: ["namespace": .string(namespace), "size": "small"], http: http, step: step)
        do {
            return try JSONDecoder().decode(PlacementDecision.self, from: Data(answer.body))
        } catch {
            throw DemoFailure(step: step, reason: "the explain answer does not decode: \(error)")
        }
    }

    func putOverride(_ namespace: String, _ override: JSONValue, http: HTTPClient, step: String) async throws {
        let answer = try await admin(.PUT, "/v1/namespaces/\(namespace)/override", body: override, http: http, step: step)
        try expect(answer.status == 200 || answer.status == 201, step, "PUT override answered \(answer.status)")
    }

    private func admin(
        _ method: HTTPMethod, _ path: String, body: JSONValue? = nil, http: HTTPClient, step: String
    ) async throws -> (status: Int, body: [UInt8]) {
        var request = HTTPClientRequest(url: endpoints.adminURL + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body.jsonBytes))
        }
        do {
            let response = try await http.execute(request, timeout: .seconds(10))
            let bytes = Array(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            guard (200..<300).contains(Int(response.status.code)) else {
                throw DemoFailure(step: step, reason: "\(method) \(path) answered \(response.status.code): \(String(decoding: bytes, as: UTF8.self))")
            }
            return (Int(response.status.code), bytes)
        } catch let failure as DemoFailure {
            throw failure
        } catch {
            throw DemoFailure(step: step, reason: "\(method) \(path): \(error)")
        }
    }

    // MARK: waiting

    func waitUntilReady(_ functions: [Function], step: String) async throws {
        let keys = Set(functions.map(\.key))
        let ready = try await within(step, "functions to become Ready") {
            var reported = -1
            for await records in agent.functions.changes() {
                let count = records.filter { keys.contains($0.key) && $0.isReady }.count
                if count != reported {
                    reported = count
                    progress(step, "waiting for Knative: \(count)/\(keys.count) Ready")
                }
                if count == keys.count { return true }
            }
            return false
        }
        try expect(ready, step, "the agent stopped before the functions were Ready")
    }

    /// Waits until both replicas' inventories satisfy `condition`: the webhook reaches either.
    func waitForInventory(_ step: String, until condition: @escaping @Sendable (ClusterInventory) -> Bool) async throws {
        for inventory in [agent.inventory, replica.inventory] {
            _ = try await within(step, "the inventory to see the change") {
                for await snapshot in inventory.snapshots() where condition(snapshot) { return true }
                return false
            }
        }
    }

    /// Waits until `condition` holds for replica A's view of the workloads and their placements.
    func waitForPlacements(_ step: String, _ what: String, until condition: @escaping @Sendable (FunctionDirectory) -> Bool) async throws {
        let directory = agent.functions
        if condition(directory) { return }
        _ = try await within(step, what) {
            for await _ in directory.changes() where condition(directory) { return true }
            return false
        }
    }

    /// Whether `function` runs Ready on `cluster` (and its placement's outcome is `outcome`).
    static func isReady(_ function: Function, on cluster: String, outcome: String? = nil, in directory: FunctionDirectory) -> Bool {
        guard outcome == nil || directory.placement(for: function.key)?.status?.outcome == outcome else { return false }
        return directory.record(namespace: functionsNamespace, name: function.serviceName).map { $0.cluster == cluster && $0.isReady } == true
    }

    /// Runs `body`, failing the step when it takes longer than the step timeout.
    private func within<T: Sendable>(_ step: String, _ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: options.stepTimeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw DemoFailure(step: step, reason: "timed out after \(options.stepTimeout) waiting for \(what)")
            }
            return value
        }
    }

    // MARK: output

    func cluster(of function: Function) -> String? {
        agent.functions.record(namespace: Self.functionsNamespace, name: function.serviceName)?.cluster
    }

    func expect(_ condition: Bool, _ step: String, _ reason: @autoclosure () -> String) throws {
        if !condition { throw DemoFailure(step: step, reason: reason()) }
    }

    func progress(_ step: String, _ message: String) {
        output("  [\(step)] \(message)")
    }

    func table(_ step: String, _ functions: [Function]) {
        var table = TextTable(headers: ["FUNCTION", "DIREKTIV NAMESPACE", "CLUSTER", "DECIDED BY", "WHY", "CALLS", "P50", "P95"])
        for function in functions {
            let latency = agent.statistics.latency(function: function.key)
            let placement = agent.functions.placement(for: function.key)
            table.append([
                function.name, function.namespace, cluster(of: function) ?? "-", placement?.status?.decidedBy ?? "-",
                Self.why(placement),
                latency.map { String($0.total) } ?? "0", Self.milliseconds(latency?.p50), Self.milliseconds(latency?.p95),
            ])
        }
        output("\n== \(step)\n" + table.render())
    }

    /// The placement's reason, or why the function is stuck where it is.
    static func why(_ placement: FunctionPlacement?) -> String {
        if let stranded = placement?.condition(FunctionPlacement.ConditionType.stranded), stranded.status == "True" {
            return "stranded: \(stranded.message ?? "no cluster may run it")"
        }
        return placement?.status?.reason ?? "-"
    }

    func clusterTable() {
        let functions = agent.functions.records
        var table = TextTable(headers: ["CLUSTER", "KIND", "READY", "FUNCTIONS", "FREE CPU", "FREE MEMORY", "P50", "P95"])
        let clusters = agent.inventory.snapshot.clusters
        let memoryUnit = QuantityForPeople.memoryUnit(for: clusters.map(\.total.free.memoryBytes))
        for cluster in clusters {
            let latency = agent.statistics.latency(cluster: cluster.name)
            table.append([
                cluster.name, cluster.kind.rawValue, cluster.isReady ? "yes" : "no",
                String(functions.filter { $0.cluster == cluster.name }.count),
                QuantityForPeople.cpu(cluster.total.free.milliCPU), QuantityForPeople.memory(cluster.total.free.memoryBytes, in: memoryUnit),
                Self.milliseconds(latency?.p50), Self.milliseconds(latency?.p95),
            ])
        }
        output("\n== clusters\n" + table.render())
    }

    /// The FunctionPlacements as `kubectl get fp` prints them, once the leader has said where
    /// every function's pods run, and who leads.
    func placementTable(_ functions: [Function], step: String) async throws {
        let keys = functions.map(\.key)
        try await waitForPlacements(step, "the leader to report on every FunctionPlacement") { directory in
            keys.allSatisfy { directory.placement(for: $0)?.condition(FunctionPlacement.ConditionType.ready) != nil }
        }
        let placements = try await client.list(FunctionPlacement.self, .functionPlacements, namespace: Self.functionsNamespace).items
        var table = TextTable(headers: ["NAME", "DIREKTIV-NAMESPACE", "CLUSTER", "OUTCOME", "READY", "DECIDED-BY"])
        for placement in placements.sorted(by: { $0.key < $1.key }) {
            table.append([
                placement.key.name, placement.spec.direktivNamespace ?? "", placement.spec.cluster ?? "", placement.status?.outcome ?? "",
                placement.condition(FunctionPlacement.ConditionType.ready)?.status ?? "", placement.status?.decidedBy ?? "",
            ])
        }
        let leader = agent.elector.leadership.value.holder ?? "none yet"
        output(
            "\n== kubectl get fp -n \(Self.functionsNamespace) (FunctionPlacements, shared by both replicas; leader: \(leader))\n"
                + table.render())
    }

    static func milliseconds(_ duration: Duration?) -> String {
        guard let duration else { return "-" }
        return String(format: "%.1f ms", duration.inSeconds * 1000)
    }
}
