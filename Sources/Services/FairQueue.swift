import Dispatch
import Synchronization

/// Runs jobs one at a time on a queue of its own, taking the owners with work waiting in turn: each owner's jobs in
/// the order they came, one job of each owner per round. So an owner that sends many slow jobs delays its own later
/// ones, and anyone else's by one job at most each round.
public final class FairQueue: Sendable {
    private struct State {
        /// Each owner's waiting jobs, and the owners with some, in the order they are served next.
        var waiting: [String: [@Sendable () -> Void]] = [:]
        var turns: [String] = []
        var running = false
    }

    private let state = Mutex(State())
    private let worker: DispatchQueue

    public init(label: String) {
        worker = DispatchQueue(label: label, qos: .utility)
    }

    /// Runs `job` in `owner`'s turn.
    public func submit(owner: String, _ job: @escaping @Sendable () -> Void) {
        let start = state.withLock { state -> Bool in
            if state.waiting[owner] == nil { state.turns.append(owner) }
            state.waiting[owner, default: []].append(job)
            guard !state.running else { return false }
            state.running = true
            return true
        }
        if start { worker.async { self.drain() } }
    }

    /// Jobs waiting, by owner (the tests read it).
    public var waiting: [String: Int] { state.withLock { $0.waiting.mapValues(\.count) } }

    private func drain() {
        while let job = next() { job() }
    }

    /// The next owner's first job; nil (and no longer running) when none waits.
    private func next() -> (@Sendable () -> Void)? {
        state.withLock { state in
            guard !state.turns.isEmpty else {
                state.running = false
                return nil
            }
            let owner = state.turns.removeFirst()
            var jobs = state.waiting[owner] ?? []
            let job = jobs.removeFirst()
            if jobs.isEmpty {
                state.waiting[owner] = nil
            } else {
                state.waiting[owner] = jobs
                state.turns.append(owner)
            }
            return job
        }
    }
}
