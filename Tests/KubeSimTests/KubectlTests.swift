import Foundation
import KubeModels
import KubeSim
import Logging
import Synchronization
import TestSupport
import Testing

/// The real `kubectl` against KubeSim, as a user would run it.
@Suite(.serialized, .enabled(if: Kubectl.path != nil, "kubectl is not on PATH: the kubectl compatibility tests are skipped"))
struct KubectlTests {
    @Test func getNodesAsJSONAndTable() async throws {
        try await KubectlSession.withSim { kubectl in
            let json = try await kubectl.run(["get", "nodes", "-o", "json"])
            #expect(json.status == 0, "\(json.stderr)")
            let list = try JSONValue.parse(Data(json.stdout.utf8))
            #expect(
                list["items"]?.arrayValue?.compactMap { $0[path: "metadata", "name"]?.stringValue }.sorted() == [
                    "liqo-external1", "liqo-external2", "main-1", "main-2",
                ])
            #expect(list["items"]?[0]?[path: "status", "allocatable", "cpu"] != nil)

            let table = try await kubectl.run(["get", "nodes"])
            #expect(table.status == 0)
            let lines = table.stdout.split(separator: "\n")
            #expect(lines.first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"])
            #expect(lines.contains { $0.hasPrefix("liqo-external1") && $0.contains("Ready") })
        }
    }

    @Test func applyGetAndDeleteAKnativeService() async throws {
        try await KubectlSession.withSim { kubectl in
            let manifest = """
                apiVersion: serving.knative.dev/v1
                kind: Service
                metadata:
                  name: hello
                  namespace: direktiv-services-direktiv
                  labels:
                    direktiv-app: direktiv
                spec:
                  template:
                    spec:
                      containers:
                      - name: direktiv-container
                        image: direktiv/greeting:v3
                """
            let file = try kubectl.write("ksvc.yaml", manifest)
            let created = try await kubectl.run(["apply", "-f", file])
            #expect(created.status == 0, "\(created.stderr)")
            #expect(created.stdout.contains("service.serving.knative.dev/hello created"))
            #expect(try await kubectl.run(["apply", "-f", file]).stdout.contains("unchanged"))
            let changed = try kubectl.write("ksvc.yaml", manifest.replacingOccurrences(of: "greeting:v3", with: "greeting:v4"))
            let configured = try await kubectl.run(["apply", "-f", changed])
            #expect(configured.stdout.contains("configured"), "\(configured.stderr)")

            let stored = try kubectl.sim.store.get(.knativeServices, namespace: "direktiv-services-direktiv", name: "hello")
            #expect(stored[path: "spec", "template", "spec", "containers"]?[0]?["image"] == "direktiv/greeting:v4")
            #expect(stored[path: "metadata", "generation"] == 2)

            let table = try await kubectl.run(["get", "ksvc", "-n", "direktiv-services-direktiv"])
            #expect(table.status == 0)
            #expect(
                table.stdout.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) == [
                    "NAME", "URL", "LATESTCREATED", "LATESTREADY", "READY", "REASON",
                ])
            #expect(table.stdout.contains("hello"))
            let yaml = try await kubectl.run(["get", "ksvc", "hello", "-n", "direktiv-services-direktiv", "-o", "yaml"])
            #expect(yaml.stdout.contains("image: direktiv/greeting:v4"))

            let deleted = try await kubectl.run(["delete", "ksvc", "hello", "-n", "direktiv-services-direktiv"])
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect(deleted.stdout.contains("\"hello\" deleted"))
            let missing = try await kubectl.run(["get", "ksvc", "hello", "-n", "direktiv-services-direktiv"])
            #expect(missing.status == 1)
            #expect(missing.stderr.contains("Error from server (NotFound): services.serving.knative.dev \"hello\" not found"))
        }
    }

    /// A CRD as a user installs one: `kubectl apply`, `kubectl wait` for Established, objects
    /// by short name with the printer columns (priority 1 only with `-o wide`), `kubectl explain`
    /// from the published schema, kubectl's Strict field validation, and no strategic merge
    /// patch for custom resources (the API server answers 415).
    @Test func customResourceDefinitionsAsKubectlUsesThem() async throws {
        try await KubectlSession.withSim { kubectl in
            let definition = try kubectl.write("crd.json", String(decoding: try CustomResourceTests.definition().encoded(), as: UTF8.self))
            let applied = try await kubectl.run(["apply", "-f", definition])
            #expect(applied.status == 0, "\(applied.stderr)")
            let waited = try await kubectl.run(["wait", "--for", "condition=established", "--timeout=10s", "crd/placements.dispatch.example.io"])
            #expect(waited.status == 0, "\(waited.stderr)")

            let object = try kubectl.write(
                "placement.yaml",
                """
                apiVersion: dispatch.example.io/v1alpha1
                kind: Placement
                metadata:
                  name: fn
                  namespace: direktiv-services-direktiv
                spec:
                  cluster: external2
                """)
            let created = try await kubectl.run(["apply", "-f", object])
            #expect(created.status == 0, "\(created.stderr)")
            #expect(created.stdout.contains("placement.dispatch.example.io/fn created"))
            let placements = try #require(kubectl.sim.servedType(group: "dispatch.example.io", version: "v1alpha1", plural: "placements"))
            try kubectl.sim.store.modify(placements, namespace: "direktiv-services-direktiv", name: "fn", subresource: "status") { placement in
                placement = placement.setting("status", ["reason": "least loaded", "conditions": [["type": "Ready", "status": "True"]]])
            }
            let table = try await kubectl.run(["get", "pl", "-n", "direktiv-services-direktiv"])
            #expect(table.status == 0, "\(table.stderr)")
            let rows = table.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
            #expect(rows.first == ["NAME", "CLUSTER", "READY"])
            #expect(rows.dropFirst().first == ["fn", "external2", "True"])
            let wide = try await kubectl.run(["get", "pl", "-n", "direktiv-services-direktiv", "-o", "wide"])
            #expect(
                wide.stdout.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) == [
                    "NAME", "CLUSTER", "READY", "REASON",
                ])
            #expect(wide.stdout.contains("least loaded"))

            let explained = try await kubectl.run(["explain", "placements.spec.cluster"])
            #expect(explained.status == 0, "\(explained.stderr)")
            #expect(explained.stdout.contains("The decided cluster."))

            let typo = try kubectl.write("typo.yaml", try String(contentsOfFile: object, encoding: .utf8) + "\n  clustr: main\n")
            let strict = try await kubectl.run(["apply", "-f", typo])
            #expect(strict.status != 0)
            #expect(strict.stderr.contains("unknown field \"spec.clustr\""), "\(strict.stderr)")

            let strategic = try await kubectl.run(
                ["patch", "pl", "fn", "-n", "direktiv-services-direktiv", "--type", "strategic", "-p", "{\"spec\":{\"cluster\":\"main\"}}"])
            #expect(strategic.status != 0)
            #expect(strategic.stderr.contains("unknown format") || strategic.stderr.contains("not supported"), "\(strategic.stderr)")
            let merge = try await kubectl.run(
                ["patch", "pl", "fn", "-n", "direktiv-services-direktiv", "--type", "merge", "-p", "{\"spec\":{\"cluster\":\"main\"}}"])
            #expect(merge.status == 0, "\(merge.stderr)")

            let liqo = try await kubectl.run(["get", "foreignclusters,namespaceoffloadings,connections,resourceslices", "-A"])
            #expect(liqo.status == 0, "\(liqo.stderr)")
        }
    }

    /// `kubectl apply` of a changed MutatingWebhookConfiguration sends a strategic merge patch
    /// with only the changed webhook's changed fields: the API server merges webhooks by name,
    /// so the rules stay (before, KubeSim replaced the list and the webhook lost its rules).
    /// The seed's Liqo setup as kubectl shows it with Liqo's printer columns, and a
    /// NamespaceOffloading applied as the operations guide writes it turns Ready once Liqo
    /// (KubeSim's offloading controller) selected a peer, or NoClusterSelected when none matches.
    @Test func liqoObjectsOfTheSeedAndAnAppliedNamespaceOffloading() async throws {
        try await KubectlSession.withSim(controlPlane: true) { kubectl in
            let offloadings = try await kubectl.run(["get", "namespaceoffloadings", "-A"])
            #expect(offloadings.status == 0, "\(offloadings.stderr)")
            #expect(offloadings.stdout.contains("direktiv-services-direktiv"), "\(offloadings.stdout)")
            let foreign = try await kubectl.run(["get", "foreignclusters", "-o", "jsonpath={.items[*].spec.clusterID}"])
            #expect(
                foreign.stdout.split(separator: " ").map(String.init).sorted() == Scenario.remoteClusterIDs.values.sorted(),
                "\(foreign.stdout)\(foreign.stderr)")
            let latency = try await kubectl.run(["get", "connections", "-A", "-o", "jsonpath={.items[*].status.latency.value}"])
            #expect(latency.stdout.split(separator: " ").sorted() == ["15ms", "40ms"], "\(latency.stdout)\(latency.stderr)")

            // `kubectl create namespace` sends protobuf, which KubeSim does not read: apply sends JSON.
            let namespace = try kubectl.write("namespace.yaml", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-fns\n")
            #expect(try await kubectl.run(["apply", "-f", namespace]).status == 0)
            let manifest = """
                apiVersion: offloading.liqo.io/v1beta1
                kind: NamespaceOffloading
                metadata:
                  name: offloading
                  namespace: team-fns
                spec:
                  namespaceMappingStrategy: DefaultName
                  podOffloadingStrategy: LocalAndRemote
                  clusterSelector:
                    nodeSelectorTerms:
                      - matchExpressions:
                          - key: liqo.io/type
                            operator: In
                            values: [virtual-node]
                """
            let applied = try await kubectl.run(["apply", "-f", try kubectl.write("offloading.yaml", manifest)])
            #expect(applied.status == 0, "\(applied.stderr)")
            let type = try Scenario.bundledType("namespaceoffloadings.offloading.liqo.io")
            let ready = try await eventually {
                (try? kubectl.sim.store.get(type, namespace: "team-fns", name: "offloading"))?[path: "status", "offloadingPhase"] == "Ready"
            }
            #expect(ready)
            let nowhere = manifest.replacingOccurrences(of: "values: [virtual-node]", with: "values: [no-such-node]")
            #expect(try await kubectl.run(["apply", "-f", try kubectl.write("offloading.yaml", nowhere)]).status == 0)
            let noCluster = try await eventually {
                (try? kubectl.sim.store.get(type, namespace: "team-fns", name: "offloading"))?[path: "status", "offloadingPhase"]
                    == "NoClusterSelected"
            }
            #expect(noCluster)
            let mapping = try await kubectl.run([
                "patch", "namespaceoffloading", "offloading", "-n", "team-fns", "--type", "merge", "-p",
                #"{"spec":{"podOffloadingStrategy":"Sideways"}}"#,
            ])
            #expect(mapping.status != 0, "Liqo's CRD refuses an unknown strategy")
            #expect(mapping.stderr.contains("podOffloadingStrategy"), "\(mapping.stderr)")
        }
    }

    /// The simulated WAN: `POST /kubesim/v1/peers/<cluster>/latency?ms=N` (here through
    /// `kubectl create --raw`) sets what the peer's Liqo Connection reports, and the function
    /// servers delay that cluster's answers by it.
    @Test func peerLatencyIsTheConnectionsAndTheAnswersDelay() async throws {
        try await KubectlSession.withSim { kubectl in
            let functions = FunctionServers(
                store: kubectl.sim.store, clusters: FunctionServers.clusters(in: kubectl.sim.store), logger: Logger(label: "test"))
            #expect(functions.latency(of: "external1") == .milliseconds(15), "the seed's Connection")
            let empty = try kubectl.write("empty.json", "{}")
            let set = try await kubectl.run(["create", "--raw", "/kubesim/v1/peers/external1/latency?ms=60", "-f", empty])
            #expect(set.status == 0, "\(set.stderr)")
            #expect(set.stdout.contains(#""milliseconds":60"#), "\(set.stdout)")
            let latency = try await kubectl.run([
                "get", "connections", "-A", "-o", "jsonpath={.items[?(@.metadata.name==\"gw-external1\")].status.latency.value}",
            ])
            #expect(latency.stdout == "60ms", "\(latency.stdout)\(latency.stderr)")
            #expect(functions.latency(of: "external1") == .milliseconds(60))
            #expect(functions.latency(of: "main") == .milliseconds(1), "a local cluster has no Connection: the option")
            for bad in [
                "/kubesim/v1/peers/external1/latency?ms=-1", "/kubesim/v1/peers/external1/latency?ms=x", "/kubesim/v1/peers/main/latency?ms=5",
            ] {
                let refused = try await kubectl.run(["create", "--raw", bad, "-f", empty])
                #expect(refused.status != 0, "\(bad)")
            }
        }
    }

    @Test func applyingAChangedWebhookConfigurationKeepsItsRules() async throws {
        try await KubectlSession.withSim { kubectl in
            let manifest = """
                apiVersion: admissionregistration.k8s.io/v1
                kind: MutatingWebhookConfiguration
                metadata:
                  name: direktiv-dispatch
                webhooks:
                - name: functions.dispatch.direktiv.io
                  admissionReviewVersions: ["v1"]
                  sideEffects: None
                  timeoutSeconds: 5
                  failurePolicy: Ignore
                  clientConfig:
                    service:
                      name: direktiv-dispatch
                      namespace: direktiv-dispatch
                      path: /mutate
                  rules:
                  - operations: ["CREATE", "UPDATE"]
                    apiGroups: ["serving.knative.dev"]
                    apiVersions: ["v1"]
                    resources: ["services"]
                """
            let file = try kubectl.write("webhook.yaml", manifest)
            let created = try await kubectl.run(["apply", "-f", file])
            #expect(created.status == 0, "\(created.stderr)")
            let changed = try kubectl.write("webhook.yaml", manifest.replacingOccurrences(of: "timeoutSeconds: 5", with: "timeoutSeconds: 10"))
            let configured = try await kubectl.run(["apply", "-f", changed])
            #expect(configured.stdout.contains("configured"), "\(configured.stderr)")
            let stored = try kubectl.sim.store.get(.mutatingWebhookConfigurations, namespace: nil, name: "direktiv-dispatch")
            let webhook = stored["webhooks"]?[0]
            #expect(webhook?["timeoutSeconds"] == 10)
            #expect(webhook?["rules"]?[0]?["resources"] == ["services"])
            #expect(webhook?[path: "clientConfig", "service", "path"] == "/mutate")
        }
    }

    /// Deletion as on a cluster: `kubectl delete pod` waits until the pod's kubelet confirms;
    /// a pod on a Liqo peer that stopped answering stays Terminating (its virtual kubelet cannot
    /// confirm) until it is force-deleted; `default` cannot be deleted (403); a namespace goes
    /// Terminating and then away.
    @Test(.timeLimit(.minutes(1))) func deletionWaitsForKubeletsAndNamespacesTerminate() async throws {
        try await KubectlSession.withSim(controlPlane: true) { kubectl in
            let deleted = try await kubectl.run(["delete", "pod", "coredns-5d78c9869d-4m2nb", "-n", "kube-system", "--timeout=20s"])
            #expect(deleted.status == 0, "\(deleted.stderr)")
            #expect(deleted.stdout.contains("deleted"))

            try kubectl.sim.setPeer(cluster: "external2", reachable: false)
            let pod = "external2-resize-00001-deployment-8f6a2b-p5r6t"
            let started = try await kubectl.run(["delete", "pod", pod, "-n", "direktiv-services-direktiv", "--wait=false"])
            #expect(started.status == 0, "\(started.stderr)")
            let stuck = try await kubectl.run(["wait", "--for=delete", "pod/\(pod)", "-n", "direktiv-services-direktiv", "--timeout=1s"])
            #expect(stuck.status != 0)
            let listed = try await kubectl.run([
                "get", "pod", pod, "-n", "direktiv-services-direktiv", "-o", "jsonpath={.metadata.deletionTimestamp}",
            ])
            #expect(!listed.stdout.isEmpty, "the pod on the lost peer is gone: \(listed.stderr)")
            let forced = try await kubectl.run(["delete", "pod", pod, "-n", "direktiv-services-direktiv", "--grace-period=0", "--force"])
            #expect(forced.status == 0, "\(forced.stderr)")

            let protected = try await kubectl.run(["delete", "namespace", "default"])
            #expect(protected.status != 0)
            #expect(protected.stderr.contains("Forbidden") || protected.stderr.contains("forbidden"), "\(protected.stderr)")
            let namespace = try await kubectl.run(["delete", "namespace", "direktiv", "--timeout=20s"])
            #expect(namespace.status == 0, "\(namespace.stderr)")
            let gone = try await kubectl.run(["get", "namespace", "direktiv"])
            #expect(gone.stderr.contains("NotFound"), "\(gone.stdout)\(gone.stderr)")
        }
    }

    /// Secrets as kube-apiserver keeps them: `stringData` folded into base64 `data` and never
    /// returned, `type` defaulted to Opaque and immutable, data that is not base64 refused.
    @Test func secretsAreStoredAsTheAPIServerStoresThem() async throws {
        try await KubectlSession.withSim { kubectl in
            let encoded = try kubectl.write(
                "encoded.yaml",
                """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: encoded
                  namespace: direktiv-dispatch
                data:
                  token: \(Data("s3cret".utf8).base64EncodedString())
                """)
            let literal = try await kubectl.run(["apply", "-f", encoded])
            #expect(literal.status == 0, "\(literal.stderr)")
            let value = try await kubectl.run(["get", "secret", "encoded", "-n", "direktiv-dispatch", "-o", "jsonpath={.data.token}"])
            #expect(value.stdout == Data("s3cret".utf8).base64EncodedString())

            let file = try kubectl.write(
                "secret.yaml",
                """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: written
                  namespace: direktiv-dispatch
                stringData:
                  ca.crt: hello
                """)
            #expect(try await kubectl.run(["apply", "-f", file]).status == 0)
            let stored = try kubectl.sim.store.get(.secrets, namespace: "direktiv-dispatch", name: "written")
            #expect(stored["stringData"] == nil)
            #expect(stored[path: "data", "ca.crt"] == .string(Data("hello".utf8).base64EncodedString()))
            #expect(stored["type"] == "Opaque")

            let table = try await kubectl.run(["get", "secrets", "-n", "direktiv-dispatch"])
            #expect(
                table.stdout.split(separator: "\n").first?.split(separator: " ", omittingEmptySubsequences: true) == ["NAME", "TYPE", "DATA", "AGE"])

            let retyped = try await kubectl.run([
                "patch", "secret", "written", "-n", "direktiv-dispatch", "--type=merge", "-p", #"{"type":"example.com/other"}"#,
            ])
            #expect(retyped.status == 1)
            #expect(retyped.stderr.contains("field is immutable"), "\(retyped.stderr)")

            let broken = try kubectl.write(
                "broken.yaml",
                """
                apiVersion: v1
                kind: Secret
                metadata:
                  name: broken
                  namespace: direktiv-dispatch
                data:
                  key: not*base64
                """)
            let refused = try await kubectl.run(["create", "-f", broken])
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("base64"), "\(refused.stderr)")
            #expect((try? kubectl.sim.store.get(.secrets, namespace: "direktiv-dispatch", name: "broken")) == nil)
        }
    }

    @Test func watchReceivesAnEvent() async throws {
        try await KubectlSession.withSim { kubectl in
            let watch = try kubectl.start(["get", "pods", "-n", "direktiv-services-direktiv", "-w"])
            defer { watch.stop() }
            _ = try await next(watch.lines) { $0.hasPrefix("NAME") }
            let pod: JSONValue = ["metadata": ["name": "arrives-later"], "spec": ["containers": [["name": "c"]]], "status": ["phase": "Pending"]]
            _ = try kubectl.sim.store.create(pod, .pods, namespace: "direktiv-services-direktiv")
            let line = try await next(watch.lines) { $0.hasPrefix("arrives-later") }
            #expect(line.contains("Pending"))
            try kubectl.sim.store.modify(.pods, namespace: "direktiv-services-direktiv", name: "arrives-later", subresource: "status") { pod in
                pod = .object((pod.objectValue ?? [:]).merging(["status": ["phase": "Running"]]) { $1 })
            }
            let running = try await next(watch.lines) { $0.hasPrefix("arrives-later") && $0.contains("Running") }
            #expect(running.contains("Running"))
        }
    }

    /// `kubectl get services` means core Services (the legacy group wins in kubectl's
    /// resource resolution), `ksvc` Knative's; kubectl's `--validate=strict` (fieldValidation
    /// Strict) refuses an unknown field of a built-in kind, `--validate=warn` passes it with the
    /// API server's warning and the field dropped.
    @Test func servicesAreCoreServicesAndUnknownFieldsAreCaught() async throws {
        try await KubectlSession.withSim(controlPlane: true) { kubectl in
            let service = try kubectl.write(
                "service.yaml",
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: default\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n"
            )
            let applied = try await kubectl.run(["apply", "-f", service])
            #expect(applied.status == 0, "\(applied.stderr)")
            let listed = try await kubectl.run(["get", "services", "-n", "default"])
            #expect(listed.stdout.contains("CLUSTER-IP"), "\(listed.stdout)")
            #expect(listed.stdout.contains("80/TCP"), "\(listed.stdout)")

            let unknown = try kubectl.write(
                "unknown.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n  namespace: default\ndata:\n  a: b\nspecial: true\n")
            let strict = try await kubectl.run(["create", "-f", unknown, "--validate=strict"])
            #expect(strict.status == 1)
            #expect(strict.stderr.contains("unknown field \"special\""), "\(strict.stderr)")
            let warned = try await kubectl.run(["create", "-f", unknown, "--validate=warn"])
            #expect(warned.status == 0, "\(warned.stderr)")
            #expect(warned.stderr.contains("unknown field \"special\""), "\(warned.stderr)")
            let stored = try await kubectl.run(["get", "configmap", "cm", "-n", "default", "-o", "json"])
            #expect(!stored.stdout.contains("special"))
        }
    }

    /// Server-side apply as `kubectl apply --server-side` uses it: managedFields per manager, a
    /// 409 naming the other manager and the field when two appliers disagree, `--force-conflicts`
    /// taking the field over, and a field an applier stops sending removed unless someone else
    /// owns it. Any other write (here `kubectl label`) owns what it changed.
    @Test func serverSideApplyTracksOwnership() async throws {
        try await KubectlSession.withSim { kubectl in
            func configMap(_ data: [(String, String)]) -> String {
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\n  namespace: default\ndata:\n"
                    + data.map { "  \($0.0): \"\($0.1)\"\n" }.joined()
            }
            func apply(_ manager: String, _ data: [(String, String)], force: Bool = false) async throws -> ProcessResult {
                let file = try kubectl.write("\(manager)-\(UUID().uuidString).yaml", configMap(data))
                return try await kubectl.run(
                    ["apply", "--server-side", "--field-manager", manager, "-f", file] + (force ? ["--force-conflicts"] : []))
            }
            func stored() async throws -> JSONValue {
                let result = try await kubectl.run(["get", "configmap", "shared", "-n", "default", "-o", "json", "--show-managed-fields"])
                return try JSONValue.parse(Array(result.stdout.utf8))
            }
            func owner(of key: String, in object: JSONValue) -> [String] {
                (object[path: "metadata", "managedFields"]?.arrayValue ?? []).filter { $0[path: "fieldsV1", "f:data", "f:\(key)"] != nil }
                    .compactMap { $0["manager"]?.stringValue }.sorted()
            }

            #expect(try await apply("alice", [("a", "1"), ("b", "2")]).status == 0)
            #expect(owner(of: "a", in: try await stored()) == ["alice"])

            let conflict = try await apply("bob", [("a", "9")])
            #expect(conflict.status == 1)
            #expect(conflict.stderr.contains("conflict with \"alice\""), "\(conflict.stderr)")
            #expect(conflict.stderr.contains(".data.a"), "\(conflict.stderr)")
            #expect(try await stored()[path: "data", "a"] == "1", "a conflict changes nothing")

            // Agreeing on a value is shared ownership, not a conflict.
            #expect(try await apply("carol", [("b", "2")]).status == 0)
            #expect(owner(of: "b", in: try await stored()) == ["alice", "carol"])

            #expect(try await apply("bob", [("a", "9")], force: true).status == 0)
            let forced = try await stored()
            #expect(forced[path: "data", "a"] == "9")
            #expect(owner(of: "a", in: forced) == ["bob"])

            // alice stops sending a (bob owns it: it stays) and b (carol owns it too: it stays),
            // and c, which only she owned, goes when she stops sending it.
            #expect(try await apply("alice", [("c", "3")]).status == 0)
            #expect(try await apply("alice", [("d", "4")]).status == 0)
            let pruned = try await stored()
            #expect(pruned["data"] == ["a": "9", "b": "2", "d": "4"])

            let labelled = try await kubectl.run(["label", "configmap", "shared", "-n", "default", "team=a"])
            #expect(labelled.status == 0, "\(labelled.stderr)")
            let entries = try await stored()[path: "metadata", "managedFields"]?.arrayValue ?? []
            #expect(entries.contains { $0["operation"] == "Update" && $0[path: "fieldsV1", "f:metadata", "f:labels", "f:team"] != nil })
        }
    }

    /// RBAC for service-account tokens: `kubectl create token` (TokenRequest) mints one, `kubectl
    /// auth can-i` (SelfSubjectAccessReview) answers from the account's roles, and a request
    /// outside them is the API server's 403 wording.
    @Test func serviceAccountTokensAreAuthorizedByRBAC() async throws {
        try await KubectlSession.withSim { kubectl in
            let rbac = try kubectl.write(
                "rbac.yaml",
                """
                apiVersion: v1
                kind: ServiceAccount
                metadata: {name: reader, namespace: default}
                ---
                apiVersion: rbac.authorization.k8s.io/v1
                kind: Role
                metadata: {name: pod-reader, namespace: default}
                rules:
                - apiGroups: [""]
                  resources: [pods]
                  verbs: [get, list]
                - apiGroups: [""]
                  resources: [configmaps]
                  resourceNames: [settings]
                  verbs: [get, list, watch]
                ---
                apiVersion: rbac.authorization.k8s.io/v1
                kind: RoleBinding
                metadata: {name: reader, namespace: default}
                roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: pod-reader}
                subjects:
                - {kind: ServiceAccount, name: reader, namespace: default}
                """)
            #expect(try await kubectl.run(["apply", "-f", rbac]).status == 0)
            let minted = try await kubectl.run(["create", "token", "reader", "-n", "default"])
            #expect(minted.status == 0, "\(minted.stderr)")
            let token = minted.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let canList = try await kubectl.run(["auth", "can-i", "list", "pods", "-n", "default", "--token", token])
            #expect(canList.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "yes", "out: \(canList.stdout) err: \(canList.stderr)")
            let canDelete = try await kubectl.run(["auth", "can-i", "delete", "pods", "-n", "default", "--token", token])
            #expect(canDelete.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "no")
            #expect(try await kubectl.run(["get", "pods", "-n", "default", "--token", token]).status == 0)
            let secrets = try await kubectl.run(["get", "secrets", "-n", "default", "--token", token])
            #expect(secrets.status == 1)
            #expect(
                secrets.stderr.contains(
                    "secrets is forbidden: User \"system:serviceaccount:default:reader\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""
                ),
                "\(secrets.stderr)")
            // resourceNames: one ConfigMap by name, also as a list with its metadata.name field selector.
            let named = try await kubectl.run(["get", "configmaps", "-n", "default", "--field-selector", "metadata.name=settings", "--token", token])
            #expect(named.status == 0, "\(named.stderr)")
            let all = try await kubectl.run(["get", "configmaps", "-n", "default", "--token", token])
            #expect(all.status == 1)
        }
    }

    @Test func errorsReadAsTheRealAPIServersDo() async throws {
        try await KubectlSession.withSim { kubectl in
            let bad = try kubectl.write("bad.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Bad_Name\n  namespace: default\n")
            let invalid = try await kubectl.run(["apply", "-f", bad])
            #expect(invalid.status == 1)
            #expect(invalid.stderr.contains("is invalid"), "\(invalid.stderr)")
            let wrongToken = try await kubectl.run(["get", "nodes", "--token", "nope"])
            #expect(wrongToken.status == 1)
            #expect(wrongToken.stderr.contains("You must be logged in to the server"), "\(wrongToken.stderr)")
        }
    }
}

