import ArgumentParser
import AsyncHTTPClient
import DispatchCore
import Foundation
import KubeModels
import NIOCore
import NIOHTTP1

/// Asks a running agent's admin API for a placement explanation.
struct RemoteExplain {
    let server: String
    let tokenFile: String?

    func explain(_ query: JSONValue) async throws -> PlacementDecision {
        var request = HTTPClientRequest(url: server.trimmingSuffix("/") + "/v1/placements/explain")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if let tokenFile {
            guard
                let token = FileManager.default.contents(atPath: tokenFile).map({
                    String(decoding: $0, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                }), !token.isEmpty
            else {
                throw ValidationError("cannot read a token from \(tokenFile)")
            }
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        request.body = .bytes(ByteBuffer(bytes: query.jsonBytes))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(timeout: .init(connect: .seconds(5), read: .seconds(30))))
        do {
            let response = try await client.execute(request, timeout: .seconds(30))
            let body = try await response.body.collect(upTo: 16 << 20)
            try await client.shutdown()
            guard response.status == .ok else {
                let message = (try? JSONValue.parse(body.readableBytesView))?["error"]?.stringValue ?? String(buffer: body)
                throw ValidationError("\(server) answered \(response.status.code): \(message)")
            }
            do {
                return try JSONDecoder().decode(PlacementDecision.self, from: Data(body.readableBytesView))
            } catch {
                throw ValidationError("\(server) did not answer with a placement decision: \(error)")
            }
        } catch let error as ValidationError {
            try? await client.shutdown()
            throw error
        } catch {
            try? await client.shutdown()
            throw ValidationError("cannot ask \(server): \(error)")
        }
    }
}

extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
