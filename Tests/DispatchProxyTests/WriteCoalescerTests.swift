import NIOCore
import Testing

@testable import DispatchProxy

@Suite struct WriteCoalescerTests {
    func buffer(_ count: Int, _ byte: UInt8) -> ByteBuffer {
        ByteBuffer(repeating: byte, count: count)
    }

    @Test func smallWritesLeaveAsOneBufferInOrder() {
        var coalescer = WriteCoalescer()
        var emitted: [ByteBuffer] = []
        coalescer.write(ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n")) { emitted.append($0) }
        coalescer.write(ByteBuffer(string: "{\"ok\":1}")) { emitted.append($0) }
        #expect(emitted.isEmpty)
        #expect(!coalescer.isEmpty)
        #expect(coalescer.take() == ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n{\"ok\":1}"))
        #expect(coalescer.isEmpty)
        #expect(coalescer.take() == nil)
    }

    @Test func largeBuffersFollowWhatIsHeldUncopied() {
        var coalescer = WriteCoalescer()
        var emitted: [ByteBuffer] = []
        let large = buffer(WriteCoalescer.limit + 1, 2)
        coalescer.write(buffer(10, 1)) { emitted.append($0) }
        coalescer.write(large) { emitted.append($0) }
        #expect(emitted == [buffer(10, 1), large])
        #expect(coalescer.isEmpty)
        // A large first write passes straight on.
        coalescer.write(large) { emitted.append($0) }
        #expect(emitted.count == 3)
        #expect(coalescer.isEmpty)
    }

    @Test func whatDoesNotFitStartsTheNextBuffer() {
        var coalescer = WriteCoalescer()
        var emitted: [ByteBuffer] = []
        coalescer.write(buffer(WriteCoalescer.limit - 10, 1)) { emitted.append($0) }
        coalescer.write(buffer(20, 2)) { emitted.append($0) }
        #expect(emitted == [buffer(WriteCoalescer.limit - 10, 1)])
        #expect(coalescer.take() == buffer(20, 2))
    }
}
