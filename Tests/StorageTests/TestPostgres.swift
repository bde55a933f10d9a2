import Engine
import Foundation

/// The PostgreSQL server of the tests (placeholder until the PostgreSQL store lands).
enum TestPostgres {
    static var url: String? { ProcessInfo.processInfo.environment["WINNOW_TEST_POSTGRES_URL"] }
    static var available: Bool { url != nil }
    /// Whether the conformance suite runs on PostgreSQL too: not until the PostgreSQL store lands.
    static var included: Bool { false }

    struct Unavailable: Error, CustomStringConvertible {
        var description: String { "PostgreSQL tests need WINNOW_TEST_POSTGRES_URL; make test starts a cluster" }
    }

    static func freshStore() async throws -> any Store { throw Unavailable() }
}
