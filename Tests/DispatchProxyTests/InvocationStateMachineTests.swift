import DispatchAgent
import DispatchMetrics
import NIOCore
import Testing

@testable import DispatchProxy

/// One call's course, with plain values: what is held, forwarded, retried, drained or cut.
@Suite struct InvocationStateMachineTests {
    typealias Machine = InvocationStateMachine

    func bytes(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    func machine(length: Int64?, chunked: Bool = false, replayLimit: Int = 64, drainLimit: Int64 = 16) -> Machine {
        Machine(.init(declaredLength: length, hasBody: chunked || (length ?? 0) > 0, replayLimit: replayLimit, drainLimit: drainLimit))
    }

    /// Defect 4 of the hardening review: a POST the function may have read reached it twice.
    /// A request that is not idempotent is sent again only when none of it went out.
    @Test func aRequestThatIsNotIdempotentIsRetriedOnlyWhenNothingWentOut() {
        var sent = machine(length: 3)
        _ = sent.connected()
        _ = sent.requestBodyReceived(bytes("abc"))
        #expect(sent.upstreamFailed(.upstreamClosed, reusedConnection: true, requestSent: true) == .answer(.upstreamClosed, keepCaller: true))

        var unsent = machine(length: 3)
        _ = unsent.connected()
        _ = unsent.requestBodyReceived(bytes("abc"))
        #expect(unsent.upstreamFailed(.upstreamClosed, reusedConnection: true, requestSent: false) == .retry)
        #expect(unsent.connected() == .init(body: [bytes("abc")], end: true))

        var idempotent = machine(length: 3)
        _ = idempotent.connected()
        _ = idempotent.requestBodyReceived(bytes("abc"))
        #expect(idempotent.upstreamFailed(.upstreamClosed, reusedConnection: true, requestSent: true, idempotent: true) == .retry)
    }

    @Test func aBodyReadWhileConnectingIsHeldAndSentOnceConnected() {
        var call = machine(length: 6)
        #expect(!call.readsCaller, "the caller waits in its socket while the connection is made")
        #expect(call.requestBodyReceived(bytes("abc")) == .none)
        #expect(call.phase == .sendingBody)
        let pending = call.connected()
        #expect(pending == .init(body: [bytes("abc")], end: false))
        #expect(call.readsCaller)
        #expect(call.requestBodyReceived(bytes("def")) == .forward(bytes("def")))
        #expect(call.requestComplete)
        #expect(call.phase == .awaitingHead, "the last byte ends the upload: only the deadline counts now")
        #expect(call.requestEndReceived() == .forwardEnd)
        #expect(call.requestEndReceived() == .none, "the end goes upstream once")
    }

    @Test func aRequestWithoutBodyEndsWithItsHead() {
        var call = machine(length: nil)
        #expect(call.phase == .awaitingHead)
        #expect(call.requestEndReceived() == .none)
        #expect(call.connected() == .init(body: [], end: true))
        #expect(call.requestEndReceived() == .none)
        #expect(call.responseHeadReceived() == true)
        #expect(call.phase == .receivingBody)
        #expect(call.responseEndReceived(upstreamKeepAlive: true) == .init(reuseUpstream: true, caller: .keepAlive))
        #expect(call.isFinished)
    }

    @Test func aCompleteBodyHeldWhileConnectingGoesWithItsEnd() {
        var call = machine(length: 3)
        _ = call.requestBodyReceived(bytes("abc"))
        #expect(call.requestEndReceived() == .none)
        #expect(call.connected() == .init(body: [bytes("abc")], end: true))
        #expect(call.requestEndReceived() == .none)
    }

    @Test func theFunctionsConnectionIsReusedOnlyWhenItSaysSo() {
        var call = machine(length: nil)
        _ = call.connected()
        _ = call.responseHeadReceived()
        #expect(call.responseEndReceived(upstreamKeepAlive: false) == .init(reuseUpstream: false, caller: .keepAlive))
    }

    @Test func aReusedConnectionClosedBeforeTheAnswerIsRetriedOnceWithTheSameBody() {
        var call = machine(length: 6)
        _ = call.connected()
        #expect(call.requestBodyReceived(bytes("abc")) == .forward(bytes("abc")))
        #expect(call.upstreamFailed(.upstreamClosed, reusedConnection: true, idempotent: true) == .retry)
        #expect(call.state == .connecting)
        #expect(call.requestBodyReceived(bytes("def")) == .none)
        #expect(call.requestEndReceived() == .none)
        #expect(call.connected() == .init(body: [bytes("abc"), bytes("def")], end: true))
        // The second connection fails too: now the caller hears of it.
        #expect(call.upstreamFailed(.upstreamClosed, reusedConnection: true, idempotent: true) == .answer(.upstreamClosed, keepCaller: true))
        #expect(call.isFinished)
    }

    @Test func noRetryOnAFreshConnectionAnotherFailureOrATooLargeBody() {
        var fresh = machine(length: nil)
        _ = fresh.connected()
        #expect(fresh.upstreamFailed(.upstreamClosed, reusedConnection: false) == .answer(.upstreamClosed, keepCaller: true))

        var refused = machine(length: nil)
        _ = refused.connected()
        #expect(refused.upstreamFailed(.other, reusedConnection: true) == .answer(.other, keepCaller: true))

        var large = machine(length: 100, replayLimit: 64)
        _ = large.connected()
        _ = large.requestBodyReceived(ByteBuffer(repeating: 1, count: 65))
        #expect(large.upstreamFailed(.upstreamClosed, reusedConnection: true, idempotent: true) == .answer(.upstreamClosed, keepCaller: false))

        var answered = machine(length: nil)
        _ = answered.connected()
        _ = answered.responseHeadReceived()
        #expect(answered.upstreamFailed(.upstreamClosed, reusedConnection: true) == .cut(.upstreamClosed))
    }

    @Test func failuresBeforeTheAnswerAreAnsweredAndAfterItCut() {
        var connecting = machine(length: 10)
        #expect(
            connecting.upstreamFailed(.refused, reusedConnection: false) == .answer(.refused, keepCaller: false),
            "the unread body makes the caller's connection unusable")
        #expect(connecting.upstreamFailed(.refused, reusedConnection: false) == .none)

        var waiting = machine(length: nil)
        _ = waiting.connected()
        #expect(waiting.expired(.deadline) == .answer(.deadline, keepCaller: false))

        var streaming = machine(length: nil)
        _ = streaming.connected()
        _ = streaming.responseHeadReceived()
        #expect(streaming.expired(.idleTimeout) == .cut(.idleTimeout))
        #expect(!streaming.forwardsResponse)
        #expect(streaming.responseEndReceived(upstreamKeepAlive: true) == nil, "nothing more reaches the caller")
    }

