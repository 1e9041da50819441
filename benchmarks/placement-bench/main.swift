// Placement benchmark: `swift run -c release placement-bench [decisions|inventory|all]`.
//
// decisions  one placement decision at 3, 100 and 1,000 clusters (10 nodes and 100 pods per
//            cluster), for a rule over every cluster (least-loaded, worst case), the same rule
//            with `lowest-latency` and a measured latency for every cluster, and a
//            `{namespace}` rule (one candidate); median and p99 of many runs.
// generate   writes nodes.json (10,000 Nodes) and pods.json (100,000 Pods) into DIR.
// inventory  reads those files, decodes them and builds the inventory (medians of 5 runs),
//            and reports this process's peak RSS, so the generator's memory is not counted.
// benchmarks/placement.sh runs all three.
import BenchmarkSupport
import DispatchCore
import Foundation
import KubeModels

func nanoseconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) * 1e9 + Double(duration.components.attoseconds) / 1e9
}

func percentile(_ values: [Double], _ p: Double) -> Double {
    let sorted = values.sorted()
    return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p))]
}

@inline(never) func consume<T>(_ value: T) { withExtendedLifetime(value) {} }

func runDecisions() {
    print("| clusters | nodes | pods | rule | median µs | p99 µs | runs |")
    print("|---:|---:|---:|---|---:|---:|---:|")
    for clusters in [3, 100, 1000] {
        let inventory = inventory(clusters: clusters)
        let everyCluster = Rules(namespaces: [NamespaceRule(match: try! NamespacePattern("*"), clusters: [.all], strategy: .leastLoaded)])
        let ownCluster = Rules(namespaces: [NamespaceRule(match: try! NamespacePattern("*"), clusters: [.direktivNamespace])])
        let byLatency = Rules(namespaces: [NamespaceRule(match: try! NamespacePattern("*"), clusters: [.all], strategy: .lowestLatency)])
        // Spread over 1..200 ms, so that a few clusters tie within the tolerance and are scored.
        var estimates: [String: LatencyEstimate] = [:]
        for index in 0..<clusters {
            estimates[clusterName(index)] = LatencyEstimate(seconds: Double((index * 37) % 200 + 1) / 1000, source: .liqo, ageSeconds: 5)
        }
        // As the agent has it: aligned with the inventory once per latency read, not per decision.
        let latencies = LatencyTable(estimates, for: inventory)
        let request = PlacementRequest(
            function: FunctionKey(namespace: "direktiv-services-direktiv", name: "fn"), direktivNamespace: clusterName(clusters / 2),
            requestPerPod: Resources(milliCPU: 100, memoryBytes: 64_000_000))
        let cases: [(String, Rules, LatencyTable)] = [
            ("* least-loaded", everyCluster, .empty), ("* lowest-latency", byLatency, latencies), ("{namespace}", ownCluster, .empty),
        ]
        for (label, rules, latencies) in cases {
            let runs = clusters >= 1000 ? 2000 : 20000
            for _ in 0..<200 { consume(Placement.decide(request, rules: rules, inventory: inventory, latencies: latencies)) }
            var samples: [Double] = []
            samples.reserveCapacity(runs)
            let clock = ContinuousClock()
            for _ in 0..<runs {
                let start = clock.now
                let decision = Placement.decide(request, rules: rules, inventory: inventory, latencies: latencies)
                samples.append(nanoseconds(clock.now - start))
                consume(decision)
            }
            print(
                "| \(clusters) | \(clusters * 10) | \(clusters * 100) | \(label) | \(String(format: "%.1f", percentile(samples, 0.5) / 1000)) | \(String(format: "%.1f", percentile(samples, 0.99) / 1000)) | \(runs) |"
            )
        }
    }
}

func runGenerate(_ directory: String) {
    let url = URL(fileURLWithPath: directory)
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    try! list(makeNodesJSON(clusters: 1000, nodesPerCluster: 10), kind: "NodeList").write(to: url.appendingPathComponent("nodes.json"))
    try! list(makePodsJSON(clusters: 1000, nodesPerCluster: 10, podsPerNode: 10), kind: "PodList").write(to: url.appendingPathComponent("pods.json"))
}

func runInventory(_ directory: String) {
    let url = URL(fileURLWithPath: directory)
    let rssAtStart = peakRSSMiB()
    var decodeSamples: [Double] = []
    var buildSamples: [Double] = []
    var jsonBytes = 0
    let clock = ContinuousClock()
    for _ in 0..<5 {
        let nodesJSON = try! Data(contentsOf: url.appendingPathComponent("nodes.json"))
        let podsJSON = try! Data(contentsOf: url.appendingPathComponent("pods.json"))
        jsonBytes = nodesJSON.count + podsJSON.count
        var start = clock.now
        let nodes = try! JSONDecoder().decode(KubeList<Node>.self, from: nodesJSON).items
        let pods = try! JSONDecoder().decode(KubeList<PodUsage>.self, from: podsJSON).items
        decodeSamples.append(nanoseconds(clock.now - start))
        start = clock.now
        let inventory = ClusterInventory(
            nodes: nodes, podUsage: pods, clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])
        buildSamples.append(nanoseconds(clock.now - start))
        precondition(inventory.clusters.count == 1000 && inventory.clusters.allSatisfy { $0.nodes.count == 10 })
        consume(inventory)
    }
    print("| step (10,000 Nodes, 100,000 Pods) | median ms | min ms |")
    print("|---|---:|---:|")
    print(
        "| decode NodeList + PodList JSON (\(jsonBytes / 1_048_576) MiB) with JSONDecoder, pods kept as PodUsage | \(String(format: "%.0f", percentile(decodeSamples, 0.5) / 1e6)) | \(String(format: "%.0f", decodeSamples.min()! / 1e6)) |"
    )
    print(
        "| build the inventory from the decoded objects | \(String(format: "%.0f", percentile(buildSamples, 0.5) / 1e6)) | \(String(format: "%.0f", buildSamples.min()! / 1e6)) |"
    )
    print("")
    print(
        "peak RSS \(String(format: "%.0f", peakRSSMiB())) MiB (process start \(String(format: "%.0f", rssAtStart)) MiB; holds the JSON bytes, the decoded objects and the inventory at once)"
    )
}

let arguments = Array(CommandLine.arguments.dropFirst())
switch (arguments.first, arguments.dropFirst().first) {
case ("decisions", _): runDecisions()
case ("generate", let directory?): runGenerate(directory)
case ("inventory", let directory?): runInventory(directory)
default:
    FileHandle.standardError.write(Data("usage: placement-bench decisions | generate DIR | inventory DIR\n".utf8))
    exit(2)
}
