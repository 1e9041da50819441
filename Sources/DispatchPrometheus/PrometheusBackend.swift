import DispatchMetrics
import NIOCore
import Prometheus

/// The agent's metrics backend at the composition root: a Prometheus registry and the timers'
/// histograms (`DispatchMetricsFactory`) fed through swift-metrics, rendered for `/metrics`.
public struct PrometheusBackend: Sendable {
    public let registry: PrometheusCollectorRegistry
    let timers: DurationHistograms
    /// Hand this to `MetricsSystem.bootstrap` (the `serve` process) or to `DispatchMetrics`
    /// directly (tests and the demo, which must not bootstrap the process-wide system).
    public let factory: DispatchMetricsFactory

    public init() {
        registry = PrometheusCollectorRegistry()
        let prometheus = PrometheusMetricsFactory(registry: registry)
        timers = DurationHistograms(buckets: DispatchMetrics.durationBuckets, defaultBuckets: prometheus.defaultDurationHistogramBuckets)
        factory = DispatchMetricsFactory(prometheus: prometheus, timers: timers)
    }

    /// Text format 0.0.4 with a `# HELP` line per metric from `DispatchMetrics.help`.
    public func render() -> ByteBuffer {
        var bytes: [UInt8] = []
        registry.emit(into: &bytes)
        timers.emit(into: &bytes)
        return Self.addingHelp(to: bytes, help: DispatchMetrics.help)
    }

    public var exposition: MetricsExposition {
        let backend = self
        return MetricsExposition { backend.render() }
    }

    /// swift-metrics carries no help text, so it is added here, before each metric's `# TYPE`.
    static func addingHelp(to exposition: [UInt8], help: [String: String]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(exposition.count + help.count * 96)
        let typePrefix = Array("# TYPE ".utf8)
        var lineStart = exposition.startIndex
        while lineStart < exposition.endIndex {
            let lineEnd = exposition[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? exposition.endIndex
            let line = exposition[lineStart..<lineEnd]
            if line.starts(with: typePrefix) {
                let nameStart = line.startIndex + typePrefix.count
                let nameEnd = line[nameStart...].firstIndex(of: UInt8(ascii: " ")) ?? line.endIndex
                let name = String(decoding: line[nameStart..<nameEnd], as: UTF8.self)
                if let text = help[name] {
                    buffer.writeString("# HELP \(name) \(escaped(text, quotes: false))\n")
                }
            }
            buffer.writeBytes(line)
            buffer.writeInteger(UInt8(ascii: "\n"))
            lineStart = lineEnd == exposition.endIndex ? lineEnd : exposition.index(after: lineEnd)
        }
        return buffer
    }

    /// Text for the exposition: backslash and line feed escaped, and double quotes too in a
    /// label value (`quotes`), which help text leaves as they are.
    static func escaped(_ text: String, quotes: Bool) -> String {
        guard text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || (quotes && $0 == UInt8(ascii: "\"")) }) else {
            return text
        }
        var result = ""
        for character in text {
            switch character {
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\"" where quotes: result += "\\\""
            default: result.append(character)
            }
        }
        return result
    }
}
