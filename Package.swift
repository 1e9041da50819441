// swift-tools-version:6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "direktiv-dispatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "direktiv-dispatch", targets: ["direktiv-dispatch"]),
        .library(name: "DispatchCore", targets: ["DispatchCore"]),
        .library(name: "KubeModels", targets: ["KubeModels"]),
        .library(name: "KubeClient", targets: ["KubeClient"]),
        .library(name: "KubeSim", targets: ["KubeSim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .target(
            name: "KubeModels",
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchCore",
            dependencies: [
                "KubeModels",
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeClient",
            dependencies: [
                "KubeModels",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchCertificates",
            dependencies: [
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "KubeSim",
            dependencies: [
                "DispatchCertificates",
                "KubeModels",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchMetrics",
            dependencies: [
                "DispatchCore",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchProxy",
            dependencies: [
                "DispatchCore",
                "DispatchMetrics",
                "KubeModels",
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            // The proxy's handlers mutate class state on every byte they move; run-time
            // exclusivity checks cost ~4% of the agent's CPU under load (perf, BENCHMARKS.md).
            // Debug builds, which the tests run, keep them; the static checks stay everywhere.
            swiftSettings: swiftSettings + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]
        ),
        .target(
            name: "DispatchDoctor",
            dependencies: [
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchAgent",
            dependencies: [
                "DispatchCertificates",
                "DispatchCore",
                "DispatchDoctor",
                "DispatchMetrics",
                "DispatchProxy",
                "KubeClient",
                "KubeModels",
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCertificateReloading", package: "swift-nio-extras"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchFuzz",
            dependencies: [
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchCore",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchPrometheus",
            dependencies: [
                "DispatchMetrics",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "DispatchDemo",
            dependencies: [
                "DispatchDoctor",
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchPrometheus",
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "direktiv-dispatch",
            dependencies: [
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchDoctor",
                "DispatchDemo",
                "DispatchPrometheus",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Configuration", package: "swift-configuration"),
            ],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BenchmarkSupport",
            dependencies: ["DispatchCore", "KubeModels"],
            path: "benchmarks/BenchmarkSupport",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "webhook-bench",
            dependencies: [
                "KubeClient",
                "DispatchMetrics",
                "DispatchProxy",
                "BenchmarkSupport",
                "DispatchAgent",
                "DispatchCore",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "benchmarks/webhook-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "placement-bench",
            dependencies: ["BenchmarkSupport", "DispatchCore", "KubeModels"],
            path: "benchmarks/placement-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "failover-bench",
            dependencies: ["DispatchAgent", "DispatchCore", "KubeClient", "KubeModels", "KubeSim", "TestSupport"],
            path: "benchmarks/failover-bench",
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "informer-bench",
            dependencies: [
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            path: "benchmarks/informer-bench",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeModelsTests",
            dependencies: ["KubeModels"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: [
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchDoctorTests",
            dependencies: ["DispatchDoctor", "DispatchCore", "DispatchCertificates", "KubeClient", "KubeModels", "KubeSim", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchCoreTests",
            dependencies: ["DispatchCore", "KubeModels"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            dependencies: [
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchPrometheus",
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchAgentTests",
            dependencies: [
                .product(name: "Configuration", package: "swift-configuration"),
                "DispatchDoctor",
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchAgent",
                "DispatchPrometheus",
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchProxyTests",
            dependencies: [
                "DispatchAgent",
                "DispatchMetrics",
                "DispatchProxy",
                "DispatchPrometheus",
                "DispatchCore",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchPrometheusTests",
            dependencies: [
                "DispatchMetrics",
                "DispatchPrometheus",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchFuzzTests",
            dependencies: ["DispatchFuzz"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeSimTests",
            dependencies: [
                "KubeSim",
                "DispatchCertificates",
                "KubeClient",
                "KubeModels",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            // Scripts for the official Python client, run by PythonClientTests.
            exclude: ["Python"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeClientTests",
            dependencies: [
                "TestSupport",
                "KubeClient",
                "KubeModels",
                "KubeSim",
                "DispatchCertificates",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// The libFuzzer executable: only with DISPATCH_FUZZ=1 (scripts/fuzz.sh), since it has no `main`
// of its own: `-sanitize=fuzzer` links libFuzzer's.
if Context.environment["DISPATCH_FUZZ"] == "1" {
    package.targets.append(
        .executableTarget(
            name: "dispatch-fuzz",
            dependencies: ["DispatchFuzz"],
            path: "fuzz/Sources/dispatch-fuzz",
            swiftSettings: swiftSettings
        )
    )
}
