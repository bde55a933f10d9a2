import Engine
import Foundation
import Learning
import Synchronization

/// The banks in motion: every node keeps the banks' entries in an in-memory index (`BankIndex`) that stage 1 matches
/// items against, follows other nodes' changes by revision (`sync`, run by `SharedStateSync`), and writes through
/// the store. A reviewer's removal banks the item (`bankRemoval`); withdrawing or correcting its label unbanks it.
public final class BankService: Sendable {
    public let store: any Store
    public let metrics: ServerMetrics
    private let state = Mutex<State>(State())
    /// The sync running now, if any: syncs run one after another, each after the last has applied what it read (two
    /// at once could apply an older list of banks over a newer one).
    private let lastSync = Mutex<Task<Void, any Error>?>(nil)

    struct State {
        var index = BankIndex()
        /// Entries removed since this node started following the banks: a stage that matched one keeps its match
        /// only while the entry lives (`isLive`).
        var removed = Set<Int64>()
        /// The last change applied (revision, entry id): syncs running at once apply each change once.
        var revision: Int64 = 0
        var entryID: Int64 = 0
        var hasText = false
        var isEmpty = true
    }

    public init(store: any Store, metrics: ServerMetrics) {
        self.store = store
        self.metrics = metrics
    }

    /// Entries in this node's index.
    public var entryCount: Int { state.withLock { $0.index.entryCount } }

    /// Whether this node's index holds no entry: stage 1 then skips matching (read once per batch part).
    public var isEmpty: Bool { state.withLock { $0.isEmpty } }

    /// Takes every bank change since the last sync: entries added and removed, then the banks' settings (read after
    /// the changes, so every entry read belongs to a bank the list holds unless that bank was removed since, whose
    /// removal then comes as later revisions). Syncs run one at a time.
    public func sync() async throws {
        let task: Task<Void, any Error> = lastSync.withLock { last in
            let previous = last
            let next = Task { [self] in
                _ = try? await previous?.value
                try await syncOnce()
            }
            last = next
            return next
        }
        try await task.value
    }

    private func syncOnce() async throws {
        var (revision, entryID) = state.withLock { ($0.revision, $0.entryID) }
        var changes: [BankChange] = []
        while true {
            let page = try await store.bankChanges(after: revision, entryID: entryID, limit: 10_000)
            changes += page
            guard let last = page.last else { break }
            (revision, entryID) = (last.revision, last.entry.id)
            if page.count < 10_000 { break }
        }
        let banks = try await store.banks()
        let known = Set(banks.map(\.name))
        state.withLock { state in
            for bank in banks { state.index.upsert(bank) }
            for bank in state.index.banks where !known.contains(bank.name) && bank.feeds != [] { state.index.remove(bank: bank.name) }
            var removed = Set<Int64>()
            for change in changes where (change.revision, change.entry.id) > (state.revision, state.entryID) {
                if change.removed { removed.insert(change.entry.id) } else { state.index.add(change.entry, folding: false) }
                (state.revision, state.entryID) = (change.revision, change.entry.id)
                if change.entry.signature.kind == .text && !change.removed { state.hasText = true }
            }
            state.index.remove(entries: removed)
            state.removed.formUnion(removed)
            state.isEmpty = state.index.entryCount == 0
        }
        // Folding a table of a million entries takes seconds: it runs on a copy, outside the lock, while stage 1 goes
        // on matching against the index as it is (complete, with its recent additions unfolded). Only syncs change
        // the index and they run one at a time, so nothing changes it before the folded copy takes its place.
        var index = state.withLock { $0.index }
        guard index.needsFold else { return }
        index.foldIfNeeded()
        // Swapped, so that the old tables are freed here, after the lock, not inside it.
        state.withLock { swap(&$0.index, &index) }
    }

    /// Whether the entry a stage matched is still in its bank (as far as this node has synced): later stages keep a
    /// match only while it is.
    public func isLive(_ match: BankMatch) -> Bool { state.withLock { !$0.removed.contains(match.entry) } }

    /// Syncs after this node's own write; a failure is left to the next periodic sync (the write has committed).
    private func syncAfterWrite() async { try? await sync() }

    /// The item's signatures as matching needs them: its media, and its text's signature when some bank holds text.
    public func signatures(of item: ItemSubmission, matchText: Bool, tokenizer: inout Tokenizer) -> ItemSignatures? {
        let (isEmpty, hasText) = state.withLock { ($0.isEmpty, $0.hasText) }
        guard !isEmpty else { return nil }
        let text = matchText && hasText ? TextSignature(text: item.text, tokenizer: &tokenizer) : nil
        let signatures = ItemSignatures(text: text, media: item.media)
        return signatures.isEmpty ? nil : signatures
    }

