import Engine
import Foundation
import Learning
import Logging
import Testing

@testable import Server
@testable import Services
@testable import Storage
import TestSupport

/// Two nodes (two scoring services, each with its own caches and registry folder) on one database: what one changes,
/// the other takes over on its next sync pass, and not before.
@Suite struct SharedStateTests {
    struct Node {
        let service: ScoringService
        let registry: ModelRegistry
        let sync: SharedStateSync
    }

    static func node(_ store: any Store) async throws -> Node {
        let service = ScoringService(store: store, engine: ScoringEngine(), model: try ActiveModel(model: Fixture.model, source: "fixture"))
        try await service.start()
        // Each node has its own registry folder: a version registered on one is loaded on the other from the database.
        let folder = Scratch.path("node").path
        let registry = ModelRegistry(scoring: service, directory: folder)
        return Node(service: service, registry: registry, sync: SharedStateSync(registry: registry, interval: .seconds(1), logger: Logger(label: "test")))
    }

    /// Two stores on one database: an SQLite file opened twice, or two PostgreSQL connection pools.
    static func sharedDatabase(postgres: Bool) async throws -> (any Store, any Store) {
        if postgres {
            let url = try await TestPostgres.freshDatabase()
            return (try await PostgresStore.connect(url: url, poolSize: 2), try await PostgresStore.connect(url: url, poolSize: 2))
        }
        let path = Scratch.path("shared.sqlite").path
        return (try SQLiteStore(path: path), try SQLiteStore(path: path))
    }

    @Test(arguments: TestPostgres.included ? [false, true] : [false])
    func aPromotionAndAPolicySavedOnOneNodeHoldOnTheOtherAfterItsNextSync(postgres: Bool) async throws {
        let (storeA, storeB) = try await Self.sharedDatabase(postgres: postgres)
        let a = try await Self.node(storeA)
        let b = try await Self.node(storeB)

        let second = ModelRegistryTests.second
        _ = try await a.registry.register(try second.serialized(), by: "admin")
        try await a.registry.promote("fixture-2", by: "admin")
        #expect(a.service.model.version == "fixture-2")
        #expect(b.service.model.version == "fixture-1")
        // The file is read from the database: node A's registry folder is gone.
        try FileManager.default.removeItem(atPath: a.registry.directory)
        #expect(try await b.sync.syncOnce() == "fixture-2")
        #expect(b.service.model.version == "fixture-2")
        #expect(try await b.sync.syncOnce() == nil)

        var policy = b.service.policy(feed: "news")
        #expect(policy.version == 0)
        policy.rules["spam"] = ClassRule(demote: 0.4, review: 0.6, remove: 0.9)
        let saved = try await a.service.savePolicy(policy, by: "admin")
        #expect(b.service.policy(feed: "news").version == 0)
        try await b.sync.syncOnce()
        #expect(b.service.policy(feed: "news") == saved)

        try await a.registry.rollback(by: "admin")
        #expect(try await b.sync.syncOnce() == "fixture-1")
        #expect(b.service.model.version == "fixture-1")
    }
}
