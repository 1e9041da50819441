import KubeModels
import Testing

@Suite struct PodRequestTests {
    func pod(containers: [(String, String)], initContainers: [(String, String, Bool)] = [], overhead: [String: Quantity]? = nil) throws -> Pod {
        func requests(_ cpu: String, _ memory: String) throws -> ResourceRequirements {
            ResourceRequirements(requests: ["cpu": try Quantity(parsing: cpu), "memory": try Quantity(parsing: memory)])
        }
        return Pod(
            metadata: ObjectMeta(name: "p"),
            spec: Pod.Spec(
                nodeName: "n",
                containers: try containers.enumerated().map {
                    Pod.Container(name: "c\($0.offset)", resources: try requests($0.element.0, $0.element.1))
                },
                initContainers: try initContainers.enumerated().map {
                    Pod.Container(
                        name: "i\($0.offset)", resources: try requests($0.element.0, $0.element.1), restartPolicy: $0.element.2 ? "Always" : nil)
                },
                overhead: overhead
            )
        )
    }

    @Test func sumsContainers() throws {
        let request = try pod(containers: [("100m", "64M"), ("25m", "0")]).effectiveRequests()
        #expect(request == Resources(milliCPU: 125, memoryBytes: 64_000_000))
    }

    @Test func largeInitContainerDominates() throws {
        let request = try pod(containers: [("100m", "64Mi")], initContainers: [("2", "1Gi", false)]).effectiveRequests()
        #expect(request == Resources(milliCPU: 2000, memoryBytes: 1 << 30))
    }

    @Test func initContainerMaxIsPerResource() throws {
        let request = try pod(containers: [("3", "64Mi")], initContainers: [("1", "1Gi", false)]).effectiveRequests()
        #expect(request == Resources(milliCPU: 3000, memoryBytes: 1 << 30))
    }

    @Test func sidecarsAddToContainersAndToLaterInitContainers() throws {
        // Sidecar (500m) runs alongside the app (1); a later init container (1) runs next to the sidecar.
        let request = try pod(
            containers: [("1", "1Gi")],
            initContainers: [("500m", "256Mi", true), ("1", "2Gi", false)]
        ).effectiveRequests()
        #expect(request == Resources(milliCPU: 1500, memoryBytes: (2 << 30) + (256 << 20)))
    }

    @Test func addsOverhead() throws {
        let request = try pod(containers: [("100m", "64Mi")], overhead: ["cpu": try Quantity(parsing: "250m")]).effectiveRequests()
        #expect(request == Resources(milliCPU: 350, memoryBytes: 64 << 20))
    }

    @Test func terminatedPhases() {
        var pod = Pod(metadata: ObjectMeta(name: "p"), status: Pod.Status(phase: "Succeeded"))
        #expect(pod.isTerminated)
        pod.status?.phase = "Failed"
        #expect(pod.isTerminated)
        pod.status?.phase = "Running"
        #expect(!pod.isTerminated)
    }

    @Test func decodesKubectlOutputIgnoringUnknownFields() throws {
        let json = #"""
            {"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"b","ownerReferences":[{"kind":"ReplicaSet"}]},
             "spec":{"nodeName":"n1","dnsPolicy":"ClusterFirst","containers":[{"name":"c","image":"x","resources":{"requests":{"cpu":"250m","memory":"128Mi"},"limits":{"cpu":"1"}}}]},
             "status":{"phase":"Running","podIP":"10.0.0.1"}}
            """#
        let pod = try JSONValue.parse(Array(json.utf8)).decode(as: Pod.self)
        #expect(try pod.effectiveRequests() == Resources(milliCPU: 250, memoryBytes: 128 << 20))
    }
}
