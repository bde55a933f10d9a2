import Dispatch
import Synchronization
import Testing

@testable import Services

/// The media queue's turns (outside testing: one feed's uploads of large images held another feed's photo for 35 s
/// behind them, first come first served).
@Suite struct FairQueueTests {
    @Test func ownersWithWorkWaitingTakeTurns() {
        let queue = FairQueue(label: "test")
        let started = DispatchSemaphore(value: 0), gate = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        let order = Mutex<[String]>([])
        // The first job holds the queue until every other job waits.
        queue.submit(owner: "a") { started.signal(); gate.wait(); order.withLock { $0.append("a0") } }
        started.wait()
        for i in 1...3 { queue.submit(owner: "a") { order.withLock { $0.append("a\(i)") } } }
        queue.submit(owner: "b") { order.withLock { $0.append("b1") } }
        queue.submit(owner: "c") { order.withLock { $0.append("c1") } }
        queue.submit(owner: "b") { order.withLock { $0.append("b2") } }
        queue.submit(owner: "a") { done.signal() }
        #expect(queue.waiting == ["a": 4, "b": 2, "c": 1])
        gate.signal()
        done.wait()
        // One job of each owner a round, each owner's in the order they came: "a"'s four did not hold "b" and "c" up.
        #expect(order.withLock { $0 } == ["a0", "a1", "b1", "c1", "a2", "b2", "a3"])
        #expect(queue.waiting.isEmpty)
    }
}