    /// The item's best bank match, if any (counted in `/metrics`).
    public func match(_ item: ItemSubmission, matchText: Bool, tokenizer: inout Tokenizer) -> BankMatch? {
        guard let signatures = signatures(of: item, matchText: matchText, tokenizer: &tokenizer) else { return nil }
        let match = state.withLock { $0.index.match(feed: item.feed, signatures: signatures) }
        if let match { metrics.bankMatch(match) }
        return match
    }

    // MARK: Admin

    public func banks() async throws -> [Bank] { try await store.banks() }

    public func bank(named name: String) async throws -> Bank? { try await store.bank(named: name) }

    /// Creates a bank or changes its settings. Its label is one of the model's `classes` (a match's decision names it,
    /// as a policy's rule does), or `harm` (every class but `clearLabel`); the clear class only allows.
    /// - Throws: `ValidationError` naming the bad field.
    public func save(_ bank: Bank, classes: [String], clearLabel: String) async throws -> (bank: Bank, created: Bool) {
        guard Bank.isValidName(bank.name) else {
            throw ValidationError(field: "name", "a bank name is 1 to 64 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit")
        }
        guard !bank.label.isEmpty, bank.label.utf8.count <= 64 else { throw ValidationError(field: "label", "name the class a match applies (1 to 64 bytes)") }
        try ValidationError.checkNoNUL(bank.label, field: "label")
        if let problem = Policy.unknownLabel(bank.label, classes: classes, clearLabel: clearLabel) { throw ValidationError(field: "label", problem) }
        guard bank.label != clearLabel || bank.action == .allow else {
            throw ValidationError(field: "action", "a bank of '\(clearLabel)' (nothing wrong) can only allow its matches; give action allow, or a harmful class as the label")
        }
        if let feeds = bank.feeds {
            // An empty list made a bank that matched nothing, without a word (outside testing).
            guard !feeds.isEmpty else { throw ValidationError(field: "feeds", "name at least one feed, or leave feeds out for every feed") }
            for (i, feed) in feeds.enumerated() {
                guard Policy.isValidFeed(feed) else { throw ValidationError(field: "feeds[\(i)]", PolicyError.invalidFeed(feed).description) }
                if let first = feeds[..<i].firstIndex(of: feed) {
                    throw ValidationError(field: "feeds[\(i)]", "'\(feed)' is given twice (feeds[\(first)] too); name each feed once")
                }
            }
        }
        if let description = bank.description {
            guard description.utf8.count <= 1_000 else { throw ValidationError(field: "description", "at most 1,000 bytes") }
            try ValidationError.checkNoNUL(description, field: "description")
        }
        // The same settings again (a retried PUT) change nothing: the version, which a match names, stays (outside
        // testing: it rose on every PUT).
        if let existing = try await store.bank(named: bank.name), existing.label == bank.label, existing.action == bank.action,
           existing.feeds.map(Set.init) == bank.feeds.map(Set.init), existing.description == bank.description {
            return (existing, false)
        }
        let saved = try await store.saveBank(bank)
        await syncAfterWrite()
        return saved
    }

    public func remove(bank name: String) async throws -> Bool {
        let removed = try await store.removeBank(named: name, at: Date())
        await syncAfterWrite()
        return removed
    }

    /// Entries written per transaction: a hash list of 100,000 in one held every other write of the server for 11 s
    /// (outside testing); in chunks, scoring's writes go between them.
    public static let entriesPerTransaction = 2_000

    /// Adds entries, `entriesPerTransaction` at a time (an import cut short by a failure keeps the chunks written, and
    /// importing it again adds only the rest); nil for an unknown bank (or one removed meanwhile). `added`: how many
    /// were new.
    public func add(_ entries: [NewBankEntry], to bank: String, by: String) async throws -> (bank: Bank, entries: [BankEntry], added: Int)? {
        var latest: Bank?, written: [BankEntry] = [], added = 0
        var start = 0
        repeat {
            let chunk = Array(entries[start..<min(entries.count, start + Self.entriesPerTransaction)])
            guard let part = try await store.addBankEntries(bank: bank, chunk, by: by, at: Date()) else { return nil }
            latest = part.bank
            written += part.entries
            added += part.added
            start += Self.entriesPerTransaction
        } while start < entries.count
        metrics.bankEntriesAdded(added, automatic: false)
        await syncAfterWrite()
        return latest.map { ($0, written, added) }
    }

