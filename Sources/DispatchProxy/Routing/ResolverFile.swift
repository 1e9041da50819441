import Foundation
import KubeModels
import Logging
import ServiceLifecycle
import Synchronization

/// A resolver table kept in step with a file, for `serve --resolver-file` beside a separate
/// `sim --resolver-out`.
///
/// The file is `{"hosts": {"<fn>.<ns>.svc.cluster.local": "127.0.10.2:41234", ...}}`. It is read
/// again every `interval`; a file that does not parse is logged and the last good table stays.
public final class ResolverFile: Service, Sendable {
    public let path: String
    private let interval: Duration
    private let logger: Logger
    private let table = Mutex<[String: FunctionAddressResolver.Resolution]>([:])
    private let lastContents = Mutex<Data?>(nil)

    public init(path: String, interval: Duration = .seconds(1), logger: Logger) {
        self.path = path
        self.interval = interval
        self.logger = logger
    }

    /// The resolver reading the current table.
    public var resolver: FunctionAddressResolver {
        FunctionAddressResolver { [self] target in table.withLock { $0[target.canonicalHost] } ?? .unresolvable }
    }

    public struct FormatError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Parses the file's contents: each address once, so calls only look it up.
    public static func parse(_ data: Data) throws(FormatError) -> [String: FunctionAddressResolver.Resolution] {
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw FormatError(description: "not JSON: \(error)")
        }
        guard case .object(let hosts)? = json["hosts"] else { throw FormatError(description: "expected an object with a \"hosts\" object") }
        var table: [String: FunctionAddressResolver.Resolution] = [:]
        for (host, address) in hosts {
            guard let resolution = address.stringValue.flatMap(FunctionAddressResolver.Resolution.init(address:)) else {
                throw FormatError(description: "hosts.\(host): expected \"host:port\"")
            }
            table[host.lowercased()] = resolution
        }
        return table
    }

    /// Reads the file when it changed; returns whether the table changed.
    @discardableResult
    public func reload() -> Bool {
        guard let data = FileManager.default.contents(atPath: path), lastContents.withLock { $0 } != data else { return false }
        lastContents.withLock { $0 = data }
        do {
            let parsed = try Self.parse(data)
            table.withLock { $0 = parsed }
            logger.info("resolver file loaded", metadata: ["path": "\(path)", "hosts": "\(parsed.count)"])
            return true
        } catch {
            logger.error("refused the resolver file; the previous table stays", metadata: ["path": "\(path)", "error": "\(error)"])
            return false
        }
    }

    public func run() async throws {
        if !reload(), lastContents.withLock { $0 == nil } {
            logger.warning("resolver file not readable yet; function hosts do not resolve until it is", metadata: ["path": "\(path)"])
        }
        await cancelWhenGracefulShutdown {
            while (try? await Task.sleep(for: self.interval)) != nil {
                self.reload()
            }
        }
    }
}
