import Logging
import ServiceLifecycle

/// Runs `round` now and then every `interval` until graceful shutdown. A failed round is logged
/// with `failure` and the next tick tries again: the API server being away for a while must not
/// end a service that keeps Secrets and configurations right.
func reconcileUntilShutdown(
    every interval: Duration,
    logger: Logger,
    failure: String,
    metadata: Logger.Metadata = [:],
    _ round: @escaping @Sendable () async throws -> Void
) async {
    await cancelWhenGracefulShutdown {
        repeat {
            do {
                try await round()
            } catch {
                logger.error("\(failure); retrying", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
        } while (try? await Task.sleep(for: interval)) != nil
    }
}
