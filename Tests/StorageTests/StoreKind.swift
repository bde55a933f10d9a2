import Engine
import Foundation
import Testing
import Storage
import TestSupport

/// The stores every repository test runs against: one conformance suite, so both stores keep one contract.
///
/// SQLite always (in memory); PostgreSQL when `WINNOW_TEST_POSTGRES_URL` names a server (`make test` starts a
/// throwaway cluster and sets it). In CI (`CI` set) PostgreSQL is always included, so a cluster that failed to start
/// fails the tests instead of skipping them.
enum StoreKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite, postgres

    static var all: [StoreKind] {
        TestPostgres.included ? [.sqlite, .postgres] : [.sqlite]
    }

    var testDescription: String { rawValue }

    /// A new, empty store of this kind (for PostgreSQL, a database of its own, so tests run in parallel).
    func open() async throws -> any Store {
        switch self {
        case .sqlite: return try SQLiteStore()
        case .postgres: return try await TestPostgres.freshStore()
        }
    }
}

extension TestPostgres {
    static let missing = Comment(rawValue: missingMessage)
}

@Suite struct PostgresAvailabilityTests {
    /// Without a cluster the PostgreSQL tests skip on a developer's machine, but CI must run them.
    @Test func ciRunsThePostgresTests() {
        if TestPostgres.inCI && !TestPostgres.available { Issue.record(TestPostgres.missing) }
    }
}
