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

@Suite struct ProxyConnectionStateMachineTests {
    @Test func quiescingClosesIdleConnectionsAtOnceAndBusyOnesAfterTheResponse() {
        var idle = ProxyConnectionStateMachine()
        #expect(idle.shouldQuiesce() == .close)

        var busy = ProxyConnectionStateMachine()
        busy.requestHeadReceived()
        #expect(busy.shouldQuiesce() == .none)
        #expect(busy.closesAfterResponse)
        #expect(busy.responseEndWritten() == .closeAfterFlush)
        #expect(busy.idleTimeoutFired() == .none, "nothing closes the connection under its last response")
        #expect(busy.lastResponseFlushed() == .lingerThenClose)
        #expect(busy.isLingering)
        #expect(busy.inputClosed() == .close)
        #expect(!busy.isLingering)
    }

    @Test func idleTimeoutSparesBusyConnections() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        #expect(machine.idleTimeoutFired() == .none)
        #expect(machine.responseEndWritten() == .none)
        #expect(machine.idleTimeoutFired() == .close)
        #expect(machine.inputClosed() == .none)
    }

    @Test func aCallerClosingItsSideEndsTheConnection() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        #expect(machine.inputClosed() == .close)
    }

    @Test func anUnfinishedUploadEndsWithTheResponseAfterLingering() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        machine.closeAfterResponse()
        #expect(!machine.closesAfterResponse)
        #expect(machine.responseEndWritten() == .closeAfterFlush)
        #expect(machine.lastResponseFlushed() == .lingerThenClose)
        #expect(machine.lingerTimeoutFired() == .close)
        #expect(machine.inputClosed() == .none)
        #expect(machine.lastResponseFlushed() == .none)
    }

    @Test func aCallerClosingWhileTheLastResponseFlushesClosesAfterTheFlush() {
        var machine = ProxyConnectionStateMachine()
        machine.requestHeadReceived()
        machine.closeAfterResponse()
        #expect(machine.responseEndWritten() == .closeAfterFlush)
        #expect(machine.inputClosed() == .none)
        #expect(machine.shouldQuiesce() == .none)
        #expect(machine.lastResponseFlushed() == .close)
        #expect(!machine.isLingering)
    }
}
