import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Services
import HTTPTypes
import Testing

@testable import Server
@testable import Storage

/// Request bodies are read strictly (issue 17): each case here was a 2xx, a 400 "not valid JSON" or a 500 before.
@Suite struct StrictBodyTests {
    /// Sends raw bytes with the given Content-Type (nil: none) and a feed key.
    func raw(_ h: Harness, _ uri: String, _ bytes: [UInt8], contentType: String?, as role: Role = .feed) async throws -> Harness.Answer {
        var headers: HTTPFields = [.authorization: "Bearer \(h.keys[role]!)"]
        if let contentType { headers[.contentType] = contentType }
        let fields = headers
        return try await h.app.test(.router) { client in
            try await client.execute(uri: uri, method: .post, headers: fields, body: ByteBuffer(bytes: bytes)) { response in
                Harness.Answer(status: response.status, body: String(buffer: response.body), headers: response.headers)
            }
        }
    }

    @Test func unknownFieldsAreRefusedWithTheNearestKnownNameAndNothingIsStored() async throws {
        let h = try await Harness()
        let item = try await h.post("/v1/items", #"{"id": "a", "text": "see you at six", "autor": {"id": "u1"}}"#)
        #expect(item.status == .unprocessableContent)
        #expect(item.error["code"] as? String == "unknown_field")
        #expect(item.error["field"] as? String == "autor")
        #expect(item.error["message"] as? String == "'autor' is not a field here; did you mean 'author'?")
        #expect(try await h.store.item(feed: "default", id: "a") == nil)
        // In a batch, by position; and on engagement and policies.
        let batch = try await h.post("/v1/items:batch", #"{"items": [{"id": "b", "text": "t"}, {"id": "c", "text": "t", "lang": "en"}]}"#)
        #expect(batch.error["field"] as? String == "items[1].lang")
        #expect(try await h.store.item(feed: "default", id: "b") == nil)
        #expect(try await h.post("/v1/items", #"{"id": "d", "text": "hello there"}"#).status == .created)
        let engagement = try await h.post("/v1/items/d/engagement", #"{"at": "2027-01-15T08:00:30Z", "likez": 3}"#)
        #expect(engagement.status == .unprocessableContent)
        #expect(engagement.error["field"] as? String == "likez")
        #expect((engagement.error["message"] as? String)?.hasSuffix("did you mean 'likes'?") == true)
        let policy = try await h.send(.put, "/v1/policies/default", as: .admin,
                                      body: #"{"rules": {"spam": {"review": 0.5, "remove": 0.9}}, "extra": 1}"#)
        #expect(policy.status == .unprocessableContent)
        #expect(policy.error["field"] as? String == "extra")
    }

    @Test func nullsRepeatedKeysAndNumbersThatDoNotFitAreNamed() async throws {
        let h = try await Harness()
        let null = try await h.post("/v1/items", #"{"id": "a", "text": "t", "createdAt": null}"#)
        #expect(null.status == .unprocessableContent)
        #expect(null.error["code"] as? String == "null_value")
        #expect(null.error["field"] as? String == "createdAt")
        let twice = try await h.post("/v1/items", #"{"id": "a", "text": "t", "id": "b"}"#)
        #expect(twice.status == .unprocessableContent)
        #expect(twice.error["code"] as? String == "duplicate_field")
        #expect(twice.error["field"] as? String == "id")
        #expect(try await h.post("/v1/items", #"{"id": "d", "text": "hello there"}"#).status == .created)
        for (body, field) in [(#"{"views": 99999999999999999999}"#, "views"), (#"{"views": 1.5}"#, "views"), (#"{"likes": 2.5e-1}"#, "likes")] {
            let answer = try await h.post("/v1/items/d/engagement", body)
            #expect(answer.status == .unprocessableContent, "\(body)")
            #expect(answer.error["code"] as? String == "invalid_type", "\(body)")
            #expect(answer.error["field"] as? String == field, "\(body)")
        }
    }

    @Test func aBodyMustBeSentAsJSONInUTF8() async throws {
        let h = try await Harness()
        let body = Array(#"{"id": "a", "text": "see you at six"}"#.utf8)
        for contentType in ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=utf-16"] {
            let answer = try await raw(h, "/v1/items", body, contentType: contentType)
            #expect(answer.status == .unsupportedMediaType, "\(contentType)")
            #expect(answer.error["code"] as? String == "unsupported_media_type")
        }
        #expect(try await raw(h, "/v1/items", body, contentType: nil).status == .unsupportedMediaType)
        let utf16 = Array(#"{"id": "a", "text": "t"}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
        let wide = try await raw(h, "/v1/items", utf16, contentType: "application/json")
        #expect(wide.status == .badRequest)
        #expect((wide.error["message"] as? String)?.contains("UTF-8") == true)
        #expect(try await h.store.item(feed: "default", id: "a") == nil)
        // The usual forms are accepted.
        #expect(try await raw(h, "/v1/items", body, contentType: "application/json; charset=UTF-8").status == .created)
    }

    @Test func idsThatCannotBeStoredAreRefusedWhereverTheyComeIn() async throws {
        let h = try await Harness()
        let rank = try await h.post("/v1/rank", #"{"items": ["ok", "bad\u0000id"]}"#)
        #expect(rank.status == .unprocessableContent)
        #expect(rank.error["field"] as? String == "items[1]")
        let labels = try await h.send(.post, "/v1/labels", as: .admin, body: #"{"labels": [{"id": "x\u0001", "label": "spam"}]}"#)
        #expect(labels.status == .unprocessableContent)
        #expect(labels.error["field"] as? String == "labels[0].id")
        let gold = try await h.send(.post, "/v1/review/gold", as: .admin, body: json(["id": String(repeating: "g", count: 300), "label": "spam"]))
        #expect(gold.status == .unprocessableContent)
        #expect(gold.error["field"] as? String == "id")
    }

    /// Issue 18: messages came back with `\/` escapes.
    @Test func messagesReadAsWrittenWithoutEscapedSlashes() async throws {
        let h = try await Harness()
        let missing = try await h.send(.get, "/v1/nothing/here", as: .feed)
        #expect(missing.status == .notFound)
        #expect(missing.body.contains("/openapi.yaml"))
        #expect(!missing.body.contains("\\/"))
    }

    @Test func aClaimNamingATierTwiceOrANegativeTicketIsRefused() async throws {
        let h = try await Harness()
        let tiers = try await h.send(.post, "/v1/review/claim", as: .moderator, body: json(["tiers": Array(repeating: 1, count: 1_000)]))
        #expect(tiers.status == .unprocessableContent)
        #expect(tiers.error["field"] as? String == "tiers")
        let excluded = try await h.send(.post, "/v1/review/claim", as: .moderator, body: #"{"excluding": [3, -1]}"#)
        #expect(excluded.status == .unprocessableContent)
        #expect(excluded.error["field"] as? String == "excluding[1]")
    }

    /// Issue 17: a full disk answered 500 `internal`. SQLite's page limit stands in for the disk here: its writes then
    /// fail with SQLITE_FULL, exactly as on a full disk.
    @Test func aFullDiskIsA507WithRetryAfterAndNothingIsHalfStored() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("winnow-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(path: folder.appendingPathComponent("full.sqlite").path)
        let h = try await Harness(store: store)
        try await store.writer.write { db in
            let pages = try Int.fetchOne(db, sql: "PRAGMA page_count") ?? 0
            try db.execute(sql: "PRAGMA max_page_count = \(pages + 2)")
        }
        var answer = try await h.post("/v1/items", json(["id": "item-0", "text": String(repeating: "words ", count: 1_500)]))
        var n = 0
        while answer.status == .created, n < 200 {
            n += 1
            answer = try await h.post("/v1/items", json(["id": "item-\(n)", "text": String(repeating: "words ", count: 1_500)]))
        }
        #expect(answer.status.code == 507, "\(answer.body)")
        #expect(answer.error["code"] as? String == "insufficient_storage")
        #expect(answer.headers.first(where: { $0.name.canonicalName == "retry-after" })?.value == "60")
        #expect(try await store.item(feed: "default", id: "item-\(n)") == nil)
    }
}

/// The bytes of bodies held while they arrive are bounded (outside testing: a hundred connections each sending all
/// but the end of a 16 MiB body held 1.7 GB): past each body's first 64 KiB they come from the server's budget, and a
/// large body that finds it spent is a 503 to retry, while small requests go on.
@Suite struct BodyBudgetTests {
    func request(_ body: String) -> Request {
        Request(head: HTTPRequest(method: .post, scheme: "http", authority: "winnow", path: "/v1/items"), body: .init(buffer: ByteBuffer(string: body)))
    }

    @Test func aLargeBodyFindingTheBudgetSpentIsA503AndSmallOnesGoOn() async throws {
        let budget = BodyBudget(capacity: 16 << 20)
        // Other requests hold all but 100 KiB of it.
        let others = budget.capacity - (100 << 10)
        #expect(budget.take(others))
        let large = String(repeating: "a", count: 300 << 10)
        await BodyBudget.$current.withValue(budget) {
            do {
                _ = try await JSON.body(of: request(large), limit: 1 << 20)
                Issue.record("a body past the budget was taken")
            } catch let error as APIError {
                #expect(error.status == .serviceUnavailable && error.code == "busy")
            } catch {
                Issue.record("\(error)")
            }
        }
        #expect(budget.used == others, "what the refused body held is given back")
        // A body within the allowance never asks the budget; one that fits in what is left is taken, then given back.
        let small = try await BodyBudget.$current.withValue(budget) { try await JSON.body(of: request(#"{"id": "s", "text": "hello"}"#), limit: 1 << 20) }
        #expect(small?.readableBytes == #"{"id": "s", "text": "hello"}"#.utf8.count)
        let fits = try await BodyBudget.$current.withValue(budget) { try await JSON.body(of: request(String(repeating: "b", count: 150 << 10)), limit: 1 << 20) }
        #expect(fits?.readableBytes == 150 << 10)
        #expect(budget.used == others)
        budget.give(others)
        #expect(budget.used == 0)
    }

    @Test func theBudgetIsConfiguredAndChecked() throws {
        var configuration = ServerConfiguration()
        #expect(configuration.maxBodyBytesInFlight == 256 << 20)
        configuration.maxBodyBytesInFlight = configuration.media.maxItemBodyBytes - 1
        #expect(throws: ConfigurationError.self) { try configuration.validate() }
    }
}
