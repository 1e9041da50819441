import NIOCore
import NIOHTTP1
import Testing

@testable import DispatchProxy

/// The caller connection's machine with plain values: bytes in, actions out, no channel.
@Suite struct ProxyConnectionStateMachineTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    /// An action as a short text, to compare with what a test expects.
    static func describe(_ action: ProxyConnectionStateMachine.Action) -> String {
        switch action {
        case .none: "none"
        case .read: "read"
        case .startCall(let head): "startCall(\(head.contentLength ?? -1))"
        case .forwardBody(let buffer): "forwardBody(\(String(buffer: buffer)))"
        case .forwardEnd(let flush): "forwardEnd(flush: \(flush))"
        case .reconnect: "reconnect"
        case .refuse(let status, _, _, _): "refuse(\(status.code))"
        case .failCall(let failure, let close): "failCall(\(failure.reason), close: \(close))"
        case .cutCall(let failure): "cutCall(\(failure.reason))"
        case .abortCall(_, let answered): "abortCall(answered: \(answered))"
        case .forwardResponseHead(_, let close, let dechunk): "forwardResponseHead(close: \(close), dechunk: \(dechunk))"
        case .forwardResponseBody(let buffer): "forwardResponseBody(\(String(buffer: buffer)))"
        case .responseEnded(let reuse, let close, let ended): "responseEnded(reuse: \(reuse), close: \(close), callEnded: \(ended))"
        case .callEnded: "callEnded"
        case .flushResponse: "flushResponse"
        case .flushLastResponse: "flushLastResponse"
        case .lingerThenClose: "lingerThenClose"
        case .close: "close"
        case .callerLeft(let wasGoing): "callerLeft(wasGoing: \(wasGoing))"
        }
    }

    /// Every step the bytes read allow now, as `InvocationForwarder.handleInput` runs them; a
    /// call begins as the handler begins it.
    static func input(_ machine: inout ProxyConnectionStateMachine) -> [String] {
        var steps: [String] = []
        while true {
            let action = machine.nextInput()
            if case .none = action { return steps }
            steps.append(describe(action))
            if case .startCall(let head) = action {
                machine.callStarted(
                    .init(declaredLength: head.contentLength, hasBody: head.isChunked || (head.contentLength ?? 0) > 0, drainLimit: 16),
                    keepAlive: head.isKeepAlive, minorVersion: head.minorVersion)
            }
        }
    }

    static func request(body: String, close: Bool = false) -> ByteBuffer {
        ByteBuffer(
            string:
                "POST http://greeter.ns/ HTTP/1.1\r\nHost: greeter.ns\r\nContent-Length: \(body.utf8.count)\r\n\(close ? "Connection: close\r\n" : "")\r\n\(body)"
        )
    }

    static func head(_ text: String) throws -> HTTPHead {
        try HTTPHead(parsing: ByteBuffer(string: text), kind: .response)
    }

    static let okHead = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n"

    /// A machine with one call whose request is complete and forwarded.
    static func forwarding(_ body: String = "{}", close: Bool = false) -> ProxyConnectionStateMachine {
        var machine = ProxyConnectionStateMachine(now: start)
        _ = machine.received(request(body: body, close: close))
        _ = input(&machine)
        _ = machine.connected()
        machine.receivedHandled()
        return machine
    }

    /// A machine whose call's answer began after 5 of the `length` bytes the request declared.
    static func answeredEarly(declaring length: Int) throws -> ProxyConnectionStateMachine {
        var machine = ProxyConnectionStateMachine(now: start)
        _ = machine.received(
            ByteBuffer(string: "POST http://greeter.ns/ HTTP/1.1\r\nHost: greeter.ns\r\nContent-Length: \(length)\r\n\r\n01234"))
        _ = input(&machine)
        _ = machine.connected()
        _ = machine.responseHeadReceived(try head(okHead), untilClose: false)
        return machine
    }

    @Test func aRequestBeginsACallWhoseBodyIsHeldUntilConnectedThenForwarded() throws {
        var machine = ProxyConnectionStateMachine(now: Self.start)
        let accepted = machine.received(ByteBuffer(string: "POST http://greeter.ns/ HTTP/1.1\r\nHost: gre"))
        #expect(accepted)
        #expect(Self.input(&machine).isEmpty, "half a head waits")
        _ = machine.received(ByteBuffer(string: "eter.ns\r\nContent-Length: 8\r\n\r\n{\"a\":"))
        #expect(Self.input(&machine) == ["startCall(8)"], "body bytes read while connecting are held")
        #expect(Self.describe(machine.readRequested(upstreamWritable: true)) == "none", "no reading while connecting")
        let connected = machine.connected()
        let pending = try #require(connected)
        #expect(pending.body.map { String(buffer: $0) } == ["{\"a\":"])
        #expect(!pending.end)
        #expect(Self.describe(machine.resumeReading(upstreamWritable: true)) == "read")
        _ = machine.received(ByteBuffer(string: "1}\n"))
        #expect(Self.input(&machine) == ["forwardBody(1}\n)", "forwardEnd(flush: false)"], "within a read, its end flushes")
    }

    @Test func aPipelinedRequestWaitsUntilTheCallBeforeItHasEnded() throws {
        var machine = ProxyConnectionStateMachine(now: Self.start)
        var both = Self.request(body: "one")
        var second = Self.request(body: "two")
        both.writeBuffer(&second)
        _ = machine.received(both)
        #expect(Self.input(&machine) == ["startCall(3)"])
        machine.receivedHandled()
        let pending = machine.connected()
        #expect(pending?.end == true)
        #expect(Self.describe(machine.readRequested(upstreamWritable: true)) == "none", "the next request waits in the buffer")
        #expect(Self.input(&machine).isEmpty)
        #expect(
            Self.describe(machine.responseHeadReceived(try Self.head(Self.okHead), untilClose: false))
                == "forwardResponseHead(close: false, dechunk: false)")
        #expect(Self.describe(machine.responseEndReceived(reusable: true)) == "responseEnded(reuse: true, close: false, callEnded: true)")
        #expect(Self.describe(machine.responseEndWritten(close: false, now: Self.start)) == "flushResponse")
        #expect(Self.input(&machine) == ["startCall(3)"], "the second request, once the first has ended")
    }

    @Test func headsThatAreTooLargeOrMalformedAreRefusedAndNothingMoreIsRead() {
        var large = ProxyConnectionStateMachine(now: Self.start)
        _ = large.received(ByteBuffer(string: "GET / HTTP/1.1\r\nX: " + String(repeating: "a", count: ProxyConnectionStateMachine.maximumHeadBytes)))
        #expect(Self.input(&large) == ["refuse(431)"])
        #expect(large.stopped)
        let accepted = large.received(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        #expect(!accepted, "bytes after a refusal are dropped")

        var bareLineFeed = ProxyConnectionStateMachine(now: Self.start)
        _ = bareLineFeed.received(ByteBuffer(string: "GET / HTTP/1.1\nHost: a\r\n\r\n"))
        #expect(Self.input(&bareLineFeed) == ["refuse(400)"])

        var conflicting = ProxyConnectionStateMachine(now: Self.start)
        _ = conflicting.received(ByteBuffer(string: "POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"))
        #expect(Self.input(&conflicting) == ["refuse(400)"])
        #expect(Self.describe(conflicting.responseEndWritten(close: true, now: Self.start)) == "flushLastResponse")
    }

    @Test func theBodyWaitsInTheCallersSocketWhileTheFunctionsIsFull() throws {
        var machine = ProxyConnectionStateMachine(now: Self.start)
        _ = machine.received(ByteBuffer(string: "POST http://greeter.ns/ HTTP/1.1\r\nHost: greeter.ns\r\nContent-Length: 100\r\n\r\n"))
        _ = Self.input(&machine)
        _ = machine.connected()
        #expect(Self.describe(machine.readRequested(upstreamWritable: false)) == "none")
        #expect(Self.describe(machine.resumeReading(upstreamWritable: false)) == "none")
        #expect(Self.describe(machine.resumeReading(upstreamWritable: true)) == "read")
        #expect(Self.describe(machine.resumeReading(upstreamWritable: true)) == "none", "one read per read asked for")
    }

    @Test func failuresBeforeTheAnswerAreAnsweredAndAfterItCut() {
        var incomplete = ProxyConnectionStateMachine(now: Self.start)
        _ = incomplete.received(ByteBuffer(string: "POST http://greeter.ns/ HTTP/1.1\r\nHost: greeter.ns\r\nContent-Length: 100\r\n\r\n"))
        _ = Self.input(&incomplete)
        #expect(
            Self.describe(incomplete.upstreamFailed(.unresolvable, reusedConnection: false)) == "failCall(unresolvable, close: true)",
            "the rest of the body is unread: the connection cannot go on")
        #expect(incomplete.stopped)

        var complete = Self.forwarding()
        #expect(Self.describe(complete.upstreamFailed(.refused, reusedConnection: false)) == "failCall(refused, close: false)")
        #expect(!complete.stopped)

        var callerSaidClose = Self.forwarding(close: true)
        #expect(Self.describe(callerSaidClose.upstreamFailed(.refused, reusedConnection: false)) == "failCall(refused, close: true)")

        var answering = Self.forwarding()
        _ = answering.responseHeadReceived(try! Self.head(Self.okHead), untilClose: false)
        #expect(Self.describe(answering.upstreamFailed(.upstreamClosed, reusedConnection: false)) == "cutCall(upstream_closed)")
        #expect(Self.describe(answering.upstreamFailed(.upstreamClosed, reusedConnection: false)) == "none", "a call fails once")

        var reused = Self.forwarding()
        #expect(Self.describe(reused.upstreamFailed(.upstreamClosed, reusedConnection: true, requestSent: false)) == "reconnect")
        #expect(reused.callIsConnecting)
    }

    @Test func aBrokenChunkedBodyAbortsTheCall() {
        var machine = ProxyConnectionStateMachine(now: Self.start)
        _ = machine.received(ByteBuffer(string: "POST http://greeter.ns/ HTTP/1.1\r\nHost: greeter.ns\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"))
        #expect(Self.input(&machine) == ["startCall(-1)", "abortCall(answered: false)"])
        #expect(machine.stopped)
    }

    @Test func anEarlyAnswerDrainsASmallRestAndClosesAfterALargeOne() throws {
        var small = try Self.answeredEarly(declaring: 10)
        #expect(Self.describe(small.responseEndReceived(reusable: true)) == "responseEnded(reuse: false, close: false, callEnded: false)")
        #expect(Self.describe(small.responseEndWritten(close: false, now: Self.start)) == "flushResponse")
        #expect(small.callIsDraining)
        _ = small.received(ByteBuffer(string: "56789"))
        #expect(Self.input(&small) == ["callEnded"], "the rest is dropped, never forwarded")

        var large = try Self.answeredEarly(declaring: 1000)
        #expect(Self.describe(large.responseEndReceived(reusable: true)) == "responseEnded(reuse: false, close: true, callEnded: true)")
        #expect(Self.describe(large.responseEndWritten(close: true, now: Self.start)) == "flushLastResponse")
        #expect(Self.describe(large.lastResponseFlushed()) == "lingerThenClose")
        #expect(large.isLingering)
        #expect(Self.describe(large.readRequested(upstreamWritable: true)) == "read", "a lingering connection reads to drop")
        #expect(Self.describe(large.lingerTimeoutFired()) == "close")
        #expect(Self.describe(large.inputClosed()) == "none")
    }

    @Test func quiescingClosesIdleConnectionsAtOnceAndBusyOnesAfterTheResponse() throws {
        var idle = ProxyConnectionStateMachine(now: Self.start)
        #expect(Self.describe(idle.shouldQuiesce()) == "close")

        var busy = Self.forwarding()
        #expect(Self.describe(busy.shouldQuiesce()) == "none")
        #expect(busy.closesAfterResponse)
        #expect(
            Self.describe(busy.responseHeadReceived(try Self.head(Self.okHead), untilClose: false))
                == "forwardResponseHead(close: true, dechunk: false)")
        _ = busy.responseEndReceived(reusable: true)
        #expect(Self.describe(busy.responseEndWritten(close: false, now: Self.start)) == "flushLastResponse")
        #expect(
            Self.describe(busy.idleTimeoutFired(now: Self.start + .seconds(3600), timeout: .seconds(60))) == "none",
            "nothing closes the connection under its last response")
        #expect(Self.describe(busy.lastResponseFlushed()) == "lingerThenClose")
        #expect(Self.describe(busy.inputClosed()) == "close")
        #expect(!busy.isLingering)
    }

    @Test func theIdleTimeoutSparesBusyConnectionsAndCountsFromTheLastAnswer() throws {
        var machine = Self.forwarding()
        #expect(Self.describe(machine.idleTimeoutFired(now: Self.start + .seconds(120), timeout: .seconds(60))) == "none", "busy")
        _ = machine.responseHeadReceived(try Self.head(Self.okHead), untilClose: false)
        _ = machine.responseEndReceived(reusable: true)
        _ = machine.responseEndWritten(close: false, now: Self.start + .seconds(100))
        #expect(Self.describe(machine.idleTimeoutFired(now: Self.start + .seconds(159), timeout: .seconds(60))) == "none")
        #expect(Self.describe(machine.idleTimeoutFired(now: Self.start + .seconds(160), timeout: .seconds(60))) == "close")
        #expect(Self.describe(machine.inputClosed()) == "none")
    }

    @Test func aCallerClosingItsSideEndsTheConnectionAndCancelsTheCall() {
        var machine = Self.forwarding()
        #expect(Self.describe(machine.inputClosed()) == "close")
        #expect(Self.describe(machine.channelInactive()) == "callerLeft(wasGoing: true)")
        #expect(Self.describe(machine.upstreamFailed(.upstreamClosed, reusedConnection: false)) == "none", "the call is gone")
    }

    @Test func aCallerClosingWhileTheLastResponseFlushesClosesAfterTheFlush() throws {
        var machine = Self.forwarding(close: true)
        _ = machine.responseHeadReceived(try Self.head(Self.okHead), untilClose: false)
        #expect(Self.describe(machine.responseEndReceived(reusable: true)) == "responseEnded(reuse: true, close: true, callEnded: true)")
        #expect(Self.describe(machine.responseEndWritten(close: true, now: Self.start)) == "flushLastResponse")
        #expect(Self.describe(machine.inputClosed()) == "none")
        #expect(Self.describe(machine.shouldQuiesce()) == "none")
        #expect(Self.describe(machine.lastResponseFlushed()) == "close")
        #expect(!machine.isLingering)
    }

    @Test func anHTTP10CallerGetsAChunkedAnswerWithoutChunksAndTheCloseAsItsEnd() throws {
        var machine = ProxyConnectionStateMachine(now: Self.start)
        _ = machine.received(ByteBuffer(string: "GET http://greeter.ns/ HTTP/1.0\r\nHost: greeter.ns\r\nConnection: keep-alive\r\n\r\n"))
        _ = Self.input(&machine)
        _ = machine.connected()
        let chunked = try Self.head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        #expect(Self.describe(machine.responseHeadReceived(chunked, untilClose: false)) == "forwardResponseHead(close: true, dechunk: true)")
    }

    @Test func aDrainingCallWhoseCallerStopsSendingEndsWithTheConnection() throws {
        var machine = try Self.answeredEarly(declaring: 10)
        _ = machine.responseEndReceived(reusable: true)
        _ = machine.responseEndWritten(close: false, now: Self.start)
        #expect(Self.describe(machine.callExpired(.idleTimeout)) == "close")
        #expect(Self.describe(machine.channelInactive()) == "callerLeft(wasGoing: false)")
    }
}
