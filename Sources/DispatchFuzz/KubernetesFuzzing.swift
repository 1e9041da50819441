import DispatchAgent
import DispatchCore
import DispatchMetrics
import DispatchProxy
import Foundation
import KubeModels
import KubeSim
import Logging

/// Targets over what the API server and ops send: rules, quantities, selectors, and the whole
/// webhook path from an AdmissionReview's bytes to the patch.
enum KubernetesFuzzing {
    static func rules(_ bytes: [UInt8]) {
        _ = try? RulesParser.parse(String(decoding: bytes, as: UTF8.self))
    }

    /// A namespace list that reads holds only names Direktiv allows, sorted and once each, and
    /// accounts for every entry.
    static func direktivNamespaces(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let list = try? DirektivNamespaceList.parse(bytes) else { return }
        try require(list.names.allSatisfy(DirektivNames.isNamespaceName), "a name Direktiv refuses was kept: \(list.names)")
        try require(list.names == Array(Set(list.names)).sorted(), "names not sorted or not unique: \(list.names)")
        let entries = (try? JSONValue.parse(bytes))?["data"]?.arrayValue?.count ?? 0
        try require(
            list.skipped >= 0 && list.names.count + list.skipped <= entries, "\(list.names.count) names and \(list.skipped) skipped of \(entries)")
    }

    /// A quantity that parses has values that do not trap and a description that parses to the same amount.
    static func quantity(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let quantity = try? Quantity(parsing: String(decoding: bytes, as: UTF8.self)) else { return }
        guard let again = try? Quantity(parsing: quantity.description) else {
            throw FuzzFailure("the description \(quantity.description.debugDescription) does not parse")
        }
        try require(
            (try? again.milliValue()) == (try? quantity.milliValue()) && (try? again.value()) == (try? quantity.value()),
            "\(quantity) reads differently from its description")
    }

    /// Label selectors as text and, when the bytes are JSON, in structured form.
    static func labelSelector(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let selector = try? LabelSelector(parsing: text) {
            _ = selector.matches(["app": "x", "direktiv.io/namespace": "main"])
        }
        if let json = try? JSONValue.parse(bytes), let selector = try? LabelSelector(structured: json) {
            _ = selector.matches(["app": "x"])
        }
        _ = try? FieldSelector(parsing: text)
    }

    /// The first byte picks the input's shape: 0 the whole AdmissionReview, otherwise the object
    /// of a CREATE (odd) or UPDATE (even) of a Knative Service (bit 1 clear) or Deployment. A
    /// review with a patch gets one that applies to its object, writes each path once, and
    /// changes nothing when applied again.
    static func admission(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let mode = bytes.first, let rules = Self.exampleRules else { return }
        let rest = bytes.dropFirst()
        let body: [UInt8]
        if mode == 0 {
            body = Array(rest)
        } else {
            guard let object = try? JSONValue.parse(rest) else { return }
            // Built as JSON rather than through Codable, which would turn numbers that keep their
            // text (`JSONValue.numberText`) into Doubles before the webhook sees them.
            let (group, kind, resource): (JSONValue, JSONValue, JSONValue) =
                mode & 2 != 0 ? ("apps", "Deployment", "deployments") : ("serving.knative.dev", "Service", "services")
            let create = mode & 1 == 1
            var request: [String: JSONValue] = [
                "uid": "fuzz", "kind": ["group": group, "version": "v1", "kind": kind],
                "resource": ["group": group, "version": "v1", "resource": resource],
                "namespace": .string(Scenario.functionsNamespace), "operation": create ? "CREATE" : "UPDATE", "object": object,
            ]
            if let name = object[path: "metadata", "name"] { request["name"] = name }
            if !create { request["oldObject"] = object }
            body = JSONValue.object(["apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": .object(request)]).jsonBytes
        }
        let state = AgentState(rules: rules)
        let placer = Placer(state: state, inventory: { inventory }, logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        let controller = AdmissionController(placer: placer, state: state, egress: Self.egress)
        guard let answer = try? controller.review(body: body, shared: .none), let response = answer.response else { return }
        guard let patchText = response.patch else { return }
        guard let review = try? AdmissionReview(json: JSONValue.parse(body)), let object = review.request?.object else {
            throw FuzzFailure("a patch for a review without an object")
        }
        guard let patchBytes = Data(base64Encoded: patchText), let operations = try? JSONDecoder().decode([JSONPatchOperation].self, from: patchBytes)
        else {
            throw FuzzFailure("the patch is not a JSON Patch: \(patchText)")
        }
        try require(Set(operations.map(\.path)).count == operations.count, "a path is written twice: \(operations.map(\.path))")
        let patched: JSONValue
        do {
            patched = try JSONPatch.apply(operations, to: object)
        } catch {
            throw FuzzFailure("the patch does not apply to its object: \(error)")
        }
        try require((try? JSONPatch.apply(operations, to: patched)) == patched, "the patch changes the object when applied again")
    }

    /// The chart's proxy URL, as the seed `deployment-0.10-proxied` carries it.
    static let egress = EgressProxyRewrite(agentProxyURL: "http://direktiv-dispatch-proxy.direktiv-dispatch.svc:8080")

    static let exampleRules: Rules? = try? RulesParser.parse(
        """
        clusterLabel: direktiv.io/namespace
        functionsNamespaces: [direktiv-services-direktiv]
        direktivNamespaces: [main, external1, external2, team-a, team-b]
        namespaces:
          - match: "external*"
            clusters: ["{namespace}"]
            onNoFit: reject
          - match: "team-*"
            clusters: [external1, external2]
            strategy: least-loaded
            onNoFit:
              fallback: main
          - match: "*"
            clusters: [main]
            strategy: ordered
            onNoFit: admit-unplaced
        """)

    /// The seed scenario's nodes, without pods.
    static let inventory: ClusterInventory = {
        let nodes = [
            Scenario.node("main-1", cluster: "main", cpu: "4", memory: "16Gi"),
            Scenario.node("liqo-external1", cluster: "external1", cpu: "8", memory: "32Gi", remoteID: Scenario.remoteClusterIDs["external1"]),
            Scenario.node("liqo-external2", cluster: "external2", cpu: "4", memory: "8Gi", remoteID: Scenario.remoteClusterIDs["external2"]),
        ].compactMap { try? $0.decode(as: Node.self) }
        return ClusterInventory(
            nodes: nodes, pods: [], clusterLabel: "direktiv.io/namespace", toleratedTaintKeys: ["virtual-node.liqo.io/not-allowed"])
    }()
}
