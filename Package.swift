// swift-tools-version:6.1
import PackageDescription

// Module map (see README): dependencies point down, and the pure core (`Learning`, `Engine`) may import
// only Foundation, CBLAS and each other — enforced here, not by convention.
let package = Package(
    name: "Winnow",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "winnow", targets: ["winnow"]),
        .library(name: "Learning", targets: ["Learning"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/yaslab/CSV.swift", from: "2.5.2"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(
            name: "Learning",
            dependencies: ["CBLAS"]
        ),
        .target(name: "Engine", dependencies: ["Learning"]),
        .target(
            name: "WinnowCLI",
            dependencies: [
                "Learning",
                "Engine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CSV", package: "CSV.swift"),
            ]
        ),
        .executableTarget(name: "winnow", dependencies: ["WinnowCLI"]),
        .testTarget(name: "LearningTests", dependencies: ["Learning"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Learning"]),
        .testTarget(name: "WinnowCLITests", dependencies: ["WinnowCLI", "Learning"]),
    ]
)
