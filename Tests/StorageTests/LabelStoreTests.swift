import Engine
import Foundation
import Testing

@testable import Storage

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

@Suite struct LabelResolutionTests {
    func label(_ id: Int64, _ value: String, tier: Int = 1, at seconds: Double, withdrawn: Bool = false) -> LabelRecord {
        LabelRecord(id: id, feed: "default", itemID: "a", label: value, source: "review", by: "r", at: t0.addingTimeInterval(seconds), tier: tier,
                    withdrawnAt: withdrawn ? t0 : nil)
    }

    @Test func tierTwoBeatsTierOneThenTheLatestWinsAndWithdrawnNeverCounts() {
        #expect(LabelResolution.resolve([label(1, "spam", at: 0), label(2, "clear", at: 10)])?.label == "clear")
        #expect(LabelResolution.resolve([label(1, "spam", tier: 2, at: 0), label(2, "clear", at: 10)])?.label == "spam")
        #expect(LabelResolution.resolve([label(1, "spam", tier: 2, at: 0, withdrawn: true), label(2, "clear", at: 10)])?.label == "clear")
        #expect(LabelResolution.resolve([label(1, "spam", at: 5), label(2, "clear", at: 5)])?.id == 2)  // same time: the later row
        #expect(LabelResolution.resolve([label(1, "spam", at: 0, withdrawn: true)]) == nil)
        #expect(LabelResolution.resolve([]) == nil)
    }

    /// What an import that repeats itself leaves alone: per item and tier, the latest live label, when it is the
    /// importer's import. One a later label replaced does not stand (clear, spam, clear: the third is new).
    @Test func anImportStandsUntilALaterLabelReplacesIt() {
        func imported(_ id: Int64, _ item: String, _ value: String, by: String = "team", tier: Int = 1, source: String = "import",
                      withdrawn: Bool = false) -> LabelRecord {
            LabelRecord(id: id, feed: "default", itemID: item, label: value, source: source, by: by, at: t0, tier: tier, withdrawnAt: withdrawn ? t0 : nil)
        }
        let labels = [
            imported(1, "a", "clear"), imported(2, "a", "spam"),  // a: spam stands
            imported(3, "b", "spam"), imported(4, "b", "clear", by: "ann", source: "review"),  // b: a reviewer's label replaced it
            imported(5, "c", "spam"), imported(6, "c", "clear", withdrawn: true),  // c: the withdrawn one does not count
            imported(7, "d", "spam", by: "other"),  // d: another importer's
            imported(8, "e", "spam", tier: 2), imported(9, "e", "clear"),  // e: one per tier
            imported(10, "caf\u{E9}", "spam"), imported(11, "cafe\u{301}", "clear"),  // two ids, though Swift's == says one
        ]
        let standing = LabelResolution.standingImports(labels, by: "team").compactMap(\.id).sorted()
        #expect(standing == [2, 5, 8, 9, 10, 11])
        #expect(LabelResolution.standingImports([], by: "team").isEmpty)
    }
}

