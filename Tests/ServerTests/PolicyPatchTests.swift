import Foundation
import HTTPTypes
import Testing

@testable import Server

/// Issue 18: `PUT /v1/policies/{feed}` replaces the whole policy, so `{"rules": {"spam": …}}` silently dropped every
/// other class's rule. PATCH takes a JSON merge patch, and every change's answer names what it removed.
@Suite struct PolicyPatchTests {
    static let mergePatch: HTTPFields = [.contentType: "application/merge-patch+json"]

    func patch(_ h: Harness, _ body: String, headers: HTTPFields = mergePatch) async throws -> Harness.Answer {
        try await h.send(.patch, "/v1/policies/news", as: .admin, body: body, headers: headers)
    }

    func rules(_ answer: Harness.Answer) -> [String: [String: Double]] {
        ((answer.json["policy"] as? [String: Any])?["rules"] as? [String: [String: Double]]) ?? [:]
    }

    @Test func aPutAnswerNamesTheRulesItRemoved() async throws {
        let h = try await Harness()
        let put = try await h.send(.put, "/v1/policies/news", body: json(["rules": ["harm": ["review": 0.6, "remove": 0.95]]]))
        #expect(put.status == .ok)
        #expect(put.json["removedRules"] as? [String] == ["spam"])  // the standard policy's rule for spam is gone
        #expect(put.json["replacedVersion"] as? Int == 0)
        #expect(rules(put) == ["harm": ["review": 0.6, "remove": 0.95]])
    }

