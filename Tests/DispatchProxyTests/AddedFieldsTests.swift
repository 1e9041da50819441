import NIOCore
import Testing

@testable import DispatchProxy

/// The fields a caller's connection adds to every request, written once per function host.
@Suite struct AddedFieldsTests {
    let target = ProxyTarget(function: "fn", namespace: "ns", host: "fn.ns", pathAndQuery: "/")

    func written(_ text: String, added: ProxyHeaders.AddedFields?) throws -> String {
        let head = try HTTPHead(parsing: ByteBuffer(string: text), kind: .request)
        var buffer = ByteBuffer()
        if let added {
            ProxyHeaders.writeUpstreamHead(head, target: target, added: added, into: &buffer)
        } else {
            ProxyHeaders.writeUpstreamHead(head, target: target, client: "10.0.0.7", into: &buffer)
        }
        return String(buffer: buffer)
    }

    @Test func reusedFieldsStillCarryTheForwardingValuesARequestBrought() throws {
        let added = ProxyHeaders.AddedFields(host: target.host, client: "10.0.0.7")
        for text in [
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\nForwarded: for=192.0.2.1\r\n\r\n",
            "POST / HTTP/1.1\r\nForwarded: for=192.0.2.1\r\n\r\n",
        ] {
            #expect(try written(text, added: added) == written(text, added: nil))
        }
        #expect(
            try written("POST / HTTP/1.1\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n", added: added).contains("X-Forwarded-For: 192.0.2.1, 10.0.0.7\r\n"))
    }

    @Test func aPlainContentLengthPassesAsItCame() throws {
        let text = try written("POST / HTTP/1.1\r\ncontent-length:   7\r\n\r\n", added: nil)
        #expect(
            text
                == "POST / HTTP/1.1\r\ncontent-length:   7\r\nHost: fn.ns\r\nX-Forwarded-For: 10.0.0.7\r\nForwarded: for=10.0.0.7;host=fn.ns;proto=http\r\n\r\n"
        )
    }
}
