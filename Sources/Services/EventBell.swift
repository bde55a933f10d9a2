import Foundation
import Synchronization

/// A bell rung after decision events commit in this process: whoever waits for new events (a long poll of the changes
/// feed, the webhook deliverer) wakes at once instead of at its next poll. Waiters pass the generation they saw, so a
/// ring between their read and their wait is not missed.
public final class EventBell: Sendable {
    private struct State {
        var generation: UInt64 = 0
        var nextID: UInt64 = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits started but not yet registered, and those of them cancelled meanwhile (their continuation must resume
        /// as soon as it arrives).
        var starting: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
    }

    private let state = Mutex(State())

    public init() {}

    /// How many times it has rung.
    public var generation: UInt64 { state.withLock { $0.generation } }

    public func ring() {
        let waiting = state.withLock { s in
            s.generation &+= 1
            defer { s.waiters = [:] }
            return Array(s.waiters.values)
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Returns when the bell has rung since generation `seen`, or after `seconds`, or when the task is cancelled.
    public func wait(after seen: UInt64, seconds: Double) async {
        guard seconds > 0, generation == seen else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: .milliseconds(Int64(seconds * 1000))) }
            group.addTask { await self.ringing(after: seen) }
            await group.next()
            group.cancelAll()
        }
    }

    private func ringing(after seen: UInt64) async {
        let id = state.withLock { s -> UInt64 in
            s.nextID &+= 1
            s.starting.insert(s.nextID)
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    s.starting.remove(id)
                    if s.cancelled.remove(id) != nil || s.generation != seen { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
                if let waiter = s.waiters.removeValue(forKey: id) { return waiter }
                if s.starting.remove(id) != nil { s.cancelled.insert(id) }
                return nil
            }
            waiter?.resume()
        }
    }
}
