import Foundation
import KubeModels

extension Pods {
    /// A stable hexadecimal digest of `text` (FNV-1a rounds), for made-up image and container IDs.
    static func digest(_ text: String, length: Int = 64) -> String {
        var result = ""
        var round: UInt64 = 0
        while result.count < length {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ round
            for byte in text.utf8 {
                hash ^= UInt64(byte)
                hash = hash &* 0x100_0000_01b3
            }
            let hex = String(hash, radix: 16)
            result += String(repeating: "0", count: 16 - hex.count) + hex
            round += 1
        }
        return String(result.prefix(length))
    }

    /// An address in `prefix` (`10.244`) picked from `key`: pods and nodes get addresses that stay
    /// the same across passes.
    static func address(_ prefix: String, _ key: String) -> String {
        let value = UInt64(digest(key, length: 8), radix: 16) ?? 0
        return "\(prefix).\(value % 250).\(value / 250 % 250 + 2)"
    }

    /// The node's InternalIP, as its kubelet reports it.
    static func hostIP(_ node: JSONValue?) -> String? {
        node?[path: "status", "addresses"]?.arrayValue?.first { $0["type"]?.stringValue == "InternalIP" }?["address"]?.stringValue
    }

    /// A pod's status once its kubelet started every container: Running, with the addresses,
    /// conditions and container statuses (image, imageID, containerID, state) a kubelet reports.
    static func runningStatus(_ pod: JSONValue, node: JSONValue?, now: Date) -> JSONValue {
        let namespace = pod[path: "metadata", "namespace"]?.stringValue ?? ""
        let name = pod[path: "metadata", "name"]?.stringValue ?? ""
        let started = JSONValue.string(ObjectStore.timestamp(now))
        var status = pod["status"]?.objectValue ?? [:]
        var conditions = status["conditions"]?.arrayValue ?? []
        for type in ["PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled"] {
            conditions = Conditions.set(conditions, type: type, status: "True")
        }
        let podIP = address("10.244", "\(namespace)/\(name)")
        status["phase"] = "Running"
        status["conditions"] = .array(conditions)
        status["podIP"] = .string(podIP)
        status["podIPs"] = [["ip": .string(podIP)]]
        if let hostIP = hostIP(node) {
            status["hostIP"] = .string(hostIP)
            status["hostIPs"] = [["ip": .string(hostIP)]]
        }
        if status["startTime"] == nil { status["startTime"] = started }
        status["qosClass"] = .string(qosClass(pod))
        status["containerStatuses"] = .array(
            (pod[path: "spec", "containers"]?.arrayValue ?? []).map { container in
                let containerName = container["name"]?.stringValue ?? ""
                let image = container["image"]?.stringValue ?? ""
                return [
                    "name": .string(containerName), "image": .string(image),
                    "imageID": .string("\(image.split(separator: ":").first.map(String.init) ?? image)@sha256:\(digest(image))"),
                    "containerID": .string("containerd://\(digest("\(namespace)/\(name)/\(containerName)"))"),
                    "ready": true, "started": true, "restartCount": 0,
                    "state": ["running": ["startedAt": started]], "lastState": [:],
                ]
            })
        return .object(status)
    }

    /// Guaranteed when every container's requests equal its limits for cpu and memory,
    /// BestEffort when none sets any, Burstable otherwise (the kubelet's GetPodQOS, simplified to
    /// cpu and memory).
    static func qosClass(_ pod: JSONValue) -> String {
        let containers = pod[path: "spec", "containers"]?.arrayValue ?? []
        var any = false
        var guaranteed = !containers.isEmpty
        for container in containers {
            let requests = container[path: "resources", "requests"]?.objectValue ?? [:]
            let limits = container[path: "resources", "limits"]?.objectValue ?? [:]
            if !requests.isEmpty || !limits.isEmpty { any = true }
            for resource in ["cpu", "memory"] {
                guard let limit = limits[resource] else {
                    guaranteed = false
                    continue
                }
                if let request = requests[resource], request != limit { guaranteed = false }
            }
        }
        return guaranteed ? "Guaranteed" : any ? "Burstable" : "BestEffort"
    }

    /// The Ready condition's status (`True` for a pod the endpoints controller counts as ready).
    static func isReady(_ pod: JSONValue) -> Bool {
        Conditions.status(of: pod, "Ready") == "True"
    }
}
