import CoreMetrics
import Prometheus
import Synchronization

/// The agent's swift-metrics backend: swift-prometheus's registry for counters and gauges, and
/// `AtomicDurationHistogram` for timers, which the proxy's event loops record on every call.
public struct DispatchMetricsFactory: MetricsFactory {
    let prometheus: PrometheusMetricsFactory
    let timers: DurationHistograms

    init(prometheus: PrometheusMetricsFactory, timers: DurationHistograms) {
        self.prometheus = prometheus
        self.timers = timers
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        prometheus.makeCounter(label: label, dimensions: dimensions)
    }

    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)]) -> any FloatingPointCounterHandler {
        prometheus.makeFloatingPointCounter(label: label, dimensions: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        prometheus.makeRecorder(label: label, dimensions: dimensions, aggregate: aggregate)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        prometheus.makeMeter(label: label, dimensions: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        timers.histogram(name: label, labels: dimensions)
    }

    public func destroyCounter(_ handler: any CounterHandler) {
        prometheus.destroyCounter(handler)
    }

    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {
        prometheus.destroyFloatingPointCounter(handler)
    }

    public func destroyRecorder(_ handler: any RecorderHandler) {
        prometheus.destroyRecorder(handler)
    }

    public func destroyMeter(_ handler: any MeterHandler) {
        prometheus.destroyMeter(handler)
    }

    public func destroyTimer(_ handler: any TimerHandler) {
        guard let histogram = handler as? AtomicDurationHistogram else { return }
        timers.remove(histogram)
    }
}

/// The timers' histograms by name and labels; one histogram per series, as the registry keeps them.
final class DurationHistograms: Sendable {
    private let buckets: [String: [Duration]]
    private let defaultBuckets: [Duration]
    private let families = Mutex<[String: [[String]: AtomicDurationHistogram]]>([:])

    init(buckets: [String: [Duration]], defaultBuckets: [Duration]) {
        self.buckets = buckets
        self.defaultBuckets = defaultBuckets
    }

    static func key(_ labels: [(String, String)]) -> [String] {
        labels.flatMap { [$0.0, $0.1] }
    }

    func histogram(name: String, labels: [(String, String)]) -> AtomicDurationHistogram {
        families.withLock { families in
            if let existing = families[name]?[Self.key(labels)] { return existing }
            let made = AtomicDurationHistogram(name: name, labels: labels, buckets: buckets[name] ?? defaultBuckets)
            families[name, default: [:]][Self.key(labels)] = made
            return made
        }
    }

    func remove(_ histogram: AtomicDurationHistogram) {
        families.withLock { families in
            let key = Self.key(histogram.labels)
            guard families[histogram.name]?[key] === histogram else { return }
            families[histogram.name]?[key] = nil
            if families[histogram.name]?.isEmpty == true { families[histogram.name] = nil }
        }
    }

    /// Every family in text format 0.0.4, by name, each series once.
    func emit(into output: inout [UInt8]) {
        let families = families.withLock { $0 }
        for name in families.keys.sorted() {
            output.append(contentsOf: "# TYPE \(name) histogram\n".utf8)
            for key in families[name]!.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                families[name]![key]!.emit(into: &output)
            }
        }
    }
}
