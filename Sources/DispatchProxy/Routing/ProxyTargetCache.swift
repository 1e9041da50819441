import NIOCore

/// The targets an event loop's callers asked for lately, so that a repeated request-target is
/// not checked and split into strings again on every call.
///
/// Direktiv calls a few functions many times with the same request-target, which makes checking
/// it the largest part of starting a call that can be skipped. Only targets that resolved are
/// kept, keyed by their bytes; a change of the functions namespaces starts over, and so does a
/// full cache. Long targets are resolved every time, so the cache stays small (at most
/// `capacity` x `maximumTargetBytes`) whatever callers send. Not thread-safe: one per event loop.
struct ProxyTargetCache {
    /// Most targets kept.
    static let capacity = 1024
    /// Longest request-target kept; Direktiv's are a few dozen bytes.
    static let maximumTargetBytes = 256

    private var namespaces: [String] = []
    /// The version `namespaces` came with; 0 before the first call.
    private var namespacesVersion = 0
    private var targets: [ByteBuffer: ProxyTarget] = [:]

    /// Targets kept now.
    var count: Int { targets.count }

    /// Resolves `head`'s target as `ProxyTarget.resolve` does, with the namespaces published now.
    mutating func target(of head: HTTPHead, functionsNamespaces published: Published<[String]>) throws(ProxyTarget.Refusal) -> ProxyTarget {
        // A new version is a changed value (`Published` keeps its version for an equal one).
        if let (version, changed) = published.ifChanged(since: namespacesVersion) {
            namespacesVersion = version
            namespaces = changed
            targets.removeAll()
        }
        let key = head.bytes.getSlice(at: head.bytes.readerIndex + head.targetRange.lowerBound, length: head.targetRange.count)!
        if let target = targets[key] {
            try ProxyTarget.check(method: head.method)
            return target
        }
        let target = try ProxyTarget.resolve(method: head.method, target: head.target, functionsNamespaces: namespaces)
        guard key.readableBytes <= Self.maximumTargetBytes else { return target }
        if targets.count >= Self.capacity { targets.removeAll(keepingCapacity: true) }
        // A copy: the key must not keep the connection's whole read buffer alive.
        targets[ByteBuffer(bytes: key.readableBytesView)] = target
        return target
    }
}
