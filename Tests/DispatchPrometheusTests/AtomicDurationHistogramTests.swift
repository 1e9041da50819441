import CoreMetrics
import DispatchAgent
import DispatchMetrics
import DispatchProxy
import NIOCore
import Prometheus
import Testing

@testable import DispatchPrometheus

/// The timers' lock-free histograms export what swift-prometheus's would, and lose no record
/// when event loops record at once.
@Suite struct AtomicDurationHistogramTests {
    let buckets: [Duration] = [.milliseconds(5), .milliseconds(10), .seconds(1)]
    let samples: [Duration] = [.milliseconds(1), .milliseconds(5), .milliseconds(7), .milliseconds(10), .milliseconds(999), .seconds(3)]

    func text(_ emit: (inout [UInt8]) -> Void) -> String {
        var bytes: [UInt8] = []
        emit(&bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func exportsTheSameLinesAsSwiftPrometheus() {
        let labels = [("function", "fn"), ("note", "a \"quoted\\ value\nhere")]
        let registry = PrometheusCollectorRegistry()
        let theirs = registry.makeDurationHistogram(name: "calls_seconds", labels: labels, buckets: buckets)
        let timers = DurationHistograms(buckets: ["calls_seconds": buckets], defaultBuckets: [])
        let ours = timers.histogram(name: "calls_seconds", labels: labels)
        for sample in samples {
            theirs.record(sample)
            ours.recordNanoseconds(sample.nanoseconds)
        }
        #expect(text(timers.emit) == text(registry.emit))
        #expect(text(timers.emit).contains("calls_seconds_bucket{function=\"fn\",note=\"a \\\"quoted\\\\ value\\nhere\",le=\"0.005\"} 2\n"))
    }

    @Test func seriesAreSharedByLabelsAndRemovable() {
        let backend = PrometheusBackend()
        let one = backend.factory.makeTimer(label: "direktiv_dispatch_invocation_duration_seconds", dimensions: [("cluster", "main")])
        let again = backend.factory.makeTimer(label: "direktiv_dispatch_invocation_duration_seconds", dimensions: [("cluster", "main")])
        let shared = (one as? AtomicDurationHistogram) === (again as? AtomicDurationHistogram) && one is AtomicDurationHistogram
        #expect(shared)
        one.recordNanoseconds(2_000_000)
        let rendered = String(buffer: backend.render())
        #expect(rendered.contains("# TYPE direktiv_dispatch_invocation_duration_seconds histogram\n"))
        #expect(rendered.contains("direktiv_dispatch_invocation_duration_seconds_bucket{cluster=\"main\",le=\"300.0\"} 1\n"))
        backend.factory.destroyTimer(one)
        #expect(!String(buffer: backend.render()).contains("direktiv_dispatch_invocation_duration_seconds"))
    }

    @Test func concurrentRecordsAreAllCounted() async {
        let timers = DurationHistograms(buckets: [:], defaultBuckets: buckets)
        let histogram = timers.histogram(name: "x_seconds", labels: [])
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for index in 0..<25_000 { histogram.recordNanoseconds(Int64((task * 25_000 + index) % 3) * 4_000_000) }
                }
            }
        }
        let lines = text(timers.emit)
        #expect(lines.contains("x_seconds_count 100000\n"))
        #expect(lines.contains("x_seconds_bucket{le=\"+Inf\"} 100000\n"))
    }
}
