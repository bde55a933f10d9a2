import Foundation

/// Where training's work runs. Training splits its heavy loops into a fixed number of parts (so a model does not
/// depend on the machine); by default the parts run on Dispatch's threads at once. Inside `serially` they run one
/// after the other on the calling thread, with the same parts and so the same model: a serving process trains this
/// way on one thread it can lower the priority of, leaving the other cores to scoring.
public enum TrainingThreads {
    private static let key = "winnow.training.serial"

    /// Runs `body` with every split of training on this thread.
    public static func serially<T>(_ body: () throws -> T) rethrows -> T {
        let dictionary = Thread.current.threadDictionary
        let before = dictionary[key]
        dictionary[key] = true
        defer { dictionary[key] = before }
        return try body()
    }

    /// Whether training on this thread runs its parts one after the other.
    public static var isSerial: Bool { Thread.current.threadDictionary[key] != nil }

    /// `body(part)` for each of `parts`: at once on Dispatch's threads, or in order inside `serially`.
    static func perform(_ parts: Int, _ body: @Sendable (Int) -> Void) {
        if parts <= 1 || isSerial {
            for part in 0..<parts { body(part) }
        } else {
            DispatchQueue.concurrentPerform(iterations: parts, execute: body)
        }
    }
}