    public func remove(entries ids: [Int64], from bank: String) async throws -> (bank: Bank, removed: Int)? {
        let removed = try await store.removeBankEntries(bank: bank, ids: ids, at: Date())
        if removed != nil { await syncAfterWrite() }
        return removed
    }

    public func entries(of bank: String, after: Int64, limit: Int) async throws -> [BankEntry] {
        try await store.bankEntries(bank: bank, after: after, limit: limit)
    }

    // MARK: The review loop

    /// Banks a reviewer's removal (`BankRules.automaticEntries`): the item's text signature and matchable media go to
    /// the feed's automatic bank for the label, created on first use, with the ticket and the label as provenance.
    /// Returns the entries added (none when the rules bank nothing).
    @discardableResult
    public func bankRemoval(_ decided: DecidedTicket, configuration: BankConfiguration, clearLabel: String) async throws -> [BankEntry] {
        let signatures = Self.signatures(of: decided.item.submission, configuration: configuration)
        guard let (bank, entries) = BankRules.automaticEntries(for: decided, signatures: signatures, configuration: configuration,
                                                              clearLabel: clearLabel, now: Date()) else { return [] }
        return try await addAutomatically(entries, to: bank)
    }

    /// A removal's label corrected to another harmful class: the item's entries, which left with the old label, go
    /// to the corrected class's automatic bank (outside testing: they were dropped, and copies no longer caught).
    public func bankCorrection(item: ItemSubmission, label: LabelRecord, ticket: Int64?, configuration: BankConfiguration,
                               clearLabel: String) async throws -> [BankEntry] {
        guard let (bank, entries) = BankRules.automaticEntries(item: item, label: label, ticket: ticket,
                                                              signatures: Self.signatures(of: item, configuration: configuration),
                                                              configuration: configuration, clearLabel: clearLabel, now: Date()) else { return [] }
        return try await addAutomatically(entries, to: bank)
    }

    static func signatures(of item: ItemSubmission, configuration: BankConfiguration) -> ItemSignatures {
        var tokenizer = Tokenizer()
        return ItemSignatures(text: configuration.matchText ? TextSignature(text: item.text, tokenizer: &tokenizer) : nil, media: item.media)
    }

    /// Adds a reviewer's (or a correction's) entries to their automatic bank, creating it if absent.
    private func addAutomatically(_ entries: [NewBankEntry], to bank: Bank) async throws -> [BankEntry] {
        // Created if absent, in one transaction (two nodes banking at once make it once; an admin's changes to it
        // stay). Read first: once the bank exists (nearly always), no write and no lock of the revision counter.
        let existing: Bank
        if let found = try await store.bank(named: bank.name) {
            existing = found
        } else {
            existing = try await store.saveBank(bank, replacing: false).bank
        }
        // A name another label's bank holds (an admin's, or labels that read alike): bank nothing rather than apply
        // another label's action to this one's copies.
        guard existing.label == bank.label else { return [] }
        guard let added = try await store.addBankEntries(bank: bank.name, entries, by: "winnow", at: Date()) else { return [] }
        metrics.bankEntriesAdded(added.added, automatic: true)
        await syncAfterWrite()
        return added.entries
    }

    /// A person's decision that does not remove (an appeal's reversal, a later review that clears the item): what the
    /// item's earlier labels banked leaves with them, when the new judgement now counts over theirs (the same tier or
    /// higher: a tier-1 decision does not undo a tier-2 removal). Outside testing: an appeal decided `clear` left the
    /// overturned removal's entry live, and copies of the cleared post were still removed.
    @discardableResult
    public func unbankOverruled(_ decided: DecidedTicket, action: Action) async throws -> [BankEntry] {
        guard action != .remove, decided.outcome == .decided, decided.ticket.goldLabel == nil, let tier = decided.labels.map(\.tier).max() else { return [] }
        let new = Set(decided.labels.compactMap(\.id))
        let earlier = try await store.labels(feed: decided.item.submission.feed, itemID: decided.item.submission.id)
            .filter { $0.id.map { !new.contains($0) } ?? false && $0.tier <= tier }
        return try await unbank(labels: earlier)
    }

    /// Unbanks what withdrawn or corrected labels had banked.
    @discardableResult
    public func unbank(labels: [LabelRecord]) async throws -> [BankEntry] {
        let removed = try await store.removeBankEntries(labelIDs: labels.compactMap(\.id), at: Date())
        if !removed.isEmpty { await syncAfterWrite() }
        return removed
    }
}
