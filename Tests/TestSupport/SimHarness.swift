import DispatchCertificates
import Foundation
import KubeClient
import KubeModels
import KubeSim
import Logging
import ServiceLifecycle
import Synchronization

/// A KubeSim serving HTTPS on a free loopback port for the length of a test.
public final class SimHarness: Sendable {
    public let sim: KubeSim
    private let running: RunningServer
    public let port: Int

    /// The API server in one group, the control plane and function servers in another, so that
    /// the API server can go away while the simulated clusters keep running.
    struct RunningServer: Sendable {
        let group: ServiceGroup
        let task: Task<Void, any Error>
        let clusters: (group: ServiceGroup, task: Task<Void, any Error>)?
    }

    public var url: String { "https://127.0.0.1:\(port)" }

    private let controlPlane: Bool
    /// The simulated clusters' function endpoints, when started with `functions`.
    public let functions: FunctionServers?

    private init(sim: KubeSim, running: RunningServer, port: Int, controlPlane: Bool, functions: FunctionServers?) {
        self.sim = sim
        self.running = running
        self.port = port
        self.controlPlane = controlPlane
        self.functions = functions
    }

    /// Starts a simulator with `scenario` applied; `functions` adds the function endpoints (and
    /// the control plane that runs their pods). `tick`: how often the control plane reconciles
    /// (each round reads every pod: benchmarks with hundreds of functions make it slower).
    public static func start(
        scenario: Scenario = .seed, options: KubeSim.Options = KubeSim.Options(), controlPlane: Bool = false,
        functions: FunctionServers.Options? = nil, tick: Duration = .milliseconds(50)
    ) async throws -> SimHarness {
        var serverLogger = Logger(label: "kubesim-test")
        // A hard stop makes the HTTP server log its cancelled connections as errors.
        serverLogger.logLevel = .critical
        let sim = try KubeSim(options: options, logger: serverLogger)
        try scenario.apply(to: sim.store)
        let servers = functions.map {
            FunctionServers(store: sim.store, clusters: FunctionServers.clusters(in: sim.store, options: $0), options: $0, logger: serverLogger)
        }
        let (running, port) = try await serve(sim, port: 0, controlPlane: controlPlane || functions != nil, functions: servers, tick: tick)
        if let servers { _ = await servers.running() }
        return SimHarness(sim: sim, running: running, port: port, controlPlane: controlPlane || functions != nil, functions: servers)
    }

    private static func serve(
        _ sim: KubeSim, port: Int, controlPlane: Bool, functions: FunctionServers?, tick: Duration = .milliseconds(50)
    ) async throws -> (RunningServer, Int) {
        let (ports, continuation) = AsyncStream.makeStream(of: Int.self)
        let server = try sim.server(port: port) { continuation.yield($0) }
        var controlPlaneOptions = ControlPlane.Options()
        controlPlaneOptions.podStartDelay = .milliseconds(20)
        controlPlaneOptions.tick = tick
        var clusterServices: [any Service] = controlPlane ? [ControlPlane(store: sim.store, options: controlPlaneOptions)] : []
        if let functions { clusterServices.append(functions) }
        var logger = Logger(label: "kubesim-test")
        logger.logLevel = .critical
        let group = ServiceGroup(configuration: .init(services: [server], logger: logger))
        let task = Task { try await group.run() }
        var clusters: (ServiceGroup, Task<Void, any Error>)?
        if !clusterServices.isEmpty {
            let clusterGroup = ServiceGroup(configuration: .init(services: clusterServices, logger: logger))
            clusters = (clusterGroup, Task { try await clusterGroup.run() })
        }
        var iterator = ports.makeAsyncIterator()
        guard let bound = await iterator.next() else { throw HarnessError("the simulator did not start") }
        return (RunningServer(group: group, task: task, clusters: clusters), bound)
    }

    /// Stops the server and the simulated clusters; the store keeps its state.
    ///
    /// Through a graceful shutdown, not by cancelling the serving task: cancelling it while a
    /// client reconnects drops a connection NIO has accepted but the server has not taken yet,
    /// and NIO traps on that ("Deinited NIOAsyncWriter without calling finish()",
    /// apple/swift-nio#2813). For clients the result is the same as a crash: every watch ends,
    /// every new connection is refused.
    public func stop() async {
        await stopAPIServer()
        guard let clusters = running.clusters else { return }
        await clusters.group.triggerGracefulShutdown()
        // A call a test left running on a slow function would hold the shutdown for as long as
        // the function takes: cut what is left after a second. By then no client connects.
        let cut = Task {
            try await Task.sleep(for: .seconds(1))
            clusters.task.cancel()
        }
        _ = try? await clusters.task.value
        cut.cancel()
    }

