import Engine
import Foundation
import HTTPTypes
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
        #expect(imported.json["alreadyStored"] as? Int == 0)

        // The class it already has: nothing stored, the label as it is (it withdrew label 1 and stored a copy).
        let same = try await h.send(.post, "/v1/labels/1/correct", as: .admin, body: json(["label": "spam"]))
        #expect(same.status == .ok && (same.json["label"] as? [String: Any])?["id"] as? Int == 1, "\(same.body)")
        #expect((same.json["label"] as? [String: Any])?["withdrawnAt"] == nil)
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

    /// Outside testing: the same import sent twice (a retry whose answer was lost) stored every label again, and one
    /// request could give one item two labels; the CLI's import skipped the first and refused the second.
    @Test func anImportStoresEachLabelOnceAndAnItemOneLabel() async throws {
        let h = try await Harness()
        let two = try await h.send(.post, "/v1/labels", as: .admin,
                                   body: json(["labels": [["id": "a", "label": "spam"], ["id": "b", "label": "clear"], ["id": "a", "label": "clear"]]]))
        #expect(two.status == .unprocessableContent && two.error["field"] as? String == "labels[2]", "\(two.body)")
        #expect((two.error["message"] as? String)?.contains("labelled 'spam' (tier 1) at labels[0] and 'clear' (tier 1) here") == true, "\(two.body)")
        let tiers = try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": [["id": "a", "label": "spam"], ["id": "a", "label": "spam", "tier": 2]]]))
        #expect(tiers.status == .unprocessableContent && tiers.error["field"] as? String == "labels[1]", "\(tiers.body)")
        #expect((try await h.send(.get, "/v1/labels", as: .admin).json["labels"] as? [Any])?.count == 0)  // refused whole

        let body = json(["labels": [["id": "a", "label": "spam"], ["id": "b", "label": "clear"], ["id": "a", "label": "spam"]]])
        let first = try await h.send(.post, "/v1/labels", as: .admin, body: body)
        #expect(first.status == .created && first.json["alreadyStored"] as? Int == 0, "\(first.body)")
        #expect((first.json["labels"] as? [[String: Any]])?.compactMap { $0["itemId"] as? String } == ["a", "b"])
        // Sent again: nothing new, nothing created.
        let again = try await h.send(.post, "/v1/labels", as: .admin, body: body)
        #expect(again.status == .ok && again.json["alreadyStored"] as? Int == 2 && (again.json["labels"] as? [Any])?.isEmpty == true, "\(again.body)")
        // Another class for a, or a in another feed, is a new judgement; b withdrawn and imported again is stored again.
        #expect(try await h.send(.post, "/v1/labels/2/withdraw", as: .admin).status == .ok)
        let changed = try await h.send(.post, "/v1/labels", as: .admin,
                                       body: json(["labels": [["id": "a", "label": "clear"], ["feed": "news", "id": "a", "label": "spam"], ["id": "b", "label": "clear"]]]))
        #expect(changed.status == .created && changed.json["alreadyStored"] as? Int == 0, "\(changed.body)")
        #expect((changed.json["labels"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [3, 4, 5])
        #expect((try await h.send(.get, "/v1/labels", as: .admin).json["labels"] as? [Any])?.count == 5)
        // "café" composed and decomposed are two ids (Swift's == takes them for one string): two items, two labels.
        let accents = json(["labels": [["id": "caf\u{E9}", "label": "spam"], ["id": "cafe\u{301}", "label": "clear"]]])
        let twoItems = try await h.send(.post, "/v1/labels", as: .admin, body: accents)
        #expect(twoItems.status == .created && (twoItems.json["labels"] as? [Any])?.count == 2, "\(twoItems.body)")
        let accentsAgain = try await h.send(.post, "/v1/labels", as: .admin, body: accents)
        #expect(accentsAgain.status == .ok && accentsAgain.json["alreadyStored"] as? Int == 2, "\(accentsAgain.body)")
        // Changed back: clear, spam, clear. The third is stored (the latest label counts); it was taken for a repeat
        // of the first, and spam stood (outside testing).
        for (label, status) in [("clear", HTTPResponse.Status.created), ("spam", .created), ("clear", .created), ("clear", .ok)] {
            let answer = try await h.send(.post, "/v1/labels", as: .admin, body: json(["labels": [["id": "flip", "label": label]]]))
            #expect(answer.status == status, "\(label): \(answer.body)")
        }
    }
}
