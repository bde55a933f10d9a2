import Engine
import Synchronization

/// Gathers concurrent small item writes (single-item `POST /v1/items` above all) into fewer, larger ones: what
/// `GroupCommit` does for SQLite's one writer, for a database that takes many writers at once.
///
/// At most `writers` writes run at a time. A call that finds one free starts it at once, so with little load nothing
/// waits and nothing changes; when all are busy, calls gather, and the next free writer stores everything gathered
/// (up to `maximumItems`) in one write, whose cost (a round trip, a statement, a commit) every call in it shares.
/// Calls of `directItems` or more never wait for a writer.
///
/// A merged write is one batch: the same id twice is stored once (the second call finds it stored, so a retry is a
/// retry and other content a conflict, exactly as when the calls come one after the other). When a merged write fails,
/// each call in it is written again on its own, so one call's bad item never fails the others.
final class ItemWriteGroup: Sendable {
    typealias Write = @Sendable ([NewItem]) async throws -> [CreateOutcome]

    private struct Pending: Sendable {
        let items: [NewItem]
        let continuation: CheckedContinuation<[CreateOutcome], any Error>
    }

    private struct State {
        var pending: [Pending] = []
        var running = 0
    }

    private let state = Mutex(State())
    /// Most writes running at once.
    let writers: Int
    /// Most items one merged write takes.
    let maximumItems: Int
    /// Calls with at least this many items go straight to `write`: they share their cost among their own items
    /// already, and a batch's parts should not queue behind single items (or each other) for the writers.
    let directItems: Int

    init(writers: Int, maximumItems: Int = 256, directItems: Int = 32) {
        self.writers = max(1, writers)
        self.maximumItems = maximumItems
        self.directItems = directItems
    }

    /// How many calls wait for a writer.
    var waiting: Int { state.withLock { $0.pending.count } }

    /// Stores `items` through `write`, alone or with the items of other calls; `write` must store any list of items
    /// as one batch (every call passes the same).
    func create(_ items: [NewItem], write: @escaping Write) async throws -> [CreateOutcome] {
        if items.count >= directItems { return try await write(items) }
        return try await withCheckedThrowingContinuation { continuation in
            let start = state.withLock { state -> Bool in
                state.pending.append(Pending(items: items, continuation: continuation))
                guard state.running < writers else { return false }
                state.running += 1
                return true
            }
            if start { Task { await self.drain(write) } }
        }
    }

    /// Writes what has gathered, batch after batch, until nothing waits; then gives its writer back.
    private func drain(_ write: Write) async {
        while true {
            let batch = state.withLock { state -> [Pending] in
                var count = 0
                var end = 0
                while end < state.pending.count, end == 0 || count + state.pending[end].items.count <= maximumItems {
                    count += state.pending[end].items.count
                    end += 1
                }
                let batch = Array(state.pending.prefix(end))
                state.pending.removeFirst(end)
                if batch.isEmpty { state.running -= 1 }
                return batch
            }
            if batch.isEmpty { return }
            await run(batch, write)
        }
    }

    private func run(_ batch: [Pending], _ write: Write) async {
        if batch.count == 1 {
            let call = batch[0]
            do { call.continuation.resume(returning: try await write(call.items)) } catch { call.continuation.resume(throwing: error) }
            return
        }
        do {
            let outcomes = try await write(batch.flatMap(\.items))
            var start = 0
            for call in batch {
                call.continuation.resume(returning: Array(outcomes[start..<start + call.items.count]))
                start += call.items.count
            }
        } catch {
            for call in batch {
                do { call.continuation.resume(returning: try await write(call.items)) } catch { call.continuation.resume(throwing: error) }
            }
        }
    }
}
