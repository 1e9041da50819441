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
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
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
        .executableTarget(
            name: "direktiv-dispatch",
            dependencies: [
                "DispatchCore",
                "KubeModels",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "placement-bench",
            dependencies: ["DispatchCore", "KubeModels"],
            path: "benchmarks/placement-bench",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "KubeModelsTests",
            dependencies: ["KubeModels"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DispatchCoreTests",
            dependencies: ["DispatchCore", "KubeModels"],
            swiftSettings: swiftSettings
        ),
    ]
)
