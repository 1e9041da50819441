import DispatchAgent
import DispatchMetrics
import DispatchProxy
import Foundation
import NIOCore

/// Targets over the proxy's HTTP/1.1 parsing.
enum HTTPFuzzing {
    static let headLimit = 64 * 1024
    static let namespaces = ["direktiv-services-direktiv"]

    /// A request head that parses is rewritten for the function; the rewrite parses too, with
    /// the same framing, so what the function reads ends where the proxy thinks it does.
    static func requestHead(_ bytes: [UInt8]) throws(FuzzFailure) {
        let buffer = ByteBuffer(bytes: bytes)
        guard case .complete(let end) = HTTPHead.scan(buffer, limit: headLimit) else { return }
        try require(end <= bytes.count && end <= headLimit, "head end \(end) beyond \(bytes.count) bytes or the limit")
        guard let head = try? HTTPHead(parsing: ByteBuffer(bytes: bytes[..<end]), kind: .request) else { return }
        let target = ProxyTarget(function: "fn", namespace: namespaces[0], pathAndQuery: "/")
        var rewritten = ByteBuffer()
        ProxyHeaders.writeUpstreamHead(head, target: target, client: "10.0.0.1", into: &rewritten)
        let again: HTTPHead
        do {
            again = try HTTPHead(parsing: rewritten, kind: .request)
        } catch {
            throw FuzzFailure("the rewritten head does not parse (\(error)): \(String(buffer: rewritten).debugDescription)")
        }
        try require(
            again.isChunked == head.isChunked && again.contentLength == head.contentLength,
            "the rewrite changed the framing: \(String(buffer: rewritten).debugDescription)")
        try require(again.connectionOptions.isEmpty, "the rewrite kept Connection options")
        _ = DirektivDeadline.remaining(in: head)
    }

    /// A response head that parses is rewritten for the caller with the same framing.
    static func responseHead(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let first = bytes.first else { return }
        let rest = ByteBuffer(bytes: bytes.dropFirst())
        guard case .complete(let end) = HTTPHead.scan(rest, limit: headLimit),
            let head = try? HTTPHead(parsing: rest.getSlice(at: rest.readerIndex, length: end) ?? rest, kind: .response)
        else { return }
        let callerMinor = Int(first & 1)
        let dechunked = head.isChunked && callerMinor == 0
        var rewritten = ByteBuffer()
        ProxyHeaders.writeDownstreamHead(
            head, framing: .init(callerMinorVersion: callerMinor, close: first & 2 != 0 || dechunked, dechunked: dechunked), into: &rewritten)
        let again: HTTPHead
        do {
            again = try HTTPHead(parsing: rewritten, kind: .response)
        } catch {
            throw FuzzFailure("the rewritten answer head does not parse (\(error)): \(String(buffer: rewritten).debugDescription)")
        }
        try require(again.status == head.status, "status changed")
        if !dechunked {
            try require(again.isChunked == head.isChunked, "the rewrite changed the coding")
            if !head.isChunked { try require(again.contentLength == head.contentLength, "the rewrite changed the length") }
        }
    }

    /// The first byte picks the framing and the piece size; the rest is the body and what
    /// follows it. Fed whole or in pieces, the framing takes the same bytes, hands out the same
    /// chunk data, and fails or ends alike.
    static func bodyFraming(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard bytes.count >= 2 else { return }
        let control = bytes[0]
        let mode: HTTPBodyFraming.Mode = control & 1 == 0 ? .chunked : .length(Int64(bytes[1]) * 3)
        let piece = Int(control >> 1) + 1
        let input = Array(bytes.dropFirst(2))
        let whole = try feed(mode, input, piece: input.count + 1)
        let pieces = try feed(mode, input, piece: piece)
        try require(whole == pieces, "whole \(whole) and in pieces of \(piece) \(pieces) differ")
    }

    struct FeedResult: Equatable, CustomStringConvertible {
        var taken = 0
        var data: [UInt8] = []
        var ended = false
        var failed = false
        var description: String { "taken \(taken), data \(data.count), ended \(ended), failed \(failed)" }
    }

    static func feed(_ mode: HTTPBodyFraming.Mode, _ input: [UInt8], piece: Int) throws(FuzzFailure) -> FeedResult {
        var framing = HTTPBodyFraming(mode)
        var result = FeedResult()
        var offset = 0
        while offset < input.count, !result.ended {
            var buffer = ByteBuffer(bytes: input[offset..<min(input.count, offset + piece)])
            let before = buffer.readableBytes
            do {
                let consumed = try framing.consume(&buffer) { result.data += Array(buffer: $0) }
                result.taken += consumed.message.readableBytes
                result.ended = consumed.ended
                try require(consumed.ended || buffer.readableBytes == 0, "the framing left bytes of an unfinished body")
            } catch let failure as FuzzFailure {
                throw failure
            } catch {
                // Bytes taken before the failure depend on the pieces; the failure does not.
                return FeedResult(taken: 0, data: result.data, ended: false, failed: true)
            }
            offset += before - buffer.readableBytes
            if buffer.readableBytes > 0 { break }
        }
        if case .chunked = mode, !result.failed, result.taken < result.data.count { result.failed = true }
        return result
    }

    static func proxyTarget(_ bytes: [UInt8]) {
        let (method, target) = bytes.split(at: UInt8(ascii: " "))
        _ = try? ProxyTarget.resolve(
            method: String(decoding: method, as: UTF8.self), target: String(decoding: target, as: UTF8.self), functionsNamespaces: namespaces)
    }

    /// The deadline is read without a trap and never beyond the clamp.
    static func deadline(_ bytes: [UInt8]) throws(FuzzFailure) {
        let text = String(decoding: bytes, as: UTF8.self)
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        guard let remaining = DirektivDeadline.remaining(text, now: now) else { return }
        try require(
            remaining <= DirektivDeadline.maximum && remaining >= .zero - DirektivDeadline.maximum,
            "\(remaining) beyond the clamp for \(text.debugDescription)")
        _ = remaining.nanoseconds
    }
}
