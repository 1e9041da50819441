import NIOCore
import NIOHTTP1
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Why a function call failed before or while its answer came back, and what the caller gets.
///
/// The codes keep Direktiv's meaning: its engine treats 502, 503 and 504 as "scaled to zero,
/// try again", exactly as it treats "no such host" and "connection refused" when it calls a
/// function directly.
public enum UpstreamFailure: String, Error, Sendable, Hashable, CaseIterable {
    /// Nothing listens at the function's address.
    case refused
    /// The function's host name does not resolve.
    case unresolvable
    /// No connection within the connect timeout.
    case connectTimeout = "connect_timeout"
    /// The call outlived `Direktiv-Deadline` or the default deadline.
    case deadline
    /// No bytes moved for longer than the body idle timeout.
    case idleTimeout = "idle_timeout"
    /// The function closed the connection before its answer was complete.
    case upstreamClosed = "upstream_closed"
    /// Anything else the connection reported.
    case other

    /// The status the caller receives when the failure happens before the response head.
    public var status: HTTPResponseStatus {
        switch self {
        case .connectTimeout, .deadline, .idleTimeout: .gatewayTimeout
        case .refused, .unresolvable, .upstreamClosed, .other: .badGateway
        }
    }

    /// The metric label: bounded, snake case.
    public var reason: String { rawValue }

    /// Classifies what connecting to or talking with a function threw.
    public init(_ error: any Error) {
        switch error {
        case let error as UpstreamFailure:
            self = error
        case let error as NIOConnectionError:
            if error.dnsAError != nil || error.dnsAAAAError != nil, error.connectionErrors.isEmpty {
                self = .unresolvable
            } else if let first = error.connectionErrors.first {
                self = UpstreamFailure(first.error)
            } else {
                self = .unresolvable
            }
        case let error as IOError where error.errnoCode == ECONNREFUSED:
            self = .refused
        case let error as IOError where error.errnoCode == ECONNRESET || error.errnoCode == EPIPE:
            self = .upstreamClosed
        case ChannelError.connectTimeout:
            self = .connectTimeout
        case ChannelError.eof, ChannelError.ioOnClosedChannel, ChannelError.outputClosed:
            self = .upstreamClosed
        case is SocketAddressError, is SocketAddressError.UnknownHost:
            self = .unresolvable
        default:
            self = .other
        }
    }
}
