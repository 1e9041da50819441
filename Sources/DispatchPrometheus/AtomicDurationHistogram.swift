import CoreMetrics
import DispatchMetrics
import Prometheus
import Synchronization

/// A duration histogram that event loops record into without taking a lock.
///
/// swift-prometheus's histograms take a lock on every record. The proxy's event loops record
/// every call, into one histogram when they serve the same function, and a loop that found the
/// lock taken slept in the kernel until the other let go (`perf`: 95% of the agent's futex
/// calls under load), which showed in the proxy's p99. Here a record is two atomic adds, its
/// bucket's and the sum's. The count is the buckets' total, so a scrape always sees cumulative
/// buckets that agree with `_count`.
final class AtomicDurationHistogram: TimerHandler, Sendable {
    let name: String
    let labels: [(String, String)]
    /// Upper bounds in nanoseconds, ascending; a last bucket without bound follows.
    private let upperBounds: [Int64]
    private let boundLabels: [String]
    /// `a="x",b="y"`, escaped, or empty.
    private let renderedLabels: String
    private let buckets: [Cell]
    private let sum = Cell()

    /// One atomic counter in a class of its own, so that an array can hold it.
    private final class Cell: Sendable {
        let value = Atomic<Int64>(0)
    }

    init(name: String, labels: [(String, String)], buckets: [Duration]) {
        let bounds = buckets.sorted()
        self.name = name
        self.labels = labels
        upperBounds = bounds.map(\.nanoseconds)
        boundLabels = bounds.map(\.bucketRepresentation)
        renderedLabels = labels.map { "\($0.0)=\"\(PrometheusBackend.escaped($0.1, quotes: true))\"" }.joined(separator: ",")
        self.buckets = (0...bounds.count).map { _ in Cell() }
    }

    func recordNanoseconds(_ duration: Int64) {
        var index = 0
        while index < upperBounds.count, upperBounds[index] < duration { index += 1 }
        buckets[index].value.add(1, ordering: .sequentiallyConsistent)
        sum.value.add(duration, ordering: .sequentiallyConsistent)
    }

    /// The histogram's lines in text format 0.0.4, without the `# TYPE` line.
    func emit(into output: inout [UInt8]) {
        let separator = renderedLabels.isEmpty ? "" : ","
        var cumulative: Int64 = 0
        for (index, bound) in boundLabels.enumerated() {
            cumulative += buckets[index].value.load(ordering: .sequentiallyConsistent)
            output.append(contentsOf: "\(name)_bucket{\(renderedLabels)\(separator)le=\"\(bound)\"} \(cumulative)\n".utf8)
        }
        cumulative += buckets[upperBounds.count].value.load(ordering: .sequentiallyConsistent)
        let total = Duration.nanoseconds(sum.value.load(ordering: .sequentiallyConsistent)).bucketRepresentation
        let series = renderedLabels.isEmpty ? "" : "{\(renderedLabels)}"
        output.append(contentsOf: "\(name)_bucket{\(renderedLabels)\(separator)le=\"+Inf\"} \(cumulative)\n".utf8)
        output.append(contentsOf: "\(name)_sum\(series) \(total)\n".utf8)
        output.append(contentsOf: "\(name)_count\(series) \(cumulative)\n".utf8)
    }
}
