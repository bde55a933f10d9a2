import ArgumentParser
import Foundation

/// Parses `from=to` label renames.
func parseLabelMap(_ pairs: [String]) throws -> [String: String] {
    var map: [String: String] = [:]
    for pair in pairs {
        let parts = pair.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
            throw ValidationError("Please write --label-map as FROM=TO (for example --label-map ham=clear); got '\(pair)'.")
        }
        if let earlier = map[parts[0]], earlier != parts[1] {
            throw ValidationError("--label-map renames '\(parts[0])' twice, to '\(earlier)' and to '\(parts[1])'; give one of them.")
        }
        map[parts[0]] = parts[1]
    }
    return map
}
