import DispatchAgent
import DispatchCore
import DispatchMetrics
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing

@testable import DispatchPrometheus
@testable import DispatchProxy

@Suite struct UpstreamFailureTests {
    @Test func connectionErrorsMapToDirektivsRetryableStatuses() {
        #expect(UpstreamFailure(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .refused)
        #expect(UpstreamFailure(IOError(errnoCode: ECONNRESET, reason: "read")) == .upstreamClosed)
        #expect(UpstreamFailure(ChannelError.connectTimeout(.seconds(1))) == .connectTimeout)
        #expect(UpstreamFailure(ChannelError.eof) == .upstreamClosed)
        #expect(UpstreamFailure(SocketAddressError.unsupported) == .unresolvable)
        #expect(UpstreamFailure(HTTPParserError.invalidStatus) == .other)
        #expect(UpstreamFailure.refused.status == .badGateway)
        #expect(UpstreamFailure.unresolvable.status == .badGateway)
        #expect(UpstreamFailure.upstreamClosed.status == .badGateway)
        #expect(UpstreamFailure.deadline.status == .gatewayTimeout)
        #expect(UpstreamFailure.connectTimeout.status == .gatewayTimeout)
    }

    /// What the proxy's own pool reports for a closed port and a name that does not resolve.
    @Test func realConnectionFailuresAreClassified() async throws {
        let port = try TestSupportPorts.closed()
        #expect(try await connectFailure("127.0.0.1", port) == .refused)
        #expect(try await connectFailure("no-such-host.invalid", 80) == .unresolvable)
    }

    func connectFailure(_ host: String, _ port: Int) async throws -> UpstreamFailure? {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        return try await loop.flatSubmit {
            let pool = UpstreamConnectionPool(
                eventLoop: loop, settings: .init(connectTimeout: .seconds(1), idleTimeout: .seconds(60), maximumIdlePerHost: 8))
            let promise = loop.makePromise(of: UpstreamFailure?.self)
            pool.connect(.init(host: host, port: port)) { result in
                switch result {
                case .success(let connection):
                    connection.close()
                    promise.succeed(nil)
                case .failure(let error):
                    promise.succeed(UpstreamFailure(error))
                }
            }
            return promise.futureResult
        }.get()
    }
}

enum TestSupportPorts {
    /// A loopback port nothing listens on.
    static func closed() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress!.port!
        try channel.close().wait()
        return port
    }
}
