import Engine
import Foundation
import Logging
import Synchronization

/// Every human judgement of an item: imports, withdrawals and corrections, and — with online learning on — the
/// update of the active model each of them (and each reviewer's decision) makes. The HTTP routes of `/v1/labels` and
/// the review desk go through it.
public struct LabelService: Sendable {
    public let scoring: ScoringService
    /// Set when online learning is on.
    public let learner: OnlineLearner?
    let logger: Logger

    public init(scoring: ScoringService, learner: OnlineLearner? = nil, logger: Logger = Logger(label: "winnow.labels")) {
        self.scoring = scoring
        self.learner = learner
        self.logger = logger
    }

    var store: any Store { scoring.store }

    /// One label to import, as a client sends it.
    public struct Entry: Sendable {
        public var feed: String
        public var id: String
        public var label: String
        public var tier: Int

        public init(feed: String = "default", id: String, label: String, tier: Int = 1) {
            self.feed = feed
            self.id = id
            self.label = label
            self.tier = tier
        }
    }

    /// Labels in id order, `limit` of them after the label id `after`, made at or after `since`.
    public func list(since: Date?, after: Int64?, limit: Int) async throws -> [LabelRecord] {
        try await store.labels(since: since, after: after, limit: limit)
    }

    /// Stores imported labels (all or none): each names a class of the active model, tier 1 or 2, a valid feed and
    /// item id.
    /// - Throws: `ValidationError` naming the first bad entry's field (`labels[i].label`, ...).
    public func importLabels(_ entries: [Entry], by: String) async throws -> ImportOutcome {
        guard !entries.isEmpty else { throw ValidationError(field: "labels", "send at least one label") }
        let now = scoring.clock()
        var records: [LabelRecord] = []
        records.reserveCapacity(entries.count)
        // One item, one label an import: an item named twice with two classes cannot be told which is meant (the
        // API stored both, outside testing; the CLI's import refuses such a file too).
        var firstOf: [ItemKey: Int] = [:]
        for (i, entry) in entries.enumerated() {
            try ValidationError.checkItemID(entry.id, field: "labels[\(i)].id")
            try checkClass(entry.label, field: "labels[\(i)].label")
            guard [1, 2].contains(entry.tier) else { throw ValidationError(field: "labels[\(i)].tier", "tier is 1 or 2") }
            guard Policy.isValidFeed(entry.feed) else { throw ValidationError(field: "labels[\(i)].feed", PolicyError.invalidFeed(entry.feed).description) }
            let key = ItemKey(feed: entry.feed, id: entry.id)
            if let earlier = firstOf[key] {
                let first = entries[earlier]
                guard first.label == entry.label, first.tier == entry.tier else {
                    throw ValidationError(field: "labels[\(i)]", "item '\(entry.id.prefix(100))' of feed \(entry.feed) is labelled '\(first.label)' (tier \(first.tier)) at labels[\(earlier)] and '\(entry.label)' (tier \(entry.tier)) here; an import gives an item one label: keep one")
                }
                continue  // the same label twice: stored once
            }
            firstOf[key] = i
            records.append(LabelRecord(feed: entry.feed, itemID: entry.id, label: entry.label, source: "import", by: by, at: now, tier: entry.tier))
        }
        // A label that stands as this importer stored it (the item's latest live label at that tier: theirs, the same
        // class) is not stored again: importing a file twice, or retrying an import whose answer was lost, doubled
        // every label (outside testing). One that a later label replaced is stored again (clear, spam, clear: the
        // last import counts).
        var earlier: [LabelRecord] = []
        for (feed, group) in Dictionary(grouping: records, by: \.feed) {
            earlier += try await store.labels(feed: feed, itemIDs: group.map(\.itemID))
        }
        let standing = Set(LabelResolution.standingImports(earlier, by: by).map(ItemLabel.init))
        let fresh = records.filter { !standing.contains(ItemLabel($0)) }
        let stored = fresh.isEmpty ? [] : try await store.addLabels(fresh)
        await learnOnline(learn: stored, by: by)
        return ImportOutcome(stored: stored, alreadyStored: records.count - fresh.count)
    }

    /// What an import stored, and how many of its labels were there before (the importer's own, the same way).
    public struct ImportOutcome: Sendable {
        public var stored: [LabelRecord]
        public var alreadyStored: Int
    }

    /// Ids compare by their bytes, as the store compares them: Swift's `==` takes "café" composed and decomposed for
    /// one string, where they are two items.
    private struct ItemKey: Hashable {
        var feed: String
        var id: [UInt8]
        init(feed: String, id: String) { (self.feed, self.id) = (feed, Array(id.utf8)) }
    }

    private struct ItemLabel: Hashable {
        var item: ItemKey, label: String, tier: Int
        init(_ record: LabelRecord) { (item, label, tier) = (ItemKey(feed: record.feed, id: record.itemID), record.label, record.tier) }
    }

