import Foundation
import KubeClient
import KubeModels
import KubeSim
import NIOCore
import TestSupport
import Testing

@Suite struct LineSplitterTests {
    @Test func reassemblesLinesAcrossEveryChunkBoundary() throws {
        let text = #"{"type":"ADDED","object":{"a":1}}"# + "\n" + #"{"type":"DELETED","object":{"b":"x\ny"}}"# + "\r\n\n" + #"{"type":"BOOKMARK"}"#
        let bytes = Array(text.utf8)
        for cut in 1..<bytes.count {
            var splitter = LineSplitter()
            var lines = try splitter.append(ByteBuffer(bytes: bytes[..<cut]))
            lines += try splitter.append(ByteBuffer(bytes: bytes[cut...]))
            if let rest = splitter.finish() { lines.append(rest) }
            #expect(
                lines.map { String(buffer: $0) } == [
                    #"{"type":"ADDED","object":{"a":1}}"#, #"{"type":"DELETED","object":{"b":"x\ny"}}"#, #"{"type":"BOOKMARK"}"#,
                ], "cut at \(cut)")
        }
    }

    @Test func byteByByte() throws {
        var splitter = LineSplitter()
        var lines: [String] = []
        for byte in Array("one\ntwo\nthree\n".utf8) {
            lines += try splitter.append(ByteBuffer(bytes: [byte])).map { String(buffer: $0) }
        }
        #expect(lines == ["one", "two", "three"])
        #expect(splitter.finish() == nil)
    }

    @Test func refusesEndlessLines() {
        var splitter = LineSplitter(maximumLineLength: 16)
        #expect(throws: LineSplitter.LineTooLong.self) { _ = try splitter.append(ByteBuffer(string: String(repeating: "x", count: 17))) }
    }
}
