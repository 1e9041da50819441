import DispatchCore
import DispatchMetrics
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Keeps the agent's rules in step with the rules file.
///
/// The file is read again every `interval` (its content is compared, which also catches the
/// symlink swap a ConfigMap volume makes) and on SIGHUP. A file that does not validate is
/// refused with a logged error and a counter; the last good rules stay in force.
public final class RulesReloader: Service, Sendable {
    public let path: String
    private let state: AgentState
    private let onChange: @Sendable (Rules) -> Void
    private let interval: Duration
    private let metrics: DispatchMetrics
    private let logger: Logger
    private let lastContents = LockedValue<Data?>(nil)

    public init(
        path: String, state: AgentState, interval: Duration = .seconds(2), metrics: DispatchMetrics = DispatchMetrics(), logger: Logger,
        onChange: @escaping @Sendable (Rules) -> Void = { _ in }
    ) {
        self.path = path
        self.state = state
        self.interval = interval
        self.metrics = metrics
        self.logger = logger
        self.onChange = onChange
    }

    /// Why rules could not be loaded.
    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads and validates the file; used at start, where invalid rules stop the agent.
    public static func load(path: String) throws(LoadError) -> (Rules, Data) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw LoadError(description: "cannot read the rules file \(path)")
        }
        do {
            return (try RulesParser.parse(String(decoding: data, as: UTF8.self)), data)
        } catch {
            throw LoadError(description: "invalid rules in \(path):\n" + error.issues.map { "\(path):\($0)" }.joined(separator: "\n"))
        }
    }

    /// Marks `contents` as the rules in force (what was loaded at start).
    public func loaded(_ contents: Data) {
        lastContents.set(contents)
    }

    public enum Outcome: Equatable, Sendable {
        case unchanged
        case applied
        case refused(String)
    }

    /// Reads the file and applies it when it changed and validates.
    @discardableResult
    public func reload(reason: String) -> Outcome {
        guard let data = FileManager.default.contents(atPath: path) else {
            // A ConfigMap update swaps symlinks; a missing file is usually a moment in between.
            return .unchanged
        }
        if lastContents.get() == data { return .unchanged }
        lastContents.set(data)
        do {
            let rules = try RulesParser.parse(String(decoding: data, as: UTF8.self))
            state.rules = rules
            onChange(rules)
            logger.notice("rules reloaded", metadata: ["path": "\(path)", "reason": "\(reason)", "rules": "\(rules.namespaces.count)"])
            return .applied
        } catch {
            metrics.rulesReloadFailed()
            let issues = error.issues.map(\.description).joined(separator: "; ")
            logger.error(
                "refused invalid rules; the previous rules stay in force",
                metadata: ["path": "\(path)", "reason": "\(reason)", "issues": "\(issues)"])
            return .refused(issues)
        }
    }

    public func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    while (try? await Task.sleep(for: self.interval)) != nil {
                        self.reload(reason: "file check")
                    }
                }
                group.addTask {
                    for await _ in signals { self.reload(reason: "SIGHUP") }
                }
            }
        }
    }
}