    @Test func anEarlyAnswerDrainsASmallRestAndClosesOnALargeOne() {
        var small = machine(length: 20, drainLimit: 16)
        _ = small.connected()
        _ = small.requestBodyReceived(ByteBuffer(repeating: 1, count: 10))
        _ = small.responseHeadReceived()
        #expect(small.responseEndReceived(upstreamKeepAlive: true) == .init(reuseUpstream: false, caller: .drain))
        #expect(small.isDraining && small.readsCaller && small.phase == .sendingBody)
        #expect(small.requestBodyReceived(ByteBuffer(repeating: 1, count: 10)) == .none, "the rest is dropped")
        #expect(small.requestEndReceived() == .drained)
        #expect(small.isFinished)

        var large = machine(length: 100, drainLimit: 16)
        _ = large.connected()
        _ = large.requestBodyReceived(ByteBuffer(repeating: 1, count: 10))
        _ = large.responseHeadReceived()
        #expect(large.responseEndReceived(upstreamKeepAlive: true) == .init(reuseUpstream: false, caller: .close))
        #expect(!large.readsCaller)

        var chunked = machine(length: nil, chunked: true)
        _ = chunked.connected()
        _ = chunked.responseHeadReceived()
        #expect(
            chunked.responseEndReceived(upstreamKeepAlive: true) == .init(reuseUpstream: false, caller: .close), "an unknown rest is never drained")
    }

    @Test func aCallerLeavingCountsOnlyWhileTheCallGoes() {
        var going = machine(length: nil)
        _ = going.connected()
        #expect(going.callerLeft() == true)
        #expect(going.callerLeft() == false)

        var draining = machine(length: 20, drainLimit: 16)
        _ = draining.connected()
        _ = draining.requestBodyReceived(ByteBuffer(repeating: 1, count: 10))
        _ = draining.responseHeadReceived()
        _ = draining.responseEndReceived(upstreamKeepAlive: true)
        #expect(draining.callerLeft() == false, "the answer was complete")
    }
}