    /// Stops only the API server, as a crashing one would go: the simulated clusters' pods and
    /// function endpoints keep running, as they do on a real cluster.
    public func stopAPIServer() async {
        await running.group.triggerGracefulShutdown()
        _ = try? await running.task.value
    }

    /// Stops the server gracefully: open watches end, new ones are refused, requests finish.
    /// (``stop()`` goes the same way.)
    public func stopGracefully() async {
        await stop()
    }

    /// Stops this server and starts a new one with the same store on the same port.
    public func restarted() async throws -> SimHarness {
        await stop()
        let (running, port) = try await Self.serve(sim, port: port, controlPlane: controlPlane, functions: nil)
        return SimHarness(sim: sim, running: running, port: port, controlPlane: controlPlane, functions: nil)
    }

    public func configuration(readTimeout: Duration = .seconds(30)) -> KubeConfiguration {
        KubeConfiguration(
            server: url,
            tls: .init(certificateAuthorityPEM: Array(sim.certificateAuthority.certificatePEM.utf8)),
            credentials: .token(sim.token),
            readTimeout: readTimeout,
            connectTimeout: .seconds(2)
        )
    }

    public func client(onWarning: (@Sendable (String) -> Void)? = nil) throws -> KubeClient {
        try KubeClient(configuration: configuration(), onWarning: onWarning)
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Runs `body` with a started simulator and a client, shutting both down afterwards.
public func withSim<T>(
    scenario: Scenario = .seed,
    options: KubeSim.Options = KubeSim.Options(),
    _ body: (SimHarness, KubeClient) async throws -> T
) async throws -> T {
    let harness = try await SimHarness.start(scenario: scenario, options: options)
    let client = try harness.client()
    do {
        let result = try await body(harness, client)
        try await client.shutdown()
        await harness.stop()
        return result
    } catch {
        try? await client.shutdown()
        await harness.stop()
        throw error
    }
}

/// Waits for the next element satisfying `predicate`; the deadline only guards against a hang.
public func next<S: AsyncSequence & Sendable>(
    _ sequence: S,
    within deadline: Duration = .seconds(15),
    where predicate: @escaping @Sendable (S.Element) -> Bool
) async throws -> S.Element where S.Element: Sendable {
    try await withThrowingTaskGroup(of: S.Element?.self) { group in
        group.addTask {
            for try await element in sequence where predicate(element) { return element }
            return nil
        }
        group.addTask {
            try await Task.sleep(for: deadline)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let element = first else {
            throw HarnessError("no matching element within \(deadline)")
        }
        return element
    }
}

public func configMap(_ name: String, namespace: String = "default", data: [String: String] = [:], labels: [String: String]? = nil) -> ConfigMap {
    ConfigMap(metadata: ObjectMeta(name: name, namespace: namespace, labels: labels), data: data)
}

/// Runs `body`, failing if it has not finished by `deadline`.
public func withDeadline(_ deadline: Duration, _ body: @escaping @Sendable () async -> Void) async throws {
    try await withThrowingTaskGroup(of: Bool.self) { group in
        group.addTask {
            await body()
            return true
        }
        group.addTask {
            try await Task.sleep(for: deadline)
            return false
        }
        defer { group.cancelAll() }
        guard try await group.next() == true else { throw HarnessError("not finished within \(deadline)") }
    }
}

/// Values collected from callbacks, read back by the test.
public final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    public init() {}
    public func append(_ value: Value) { values.withLock { $0.append(value) } }
    public var all: [Value] { values.withLock { $0 } }
}

extension JSONValue {
    /// A copy with the value at `path` replaced, creating objects on the way.
    public func replacing(_ path: [String], with value: JSONValue) -> JSONValue {
        guard let first = path.first else { return value }
        var members = objectValue ?? [:]
        members[first] = (members[first] ?? [:]).replacing(Array(path.dropFirst()), with: value)
        return .object(members)
    }
}

/// Runs `body`, then `teardown`, also when `body` throws.
public func withTeardown<T>(_ body: () async throws -> T, teardown: () async -> Void) async throws -> T {
    let value: T
    do {
        value = try await body()
    } catch {
        await teardown()
        throw error
    }
    await teardown()
    return value
}

/// Whether `condition` holds within `deadline`, checked every 20 ms: for state with no event to
/// await (a gauge set at the end of a controller's pass).
public func eventually(within deadline: Duration = .seconds(15), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let end = ContinuousClock.now + deadline
    while ContinuousClock.now < end {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}
