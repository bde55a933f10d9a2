import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Files and folders the tests write, under one folder per test process (`winnow-test-run-PID` in the temporary
/// directory) that is removed when the process exits. A run that crashed or was killed leaves its folder behind; the
/// next run removes the folders of processes that are gone.
public enum Scratch {
    static let prefix = "winnow-test-run-"

    static let root: URL = {
        let manager = FileManager.default
        let temporary = manager.temporaryDirectory
        for name in (try? manager.contentsOfDirectory(atPath: temporary.path)) ?? [] where name.hasPrefix(prefix) {
            guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? manager.removeItem(at: temporary.appendingPathComponent(name)) }
        }
        let root = temporary.appendingPathComponent(prefix + String(getpid()))
        try? manager.createDirectory(at: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Scratch.root) }
        return root
    }()

    /// A new, empty folder named after `name`.
    public static func directory(_ name: String) throws -> URL {
        let url = path(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A new path named after `name` (`name.sqlite` → `name-UUID.sqlite`) that nothing exists at yet.
    public static func path(_ name: String) -> URL {
        let ext = (name as NSString).pathExtension
        let stem = ext.isEmpty ? name : String(name.dropLast(ext.count + 1))
        return root.appendingPathComponent(stem + "-" + UUID().uuidString + (ext.isEmpty ? "" : "." + ext))
    }
}
