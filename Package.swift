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
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Already resolved through Hummingbird; named for the HTTP parts the connection limits see (`NIOHTTPTypes`),
        // the HTTP/1 parser's errors (`NIOHTTP1`) and header names Hummingbird does not predefine (`HTTPTypes`).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Webhook deliveries (issue 19); already resolved through HummingbirdTesting.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        .target(
            name: "Learning",
            dependencies: ["CBLAS"]
        ),
        .target(name: "Engine", dependencies: ["Learning", "CBLAS"]),
        // The API's JSON on the wire: the strict reader and decoder for request bodies, the fast writer for answers.
        // Depends on nothing of Winnow's.
        .target(name: "WinnowJSON"),
        .target(
            name: "Storage",
            dependencies: [
                "Engine",
                "WinnowJSON",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                // SHA-256 for `StoreMigration`'s checksums.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // The product's rules in motion (scoring, review, the model registry, online learning, the scheduler's work),
        // without HTTP: `Server`, `Simulation` and the command line run the same services.
        .target(
            name: "Services",
            dependencies: [
                "Engine",
                "Learning",
                "Media",
                "Storage",
                "WinnowJSON",
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // HMAC-SHA256 for webhook signatures.
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "Server",
            dependencies: [
                "Engine",
                "Media",
                "WinnowJSON",
                "Learning",
                "Storage",
                "Services",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // A webhook's failed connection (NIOPosix's NIOConnectionError) in a few words.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            // The API's contract, compiled into the binary (served at /openapi.yaml, read by the tests).
            resources: [.embedInCode("openapi.yaml")]
        ),
        // The loop simulator drives the same services `winnow serve` runs, on a real store (Storage).
        .target(name: "Simulation", dependencies: ["Engine", "Learning", "Storage", "Services"]),
        .target(
            name: "WinnowCLI",
            dependencies: [
                "WinnowJSON",
                "Learning",
                "Engine",
                "Storage",
                "Services",
                "Server",
                "Simulation",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "CSV", package: "CSV.swift"),
                .product(name: "Logging", package: "swift-log"),
                // `serve` names a port in use (NIO's IOError) in a sentence.
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(name: "winnow", dependencies: ["WinnowCLI"]),
        // Image and video decoding on the system's libraries (Debian: libjpeg62-turbo-dev, libpng-dev, libwebp-dev,
        // libavcodec-dev, libavformat-dev, libswscale-dev, libavutil-dev; `make deps` installs them).
        .target(
            name: "CMedia",
            linkerSettings: [
                .linkedLibrary("jpeg"), .linkedLibrary("png16"), .linkedLibrary("webp"), .linkedLibrary("avformat"),
                .linkedLibrary("avcodec"), .linkedLibrary("swscale"), .linkedLibrary("avutil"),
            ]
        ),
        // PDQ and vPDQ hashing: bytes in, signatures out (no file or network I/O).
        .target(name: "Media", dependencies: ["Engine", "CMedia"]),
        .testTarget(name: "LearningTests", dependencies: ["Learning"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Learning"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "Engine", "Learning"]),
        .testTarget(name: "WinnowJSONTests", dependencies: ["WinnowJSON", "Learning"]),
        // What tests of several modules share: the throwaway PostgreSQL server (`WINNOW_TEST_POSTGRES_URL`).
        .target(
            name: "TestSupport",
            dependencies: ["Storage", "Engine", .product(name: "PostgresNIO", package: "postgres-nio"), .product(name: "Crypto", package: "swift-crypto")],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "StorageTests",
            dependencies: [
                "Storage", "Engine", "Learning", "TestSupport",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "Services", "Storage", "Engine", "Learning", "WinnowJSON", "TestSupport",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "SimulationTests", dependencies: ["Simulation", "Services", "Engine", "Learning", "Storage", "WinnowCLI"]),
        .testTarget(name: "WinnowCLITests", dependencies: ["WinnowCLI", "WinnowJSON", "Services", "Learning", "Engine", "Storage", "TestSupport",
                                                           // The webhook receiver the end-to-end tests run.
                                                           .product(name: "Hummingbird", package: "hummingbird"),
                                                           .product(name: "HTTPTypes", package: "swift-http-types")]),
    ]
)
