import ArgumentParser
import DispatchCore
import Foundation
import KubeClient
import KubeModels

/// `direktiv-dispatch explain`: shows where a function of a Direktiv namespace would be placed, and why.
struct ExplainCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Explain the placement of a function from rules and the cluster's nodes and pods.",
        discussion: "Exit status: 0 placed (placed, fallback, kept), 2 rejected, 3 admitted unplaced."
    )

    enum Output: String, ExpressibleByArgument, CaseIterable {
        case table, json
    }

    @Option(help: "The rules YAML file (defaults apply when omitted).")
    var rules: String?

    @Option(help: "Nodes as `kubectl get nodes -o json` prints them.")
    var nodes: String?

    @Option(help: "Read nodes and pods live from the cluster of this kubeconfig (instead of --nodes/--pods).")
    var kubeconfig: String?

    @Option(help: "Pods as `kubectl get pods -A -o json` prints them.")
    var pods: String?

    @Option(help: "Per-namespace overrides: a JSON object {\"<namespace>\": {\"pin\": ...}}.")
    var overrides: String?

    @Option(help: "The Direktiv namespace of the function.")
    var namespace: String

    @Option(help: "A Direktiv size: small, medium or large.")
    var size: FunctionSize?

    @Option(help: "CPU request per pod (a Kubernetes quantity such as 500m).")
    var cpu: String?

    @Option(help: "Memory request per pod (a Kubernetes quantity such as 1Gi).")
    var memory: String?

    @Option(help: "Pods that must fit at once (Knative min-scale).")
    var replicas: Int = 1

    @Option(help: "table or json.")
    var output: Output = .table

    @Option(help: "Ask a running agent at this admin URL (e.g. http://127.0.0.1:9090) instead of reading rules, nodes and pods.")
    var server: String?

    @Option(help: "With --server: a file holding the admin token, for agents that protect reads.")
    var tokenFile: String?

    func validate() throws {
        if size != nil, cpu != nil || memory != nil {
            throw ValidationError("give either --size or --cpu/--memory, not both")
        }
        if size == nil, cpu == nil, memory == nil {
            throw ValidationError("give --size or --cpu and --memory")
        }
        if replicas < 1 { throw ValidationError("--replicas must be at least 1") }
        if let server {
            guard server.hasPrefix("http://") || server.hasPrefix("https://") else {
                throw ValidationError("--server must be an http:// or https:// URL")
            }
            if nodes != nil || pods != nil || kubeconfig != nil || rules != nil || overrides != nil {
                throw ValidationError(
                    "--server asks the agent, which has its own rules, overrides and inventory: leave out --rules, --overrides, --nodes, --pods and --kubeconfig"
                )
            }
            return
        }
        if tokenFile != nil { throw ValidationError("--token-file goes with --server") }
        if (nodes == nil) == (kubeconfig == nil) {
            throw ValidationError("give either --nodes (and --pods) or --kubeconfig")
        }
        if kubeconfig != nil, pods != nil { throw ValidationError("--pods goes with --nodes, not with --kubeconfig") }
    }

    func run() async throws {
        if let server {
            let decision = try await RemoteExplain(server: server, tokenFile: tokenFile).explain(query())
            try print(decision)
            throw ExitCode(Self.exitCode(for: decision.outcome))
        }
        let loadedRules = try loadRules()
        let request = PlacementRequest(direktivNamespace: namespace, requestPerPod: try resources(rules: loadedRules), replicas: replicas)
        let (nodeList, podUsage) = try await readCluster()
        let overrideTable = try overrides.map { try decodeFile([String: NamespaceOverride].self, at: $0) } ?? [:]
        for (name, override) in overrideTable {
            let errors = override.validationErrors()
            if !errors.isEmpty { throw ValidationError("override for \(name): \(errors.joined(separator: "; "))") }
        }
        let inventory = ClusterInventory(
            nodes: nodeList,
            podUsage: podUsage,
            clusterLabel: loadedRules.clusterLabel,
            toleratedTaintKeys: loadedRules.liqo.addToleration ? [loadedRules.liqo.taintKey] : []
        )
        let decision = Placement.decide(request, rules: loadedRules, overrides: overrideTable, inventory: inventory)
        try print(decision)
        throw ExitCode(Self.exitCode(for: decision.outcome))
    }

    static func exitCode(for outcome: PlacementDecision.Outcome) -> Int32 {
        switch outcome {
        case .placed, .fallback, .kept: 0
        case .rejected: 2
        case .unplaced: 3
        }
    }

    func print(_ decision: PlacementDecision) throws {
        switch output {
        case .table:
            Swift.print(decision.renderText())
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            Swift.print(String(decoding: try encoder.encode(decision), as: UTF8.self))
        }
    }

    /// Nodes and pods from the files, or live from the cluster.
    private func readCluster() async throws -> ([Node], [PodUsage]) {
        if let nodes {
            let nodeList = try decodeFile(KubeList<Node>.self, at: nodes)
            let podList = try pods.map { try decodeFile(KubeList<PodUsage>.self, at: $0) } ?? KubeList(items: [])
            return (nodeList.items, podList.items)
        }
        let configuration = try KubeConfiguration.resolve(kubeconfig: kubeconfig)
        let client = try KubeClient(configuration: configuration)
        do {
            let nodes = try await client.listAll(Node.self, .nodes).items
            let pods = try await client.listAll(
                PodUsage.self, .pods, options: ListOptions(fieldSelector: "spec.nodeName!=,status.phase!=Succeeded,status.phase!=Failed")
            ).items
            try await client.shutdown()
            return (nodes, pods)
        } catch {
            try? await client.shutdown()
            throw ValidationError("cannot read the cluster: \(error)")
        }
    }

    /// The body of `POST /v1/placements/explain` for the flags given.
    func query() -> JSONValue {
        var members: [String: JSONValue] = ["namespace": .string(namespace), "replicas": .integer(Int64(replicas))]
        if let size {
            members["size"] = .string(size.rawValue)
        } else {
            var resources: [String: JSONValue] = [:]
            if let cpu { resources["cpu"] = .string(cpu) }
            if let memory { resources["memory"] = .string(memory) }
            members["resources"] = .object(resources)
        }
        return .object(members)
    }

    private func loadRules() throws -> Rules {
        try RulesFile.load(rules)
    }

    private func resources(rules: Rules) throws -> Resources {
        if let size { return rules.sizes[size].requests }
        func parse(_ text: String?, _ name: String, milli: Bool) throws -> Int64 {
            guard let text else { return 0 }
            do {
                let quantity = try Quantity(parsing: text)
                guard !quantity.isNegative else { throw ValidationError("--\(name) must not be negative") }
                return milli ? try quantity.milliValue() : try quantity.value()
            } catch let error as QuantityError {
                throw ValidationError("--\(name): \(error)")
            }
        }
        return Resources(milliCPU: try parse(cpu, "cpu", milli: true), memoryBytes: try parse(memory, "memory", milli: false))
    }
}

extension FunctionSize: ExpressibleByArgument {}

/// Decodes a JSON file, naming the file in any error.
func decodeFile<T: Decodable>(_ type: T.Type, at path: String) throws -> T {
    let data: Data
    do {
        data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
        throw ValidationError("cannot read \(path): \(error.localizedDescription)")
    }
    do {
        return try JSONDecoder().decode(T.self, from: data)
    } catch {
        throw ValidationError("\(path) is not valid: \(error)")
    }
}
