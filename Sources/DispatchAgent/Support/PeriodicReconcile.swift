import Logging
import ServiceLifecycle

/// Runs `round` now and then every `interval` until graceful shutdown (or cancellation): the
/// loop of every part that checks something periodically.
func repeatUntilShutdown(every interval: Duration, _ round: @escaping @Sendable () async -> Void) async {
    await cancelWhenGracefulShutdown {
        repeat {
            await round()
        } while (try? await Task.sleep(for: interval)) != nil
    }
}

/// ``repeatUntilShutdown(every:_:)`` for rounds that can fail: a failed round is logged with
/// `failure` and the next tick tries again, so the API server being away for a while does not
/// end a service that keeps Secrets and configurations right.
func reconcileUntilShutdown(
    every interval: Duration,
    logger: Logger,
    failure: String,
    metadata: Logger.Metadata = [:],
    _ round: @escaping @Sendable () async throws -> Void
) async {
    await repeatUntilShutdown(every: interval) {
        do {
            try await round()
        } catch {
            logger.error("\(failure); retrying", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }
}
