import NIOHTTP1

/// Which headers cross the proxy.
///
/// Hop-by-hop headers (RFC 9110 §7.6.1), those named in `Connection`, and proxy credentials stay
/// behind; every end-to-end header passes unchanged and in order, repeated ones included
/// (`Direktiv-Files`, trace context). The request gains `X-Forwarded-For` and `Forwarded`.
public enum ProxyHeaders {
    /// What a header is to the proxy.
    enum Role {
        case endToEnd
        /// Hop-by-hop (RFC 9110 §7.6.1) or proxy credentials: never forwarded.
        case hopByHop
        /// `Connection` itself: hop-by-hop, and it names more hop-by-hop headers.
        case connection
        /// `Host`, `Content-Length` (the forwarder frames the body) and `Expect` (answered by the proxy).
        case setByProxy
        case forwardedFor
        case forwarded
    }

    /// The role of a header name, decided by its length first: most names compare with nothing.
    static func role(of name: String) -> Role {
        let utf8 = name.utf8
        func `is`(_ lowercased: StaticString) -> Bool { ASCII.equalsIgnoringCase(utf8, lowercased) }
        switch utf8.count {
        case 2: return `is`("te") ? .hopByHop : .endToEnd
        case 4: return `is`("host") ? .setByProxy : .endToEnd
        case 6: return `is`("expect") ? .setByProxy : .endToEnd
        case 7: return `is`("trailer") || `is`("upgrade") ? .hopByHop : .endToEnd
        case 9: return `is`("forwarded") ? .forwarded : .endToEnd
        case 10: return `is`("connection") ? .connection : `is`("keep-alive") ? .hopByHop : .endToEnd
        case 14: return `is`("content-length") ? .setByProxy : .endToEnd
        case 15: return `is`("x-forwarded-for") ? .forwardedFor : .endToEnd
        case 16: return `is`("proxy-connection") ? .hopByHop : .endToEnd
        case 17: return `is`("transfer-encoding") ? .hopByHop : .endToEnd
        case 18: return `is`("proxy-authenticate") ? .hopByHop : .endToEnd
        case 19: return `is`("proxy-authorization") ? .hopByHop : .endToEnd
        default: return .endToEnd
        }
    }

    /// The lower-cased header names that `Connection` lists (usually none, without a copy).
    static func connectionNamed(_ headers: HTTPHeaders) -> Set<String> {
        var named: Set<String> = []
        for (name, value) in headers where name.utf8.count == 10 && ASCII.equalsIgnoringCase(name.utf8, "connection") {
            for token in value.utf8.split(separator: UInt8(ascii: ",")) {
                let trimmed = token.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }.reversed().drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
                let token = String(decoding: trimmed.reversed().map(ASCII.lowercase), as: UTF8.self)
                // `close` and `keep-alive` are options, not names; hop-by-hop names go anyway.
                if token == "close" || role(of: token) == .hopByHop || role(of: token) == .connection { continue }
                named.insert(token)
            }
        }
        return named
    }

    static func isNamed(_ name: String, in named: Set<String>) -> Bool {
        !named.isEmpty && named.contains(String(ASCII.lowercased(name[...])))
    }

    /// The upstream request's headers: end-to-end ones, `Host`, and the forwarding record.
    ///
    /// `Content-Length` is left to the forwarder, which sets it from the body it streams, and
    /// `Expect` is answered by the proxy itself.
    public static func upstream(_ headers: HTTPHeaders, host: String, client: String?) -> HTTPHeaders {
        let named = connectionNamed(headers)
        var result = HTTPHeaders()
        result.reserveCapacity(headers.count + 3)
        var previousForwardedFor: [String] = []
        var previousForwarded: [String] = []
        for (name, value) in headers {
            switch role(of: name) {
            case .hopByHop, .connection, .setByProxy: continue
            case .forwardedFor: previousForwardedFor.append(value)
            case .forwarded: previousForwarded.append(value)
            case .endToEnd: if !isNamed(name, in: named) { result.add(name: name, value: value) }
            }
        }
        result.add(name: "Host", value: host)
        if let client {
            result.add(name: "X-Forwarded-For", value: (previousForwardedFor + [client]).joined(separator: ", "))
            let node = client.utf8.contains(UInt8(ascii: ":")) ? "\"[\(client)]\"" : client
            result.add(name: "Forwarded", value: (previousForwarded + ["for=\(node);host=\(host);proto=http"]).joined(separator: ", "))
        } else {
            for value in previousForwardedFor { result.add(name: "X-Forwarded-For", value: value) }
            for value in previousForwarded { result.add(name: "Forwarded", value: value) }
        }
        return result
    }

    /// The response's headers for the caller: end-to-end ones, `Content-Length` kept.
    public static func downstream(_ headers: HTTPHeaders) -> HTTPHeaders {
        let named = connectionNamed(headers)
        var result = HTTPHeaders()
        result.reserveCapacity(headers.count)
        for (name, value) in headers {
            switch role(of: name) {
            case .hopByHop, .connection: continue
            case .endToEnd, .setByProxy, .forwardedFor, .forwarded: if !isNamed(name, in: named) { result.add(name: name, value: value) }
            }
        }
        return result
    }
}