    /// Withdraws label `id` (it stays in the history); nil when there is no such label. When the item's reviewed
    /// decision stands on it, no person's decision stands any more: the policy decides again, a ticket opens if it asks
    /// for review (`ReviewRules.withdrawal`), and the feed is told (a decision event).
    public func withdraw(id: Int64, by: String) async throws -> LabelRecord? {
        let scoring = self.scoring, rules = scoring.rules, classes = scoring.model.classes, now = scoring.clock()
        let event = Mutex<DecisionEvent?>(nil)
        guard let (label, changed) = try await store.withdrawLabel(id: id, by: by, at: now, revise: { item, withdrawn in
            let revision = rules.withdrawal(of: item, withdrawn: withdrawn, at: now, policy: scoring.policy(feed: item.submission.feed),
                                            classes: classes)
            event.withLock { $0 = revision?.event }
            return revision
        }) else { return nil }
        scoring.eventsWritten(event.withLock { $0 }.map { [$0] } ?? [])
        if changed { await learnOnline(unlearn: [label], by: by) }
        // Also when it was withdrawn before: a retry after a failure here unbanks what the first attempt did not.
        _ = try await scoring.banks.unbank(labels: [label])
        return label
    }

    /// Replaces label `id` with `label` (the old one is withdrawn, the new one `replaces` it): the new label, or
    /// `.alreadyWithdrawn` (nothing stored: a label withdrawn or corrected before has no say any more, and correcting
    /// it again would leave two live labels); nil when there is no such label. When the item's reviewed decision stands
    /// on the corrected label, the decision follows the correction (`ReviewRules.correction`) and the feed is told (a
    /// decision event).
    public func correct(id: Int64, label: String, by: String) async throws -> LabelCorrection? {
        try checkClass(label, field: "label")
        // A live label that already says it is left as it is (outside testing: the same class again withdrew it and
        // stored a copy). Read before the store's transaction: a correction racing this one stores a copy at worst.
        if id > 0, let current = try await store.labels(since: nil, after: id - 1, limit: 1).first, current.id == id,
           current.withdrawnAt == nil, current.label == label {
            return .unchanged(current)
        }
        let rules = scoring.rules
        let event = Mutex<DecisionEvent?>(nil), removedItem = Mutex<ItemSubmission?>(nil)
        let outcome = try await store.correctLabel(id: id, label: label, by: by, at: scoring.clock(), revise: { item, withdrawn, corrected in
            let revision = rules.correction(of: item, withdrawn: withdrawn, corrected: corrected)
            event.withLock { $0 = revision?.event }
            if revision?.result.decision.action == .remove { removedItem.withLock { $0 = item.submission } }
            return revision
        })
        guard case let .corrected(withdrawn, new) = outcome else { return outcome }
        scoring.eventsWritten(event.withLock { $0 }.map { [$0] } ?? [])
        await learnOnline(learn: [new], unlearn: [withdrawn], by: by)
        let unbanked = try await scoring.banks.unbank(labels: [withdrawn])
        // The removal stands on the corrected class: what the old label had banked goes to that class's bank.
        if !unbanked.isEmpty, let item = removedItem.withLock({ $0 }) {
            let banks = scoring.engine.configuration.banks
            _ = try? await scoring.banks.bankCorrection(item: item, label: new, ticket: unbanked.first?.source.ticketID, configuration: banks,
                                                        clearLabel: scoring.engine.configuration.clearLabel)
        }
        return outcome
    }

    /// With online learning on, learns freshly stored labels (a reviewer's decision, an import, a correction) and
    /// unlearns withdrawn ones (a withdrawal, a correction, a decision taken back) in one update of the active model.
    /// A failure is logged, never the caller's: the labels are stored, and batch retraining will use them.
    public func learnOnline(learn: [LabelRecord] = [], unlearn: [LabelRecord] = [], by: String) async {
        guard let learner, !learn.isEmpty || !unlearn.isEmpty else { return }
        do {
            let learning = try await withTexts(learn), unlearning = try await withTexts(unlearn)
            guard !learning.isEmpty || !unlearning.isEmpty else { return }
            if unlearning.isEmpty { try await learner.learn(learning, by: by) } else { try await learner.unlearn(unlearning, learn: learning, by: by) }
        } catch {
            logger.error("online learning failed; the labels are stored for batch retraining", metadata: ["error": "\(error)"])
        }
    }

    func checkClass(_ label: String, field: String) throws {
        let classes = scoring.model.classes
        guard classes.contains(label) else {
            throw ValidationError(field: field, "'\(label.prefix(100))' is not a class of the model; use one of \(classes.joined(separator: ", "))")
        }
    }

    /// Labels with their items' texts; labels of items Winnow has not stored are left out (there is no text to learn).
    func withTexts(_ labels: [LabelRecord]) async throws -> [(label: LabelRecord, text: String)] {
        var out: [(label: LabelRecord, text: String)] = []
        for (feed, group) in Dictionary(grouping: labels, by: \.feed) {
            let texts = Dictionary(try await store.items(feed: feed, ids: group.map(\.itemID)).map { ($0.submission.id, $0.submission.text) },
                                   uniquingKeysWith: { a, _ in a })
            out += group.compactMap { label in texts[label.itemID].map { (label, $0) } }
        }
        return out.sorted { ($0.label.id ?? 0) < ($1.label.id ?? 0) }
    }
}
