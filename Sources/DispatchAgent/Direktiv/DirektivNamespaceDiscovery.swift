import AsyncHTTPClient
import DispatchCore
import DispatchMetrics
import Foundation
import KubeModels
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// Reads Direktiv's namespaces from its API, so that functions of a namespace nobody listed in
/// the rules' `direktivNamespaces` are still recognised (Direktiv 0.8.1+ names a function by an
/// ID that starts with its namespace, which can only be split off by knowing the names).
///
/// Every `interval` it asks `GET <base>/api/v2/namespaces` (Direktiv 0.8.3 and later); the names
/// it answers replace the discovered ones in ``AgentState/discoveredNamespaces``. When Direktiv
/// cannot be asked, or answers something else, the last names stay (a Direktiv restart must not
/// make functions unknown), the failure is counted and logged once per change of state.
public final class DirektivNamespaceDiscovery: Service, Sendable {
    /// Where and how often to ask.
    public struct Settings: Sendable, Hashable {
        /// The API's base URL, without a trailing slash.
        public var baseURL: String
        /// A file holding the API key (Direktiv's `apikey` chart value); read on every request,
        /// so a rotated Secret is picked up. Nil: no key is sent.
        public var keyFile: String?
        public var interval: Duration = .seconds(30)
        public var timeout: Duration = .seconds(10)

        public init(baseURL: String, keyFile: String? = nil) {
            self.baseURL = baseURL
            self.keyFile = keyFile
        }

        /// `url` as a base URL: http or https with a host, no query or fragment, trailing slashes removed.
        public static func baseURL(_ url: String) -> String? {
            guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
                components.host?.isEmpty == false, components.query == nil, components.fragment == nil
            else { return nil }
            var base = url
            while base.hasSuffix("/") { base.removeLast() }
            return base
        }

        /// The list's full URL.
        public var listURL: String { baseURL + DirektivNamespaceList.path }
    }

    /// What one request came to.
    public enum Outcome: Sendable, Hashable {
        /// The names Direktiv answered (already applied).
        case listed(DirektivNamespaceList)
        /// Why there is no list this time; the last one stays.
        case failed(String)
    }

    /// The API key headers: Direktiv 0.9+ reads `Direktiv-Api-Key`, 0.8 `Direktiv-Token`.
    public static let keyHeaders = ["Direktiv-Api-Key", "Direktiv-Token"]

    public let settings: Settings
    private let state: AgentState
    private let client: HTTPClient
    private let metrics: DispatchMetrics
    private let logger: Logger
    private let onChange: @Sendable () -> Void
    private let lastReport = LockedValue<String?>(nil)

    /// - Parameter onChange: called after the discovered names changed.
    public init(
        settings: Settings, state: AgentState, client: HTTPClient = .shared, metrics: DispatchMetrics = DispatchMetrics(), logger: Logger,
        onChange: @escaping @Sendable () -> Void = {}
    ) {
        self.settings = settings
        self.state = state
        self.client = client
        self.metrics = metrics
        self.logger = logger
        self.onChange = onChange
    }

    public func run() async throws {
        await repeatUntilShutdown(every: settings.interval) { await self.refresh() }
    }

    /// Asks once and applies the answer.
    @discardableResult
    public func refresh() async -> Outcome {
        let outcome: Outcome
        do {
            outcome = .listed(try await list())
        } catch {
            outcome = .failed(error.description)
        }
        switch outcome {
        case .listed(let list):
            let changed = state.discoveredNamespaces != list.names
            state.discoveredNamespaces = list.names
            metrics.direktivNamespacesDiscovered(list.names.count)
            if changed { onChange() }
            report("listed \(list.names.count) skipped \(list.skipped)") {
                logger.info(
                    "read Direktiv's namespaces",
                    metadata: ["url": "\(settings.listURL)", "namespaces": "\(list.names.count)", "skipped": "\(list.skipped)"])
                if list.skipped > 0 {
                    logger.warning(
                        "Direktiv's namespace list held entries without a valid name; they were ignored",
                        metadata: ["url": "\(settings.listURL)", "skipped": "\(list.skipped)"])
                }
            }
        case .failed(let reason):
            metrics.direktivAPIFailed()
            report("failed \(reason)") {
                logger.warning(
                    "cannot read Direktiv's namespaces; the last list stays",
                    metadata: ["url": "\(settings.listURL)", "reason": "\(reason)", "known": "\(state.discoveredNamespaces.count)"])
            }
        }
        return outcome
    }

    private struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private func list() async throws(Failure) -> DirektivNamespaceList {
        var request = HTTPClientRequest(url: settings.listURL)
        request.headers.add(name: "Accept", value: "application/json")
        if let keyFile = settings.keyFile {
            guard let data = FileManager.default.contents(atPath: keyFile) else {
                throw Failure(description: "cannot read the API key file \(keyFile)")
            }
            let key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            // A header value may not hold line breaks or other control characters.
            guard !key.isEmpty, key.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }) else {
                throw Failure(description: "the API key file \(keyFile) holds no usable key (printable ASCII on one line)")
            }
            for name in Self.keyHeaders { request.headers.add(name: name, value: key) }
        }
        let body: ByteBuffer
        let status: UInt
        do {
            let response = try await client.execute(request, timeout: .init(settings.timeout))
            status = response.status.code
            body = try await response.body.collect(upTo: DirektivNamespaceList.maximumBodyBytes)
        } catch {
            throw Failure(description: "\(error)")
        }
        guard status == 200 else {
            // Direktiv's error text goes into a log line: a few hundred characters say enough.
            let message = (try? JSONValue.parse(body.readableBytesView))?[path: "error", "message"]?.stringValue.map { String($0.prefix(200)) }
            let hint = status == 401 || status == 403 ? " (check --direktiv-api-key-file)" : ""
            throw Failure(description: "answered HTTP \(status)\(message.map { ": \($0)" } ?? "")\(hint)")
        }
        do {
            return try DirektivNamespaceList.parse(body.readableBytesView)
        } catch {
            throw Failure(description: "unexpected answer: \(error.description)")
        }
    }

    /// Runs `log` when the state changed since the last report, so a steady state logs once.
    private func report(_ summary: String, _ log: () -> Void) {
        if lastReport.exchange(summary) != summary { log() }
    }
}
