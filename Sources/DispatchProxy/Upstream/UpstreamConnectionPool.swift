import NIOCore
import NIOPosix

/// Keep-alive connections to functions, one pool per event loop.
///
/// A caller's connection lives on one event loop and takes its upstream connections from that
/// loop's pool, so a call never leaves its thread. The most recently used connection is reused
/// first (it is the least likely to have been closed by the function's server); a connection
/// idle longer than `idleTimeout` is closed, and at most `maximumIdlePerHost` wait per function
/// address. Nothing here follows redirects or touches bodies: the proxy forwards what it gets.
final class UpstreamConnectionPool {
    struct Settings: Sendable {
        var connectTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var maximumIdlePerHost: Int
    }

    /// Opens the channel of a new connection to `key` with `connection` as its handler: a TCP
    /// socket in the agent, an `EmbeddedChannel` in the pool's and the forwarder's tests.
    typealias Connector = (_ key: UpstreamConnection.Key, _ connection: UpstreamConnection) -> EventLoopFuture<any Channel>

    let eventLoop: any EventLoop
    let settings: Settings
    private let connector: Connector?
    /// The idle connections of one address, most recently given back last.
    private final class Idle {
        var connections: [UpstreamConnection] = []
    }

    /// Lists stay when they empty (addresses are few, and the sweep drops empty ones), so that a
    /// lease and a release change a list in place instead of the dictionary.
    private var idle: [UpstreamConnection.Key: Idle] = [:]
    private var sweep: Scheduled<Void>?
    private var isShutDown = false

    /// - Parameter connector: how connections are opened; nil: TCP, with `settings.connectTimeout`.
    init(eventLoop: any EventLoop, settings: Settings, connector: Connector? = nil) {
        self.eventLoop = eventLoop
        self.settings = settings
        self.connector = connector
    }

    /// Idle connections waiting, over all addresses.
    var idleCount: Int { idle.values.reduce(0) { $0 + $1.connections.count } }

    /// An open idle connection to `key`, now leased to the caller, or `nil`.
    func lease(_ key: UpstreamConnection.Key) -> UpstreamConnection? {
        guard let waiting = idle[key] else { return nil }
        while let connection = waiting.connections.popLast() {
            connection.pool = nil
            if connection.isOpen { return connection }
        }
        return nil
    }

    /// Makes a new connection to `key`, leased to the caller once `completion` runs (on the loop).
    func connect(_ key: UpstreamConnection.Key, completion: @escaping (Result<UpstreamConnection, any Error>) -> Void) {
        if let connector {
            let connection = UpstreamConnection(key: key)
            connector(key, connection).assumeIsolated().whenComplete { result in completion(result.map { _ in connection }) }
            return
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    // Bytes in, bytes out: the connection reads answers itself (`HTTPHead`, `HTTPBodyFraming`).
                    try channel.pipeline.syncOperations.addHandler(UpstreamConnection(key: key))
                }
            }
        let connected: EventLoopFuture<any Channel>
        if let address = try? SocketAddress(ipAddress: key.host, port: key.port) {
            connected = bootstrap.connect(to: address)
        } else {
            connected = bootstrap.connect(host: key.host, port: key.port)
        }
        connected.assumeIsolated().whenComplete { result in
            completion(
                result.flatMap { channel in
                    Result { try channel.pipeline.syncOperations.handler(type: UpstreamConnection.self) }
                })
        }
    }

    /// Takes a connection back after a complete answer; it waits for the next call or closes.
    func release(_ connection: UpstreamConnection) {
        eventLoop.preconditionInEventLoop()
        connection.end()
        let waiting = idle[connection.key]
        guard !isShutDown, connection.isOpen, (waiting?.connections.count ?? 0) < settings.maximumIdlePerHost else {
            connection.close()
            return
        }
        // The loop's clock: the same as NIODeadline.now() on a real loop, virtual on an embedded one.
        connection.idleSince = eventLoop.now
        connection.pool = self
        if let waiting {
            waiting.connections.append(connection)
        } else {
            let list = Idle()
            list.connections.append(connection)
            idle[connection.key] = list
        }
        if sweep == nil { scheduleSweep(at: connection.idleSince + settings.idleTimeout) }
    }

    /// An idle connection closed (the function's server ended it).
    func closed(_ connection: UpstreamConnection) {
        guard let waiting = idle[connection.key], let index = waiting.connections.firstIndex(where: { $0 === connection }) else { return }
        waiting.connections.remove(at: index)
    }

    /// Closes every idle connection; connections given back later close too.
    func shutDown() {
        isShutDown = true
        sweep?.cancel()
        sweep = nil
        let all = idle.values.flatMap(\.connections)
        idle = [:]
        for connection in all {
            connection.pool = nil
            connection.close()
        }
    }

    private func scheduleSweep(at deadline: NIODeadline) {
        sweep = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            sweep = nil
            closeExpired()
        }
    }

    private func closeExpired() {
        let now = eventLoop.now
        var next: NIODeadline?
        for (key, waiting) in idle {
            // Oldest first: each list is in the order the connections were given back.
            let expired = waiting.connections.prefix { now - $0.idleSince >= settings.idleTimeout }
            for connection in expired {
                connection.pool = nil
                connection.close()
            }
            waiting.connections.removeFirst(expired.count)
            if waiting.connections.isEmpty { idle[key] = nil }
            if let oldest = waiting.connections.first {
                next = min(next ?? oldest.idleSince + settings.idleTimeout, oldest.idleSince + settings.idleTimeout)
            }
        }
        if let next { scheduleSweep(at: next) }
    }
}
