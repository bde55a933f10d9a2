import Engine
import Foundation
import Storage

/// The PostgreSQL server the tests use: `WINNOW_TEST_POSTGRES_URL` names a superuser's database on a throwaway
/// cluster (`make test` starts one with scripts/pg-cluster.sh). Each store a test opens gets a database of its own,
/// created from that connection, so tests stay isolated and run in parallel; the cluster is removed with them.
public enum TestPostgres {
    public static var url: String? { ProcessInfo.processInfo.environment["WINNOW_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 } }
    public static var available: Bool { url != nil }
    /// Whether tests run on PostgreSQL too: when a server is named, and always in CI, where a missing server fails.
    public static var included: Bool { available || ProcessInfo.processInfo.environment["CI"] != nil }

    public struct Unavailable: Error, CustomStringConvertible {
        public var description: String {
            "PostgreSQL tests need WINNOW_TEST_POSTGRES_URL (a superuser's database URL); make test starts a throwaway cluster and sets it."
        }
    }

    /// The URL of a new, empty database on the test server.
    public static func freshDatabase() async throws -> String {
        guard let url else { throw Unavailable() }
        let name = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
        let admin = try await PostgresStore.connect(url: url, poolSize: 1)
        try await admin.createDatabase(name)
        await admin.close()
        guard var components = URLComponents(string: url) else { throw Unavailable() }
        components.path = "/" + name
        return components.string!
    }

    /// A store on a new, empty database (closed when released).
    public static func freshStore(poolSize: Int = 4) async throws -> PostgresStore {
        try await PostgresStore.connect(url: try await freshDatabase(), poolSize: poolSize)
    }
}
