import KubeModels
import KubeSim
import Testing

@Suite struct NameValidationTests {
    @Test func subdomainNamesMayHaveLongParts() throws {
        let store = ObjectStore()
        _ = try store.create(["metadata": ["name": "default"]], .namespaces, namespace: nil)
        let long = "team-a-greeter-flows-hello-yaml-4c1d9e0b7a-00001-deployment-5b7d9c8f4-x2k8p"
        #expect(long.count > 63)
        _ = try store.create(["metadata": ["name": .string(long)], "spec": ["containers": []]], .pods, namespace: "default")
        #expect(throws: Status.self) {
            try store.create(["metadata": ["name": .string(String(repeating: "a", count: 254))]], .pods, namespace: "default")
        }
        #expect(throws: Status.self) { try store.create(["metadata": ["name": "Upper"]], .pods, namespace: "default") }
        #expect(throws: Status.self) {
            try store.create(["metadata": ["name": .string(String(repeating: "a", count: 64))]], .namespaces, namespace: nil)
        }
    }
}
