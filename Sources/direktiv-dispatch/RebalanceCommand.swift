import ArgumentParser
import AsyncHTTPClient
import DispatchCore
import Foundation
import KubeModels
import NIOCore
import NIOHTTP1

/// `direktiv-dispatch rebalance`: asks a running agent to decide again for every function of a
/// Direktiv namespace and move those whose cluster changes (`POST /v1/namespaces/{ns}/rebalance`).
struct RebalanceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebalance",
        abstract: "Decide again for every function of a Direktiv namespace and move those whose cluster changes.",
        discussion:
            "The usual case: pin a namespace with an override, then rebalance to move what already runs. The leader moves the workloads within failover.maxMovesPerMinute."
    )

    @Option(help: "The agent's admin URL, e.g. http://127.0.0.1:9090.")
    var server: String

    @Option(help: "The Direktiv namespace.")
    var namespace: String

    @Flag(help: "List what would move, and move nothing.")
    var dryRun = false

    @Option(help: "A file holding the admin token (a rebalance changes placements). [DISPATCH_ADMIN_TOKEN_FILE]")
    var tokenFile: String?

    @Option(help: "table or json.")
    var output: ExplainCommand.Output = .table

    func run() async throws {
        guard DirektivNames.isNamespaceName(namespace) else { throw ValidationError("\"\(namespace)\" is not a Direktiv namespace name") }
        let path = tokenFile ?? ProcessInfo.processInfo.environment["DISPATCH_ADMIN_TOKEN_FILE"]
        guard let path,
            let token = FileManager.default.contents(atPath: path).map({
                String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }), !token.isEmpty
        else {
            throw ValidationError("a rebalance needs the admin token: --token-file PATH (or DISPATCH_ADMIN_TOKEN_FILE)")
        }
        var request = HTTPClientRequest(url: server.trimmingSuffix("/") + "/v1/namespaces/\(namespace)/rebalance")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Authorization", value: "Bearer \(token)")
        request.body = .bytes(ByteBuffer(bytes: JSONValue.object(["dryRun": .bool(dryRun)]).jsonBytes))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(60))))
        let body: ByteBuffer
        let status: HTTPResponseStatus
        do {
            let response = try await client.execute(request, timeout: .seconds(60))
            status = response.status
            body = try await response.body.collect(upTo: 16 << 20)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            throw ValidationError("cannot reach \(server): \(error)")
        }
        let answer = try? JSONValue.parse(body.readableBytesView)
        guard status == .ok, let answer else {
            throw ValidationError("\(server) answered \(status.code): \(answer?["error"]?.stringValue ?? String(buffer: body))")
        }
        if output == .json {
            print(String(decoding: answer.jsonBytes, as: UTF8.self))
            return
        }
        var table = TextTable(headers: ["FUNCTION", "FROM", "TO", "MOVES", "WHY"])
        for entry in answer["functions"]?.arrayValue ?? [] {
            table.append([
                entry["name"]?.stringValue ?? "", entry["from"]?.stringValue ?? "", entry["to"]?.stringValue ?? "",
                entry["moves"]?.boolValue == true ? (dryRun ? "would" : "yes") : "no", entry["reason"]?.stringValue ?? "",
            ])
        }
        print(table.render(), terminator: "")
        for name in answer["conflicts"]?.arrayValue?.compactMap(\.stringValue) ?? [] {
            print("\(name): changed meanwhile, not moved; run again to include it")
        }
    }
}