/// kubectl with a kubeconfig for a simulator and a fresh discovery cache.
struct KubectlSession: Sendable {
    let sim: KubeSim
    let directory: URL

    static func withSim(controlPlane: Bool = false, _ body: (KubectlSession) async throws -> Void) async throws {
        let harness = try await SimHarness.start(controlPlane: controlPlane)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubectl-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try harness.sim.kubeconfig(server: harness.url).write(to: directory.appendingPathComponent("kubeconfig"), atomically: true, encoding: .utf8)
        do {
            try await body(KubectlSession(sim: harness.sim, directory: directory))
        } catch {
            await harness.stop()
            throw error
        }
        await harness.stop()
    }

    func write(_ name: String, _ contents: String) throws -> String {
        let url = directory.appendingPathComponent(name)
        try contents.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    private var common: [String] {
        ["--kubeconfig", directory.appendingPathComponent("kubeconfig").path, "--cache-dir", directory.appendingPathComponent("cache").path]
    }

    func run(_ arguments: [String]) async throws -> ProcessResult {
        try await Kubectl.run(common + arguments)
    }

    func start(_ arguments: [String]) throws -> RunningProcess {
        try RunningProcess(URL(fileURLWithPath: Kubectl.path!), arguments: common + arguments, output: .standardOutput)
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
