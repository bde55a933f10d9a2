import Engine
import Foundation
import PostgresNIO
import Storage

/// The PostgreSQL cluster the tests use: `WINNOW_TEST_POSTGRES_URL`, a superuser's URL to a database of a throwaway
/// cluster (`make test` starts one with scripts/pg-cluster.sh). Each test gets a database of its own, so tests run in
/// parallel; the cluster and everything in it is removed with it.
public enum TestPostgres {
    public static let variable = "WINNOW_TEST_POSTGRES_URL"
    public static let missingMessage = "PostgreSQL tests need WINNOW_TEST_POSTGRES_URL (a superuser's database URL); make test starts a throwaway cluster and sets it"

    public static var url: String? {
        ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }

    public static var available: Bool { url != nil }

    /// In CI a missing cluster is a failure, not a reason to skip.
    public static var inCI: Bool { ProcessInfo.processInfo.environment["CI"].map { !$0.isEmpty } ?? false }

    /// Whether tests run on PostgreSQL too: when there is a cluster, and always in CI (where a missing one then fails
    /// every test that asks for a database).
    public static var included: Bool { available || inCI }

    public struct Missing: Error, CustomStringConvertible {
        public var description: String { TestPostgres.missingMessage }
    }

    /// A store on a fresh database of its own, for the conformance suite (its pool closes when it is released).
    public static func freshStore(poolSize: Int = 4) async throws -> PostgresStore {
        try await PostgresStore.connect(url: freshDatabase(), poolSize: poolSize)
    }

    /// The URL of a new, empty database on the test cluster (it goes with the cluster).
    public static func freshDatabase() async throws -> String {
        try await createDatabase().url
    }

    /// Runs `body` with a fresh database's URL, dropping the database afterwards (also when `body` throws).
    public static func withDatabase<T>(_ body: (String) async throws -> T) async throws -> T {
        let (url, drop) = try await createDatabase()
        do {
            let value = try await body(url)
            try await drop()
            return value
        } catch {
            try? await drop()
            throw error
        }
    }

    /// A new, empty database: its URL, and a function that drops it (closing whatever is still connected to it).
    static func createDatabase() async throws -> (url: String, drop: @Sendable () async throws -> Void) {
        guard let url else { throw Missing() }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        try await administer(url, "CREATE DATABASE \(name)")
        guard var components = URLComponents(string: url) else { throw StoreError.cannotOpen(path: PostgresLocation.withoutPassword(url), reason: "not a URL") }
        components.path = "/" + name
        components.query = nil
        guard let fresh = components.string else { throw StoreError.cannotOpen(path: PostgresLocation.withoutPassword(url), reason: "not a URL") }
        return (fresh, { try await administer(url, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)") })
    }

    /// One statement on its own connection to the database at `url` (CREATE and DROP DATABASE cannot run in a pool's
    /// transaction).
    public static func administer(_ url: String, _ sql: String) async throws {
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
