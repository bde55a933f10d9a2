import Foundation

/// Everything that can go wrong while training, loading or using a model.
///
/// Each case's `description` says what happened, the value involved, and what to do next.
public enum LearningError: Error, Equatable, CustomStringConvertible, Sendable {
    /// A hyperparameter is outside its valid range.
    case invalidParameter(name: String, value: String, expected: String)
    /// A class has too few training examples for the model to be trusted.
    case insufficientTraining(label: String, have: Int, need: Int)
    /// Training data is unusable as a whole (empty, a single class, mismatched lengths, …).
    case invalidTrainingData(String)
    /// The model file is not a Winnow model, is truncated, or is corrupted.
    case corruptModel(String)
    /// The model file uses a format this build cannot read.
    case unsupportedFormat(found: Int, supported: ClosedRange<Int>)
    /// The model was built with a featurizer this build cannot reproduce.
    case featurizerMismatch(String)
    /// A label is not one of the model's classes.
    case unknownLabel(String, known: [String])

    public var description: String {
        switch self {
        case let .invalidParameter(name, value, expected):
            return "Invalid value \(value) for '\(name)': expected \(expected)."
        case let .insufficientTraining(label, have, need):
            return "The '\(label)' class needs more training examples before this model can score. Currently: \(have); minimum \(need) required. Add labelled examples of '\(label)' and retrain."
        case let .invalidTrainingData(message):
            return message
        case let .corruptModel(message):
            return "\(message) The file is damaged or not a Winnow model: restore it from models/ or retrain it with 'winnow train'."
        case let .unsupportedFormat(found, supported):
            return "This model uses file format \(found); this build reads formats \(supported.lowerBound)–\(supported.upperBound). Upgrade winnow or retrain the model."
        case let .featurizerMismatch(message):
            return "\(message) Retrain the model with this build of winnow."
        case let .unknownLabel(label, known):
            return "Unknown label '\(label)': the model's classes are \(known.joined(separator: ", ")). Map it with --label-map \(label)=CLASS."
        }
    }
}

extension String {
    /// Nothing but white space (or nothing): no words for a model to read. An item that is only media has such a
    /// text; its labels train no model.
    public var isBlank: Bool { allSatisfy(\.isWhitespace) }
}
