import Foundation
import Learning

/// Where the media test data and the reference Python hasher are, when present.
enum MediaFixtures {
    /// The repository (this file is Tests/MediaTests/MediaFixtures.swift).
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// ../shared/media beside the repository: images and videos with reference hashes (its README says what each is).
    static let shared: String? = {
        let path = repository.deletingLastPathComponent().appendingPathComponent("shared/media").path
        return FileManager.default.fileExists(atPath: path + "/pdq/expected-pdqhash.csv") ? path : nil
    }()

    static let missingShared = "../shared/media is not present: skipping the checks against the reference hashes"

    /// A Python with the `pdqhash` package: $WINNOW_TEST_PYTHON, else the venv scripts/python-env.sh makes.
    static let python: String? = {
        let candidates = [ProcessInfo.processInfo.environment["WINNOW_TEST_PYTHON"], repository.path + "/.build/python/bin/python"]
        for case let path? in candidates where FileManager.default.isExecutableFile(atPath: path) {
            if (try? run(path, ["-c", "import pdqhash, numpy, PIL"]).status) == 0 { return path }
        }
        return nil
    }()

    static let missingPython = "no Python with pdqhash, numpy and Pillow (run scripts/python-env.sh, or set WINNOW_TEST_PYTHON): skipping the comparison with the reference hasher"

    static func bytes(_ relative: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: shared! + "/" + relative)))
    }

    /// Runs a program to its end; its standard output as text and its exit status.
    static func run(_ program: String, _ arguments: [String], input: Data? = nil) throws -> (status: Int32, output: String, error: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = arguments
        let output = Pipe(), error = Pipe(), stdin = Pipe()
        process.standardOutput = output
        process.standardError = error
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(input) }
        try stdin.fileHandleForWriting.close()
        // Standard error is read on another thread, so a full pipe on either side cannot stall the child.
        nonisolated(unsafe) var err = Data()
        let done = DispatchSemaphore(value: 0)
        Thread {
            err = error.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }.start()
        let out = output.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}

/// A deterministic generator for test images and bytes: Learning's SplitMix64.
typealias SplitMix = SplitMix64

extension SplitMix64 {
    init(state: UInt64) { self.init(seed: state) }
}
