import Engine
import Foundation
import Learning
import Synchronization

/// The text model the server scores with, swappable while requests run: a request takes the model and a scorer
/// together, so it is scored entirely by one model, and a swap never shows a half-loaded one.
public final class ActiveModel: Sendable {
    /// One loaded model with its idle scorers (a `Scorer` holds scratch space, so each request borrows its own).
    final class Loaded: Sendable {
        let model: TextClassifier
        let version: String
        let idle = Mutex<[Scorer]>([])

        init(model: TextClassifier) throws {
            _ = try Scorer(model: model)  // refuses an under-trained model
            try Policy.checkClasses(model.classes)
            self.model = model
            self.version = model.header.modelVersion
        }

        func withScorer<T>(_ body: (inout Scorer) throws -> T) rethrows -> T {
            var scorer = idle.withLock { $0.popLast() } ?? (try! Scorer(model: model))
            defer { idle.withLock { if $0.count < 64 { $0.append(scorer) } } }
            return try body(&scorer)
        }
    }

    private let current: Mutex<Loaded>
    /// Where the model was loaded from, for /ready and logs.
    public let source: String

    /// - Throws: `LearningError` when the model cannot be used (too few examples per class); `PolicyError` for a
    ///   class named like a policy rule key.
    public init(model: TextClassifier, source: String) throws {
        self.current = Mutex(try Loaded(model: model))
        self.source = source
    }

    /// Loads a model file.
    /// - Throws: `LearningError` with what is wrong with the file and what to do.
    public convenience init(path: String) throws {
        try self.init(model: try Self.load(path), source: path)
    }

    /// Reads and checks a model file.
    /// - Throws: `ConfigurationError` saying which file and what to do.
    public static func load(_ path: String) throws -> TextClassifier {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError("Cannot read the model \(path). Pass --model PATH (or WINNOW_MODEL), or train one with 'winnow train --data FILE --out \(path)'.")
        }
        return try load(bytes: [UInt8](data), name: path)
    }

    /// Reads and checks a model from its file's bytes; `name` (a path or a version) names it in errors.
    public static func load(bytes: [UInt8], name: String) throws -> TextClassifier {
        do {
            return try TextClassifier(serialized: bytes)
        } catch {
            throw ConfigurationError("\(name): \(error)")
        }
    }

    public var version: String { current.withLock { $0.version } }
    /// The model in use now.
    public var textModel: TextClassifier { current.withLock { $0.model } }
    public var classes: [String] { current.withLock { $0.model.classes } }

    /// Replaces the model; requests already running finish with the old one.
    public func replace(with model: TextClassifier) throws {
        let loaded = try Loaded(model: model)
        current.withLock { $0 = loaded }
    }

    /// Scores `text` with the current model.
    public func score(_ text: String, reasons: Int) -> TextScore {
        withScorer { $0.score(text, reasons: reasons) }
    }

    /// The model in use now, to score a run of texts with (see `withScorer(of:_:)`): every text of a batch is
    /// scored by the same version even when a swap happens meanwhile.
    var snapshot: Loaded { current.withLock { $0 } }

    /// Lends a scorer of the current model for a run of texts (borrowing one per text cost two locks and a copy
    /// of its scratch space each time).
    public func withScorer<T>(_ body: (inout TextScorer) throws -> T) rethrows -> T {
        try withScorer(of: snapshot, body)
    }

    func withScorer<T>(of loaded: Loaded, _ body: (inout TextScorer) throws -> T) rethrows -> T {
        try loaded.withScorer { scorer in
            var lent = TextScorer(scorer: scorer, classes: loaded.model.classes, version: loaded.version)
            defer { scorer = lent.scorer }
            return try body(&lent)
        }
    }
}

/// A scorer of one model version, lent by `ActiveModel.withScorer`.
public struct TextScorer {
    var scorer: Scorer
    let classes: [String]
    let version: String

    public mutating func score(_ text: String, reasons: Int) -> TextScore {
        TextScore(scorer.score(text, reasons: reasons), classes: classes, modelVersion: version)
    }
}
