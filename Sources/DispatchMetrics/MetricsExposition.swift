import NIOCore

/// Renders the metrics in Prometheus' text format; made at the composition root, which owns
/// the metrics backend, and served by whichever port exposes `/metrics`.
public struct MetricsExposition: Sendable {
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"
    public let render: @Sendable () -> ByteBuffer

    public init(render: @escaping @Sendable () -> ByteBuffer) {
        self.render = render
    }
}
