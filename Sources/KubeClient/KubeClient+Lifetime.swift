import Logging

/// Runs `body` with a new client and shuts the client down on every path, returned or thrown,
/// as AsyncHTTPClient's `withHTTPClient` does: a client dropped while running traps.
public func withKubeClient<Result>(
    configuration: KubeConfiguration,
    logger: Logger = Logger(label: "kube-client"),
    _ body: (KubeClient) async throws -> Result
) async throws -> Result {
    let client = try KubeClient(configuration: configuration, logger: logger)
    let result: Result
    do {
        result = try await body(client)
    } catch {
        try? await client.shutdown()
        throw error
    }
    try await client.shutdown()
    return result
}
