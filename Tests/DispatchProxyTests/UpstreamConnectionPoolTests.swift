import NIOCore
import NIOEmbedded
import Testing

@testable import DispatchProxy

/// The upstream pool on an `EmbeddedEventLoop`: which connection a call gets, which ones wait,
/// and when they close, with the loop's virtual clock instead of sleeps.
@Suite struct UpstreamConnectionPoolTests {
    let loop = EmbeddedEventLoop()
    let key = UpstreamConnection.Key(host: "10.0.0.1", port: 8080)

    final class Opened {
        var channels: [EmbeddedChannel] = []
    }

    func makePool(idleTimeout: TimeAmount = .seconds(30), maximumIdlePerHost: Int = 4) -> (UpstreamConnectionPool, Opened) {
        let opened = Opened()
        let loop = loop
        let pool = UpstreamConnectionPool(
            eventLoop: loop,
            settings: .init(connectTimeout: .seconds(1), idleTimeout: idleTimeout, maximumIdlePerHost: maximumIdlePerHost)
        ) { _, connection in
            let channel = EmbeddedChannel(handler: connection, loop: loop)
            opened.channels.append(channel)
            return channel.connect(to: try! SocketAddress(ipAddress: "10.0.0.1", port: 8080)).map { channel }
        }
        return (pool, opened)
    }

    func connect(_ pool: UpstreamConnectionPool) throws -> UpstreamConnection {
        var made: Result<UpstreamConnection, any Error>?
        pool.connect(key) { made = $0 }
        loop.run()
        return try #require(try made?.get())
    }

    @Test func theMostRecentlyReleasedConnectionIsLeasedFirst() throws {
        let (pool, opened) = makePool()
        let first = try connect(pool)
        let second = try connect(pool)
        #expect(opened.channels.count == 2)
        pool.release(first)
        pool.release(second)
        #expect(pool.idleCount == 2)
        #expect(pool.lease(key) === second)
        #expect(pool.lease(key) === first)
        #expect(pool.lease(key) == nil)
        #expect(pool.lease(UpstreamConnection.Key(host: "10.0.0.2", port: 8080)) == nil)
    }

    /// A function's server that closed an idle keep-alive connection: the pool drops it at once
    /// and never leases it (a request written there would be lost).
    @Test func aConnectionClosedWhileIdleIsNeverLeased() throws {
        let (pool, opened) = makePool()
        let connection = try connect(pool)
        pool.release(connection)
        opened.channels[0].pipeline.fireChannelInactive()
        #expect(pool.idleCount == 0)
        #expect(pool.lease(key) == nil)
    }

    @Test func atMostTheLimitWaitsPerAddressAndTheRestClose() throws {
        let (pool, opened) = makePool(maximumIdlePerHost: 1)
        let first = try connect(pool)
        let second = try connect(pool)
        pool.release(first)
        pool.release(second)
        loop.run()
        #expect(pool.idleCount == 1)
        #expect(opened.channels[0].isActive)
        #expect(!opened.channels[1].isActive)
    }

    /// Connections idle for longer than the timeout close, oldest first; one that was given back
    /// later stays until its own time is up.
    @Test func idleConnectionsCloseAfterTheIdleTimeout() throws {
        let (pool, opened) = makePool(idleTimeout: .seconds(30))
        let first = try connect(pool)
        let second = try connect(pool)
        pool.release(first)
        loop.advanceTime(by: .seconds(20))
        pool.release(second)
        loop.advanceTime(by: .seconds(11))
        #expect(!opened.channels[0].isActive)
        #expect(opened.channels[1].isActive)
        #expect(pool.idleCount == 1)
        loop.advanceTime(by: .seconds(20))
        #expect(!opened.channels[1].isActive)
        #expect(pool.idleCount == 0)
    }

    @Test func shuttingDownClosesTheIdleAndEverythingGivenBackLater() throws {
        let (pool, opened) = makePool()
        let idle = try connect(pool)
        let busy = try connect(pool)
        pool.release(idle)
        pool.shutDown()
        loop.run()
        #expect(!opened.channels[0].isActive)
        #expect(opened.channels[1].isActive)
        pool.release(busy)
        loop.run()
        #expect(!opened.channels[1].isActive)
        #expect(pool.idleCount == 0)
    }

    @Test func aFailedConnectReachesTheCaller() throws {
        struct Refused: Error {}
        let loop = loop
        let pool = UpstreamConnectionPool(
            eventLoop: loop, settings: .init(connectTimeout: .seconds(1), idleTimeout: .seconds(30), maximumIdlePerHost: 4)
        ) { _, _ in
            loop.makeFailedFuture(Refused())
        }
        var made: Result<UpstreamConnection, any Error>?
        pool.connect(key) { made = $0 }
        loop.run()
        #expect(throws: Refused.self) { try made?.get() }
    }
}
