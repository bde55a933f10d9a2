import Engine
import Foundation
import Learning
import Testing

@testable import Storage

private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

/// Banks on both stores: versions rise with every change, duplicates are not added twice, removals are revisions
/// that other nodes read, entries banked on a label leave with it, and an item's media and a stage's bank match
/// survive the round trip.
@Suite struct BankStoreTests {
    static func hash(_ n: UInt64) -> PDQHash { PDQHash(words: (n &* 0x9E37_79B9_7F4A_7C15, n, ~n, n << 7)) }

    static func image(_ n: UInt64, quality: Int = 90) -> NewBankEntry {
        NewBankEntry(signature: .image(ImageSignature(hash: hash(n), quality: quality)), note: "n\(n)")
    }

    @Test(arguments: StoreKind.all) func banksAreCreatedChangedAndRemoved(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        let (created, isNew) = try await store.saveBank(Bank(name: "spam-wave", label: "spam", action: .remove, createdBy: "ann", createdAt: t0))
        #expect(isNew && created.version == 1 && created.entries == 0 && created.feeds == nil && created.createdBy == "ann")
        let (changed, again) = try await store.saveBank(Bank(name: "spam-wave", label: "spam", action: .review, feeds: ["sms", "web"],
                                                             description: "a wave", createdBy: "bob", createdAt: t0.addingTimeInterval(60)))
        #expect(!again && changed.version == 2 && changed.action == .review && changed.feeds == ["sms", "web"] && changed.description == "a wave")
        #expect(changed.createdBy == "ann" && changed.createdAt == t0 && changed.updatedAt == t0.addingTimeInterval(60))
        // Not replacing: an existing bank comes back unchanged (the automatic banks' create-if-absent).
        let (kept, made) = try await store.saveBank(Bank(name: "spam-wave", label: "spam", action: .remove, createdBy: "winnow", createdAt: t0), replacing: false)
        #expect(!made && kept == changed)
        let (fresh, new) = try await store.saveBank(Bank(name: "other", label: "spam", action: .remove, createdBy: "winnow", createdAt: t0), replacing: false)
        #expect(new && fresh.version == 1)
        #expect(try await store.removeBank(named: "other", at: t0))
        #expect(try await store.banks().map(\.name) == ["spam-wave"])
        #expect(try await store.bank(named: "nope") == nil)
        #expect(try await store.removeBank(named: "spam-wave", at: t0))
        #expect(try await !store.removeBank(named: "spam-wave", at: t0))
        #expect(try await store.banks().isEmpty)
    }

