import DispatchMetrics
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle

/// What `/readyz` asks: each part that must be ready, and why it is not; and what is worth
/// knowing without making the pod unready (`notes`).
public struct ReadinessChecks: Sendable {
    public var checks: [(name: String, check: @Sendable () -> String?)]
    public var notes: [(name: String, note: @Sendable () -> String?)]

    public init(_ checks: [(name: String, check: @Sendable () -> String?)], notes: [(name: String, note: @Sendable () -> String?)] = []) {
        self.checks = checks
        self.notes = notes
    }

    /// `nil` per ready part, else the reason.
    func evaluate() -> [(String, String?)] {
        checks.map { ($0.name, $0.check()) }
    }

    /// The notes that apply now, by part.
    func currentNotes() -> [String: String] {
        var notes: [String: String] = [:]
        for (name, note) in self.notes { notes[name] = note() }
        return notes
    }
}

/// The plain-HTTP admin port: health, readiness, metrics and the admin API.
public enum AdminServer {
    public static func router(readiness: ReadinessChecks, metrics: MetricsExposition? = nil, api: AdminAPI? = nil) -> Router<BasicRequestContext> {
        let router = Router()
        api?.addRoutes(to: router)
        router.get("healthz") { _, _ in Response.json(["status": "ok"]) }
        if let metrics {
            router.get("metrics") { _, _ in
                Response(status: .ok, headers: [.contentType: MetricsExposition.contentType], body: ResponseBody(byteBuffer: metrics.render()))
            }
        }
        router.get("readyz") { _, _ -> Response in
            let results = readiness.evaluate()
            var body: [String: String] = [:]
            for (name, problem) in results { body[name] = problem ?? "ok" }
            let ready = results.allSatisfy { $0.1 == nil }
            let notes = readiness.currentNotes()
            return .json(ReadyBody(ready: ready, checks: body, notes: notes.isEmpty ? nil : notes), status: ready ? .ok : .serviceUnavailable)
        }
        return router
    }

    /// A port for scrapers alone: `/metrics` and `/healthz`, so that a NetworkPolicy can let the
    /// monitoring namespace scrape without letting it reach the admin API.
    public static func metricsRouter(metrics: MetricsExposition) -> Router<BasicRequestContext> {
        let router = Router()
        router.get("healthz") { _, _ in Response.json(["status": "ok"]) }
        router.get("metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: MetricsExposition.contentType], body: ResponseBody(byteBuffer: metrics.render()))
        }
        return router
    }

    struct ReadyBody: Encodable {
        var ready: Bool
        var checks: [String: String]
        var notes: [String: String]?
    }

    public static func application(
        router: Router<BasicRequestContext>, host: String, port: Int, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some Service {
        Application(
            router: router,
            server: .http1(configuration: .init(idleTimeout: .seconds(60))),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "direktiv-dispatch-admin"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
