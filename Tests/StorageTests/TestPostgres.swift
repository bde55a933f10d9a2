import Engine
import Foundation
import PostgresNIO
import Testing

@testable import Storage

/// The PostgreSQL cluster the tests use: `WINNOW_TEST_POSTGRES_URL`, a superuser's URL to a database of a throwaway
/// cluster (`make test` starts one with scripts/pg-cluster.sh). Each test gets a database of its own, so tests run in
/// parallel and leave nothing behind.
enum TestPostgres {
    static let variable = "WINNOW_TEST_POSTGRES_URL"
    static let missing: Comment = "PostgreSQL tests need WINNOW_TEST_POSTGRES_URL; make test starts a cluster"

    static var url: String? {
        ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    static var available: Bool { url != nil }

    /// In CI a missing cluster is a failure (`PostgresAvailabilityTests`), not a reason to skip.
    static var inCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false }

    /// Whether the conformance suite runs on PostgreSQL too: when there is a cluster, and always in CI (where a
    /// missing one then fails `freshStore`).
    static var included: Bool { available || inCI }

    /// A store on a fresh database of its own, for the conformance suite. The database stays until the cluster goes
    /// (`make test` removes it); the store's pool closes when the store is released.
    static func freshStore() async throws -> any Store {
        try await PostgresStore.connect(url: freshDatabase().url, poolSize: 4)
    }

    /// A new, empty database on the test cluster: its URL, and a function that drops it (closing whatever is still
    /// connected to it).
    static func freshDatabase() async throws -> (url: String, drop: @Sendable () async throws -> Void) {
        guard let url else { throw TestPostgresError.missing }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await administer(url, "CREATE DATABASE \(name)")
        guard var components = URLComponents(string: url) else { throw TestPostgresError.badURL(url) }
        components.path = "/" + name
        components.query = nil
        guard let fresh = components.string else { throw TestPostgresError.badURL(url) }
        return (fresh, { try await administer(url, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") })
    }

    /// Runs `body` with a fresh database's URL, dropping the database afterwards (also when `body` throws).
    static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let (url, drop) = try await freshDatabase()
        do {
            let value = try await body(url)
            try await drop()
            return value
        } catch {
            try? await drop()
            throw error
        }
    }

    /// One statement on its own connection to the database at `url` (CREATE and DROP DATABASE cannot run in a pool's
    /// transaction).
    static func administer(_ url: String, _ sql: String) async throws {
        let location = try PostgresLocation(url)
        let configuration = PostgresConnection.Configuration(host: location.host, port: location.port, username: location.username,
                                                             password: location.password, database: location.database, tls: .disable)
        let logger = PostgresStore.quiet
        let connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
        do {
            _ = try await connection.query(PostgresQuery(unsafeSQL: sql), logger: logger).collect()
        } catch {
            try? await connection.close()
            throw error
        }
        try await connection.close()
    }
}

enum TestPostgresError: Error, CustomStringConvertible {
    case missing
    case badURL(String)

    var description: String {
        switch self {
        case .missing: return "\(TestPostgres.missing)"
        case let .badURL(url): return "\(TestPostgres.variable) is not a URL: \(PostgresLocation.withoutPassword(url))"
        }
    }
}

@Suite struct PostgresAvailabilityTests {
    /// Without a cluster the PostgreSQL tests skip on a developer's machine, but CI must run them.
    @Test func ciRunsThePostgresTests() {
        if TestPostgres.inCI && !TestPostgres.available { Issue.record(TestPostgres.missing) }
    }
}
