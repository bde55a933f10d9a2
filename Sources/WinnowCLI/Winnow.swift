import ArgumentParser
import Engine
import Foundation
import WinnowJSON
import Services
import Storage
import Learning

/// The `winnow` command: the root only configures; each subcommand is a small struct.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
public struct Winnow: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "winnow",
        abstract: "Content moderation and relevance scoring: train, evaluate and run text classifiers.",
        discussion: """
            Data scientists train, evaluate and inspect models from labelled CSV (id,text,label) or JSON Lines:

              winnow train --data train.csv --out models/mine.winnow
              winnow evaluate --model models/mine.winnow --data test.csv --report r.html
              winnow score --model models/mine.winnow "WIN a free prize! txt 80082"
              winnow models inspect models/mine.winnow

            Feed services use the HTTP API of 'winnow serve' (keys from 'winnow keys create'). Moderators clear the \
            review queue with 'winnow review' and watch it with 'winnow queue stats'.
            """,
        version: "0.1.0",
        subcommands: [Serve.self, Train.self, Evaluate.self, Score.self, Models.self, PolicyCommand.self, Keys.self, Rescore.self, Review.self, Queue.self, Stats.self, Labels.self, Webhooks.self, Banks.self, Migrate.self, Simulate.self, Retrain.self, Bench.self, Datasets.self]
    )

    public init() {}
}

/// Errors that end a command, printed as `Error: …` with what to do, and the exit code of their kind
/// (listed at `Winnow.dataError`).
struct CommandError: Error, CustomStringConvertible {
    var description: String
    var code: Int32
    init(_ description: String, code: Int32 = 1) {
        self.description = description
        self.code = code
    }

    /// An input (a data file, a model file, a line of input) the command cannot use.
    static func data(_ description: String) -> CommandError { CommandError(description, code: Winnow.dataError) }
}

enum ModelIO {
    static func load(_ path: String) throws -> TextClassifier {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            if DataFileReader.isDirectory(path) { throw CommandError.data("Cannot read the model \(path): it is a directory; give the model file (NAME.winnow).") }
            throw CommandError.data("Cannot read the model \(path) (\(DataFileReader.reason(error))). Train one with 'winnow train --data FILE --out \(path)'.")
        }
        do {
            return try TextClassifier(serialized: [UInt8](data))
        } catch let error as LearningError {
            throw CommandError.data("\(path): \(error)")
        }
    }

    /// Why a model could not be written to `path`, checked before the work that ends in `save` (outside testing:
    /// `train --out` to a directory or an unwritable folder failed only after training): nil when it can. Makes
    /// nothing: the first folder of the path that exists must be a writable folder.
    static func unwritableReason(_ path: String) -> String? {
        if DataFileReader.isDirectory(path) { return "\(path) is a folder; give the model file's name (NAME.winnow)" }
        var folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        while !FileManager.default.fileExists(atPath: folder.path), folder.path != "/" { folder.deleteLastPathComponent() }
        guard DataFileReader.isDirectory(folder.path) else { return "\(folder.path) is a file, where the model's folder should be" }
        guard access(folder.path, W_OK) == 0 else { return "the folder \(folder.path) is not writable" }
        return nil
    }

    /// Writes atomically: a temporary file in the same folder, then a rename.
    static func save(_ model: TextClassifier, to path: String) throws -> Int {
        let bytes = try model.serialized()
        let url = URL(fileURLWithPath: path)
        let folder = url.deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try Data(bytes).write(to: temporary)
            if rename(temporary.path, url.path) != 0 {
                throw CommandError("Cannot move the new model into place at \(path) (errno \(errno)).")
            }
        } catch let error as CommandError {
            try? FileManager.default.removeItem(at: temporary)
            throw error
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CommandError("Cannot write the model to \(path) (\(DataFileReader.reason(error, path: path))). Check that the folder is writable.")
        }
        return bytes.count
    }
}

/// A progress bar on standard error, drawn only when it is a terminal.
struct ProgressBar {
    let enabled: Bool
    var lastDrawn = -1
    var lastPhase = ""

    init(enabled: Bool) {
        self.enabled = enabled && isatty(2) == 1
    }