@Suite struct LabelStoreTests {
    @Test(arguments: StoreKind.all) func labelsAreWithdrawnAndCorrectedWithoutLosingARow(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0)])
        let stored = try await store.addLabels([
            LabelRecord(feed: "default", itemID: "a", label: "spam", source: "import", by: "team", at: t0),
            LabelRecord(feed: "default", itemID: "elsewhere", label: "clear", source: "import", by: "team", at: t0),
        ])
        #expect(stored.map(\.id) == [1, 2])
        // The retraining trigger's count: labels of stored items only (outside testing: labels of items the store
        // does not hold started passes with nothing new to train on).
        #expect(try await store.labelCount(after: 0, feed: nil, atMost: 10) == 1)
        #expect(try await store.labelCount(after: 1, feed: "default", atMost: 10) == 0)
        #expect(try await store.labelCount(after: 0, feed: "news", atMost: 10) == 0)
        guard case let .corrected(withdrawn, corrected)? = try await store.correctLabel(id: 1, label: "clear", by: "lead", at: t0.addingTimeInterval(60)) else {
            Issue.record("label 1 was not corrected")
            return
        }
        #expect(withdrawn.id == 1)
        // The second correction of label 1 finds it withdrawn and stores nothing.
        #expect(try await store.correctLabel(id: 1, label: "spam", by: "other", at: t0.addingTimeInterval(61)) == .alreadyWithdrawn(
            LabelRecord(id: 1, feed: "default", itemID: "a", label: "spam", source: "import", by: "team", at: t0, withdrawnAt: t0.addingTimeInterval(60),
                        withdrawnBy: "lead")))
        #expect(corrected.replaces == 1 && corrected.label == "clear" && corrected.by == "lead" && corrected.source == "import")
        let all = try await store.labels(since: nil, after: nil, limit: 10)
        #expect(all.count == 3)
        #expect(try await store.labelCount(after: 0, feed: nil, atMost: 10) == 2)  // 1 and its correction, 3
        #expect(try await store.labelCount(after: 0, feed: nil, atMost: 1) == 1)
        #expect(try await store.labelCount(after: 1, feed: "default", atMost: 10) == 1)
        #expect(all[0].withdrawnAt == t0.addingTimeInterval(60) && all[0].withdrawnBy == "lead")
        // One label counts per item; only stored items have text.
        let resolved = try await store.resolvedLabels(since: nil)
        #expect(resolved.map(\.label.id) == [2, 3])
        #expect(resolved.map(\.text) == [nil, "text of a"])
        #expect(try await store.resolvedLabels(since: t0.addingTimeInterval(30)).map(\.label.id) == [3])
        // Withdrawing the correction leaves the item unlabelled; withdrawing twice changes nothing.
        _ = try await store.withdrawLabel(id: 3, by: "lead", at: t0.addingTimeInterval(120))
        let again = try await store.withdrawLabel(id: 3, by: "other", at: t0.addingTimeInterval(180))
        #expect(again?.label.withdrawnBy == "lead" && again?.changed == false)
        #expect(try await store.resolvedLabels(since: nil).map(\.label.id) == [2])
        #expect(try await store.withdrawLabel(id: 99, by: "lead", at: t0) == nil)
        #expect(try await store.correctLabel(id: 99, label: "spam", by: "lead", at: t0) == nil)
        // Paging.
        #expect(try await store.labels(since: nil, after: 1, limit: 1).map(\.id) == [2])
        // One item's labels, withdrawn ones too, oldest first; another item's or feed's are not among them.
        #expect(try await store.labels(feed: "default", itemID: "a").map(\.id) == [1, 3])
        #expect(try await store.labels(feed: "default", itemID: "a").map(\.withdrawnBy) == ["lead", "lead"])
        #expect(try await store.labels(feed: "news", itemID: "a").isEmpty)
        // Several items at once: each one's, oldest first across them, an id named twice read once.
        #expect(try await store.labels(feed: "default", itemIDs: ["elsewhere", "a", "a", "none"]).map(\.id) == [1, 2, 3])
        #expect(try await store.labels(feed: "default", itemIDs: []).isEmpty)
        let many = (0..<2_500).map { "x\($0)" } + ["elsewhere"]
        #expect(try await store.labels(feed: "default", itemIDs: many).map(\.id) == [2])
    }

    @Test(arguments: StoreKind.all) func aDecisionsLabelKeepsTheTierAndTheModelsAnswer(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.inReview("a", spam: 0.6, at: t0)])
        let view = try await store.claim(ClaimRequest(reviewer: "ann"), now: t0, workflow: Items.workflow, gold: false)[0]
        _ = try await store.escalate(ticket: view.ticket.id, reviewer: "ann", version: nil, note: "unsure", now: t0, workflow: Items.workflow)
        let senior = try await store.claim(ClaimRequest(reviewer: "sam", tiers: [.two]), now: t0, workflow: Items.workflow, gold: false)[0]
        _ = try await store.decide(ticket: senior.ticket.id, reviewer: "sam", decision: TicketDecision(label: "clear", reasonCode: "not_violating"),
                                   action: .allow, now: t0, workflow: Items.workflow)
        let label = try #require(try await store.labels(since: nil, after: nil, limit: 10).first)
        #expect(label.tier == 2 && label.source == "review" && label.by == "sam" && label.label == "clear")
        #expect(label.modelLabel == "spam" && label.modelVersion == "m1")
        #expect(abs((label.modelProbability ?? 0) - 0.6) < 1e-12)
    }

    @Test(arguments: StoreKind.all) func engagementTrainingUsesTheLabelThatCounts(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        _ = try await store.createItems([Items.new("a", at: t0)])
        _ = try await store.recordEngagement(feed: "default", id: "a", snapshot: EngagementSnapshot(at: t0, counters: Engagement(views: 10))) { _ in nil }
        let labels = try await store.addLabels([
            LabelRecord(feed: "default", itemID: "a", label: "spam", source: "review", by: "senior", at: t0, tier: 2),
            LabelRecord(feed: "default", itemID: "a", label: "clear", source: "review", by: "junior", at: t0.addingTimeInterval(60)),
        ])
        #expect(try await store.labelledItemsWithEngagement().map(\.label) == ["spam"])
        _ = try await store.withdrawLabel(id: labels[0].id!, by: "lead", at: t0)
        #expect(try await store.labelledItemsWithEngagement().map(\.label) == ["clear"])
    }
}
