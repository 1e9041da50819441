import DispatchAgent
import DispatchCore
import Foundation
import KubeClient
import KubeModels
import KubeSim
import TestSupport
import Testing

/// The webhook takes the agent's proxy out of function containers as kube-apiserver stores them:
/// Direktiv 0.10's Deployment and 0.8's Knative Service, with the four variables Direktiv's
/// `buildEnvVars` appends when its chart sets `http_proxy`/`no_proxy`.
@Suite(.serialized) struct EgressProxyEndToEndTests {
    static let functions = Scenario.functionsNamespace
    static let agentProxy = "http://direktiv-dispatch.direktiv-dispatch.svc:8080"

    func withProxiedDirektiv(_ object: JSONValue) -> JSONValue {
        var result = object
        guard var containers = object[path: "spec", "template", "spec", "containers"]?.arrayValue else { return object }
        for index in containers.indices {
            guard var fields = containers[index].objectValue else { continue }
            let extra: [JSONValue] = [
                ["name": "HTTP_PROXY", "value": .string(Self.agentProxy)], ["name": "http_proxy", "value": .string(Self.agentProxy)],
                ["name": "NO_PROXY", "value": "10.96.0.1"], ["name": "no_proxy", "value": "10.96.0.1"],
            ]
            fields["env"] = .array((fields["env"]?.arrayValue ?? []) + extra)
            containers[index] = .object(fields)
        }
        result = result.setting(path: ["spec", "template", "spec", "containers"], .array(containers))
        return result
    }

    func envNames(_ object: JSONValue) -> [[String]] {
        (object[path: "spec", "template", "spec", "containers"]?.arrayValue ?? []).map { container in
            (container["env"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        }
    }

    @Test(arguments: [("direktiv/deployment-0.10.json", true), ("direktiv/ksvc-0.8.10.json", false)])
    func functionContainersNoLongerCarryTheAgentsProxy(_ example: String, isDeployment: Bool) async throws {
        let sim = try await SimHarness.start()
        let agent = try await AgentHarness.start(sim: sim, rules: try exampleRulesYAML()) { $0.engineProxyURL = Self.agentProxy }
        let client = try sim.client()
        try await withTeardown {
            let object = withProxiedDirektiv(try exampleObject(example))
            let created =
                isDeployment
                ? try await client.create(object, .deployments, namespace: Self.functions)
                : try await client.create(object, .knativeServices, namespace: Self.functions)
            #expect(
                envNames(created) == [
                    ["DIREKTIV_OTEL_BACKEND", "DIREKTIV_LOG_JSON", "DIREKTIV_APP", "NO_PROXY", "no_proxy"],
                    ["DIREKTIV_OTEL_BACKEND", "DIREKTIV_LOG_JSON", "DIREKTIV_FLOW_ENDPOINT", "DIREKTIV_APP", "NO_PROXY", "no_proxy"],
                ], "\(envNames(created))")
            #expect(created[path: "spec", "template", "spec", "affinity"] != nil, "still placed")
        } teardown: {
            try? await client.shutdown()
            await agent.stop()
            await sim.stop()
        }
    }
}
