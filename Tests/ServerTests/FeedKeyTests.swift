import Engine
import Foundation
import HTTPTypes
import Storage
import Testing

@testable import Server

/// Feed keys scoped to feeds (outside testing: any feed key read, appealed, reported and pushed engagement on every
/// other feed's items). Every feed route refuses another feed with a 403 naming `feed`, and a key of one feed needs
/// not name it.
@Suite struct FeedKeyTests {
    func send(_ h: Harness, _ method: HTTPRequest.Method, _ uri: String, key: String, _ body: String? = nil) async throws -> Harness.Answer {
        var headers: HTTPFields = [.authorization: "Bearer \(key)"]
        if body != nil { headers[.contentType] = "application/json" }
        return try await h.send(method, uri, as: nil, body: body, headers: headers)
    }

    @Test func aFeedKeyWorksItsFeedsOnly() async throws {
        let h = try await Harness()
        let news = try await APIKeys.create(name: "news-feed", role: .feed, feeds: ["news"], in: h.store)
        let media = try await APIKeys.create(name: "media-team", role: .feed, feeds: ["photos", "videos"], in: h.store)

        // The key of one feed: its feed without naming it, and only it.
        let mine = try await send(h, .post, "/v1/items", key: news, json(["id": "n1", "text": "see you at the station at six"]))
        #expect(mine.status == .created && mine.json["feed"] as? String == "news", "\(mine.body)")
        let theirs = try await send(h, .post, "/v1/items", key: news, json(["id": "p1", "feed": "photos", "text": "a photo of the bay"]))
        #expect(theirs.status == .forbidden && theirs.error["field"] as? String == "feed", "\(theirs.body)")
        #expect((theirs.error["message"] as? String)?.contains("works feed 'news', not 'photos'") == true, "\(theirs.body)")
        #expect(try await send(h, .post, "/v1/items", key: media, json(["id": "p1", "feed": "photos", "text": "a photo of the bay"])).status == .created)
        // A key of two feeds names one; without, it is told to (outside testing: a 403 said it did not work
        // 'default', which it had not named).
        let unnamed = try await send(h, .post, "/v1/items", key: media, json(["id": "p2", "text": "no feed named"]))
        #expect(unnamed.status == .unprocessableContent && unnamed.error["code"] as? String == "missing_field" && unnamed.error["field"] as? String == "feed")
        #expect(unnamed.error["message"] as? String == "Key 'media-team' works feeds 'photos', 'videos': name the feed (feed in the body; ?feed= on the routes of one item, /v1/items/{id}…, and on /v1/changes).", "\(unnamed.body)")

        // Every route that reads or changes an item.
        for (method, uri, body) in [
            (HTTPRequest.Method.get, "/v1/items/p1?feed=photos", nil),
            (.post, "/v1/items/p1/engagement?feed=photos", json(["views": 10])),
            (.post, "/v1/items/p1/reports?feed=photos", json(["reporter": "u1"])),
            (.post, "/v1/items/p1/appeal?feed=photos", json(["note": "from another feed's key"])),
            (.post, "/v1/items/p1/engagement", json(["feed": "photos", "views": 10])),
            (.post, "/v1/rank", json(["feed": "photos", "items": ["p1"]])),
            (.get, "/v1/changes?feed=photos", nil),
        ] as [(HTTPRequest.Method, String, String?)] {
            let answer = try await send(h, method, uri, key: news, body)
            #expect(answer.status == .forbidden && answer.error["field"] as? String == "feed", "\(method) \(uri): \(answer.status) \(answer.body)")
        }
        // Nothing reached the item: no engagement, report or ticket.
        let item = try await send(h, .get, "/v1/items/p1?feed=photos", key: media)
        #expect(item.status == .ok && (item.json["history"] as? [[String: Any]])?.count == 1, "\(item.body)")
        #expect(try await h.store.claim(ClaimRequest(reviewer: "r", count: 10), now: h.clock.now(), workflow: ReviewWorkflow(rules: h.service.rules), gold: false).isEmpty)

        // Its own feed's routes, the feed left out.
        #expect(try await send(h, .get, "/v1/items/n1", key: news).status == .ok)
        #expect(try await send(h, .post, "/v1/items/n1/engagement", key: news, json(["views": 10])).status == .ok)
        let changes = try await send(h, .get, "/v1/changes", key: news)
        #expect(changes.status == .ok, "\(changes.body)")
        #expect(try await send(h, .get, "/v1/changes", key: media).error["field"] as? String == "feed")

        // A batch with one item of another feed stores nothing and names it.
        let batch = try await send(h, .post, "/v1/items:batch", key: news, json(["items": [["id": "n2", "text": "fine"], ["id": "p3", "feed": "photos", "text": "not mine"]]]))
        #expect(batch.status == .forbidden && batch.error["field"] as? String == "items[1].feed", "\(batch.body)")
        #expect(try await send(h, .get, "/v1/items/n2", key: news).status == .notFound)

        // The metrics name every feed and count its items: not for a key kept to some feeds.
        let metrics = try await send(h, .get, "/metrics", key: news)
        #expect(metrics.status == .forbidden && (metrics.error["message"] as? String)?.contains("works feeds news only") == true, "\(metrics.body)")

        // An unscoped feed key and the admin work every feed, as before.
        #expect(try await h.send(.get, "/v1/items/p1?feed=photos", as: .feed).status == .ok)
        #expect(try await h.send(.get, "/metrics", as: .feed).status == .ok)
        #expect(try await h.send(.get, "/v1/items/n1?feed=news", as: .admin).status == .ok)
    }

    @Test func feedsAreForFeedKeysAndValid() async throws {
        let store = try SQLiteStore()
        await #expect(throws: ValidationError.self) { try await APIKeys.create(name: "m", role: .moderator, feeds: ["news"], in: store) }
        await #expect(throws: ValidationError.self) { try await APIKeys.create(name: "f", role: .feed, feeds: [], in: store) }
        await #expect(throws: ValidationError.self) { try await APIKeys.create(name: "g", role: .feed, feeds: ["Not A Feed"], in: store) }
        _ = try await APIKeys.create(name: "ok", role: .feed, feeds: ["b", "a"], in: store)
        #expect(try await store.keys().first { $0.name == "ok" }?.feeds == ["a", "b"])
    }
}

/// During a database outage a key this node knew stays known (outside testing: /metrics went 503 five seconds into a
/// PostgreSQL outage); a key it never saw is still the outage's 503.
@Suite struct KeyCacheTests {
    @Test func aKnownKeyOutlivesItsCacheWhileTheDatabaseIsDown() async throws {
        let cache = KeyCache()
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let record = APIKeyRecord(name: "ops", role: .admin, hash: "h", createdAt: start)
        #expect(try await cache.key("h", now: start, cacheSeconds: 5) { record } == record)
        let down = StoreError.unavailable(reason: "connection refused")
        #expect(try await cache.key("h", now: start.addingTimeInterval(60), cacheSeconds: 5) { throw down } == record)
        await #expect(throws: StoreError.self) { try await cache.key("other", now: start.addingTimeInterval(60), cacheSeconds: 5) { throw down } }
        // Back up: looked up again once the cache runs out (a revocation then counts).
        var revoked = record
        revoked.revokedAt = start
        #expect(try await cache.key("h", now: start.addingTimeInterval(120), cacheSeconds: 5) { revoked }?.revokedAt == start)
    }
}
