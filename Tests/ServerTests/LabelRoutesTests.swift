import Engine
import Foundation
import Testing

@testable import Server
@testable import Services

@Suite struct LabelRoutesTests {
    @Test func adminsImportListWithdrawAndCorrectLabels() async throws {
        let h = try await Harness()
        #expect(try await h.post("/v1/items", json(["id": "a", "text": "free cash prize call now"])).status == .created)
        #expect(try await h.send(.get, "/v1/labels", as: .moderator).status == .forbidden)
        let bad = try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": [["id": "a", "label": "spam"], ["id": "b", "label": "ham"]]]))
        #expect(bad.status == .unprocessableContent && bad.error["field"] as? String == "labels[1].label")
        #expect(try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": [["id": "", "label": "spam"]]])).error["field"] as? String == "labels[0].id")
        #expect(try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": [["id": "a", "label": "spam", "tier": 3]]])).error["field"] as? String == "labels[0].tier")
        #expect(try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": []])).error["field"] as? String == "labels")

        let imported = try await h.send(.post, "/v1/labels", as: .admin,
                                        body: json(["labels": [["id": "a", "label": "spam"], ["feed": "news", "id": "x", "label": "clear", "tier": 2]]]))
        #expect(imported.status == .created)
        let rows = imported.json["labels"] as? [[String: Any]] ?? []
        #expect(rows.map { $0["itemId"] as? String } == ["a", "x"])
        #expect(rows.map { $0["source"] as? String } == ["import", "import"])
        #expect(rows.map { $0["by"] as? String } == ["test-admin", "test-admin"])
        #expect(rows[1]["tier"] as? Int == 2 && rows[1]["feed"] as? String == "news")

        let corrected = try await h.send(.post, "/v1/labels/1/correct", as: .admin, body: json(["label": "clear"]))
        #expect(corrected.status == .created)
        #expect((corrected.json["label"] as? [String: Any])?["replaces"] as? Int == 1)
        #expect(try await h.send(.post, "/v1/labels/1/correct", as: .admin, body: json(["label": "ham"])).error["field"] as? String == "label")
        // Label 1 is withdrawn now: correcting it again would leave two live labels for the item (3 and a new one).
        let twice = try await h.send(.post, "/v1/labels/1/correct", as: .admin, body: json(["label": "spam"]))
        #expect(twice.status == .conflict && (twice.error["message"] as? String)?.hasPrefix("Label 1 was withdrawn at ") == true, "\(twice.body)")
        #expect((twice.error["message"] as? String)?.contains("correct the label of item 'a' that is live now") == true, "\(twice.body)")
        let withdrawn = try await h.send(.post, "/v1/labels/2/withdraw", as: .admin)
        #expect((withdrawn.json["label"] as? [String: Any])?["withdrawnBy"] as? String == "test-admin")
        #expect(try await h.send(.post, "/v1/labels/99/withdraw", as: .admin).status == .notFound)

        let first = try await h.send(.get, "/v1/labels?limit=2", as: .admin).json
        #expect((first["labels"] as? [[String: Any]])?.count == 2)
        let after = try #require(first["nextAfter"] as? Int)
        let second = try await h.send(.get, "/v1/labels?limit=2&after=\(after)", as: .admin).json
        #expect((second["labels"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [3])
        #expect(second["nextAfter"] == nil)
        #expect(try await h.send(.get, "/v1/labels?since=yesterday", as: .admin).error["field"] as? String == "since")
        let future = try await h.send(.get, "/v1/labels?since=2100-01-01T00:00:00Z", as: .admin).json
        #expect((future["labels"] as? [Any])?.isEmpty == true)
    }
}
