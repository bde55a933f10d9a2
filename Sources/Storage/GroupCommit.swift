import GRDB
import Synchronization

/// Groups writes from concurrent callers into one SQLite transaction.
///
/// A caller's write runs inside its own savepoint (a failing write rolls back alone and its caller gets the
/// error); callers resume only after the transaction has committed. While one transaction commits, new writes
/// gather for the next, so under load the cost of a commit is shared by every write that waited for it, and with
/// one caller at a time nothing waits.
final class GroupCommit: Sendable {
    /// One caller's write: `execute` runs it inside the group's transaction, `complete` resumes the caller once
    /// the transaction has ended (with the write's own outcome, or the transaction's error).
    private struct Pending: Sendable {
        /// Runs the write; answers its own error, if it failed.
        let execute: @Sendable (Database) -> (any Error)?
        let complete: @Sendable (Result<Void, any Error>) -> Void
    }

    private struct State {
        var pending: [Pending] = []
        var flushing = false
    }

    private let writer: any DatabaseWriter
    private let state = Mutex(State())
    /// Most writes in one transaction.
    let maximumBatch: Int

    /// Refuses a write before it joins a transaction (the database file lost under the server).
    private let precheck: @Sendable () throws -> Void

    init(writer: any DatabaseWriter, maximumBatch: Int = 512, precheck: @escaping @Sendable () throws -> Void = {}) {
        self.writer = writer
        self.maximumBatch = maximumBatch
        self.precheck = precheck
    }

    func run<T: Sendable>(_ operation: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try precheck()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let outcome = Mutex<Result<T, any Error>?>(nil)
            let pending = Pending(
                execute: { db in
                    var result: Result<T, any Error>
                    do {
                        var value: T?
                        try db.inSavepoint {
                            value = try operation(db)
                            return .commit
                        }
                        result = .success(value!)
                    } catch {
                        result = .failure(error)
                    }
                    outcome.withLock { $0 = result }
                    if case let .failure(error) = result { return error }
                    return nil
                },
                complete: { transaction in
                    switch transaction {
                    case let .failure(error):
                        // The write's own error says more than the transaction's (which may be SQLITE_ABORT after it).
                        if case let .failure(own)? = outcome.withLock({ $0 }) {
                            continuation.resume(throwing: own)
                        } else {
                            continuation.resume(throwing: error)
                        }
                    case .success:
                        switch outcome.withLock({ $0 }) {
                        case let .success(value)?: continuation.resume(returning: value)
                        case let .failure(error)?: continuation.resume(throwing: error)
                        case nil: continuation.resume(throwing: CancellationError())
                        }
                    }
                })
            let start = state.withLock { state -> Bool in
                state.pending.append(pending)
                if state.flushing { return false }
                state.flushing = true
                return true
            }
            if start { flush() }
        }
    }

    /// Most transactions one turn on the writer commits before giving the connection back (so that writes not
    /// going through the group, such as a checkpoint request, are not kept waiting under endless load).
    static let transactionsPerTurn = 16

    /// Commits the pending writes, transaction after transaction, on the writer's own queue: going back to the
    /// async runtime between commits, or to start a flush (the scorers keep it busy), left the writer idle while
    /// requests waited on it.
    private func flush() {
        writer.asyncWriteWithoutTransaction { db in
            for _ in 0..<Self.transactionsPerTurn {
                let batch = self.take()
                if batch.isEmpty { return }
                let result: Result<Void, any Error>
                var failures: [any Error] = []
                do {
                    try db.inTransaction {
                        for write in batch {
                            if let error = write.execute(db) { failures.append(error) }
                        }
                        return .commit
                    }
                    result = .success(())
                } catch {
                    // A full disk fails one write and makes SQLite roll back the whole transaction, so the others then
                    // see only SQLITE_ABORT at the commit: they get the cause.
                    result = .failure(failures.first(where: StoreError.isOutOfSpace) ?? error)
                }
                for write in batch { write.complete(result) }
            }
            self.flush()  // more waits: queue another turn behind any other write
        }
    }

    /// The next transaction's writes; when there are none, the group stops flushing (the next write starts it).
    private func take() -> [Pending] {
        state.withLock { state -> [Pending] in
            let take = Array(state.pending.prefix(maximumBatch))
            state.pending.removeFirst(take.count)
            if take.isEmpty { state.flushing = false }
            return take
        }
    }
}
