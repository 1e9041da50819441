import NIOHTTP1

/// Which headers cross the proxy.
///
/// Hop-by-hop headers (RFC 9110 §7.6.1), those named in `Connection`, and proxy credentials stay
/// behind; every end-to-end header passes unchanged and in order, repeated ones included
/// (`Direktiv-Files`, trace context). The request gains `X-Forwarded-For` and `Forwarded`.
public enum ProxyHeaders {
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "transfer-encoding", "upgrade",
    ]

    /// Removes hop-by-hop headers and those `Connection` names; `except` are left out too.
    static func endToEnd(_ headers: HTTPHeaders, except excluded: Set<String> = []) -> HTTPHeaders {
        var named: Set<String> = []
        for value in headers[canonicalForm: "connection"] {
            named.insert(value.lowercased())
        }
        var result = HTTPHeaders()
        result.reserveCapacity(headers.count + 2)
        for (name, value) in headers {
            let lowered = name.lowercased()
            if hopByHop.contains(lowered) || named.contains(lowered) || excluded.contains(lowered) { continue }
            result.add(name: name, value: value)
        }
        return result
    }

    /// The upstream request's headers: end-to-end ones, `Host`, and the forwarding record.
    ///
    /// `Content-Length` is left to the client, which sets it from the body it streams, and
    /// `Expect` is answered by the proxy itself.
    public static func upstream(_ headers: HTTPHeaders, host: String, client: String?) -> HTTPHeaders {
        var result = endToEnd(headers, except: ["host", "content-length", "expect", "x-forwarded-for", "forwarded"])
        result.add(name: "Host", value: host)
        let previousForwardedFor = headers["x-forwarded-for"]
        let previousForwarded = headers["forwarded"]
        if let client {
            result.add(name: "X-Forwarded-For", value: (previousForwardedFor + [client]).joined(separator: ", "))
            let node = client.contains(":") ? "\"[\(client)]\"" : client
            result.add(name: "Forwarded", value: (previousForwarded + ["for=\(node);host=\(host);proto=http"]).joined(separator: ", "))
        } else {
            for value in previousForwardedFor { result.add(name: "X-Forwarded-For", value: value) }
            for value in previousForwarded { result.add(name: "Forwarded", value: value) }
        }
        return result
    }

    /// The response's headers for the caller: end-to-end ones, `Content-Length` kept.
    public static func downstream(_ headers: HTTPHeaders) -> HTTPHeaders {
        endToEnd(headers)
    }
}
