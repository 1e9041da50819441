import BenchmarkSupport
import DispatchAgent
// Admission webhook benchmark server: `webhook-bench DIR PORT` serves the agent's real webhook
// (TLS, POST /mutate) over a static inventory of 1,000 clusters (10,000 nodes, 100,000 pods) and
// writes DIR/ca.crt and DIR/review.json (a dry-run CREATE of a Direktiv 0.8.10 Knative Service
// whose namespace's rule considers every cluster, least-loaded: the worst case).
// benchmarks/webhook.sh drives it with wrk. `webhook-bench --shared N` measures instead what sharing
// each decision costs: N placements through the Placer with and without FunctionPlacements read
// and written on an API server (KubeSim on loopback TLS), side by side.
import DispatchCertificates
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle
import UnixSignals

let arguments = CommandLine.arguments
if arguments.count == 3, arguments[1] == "--shared", let decisions = Int(arguments[2]), decisions > 0 {
    try await sharedPlacementCost(decisions: decisions)
    exit(0)
}
guard arguments.count == 3, let port = Int(arguments[2]) else {
    FileHandle.standardError.write(Data("usage: webhook-bench DIR PORT | webhook-bench --shared DECISIONS\n".utf8))
    exit(2)
}
let directory = URL(fileURLWithPath: arguments[1])
var logger = Logger(label: "webhook-bench")
logger.logLevel = .error

let ca = try CertificateAuthority(commonName: "bench-ca")
let issued = try ca.issue(commonName: "localhost")
try ca.certificatePEM.write(to: directory.appendingPathComponent("ca.crt"), atomically: true, encoding: .utf8)
try issued.certificatePEM.write(to: directory.appendingPathComponent("tls.crt"), atomically: true, encoding: .utf8)
try issued.privateKeyPEM.write(to: directory.appendingPathComponent("tls.key"), atomically: true, encoding: .utf8)

let snapshot = inventory(clusters: 1000)
let rules = Rules(
    direktivNamespaces: ["team-a"],
    namespaces: [NamespaceRule(match: try NamespacePattern("*"), clusters: [.all], strategy: .leastLoaded)]
)
let state = AgentState(rules: rules)
let controller = AdmissionController(placer: Placer(state: state, inventory: { snapshot }, logger: logger), state: state)
let certificates = CertificateReloader(
    certificatePath: directory.appendingPathComponent("tls.crt").path, keyPath: directory.appendingPathComponent("tls.key").path, logger: logger)

var function = try JSONValue.parse(
    Data(
        contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("examples/direktiv/ksvc-0.8.10.json")))
let review = AdmissionReview(
    request: .init(
        uid: "bench", kind: .knativeService, resource: GroupVersionResource(group: "serving.knative.dev", version: "v1", resource: "services"),
        name: function[path: "metadata", "name"]?.stringValue, namespace: "direktiv-services-direktiv", operation: "CREATE", object: function,
        dryRun: true
    ))
try JSONEncoder().encode(review).write(to: directory.appendingPathComponent("review.json"))

let server = WebhookServer.application(controller: controller, certificates: certificates, host: "127.0.0.1", port: port, logger: logger) { _ in
    FileHandle.standardOutput.write(Data("ready\n".utf8))
}
try await ServiceGroup(configuration: .init(services: [server], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)).run()
