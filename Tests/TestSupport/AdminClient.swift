import Foundation
import KubeModels
import NIOHTTP1

/// Calls the agent's admin API as an operator would, one connection per call.
public struct AdminClient: Sendable {
    public let port: Int
    public var token: String?

    public init(port: Int, token: String? = nil) {
        self.port = port
        self.token = token
    }

    /// An answer: its status and its JSON body (`null` when empty).
    public struct Answer: Sendable {
        public var status: Int
        public var json: JSONValue
        public var headers: HTTPHeaders
        public var error: String? { json["error"]?.stringValue }
    }

    public func call(
        _ method: HTTPMethod, _ path: String, json body: JSONValue? = nil, raw: [UInt8]? = nil, headers extra: [(String, String)] = []
    ) async throws -> Answer {
        var headers = [("Host", "127.0.0.1:\(port)")] + extra
        if let token { headers.append(("Authorization", "Bearer \(token)")) }
        let bytes = raw ?? body.map(\.jsonBytes)
        if bytes != nil, !extra.contains(where: { $0.0.lowercased() == "content-type" }) { headers.append(("Content-Type", "application/json")) }
        let response = try await withHTTP1Connection(port: port) {
            try await $0.request(method, path, headers: headers, body: bytes ?? (method == .GET || method == .DELETE ? nil : []))
        }
        let json = response.body.isEmpty ? JSONValue.null : try JSONValue.parse(response.body)
        return Answer(status: response.status, json: json, headers: response.headers)
    }
}

/// Writes a Knative Service for `.ci/run` to validate against Knative's CRD schema
/// (`$DISPATCH_TEST_ARTIFACTS/knative/<name>.json`).
public func writeKnativeArtifact(_ object: JSONValue, name: String) throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let directory =
        ProcessInfo.processInfo.environment["DISPATCH_TEST_ARTIFACTS"].map { URL(fileURLWithPath: $0) }
        ?? root.appendingPathComponent("test-artifacts")
    let knative = directory.appendingPathComponent("knative")
    try FileManager.default.createDirectory(at: knative, withIntermediateDirectories: true)
    try object.encoded(pretty: true).write(to: knative.appendingPathComponent("\(name).json"))
}
