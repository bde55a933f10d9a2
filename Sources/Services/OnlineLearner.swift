import Engine
import Foundation
import Learning
import Logging

/// Online learning from human labels: with `onlineLearning` on, each label updates the active naive-Bayes model at
/// once (its counts are additive, so learning a label and unlearning it later leave the model exactly as it was),
/// and each update is registered and promoted as a new version (`<base>+online.<n>`), so it survives a restart and
/// can be rolled back. Updates are serialized: two labels at once cannot lose one another.
public actor OnlineLearner {
    let registry: ModelRegistry
    let logger: Logger
    private var updates = 0

    public init(registry: ModelRegistry, logger: Logger = Logger(label: "winnow.online")) {
        self.registry = registry
        self.logger = logger
    }

    /// Learns `learn` and unlearns `unlearn` (texts with their labels) in one new version; returns it, or nil when the
    /// active model cannot learn online (a logistic model) or there is nothing to do.
    @discardableResult
    public func update(learn: [LabelledText], unlearn: [LabelledText] = [], by: String) async throws -> String? {
        guard !learn.isEmpty || !unlearn.isEmpty else { return nil }
        let active = registry.scoring.model.textModel
        guard active.kind != .logistic else {
            logger.warning("online learning is on but the active model is logistic; labels are kept for batch retraining",
                           metadata: ["model": "\(active.header.modelVersion)"])
            return nil
        }
        updates += 1
        let base = active.header.modelVersion.split(separator: "+online.").first.map(String.init) ?? active.header.modelVersion
        let version = "\(base)+online.\(Int(registry.scoring.clock().timeIntervalSince1970 * 1000)).\(updates)"
        var next = active
        if !unlearn.isEmpty { next = try next.partialFit(unlearn, weight: -1, version: learn.isEmpty ? version : nil) }
        if !learn.isEmpty { next = try next.partialFit(learn, weight: 1, version: version) }
        _ = try await registry.register(next, bytes: try next.serialized(), by: by)
        try await registry.promote(version, by: by)
        return version
    }

    /// Learns new labels (with their items' texts); marks them as learnt into the new version.
    public func learn(_ labels: [(label: LabelRecord, text: String)], by: String) async throws {
        let usable = labels.filter { $0.label.id != nil && !$0.text.isBlank }
        guard let version = try await update(learn: usable.map { LabelledText(text: $0.text, label: $0.label.label) }, by: by) else { return }
        try await registry.scoring.store.markLearnt(usable.compactMap(\.label.id), into: version)
    }

    /// Unlearns withdrawn labels, those whose counts are in the active model: learnt online into it or into one of
    /// its ancestors (followed through the registry's parents). Others never reached this model and are left alone.
    public func unlearn(_ labels: [(label: LabelRecord, text: String)], learn: [(label: LabelRecord, text: String)] = [], by: String) async throws {
        let versions = try await registry.versions()
        var parents: [String: String] = [:]
        for v in versions { if let parent = v.parent { parents[v.version] = parent } }
        var lineage = Set<String>()
        var cursor: String? = registry.scoring.model.version
        while let v = cursor, lineage.insert(v).inserted { cursor = parents[v] }
        let inModel = labels.filter { $0.label.learntInto.map(lineage.contains) ?? false }
        let usable = learn.filter { $0.label.id != nil && !$0.text.isBlank }
        guard let version = try await update(learn: usable.map { LabelledText(text: $0.text, label: $0.label.label) },
                                             unlearn: inModel.map { LabelledText(text: $0.text, label: $0.label.label) }, by: by) else { return }
        try await registry.scoring.store.markLearnt(usable.compactMap(\.label.id), into: version)
    }
}
