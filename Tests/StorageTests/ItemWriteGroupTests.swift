import Engine
import Foundation
import Synchronization
import Testing

@testable import Storage

/// `ItemWriteGroup` against a fake write that records what it was given and waits on a gate, so the test decides
/// when writes finish and which calls gather meanwhile.
@Suite struct ItemWriteGroupTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    /// What the fake write saw, and a gate it waits on.
    final class FakeDatabase: Sendable {
        let writes = Mutex<[[String]]>([])
        /// Whether writes wait, and the ones waiting: one lock, so a write cannot start waiting after `open`.
        let gate = Mutex<(closed: Bool, waiting: [CheckedContinuation<Void, Never>])>((true, []))
        /// Items whose id starts with this fail any write they are in.
        let poison = "bad"

        func write(_ items: [NewItem]) async throws -> [CreateOutcome] {
            writes.withLock { $0.append(items.map(\.submission.id)) }
            await withCheckedContinuation { continuation in
                let wait = gate.withLock { gate -> Bool in
                    if gate.closed { gate.waiting.append(continuation) }
                    return gate.closed
                }
                if !wait { continuation.resume() }
            }
            if items.contains(where: { $0.submission.id.hasPrefix(poison) }) { throw StoreError.corruptRow("poisoned write") }
            return items.map { item in
                .created(ItemState(submission: item.submission, receivedAt: item.receivedAt, createdAt: item.createdAt, current: item.result, engagement: nil))
            }
        }

        /// Lets every write through from now on, and the ones waiting.
        func open() {
            let waiting = gate.withLock { gate -> [CheckedContinuation<Void, Never>] in
                gate.closed = false
                defer { gate.waiting = [] }
                return gate.waiting
            }
            for continuation in waiting { continuation.resume() }
        }

        func waitForWrites(_ count: Int) async {
            while writes.withLock({ $0.count }) < count { try? await Task.sleep(for: .milliseconds(2)) }
        }
    }

    func ids(_ outcomes: [CreateOutcome]) -> [String] {
        outcomes.map { outcome in
            guard case let .created(state) = outcome else { return "not created" }
            return state.submission.id
        }
    }

    @Test func callsMadeWhileEveryWriterIsBusyAreWrittenTogetherAndEachGetsItsOwnOutcomes() async throws {
        let database = FakeDatabase()
        let group = ItemWriteGroup(writers: 1)
        let first = Task { try await group.create([Items.new("a", at: t0)], write: database.write) }
        await database.waitForWrites(1)
        // The one writer is busy with "a": these three gather.
        let second = Task { try await group.create([Items.new("b", at: t0), Items.new("c", at: t0)], write: database.write) }
        let third = Task { try await group.create([Items.new("d", at: t0)], write: database.write) }
        let fourth = Task { try await group.create([Items.new("e", at: t0)], write: database.write) }
        while group.waiting < 3 { try await Task.sleep(for: .milliseconds(2)) }
        #expect(database.writes.withLock { $0 } == [["a"]])
        database.open()
        #expect(ids(try await first.value) == ["a"])
        #expect(ids(try await second.value) == ["b", "c"])
        #expect(ids(try await third.value) == ["d"])
        #expect(ids(try await fourth.value) == ["e"])
        let writes = database.writes.withLock { $0 }
        #expect(writes.count == 2)
        #expect(writes.first == ["a"])
        #expect(Set(writes.last ?? []) == ["b", "c", "d", "e"])
    }

    @Test func aFailedMergedWriteIsRetriedCallByCallSoOnlyTheBadCallFails() async throws {
        let database = FakeDatabase()
        let group = ItemWriteGroup(writers: 1)
        let first = Task { try await group.create([Items.new("a", at: t0)], write: database.write) }
        await database.waitForWrites(1)
        let good = Task { try await group.create([Items.new("b", at: t0)], write: database.write) }
        let bad = Task { try await group.create([Items.new("bad", at: t0)], write: database.write) }
        let alsoGood = Task { try await group.create([Items.new("c", at: t0)], write: database.write) }
        while group.waiting < 3 { try await Task.sleep(for: .milliseconds(2)) }
        database.open()
        #expect(ids(try await first.value) == ["a"])
        #expect(ids(try await good.value) == ["b"])
        #expect(ids(try await alsoGood.value) == ["c"])
        await #expect(throws: StoreError.self) { try await bad.value }
        // One merged write of three, then one write per call.
        let writes = database.writes.withLock { $0 }
        #expect(writes.count == 5)
        #expect(Set(writes[1]) == ["b", "bad", "c"])
        #expect(Set(writes[2...].map { $0.joined() }) == ["b", "bad", "c"])
    }

    @Test func aFreeWriterWritesACallAtOnceAndBigCallsNeverWait() async throws {
        let database = FakeDatabase()
        database.open()
        let group = ItemWriteGroup(writers: 2, directItems: 3)
        #expect(ids(try await group.create([Items.new("a", at: t0)], write: database.write)) == ["a"])
        // A call at the limit goes straight to the write even while every writer is busy.
        database.gate.withLock { $0.closed = true }
        // Both writers busy, one call each (one after the other: at once, they could share one write).
        let busy1 = Task { try await group.create([Items.new("x", at: t0)], write: database.write) }
        await database.waitForWrites(2)
        let busy2 = Task { try await group.create([Items.new("y", at: t0)], write: database.write) }
        await database.waitForWrites(3)
        let big = Task { try await group.create((1...3).map { Items.new("big\($0)", at: t0) }, write: database.write) }
        await database.waitForWrites(4)
        #expect(database.writes.withLock { $0.last } == ["big1", "big2", "big3"])
        database.open()
        #expect(ids(try await big.value) == ["big1", "big2", "big3"])
        _ = try await (busy1.value, busy2.value)
    }
}
