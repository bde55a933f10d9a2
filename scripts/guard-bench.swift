// What PostgresStore.guarded costs around a store operation: a task group racing the operation against a wait for
// the outage watch, against the operation called directly. Run: swiftc -O scripts/guard-bench.swift -o /tmp/guard-bench && /tmp/guard-bench
import Foundation
import Synchronization

/// The outage watch's registry of waiting operations, as PostgresStore keeps it.
final class Waiters: Sendable {
    let state = Mutex<(next: UInt64, waiting: [UInt64: CheckedContinuation<Void, Never>])>((0, [:]))

    func untilOutage() async {
        let id = state.withLock { s -> UInt64 in s.next &+= 1; return s.next }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { s -> Bool in
                    if Task.isCancelled { return true }
                    s.waiting[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
        }
    }
}

let waiters = Waiters()

@inline(never) func operation(_ x: Int) async -> Int { x &+ 1 }

func guarded(_ x: Int) async throws -> Int {
    try await withThrowingTaskGroup(of: Int?.self) { group in
        group.addTask { await operation(x) }
        group.addTask { await waiters.untilOutage(); return nil }
        defer { group.cancelAll() }
        guard case let value?? = try await group.next() else { throw CancellationError() }
        return value
    }
}

let n = 200_000
await Task.detached {
    var sum = 0
    var start = ContinuousClock.now
    for i in 0..<n { sum &+= await operation(i) }
    let direct = (ContinuousClock.now - start) / n
    start = ContinuousClock.now
    for i in 0..<n { sum &+= try! await guarded(i) }
    let raced = (ContinuousClock.now - start) / n
    print("direct \(direct) per operation; guarded \(raced) per operation (checksum \(sum))")
}.value