    @Test func aMergePatchChangesOnlyWhatItNames() async throws {
        let h = try await Harness()
        _ = try await h.send(.put, "/v1/policies/news", body: json(["rules": ["harm": ["review": 0.6, "remove": 0.95]], "reviewThinRemovals": false]))

        let added = try await patch(h, json(["rules": ["spam": ["demote": 0.3, "remove": 0.9]]]))
        #expect(added.status == .ok, "\(added.body)")
        #expect(rules(added) == ["harm": ["review": 0.6, "remove": 0.95], "spam": ["demote": 0.3, "remove": 0.9]])
        #expect((added.json["policy"] as? [String: Any])?["reviewThinRemovals"] as? Bool == false)  // untouched
        #expect(added.json["removedRules"] as? [String] == [])
        #expect(added.json["replacedVersion"] as? Int == 1)
        #expect((added.json["policy"] as? [String: Any])?["version"] as? Int == 2)

        // null removes: one cut-off, then a whole rule.
        let cutOff = try await patch(h, #"{"rules": {"spam": {"demote": null}}}"#)
        #expect(rules(cutOff)["spam"] == ["remove": 0.9])
        let removed = try await patch(h, #"{"rules": {"harm": null}}"#)
        #expect(removed.json["removedRules"] as? [String] == ["harm"])
        #expect(rules(removed) == ["spam": ["remove": 0.9]])
        // plain application/json is taken too
        let plain = try await patch(h, #"{"relevance": {"halfLifeHours": 12}}"#, headers: [:])
        #expect(plain.status == .ok, "\(plain.body)")
        #expect(rules(plain) == ["spam": ["remove": 0.9]])
        #expect(try await h.send(.get, "/v1/policies/news").json["policy"].flatMap { ($0 as? [String: Any])?["version"] as? Int } == 5)
    }

    /// Outside testing: two admins' PATCHes at once each answered 200 and only one change was kept, both naming the
    /// same replaced version. Each is applied to the newest policy as a compare-and-set: every change is kept, and each
    /// answer names the version it really replaced.
    @Test func patchesAtOnceAreAllAppliedOneAfterTheOther() async throws {
        let h = try await Harness()
        _ = try await h.send(.put, "/v1/policies/news", body: json(["rules": ["spam": ["remove": 0.9]]]))
        let patches = [#"{"relevance": {"qualityWeight": 2}}"#, #"{"relevance": {"engagementWeight": 3}}"#, #"{"relevance": {"halfLifeHours": 12}}"#,
                       #"{"relevance": {"z": 2.5}}"#, #"{"reviewThinRemovals": false}"#, #"{"rules": {"spam": {"demote": 0.3}}}"#]
        let answers = try await withThrowingTaskGroup(of: Harness.Answer.self) { group in
            for body in patches { group.addTask { try await patch(h, body) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(answers.allSatisfy { $0.status == .ok }, "\(answers.map(\.body))")
        let versions = answers.compactMap { ($0.json["policy"] as? [String: Any])?["version"] as? Int }.sorted()
        #expect(versions == [2, 3, 4, 5, 6, 7])
        for answer in answers {
            let version = (answer.json["policy"] as? [String: Any])?["version"] as? Int ?? 0
            #expect(answer.json["replacedVersion"] as? Int == version - 1, "\(answer.body)")
        }
        let final = try #require(try await h.send(.get, "/v1/policies/news").json["policy"] as? [String: Any])
        let relevance = final["relevance"] as? [String: Double] ?? [:]
        #expect(relevance["qualityWeight"] == 2 && relevance["engagementWeight"] == 3 && relevance["halfLifeHours"] == 12 && relevance["z"] == 2.5,
                "\(final)")
        #expect(final["reviewThinRemovals"] as? Bool == false)
        #expect((final["rules"] as? [String: [String: Double]])?["spam"] == ["demote": 0.3, "remove": 0.9])
    }

    @Test func aPatchThatLeavesABadPolicyIsRefusedNamingTheFieldAndChangesNothing() async throws {
        let h = try await Harness()
        _ = try await h.send(.put, "/v1/policies/news", body: json(["rules": ["spam": ["review": 0.6, "remove": 0.95]]]))
        let outOfRange = try await patch(h, #"{"rules": {"spam": {"remove": 2}}}"#)
        #expect(outOfRange.status == .unprocessableContent)
        #expect(outOfRange.error["field"] as? String == "rules.spam.remove")
        let outOfOrder = try await patch(h, #"{"rules": {"spam": {"review": 0.99}}}"#)
        #expect(outOfOrder.status == .unprocessableContent && outOfOrder.error["field"] as? String == "rules.spam")
        let typo = try await patch(h, #"{"rulez": {}}"#)
        #expect(typo.status == .unprocessableContent && typo.error["code"] as? String == "unknown_field")
        #expect((typo.error["message"] as? String)?.contains("'rules'") == true)
        let otherFeed = try await patch(h, #"{"feed": "sports"}"#)
        #expect(otherFeed.status == .unprocessableContent && otherFeed.error["field"] as? String == "feed")
        let notAnObject = try await patch(h, "[1]")
        #expect(notAnObject.status == .unprocessableContent && notAnObject.error["field"] as? String == "body")
        let text = try await patch(h, #"{"rules": {}}"#, headers: [.contentType: "text/plain"])
        #expect(text.status == .unsupportedMediaType)
        // A null that removes nothing: a misspelt field or rule is named (RFC 7396 would ignore it, and a version was
        // stored); a known optional field left unset, or a patch that changes nothing, stores no new version.
        let nullTypo = try await patch(h, #"{"rulse": null}"#)
        #expect(nullTypo.status == .unprocessableContent && nullTypo.error["code"] as? String == "unknown_field", "\(nullTypo.body)")
        #expect((nullTypo.error["message"] as? String)?.contains("did you mean 'rules'?") == true, "\(nullTypo.body)")
        let noRule = try await patch(h, #"{"rules": {"spma": null}}"#)
        #expect(noRule.status == .unprocessableContent && noRule.error["field"] as? String == "rules.spma", "\(noRule.body)")
        #expect(noRule.error["message"] as? String == "'rules.spma' is not in feed news's policy, so there is nothing to remove; GET /v1/policies/news shows it.")
        // A rule on the clear class would act on posts for being harmless (outside testing: it was stored, and removed
        // benign posts).
        let onClear = try await patch(h, #"{"rules": {"clear": {"remove": 0.9}}}"#)
        #expect(onClear.status == .unprocessableContent && onClear.error["field"] as? String == "rules.clear", "\(onClear.body)")
        #expect((onClear.error["message"] as? String)?.contains("would act on posts for being harmless") == true, "\(onClear.body)")
        let cutOffTypo = try await patch(h, #"{"rules": {"spam": {"remvoe": null}}}"#)
        #expect(cutOffTypo.status == .unprocessableContent && cutOffTypo.error["code"] as? String == "unknown_field", "\(cutOffTypo.body)")
        for idle in [#"{}"#, #"{"rules": {"spam": {"demote": null}}}"#, #"{"rules": {"spam": {"remove": 0.95}}}"#] {
            let same = try await patch(h, idle)
            #expect(same.status == .ok && same.json["replacedVersion"] == nil, "\(idle): \(same.body)")
            #expect((same.json["policy"] as? [String: Any])?["version"] as? Int == 1, "\(idle): \(same.body)")
        }
        let policy = try await h.send(.get, "/v1/policies/news").json["policy"] as? [String: Any]
        #expect(policy?["version"] as? Int == 1)
        #expect(policy?["rules"] as? [String: [String: Double]] == ["spam": ["review": 0.6, "remove": 0.95]])
    }

    @Test func onlyAdminsPatch() async throws {
        let h = try await Harness()
        let answer = try await h.send(.patch, "/v1/policies/news", as: .feed, body: #"{"rules": {}}"#, headers: Self.mergePatch)
        #expect(answer.status == .forbidden)
    }
}