    @Test(arguments: StoreKind.all) func entriesAreAddedOnceRemovedAndFollowedByRevision(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        #expect(try await store.addBankEntries(bank: "none", [Self.image(1)], by: "ann", at: t0) == nil)
        _ = try await store.saveBank(Bank(name: "b", label: "spam", action: .remove, createdBy: "ann", createdAt: t0))
        var tokenizer = Tokenizer()
        let text = try #require(TextSignature(text: "win a free phone today by clicking this link", tokenizer: &tokenizer))
        let frames = [VideoFrameSignature(frame: 0, seconds: 0, hash: Self.hash(7), quality: 80),
                      VideoFrameSignature(frame: 1, seconds: 1.5, hash: Self.hash(8), quality: 40)]
        let (bank, added, new) = try #require(try await store.addBankEntries(bank: "b", [
            Self.image(1), Self.image(2, quality: 30),
            NewBankEntry(signature: .text(text), source: BankEntrySource(feed: "f", itemID: "i", ticketID: 12, labelID: 34)),
            NewBankEntry(signature: .video(frames)),
        ], by: "ann", at: t0))
        #expect(bank.entries == 4 && bank.version == 2 && added.count == 4 && new == 4)
        #expect(added.map(\.signature) == [.image(ImageSignature(hash: Self.hash(1), quality: 90)), .image(ImageSignature(hash: Self.hash(2), quality: 30)),
                                           .text(text), .video(frames)])
        // The same signature again is not a second entry: the live one comes back.
        let (same, repeated, none) = try #require(try await store.addBankEntries(bank: "b", [Self.image(1)], by: "bob", at: t0))
        #expect(same.entries == 4 && same.version == 2 && repeated.map(\.id) == [added[0].id] && none == 0)
        // Paging, and what a node reading from the start sees.
        let page = try await store.bankEntries(bank: "b", after: 0, limit: 3)
        #expect(page.map(\.id) == Array(added.map(\.id).prefix(3)))
        #expect(page[2].source == BankEntrySource(feed: "f", itemID: "i", ticketID: 12, labelID: 34) && page[0].note == "n1")
        #expect(try await store.bankEntries(bank: "b", after: page[2].id, limit: 3).map(\.id) == [added[3].id])
        let first = try await store.bankChanges(after: 0, entryID: 0, limit: 100)
        #expect(first.map(\.entry.id) == added.map(\.id) && first.allSatisfy { !$0.removed })
        #expect(first[3].entry.signature == .video(frames))
        // A page cut inside one revision continues by entry id.
        let cut = try await store.bankChanges(after: 0, entryID: 0, limit: 2)
        let rest = try await store.bankChanges(after: cut[1].revision, entryID: cut[1].entry.id, limit: 100)
        #expect((cut + rest).map(\.entry.id) == added.map(\.id))
        // Removal: a new revision, read as removed after the last one seen.
        let seen = first.last!
        let (afterRemoval, removed) = try #require(try await store.removeBankEntries(bank: "b", ids: [added[0].id, added[0].id, 999_999], at: t0))
        #expect(removed == 1 && afterRemoval.entries == 3 && afterRemoval.version == 3)
        let changes = try await store.bankChanges(after: seen.revision, entryID: seen.entry.id, limit: 100)
        #expect(changes.map(\.entry.id) == [added[0].id] && changes[0].removed && changes[0].revision > seen.revision)
        #expect(try await store.bankEntries(bank: "b", after: 0, limit: 10).count == 3)
        // The same text on another label is an entry of its own; on the same label it is the live one.
        let (_, onOther, _) = try #require(try await store.addBankEntries(bank: "b", [
            NewBankEntry(signature: .text(text), source: BankEntrySource(feed: "f", itemID: "j", ticketID: 13, labelID: 36)),
            NewBankEntry(signature: .text(text), source: BankEntrySource(feed: "f", itemID: "k", ticketID: 14, labelID: 34)),
        ], by: "winnow", at: t0))
        #expect(onOther[0].id != added[2].id && onOther[1].id == added[2].id)
        #expect(try await store.bank(named: "b")?.entries == 4)
        // Entries banked on a label leave with it, and only with it.
        let unbanked = try await store.removeBankEntries(labelIDs: [34, 35], at: t0)
        #expect(unbanked.map(\.id) == [added[2].id])
        #expect(try await store.bank(named: "b")?.entries == 3)
        #expect(try await store.removeBankEntries(labelIDs: [34], at: t0).isEmpty)
        #expect(try await store.removeBankEntries(labelIDs: [36], at: t0).map(\.id) == [onOther[0].id])
        #expect(try await store.bank(named: "b")?.entries == 2)
        // Removing the bank removes what is left, as revisions too.
        let last = try await store.bankChanges(after: 0, entryID: 0, limit: 100).last!
        #expect(try await store.removeBank(named: "b", at: t0))
        let gone = try await store.bankChanges(after: last.revision, entryID: last.entry.id, limit: 100)
        #expect(Set(gone.map(\.entry.id)) == Set([added[1].id, added[3].id]) && gone.allSatisfy(\.removed))
    }

    @Test(arguments: StoreKind.all) func anItemsMediaAndItsBankMatchRoundTrip(_ kind: StoreKind) async throws {
        let store = try await kind.open()
        var item = Items.new("m", at: t0)
        let media: [MediaSignature] = [.image(ImageSignature(hash: Self.hash(3), quality: 77)),
                                       .video([VideoFrameSignature(frame: 0, seconds: 0, hash: Self.hash(4), quality: 60)])]
        item.submission.media = media
        let match = BankMatch(bank: "b", bankVersion: 4, entry: 17, kind: .image, media: 0, distance: 12, similarity: nil, ticketID: 812,
                              label: "spam", action: .remove)
        item.result = Items.engine.applying(match, to: item.result)
        _ = try await store.createItems([item])
        let stored = try #require(try await store.item(feed: "default", id: "m"))
        #expect(stored.submission.media == media)
        #expect(stored.current.match == match && stored.current.decision.action == .remove && stored.current.decision.label == "spam")
        #expect(stored.current.decision.reason == "matched bank b v4, entry 17 from ticket 812, image 0 distance 12")
        // The same item again with other media is another item (a conflict), with the same media a retry.
        var other = item
        other.submission.media = [.image(ImageSignature(hash: Self.hash(5), quality: 77))]
        #expect(try await store.createItems([item, other]).map { if case .existing = $0 { "existing" } else if case .conflict = $0 { "conflict" } else { "created" } }
                == ["existing", "conflict"])
    }
}