    mutating func update(_ phase: String, _ fraction: Double) {
        guard enabled else { return }
        let percent = Int((fraction * 100).rounded(.down))
        guard percent != lastDrawn || phase != lastPhase else { return }
        lastDrawn = percent
        lastPhase = phase
        let width = 30
        let filled = min(width, percent * width / 100)
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        FileHandle.standardError.write("\r\u{1B}[2K\(bar) \(String(format: "%3d", percent))% \(phase)".data(using: .utf8)!)
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write("\r\u{1B}[2K".data(using: .utf8)!)
    }
}

func format(_ value: Double, _ digits: Int = 4) -> String {
    String(format: "%.\(digits)f", value)
}

func pad(_ s: String, _ width: Int, right: Bool = false) -> String {
    let n = s.count
    guard n < width else { return s }
    let fill = String(repeating: " ", count: width - n)
    return right ? fill + s : s + fill
}

func jsonString<T: Encodable>(_ value: T, pretty: Bool = false) throws -> String {
    // The API's encoding (dates as ISO 8601), so that `--json` output reads like the server's answers.
    let encoder = WireEncoder.make()
    if pretty { encoder.outputFormatting.insert(.prettyPrinted) }
    return String(decoding: try encoder.encode(value), as: UTF8.self)
}

extension Algorithm: ExpressibleByArgument {}
extension ClassWeight: ExpressibleByArgument {}

extension Winnow {
    /// The exit codes, the same for every command (README, "Exit codes"): 0 done; 1 the command failed (the server or
    /// the database refused, or could not be reached; the message says which); 2 a check failed (the evaluation
    /// gate, a migration's verification); 3 nothing to do (no ticket in the queue); 64 a bad option or argument;
    /// 65 an input the command cannot use (a data file or one of its rows, a model file, the configuration, a policy
    /// file, a line of `score` input).
    static let dataError: Int32 = 65
    static let usageError: Int32 = 64

    /// The exit code of `error` when it is one of Winnow's own kinds; nil leaves it to ArgumentParser (64 for usage,
    /// 0 for help, the code of an `ExitCode`, 1 otherwise).
    static func winnowExitCode(for error: any Error) -> Int32? {
        switch error {
        case let error as CommandError: error.code
        case is DataFileError: dataError
        default: nil
        }
    }

    /// `--c -1` as `--c=-1`: ArgumentParser reads a token that starts with "-" as an option, so a negative value
    /// got "Missing value for '--c <c>'" instead of the option's own range check. Only a long option without "=" and a
    /// token that is a number are joined (no option of Winnow's is a number).
    static func joiningNegativeValues(_ arguments: [String]) -> [String] {
        var out: [String] = []
        var index = arguments.startIndex
        while index < arguments.endIndex {
            let token = arguments[index]
            if token == "--" { return out + arguments[index...] }
            let next = index + 1 < arguments.endIndex ? arguments[index + 1] : nil
            if token.hasPrefix("--"), token.count > 2, !token.contains("="), let next, next.hasPrefix("-"), Double(next) != nil {
                out.append(token + "=" + next)
                index += 2
            } else {
                out.append(token)
                index += 1
            }
        }
        return out
    }

    /// The entry point: parses the arguments and runs the command, async subcommands (serve, keys, …) included, and
    /// exits with the code of the error's kind (`winnowExitCode`).
    public static func runAsync() async {
        do {
            var command = try parseAsRoot(joiningNegativeValues(Array(CommandLine.arguments.dropFirst())))
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            if let code = winnowExitCode(for: error) {
                FileHandle.standardError.write(Data("Error: \(message(for: error))\n".utf8))
                Foundation.exit(code)
            }
            // A database error the command did not word itself: the server's own words (PostgreSQL's errors describe
            // themselves as "Generic description to prevent accidental leakage…"), exit code 1.
            if let words = PostgresStore.serverWords(error) {
                FileHandle.standardError.write(Data("Error: the database refused: \(words)\n".utf8))
                Foundation.exit(1)
            }
            exit(withError: error)
        }
    }
}

/// A time given as an option (`--since`, `--until`): ISO 8601, or a date alone meaning midnight UTC.
enum TimeOption {
    static func parse(_ value: String) -> Date? { ISOTime.parse(value) ?? ISOTime.parse(value + "T00:00:00Z") }

    /// What to say when `value` is not a time.
    static func problem(_ option: String, _ value: String) -> String { "\(option) \(value) is not a date; use 2026-11-01 or 2026-11-01T09:00:00Z." }
}
extension EvaluationGate.Method: ExpressibleByArgument {}
