import Foundation
import Learning

/// One pass of the retraining loop, from the moment a node takes it to its end: train a candidate on the base data
/// and the store's resolved labels, put it through the evaluation gate, run it in shadow, then promote it (or wait
/// for an admin). Each step is written to the registry's log with its figures; `state` says where the pass is.
public struct RetrainPass: Codable, Equatable, Sendable {
    public enum State: String, Codable, CaseIterable, Sendable {
        /// A node is training and gating the candidate (until `leaseUntil`; a pass whose lease ran out was abandoned).
        case training
        /// The candidate passed the gate and scores live items beside the active model until `shadowUntil`.
        case shadow
        /// The candidate passed and waits for an admin to promote it (`promotion: approve`, or a shadow that saw
        /// too many changed decisions).
        case waiting
        /// A node is making the candidate the active model (until `leaseUntil`).
        case promoting
        /// The candidate became the active model.
        case promoted
        /// The gate refused the candidate: nothing changed.
        case refused
        /// Training or the gate could not run (too few labels, a model that cannot score, a missing file).
        case failed
        /// A newer pass, a rollback or another promotion came first.
        case superseded

        /// Whether the pass has ended.
        public var isFinal: Bool { [.promoted, .refused, .failed, .superseded].contains(self) }
    }

    /// Which passes a read of the log returns.
    public enum Selection: Equatable, Sendable {
        /// Every model's.
        case all
        /// One model's: a feed's own, or with nil the shared model's.
        case model(feed: String?)
    }

    /// 1, 2, 3, …: a node takes pass n + 1 by writing it; two nodes cannot both write the same number.
    public var id: Int64
    /// The feed whose model the pass trains; nil for the model every feed without its own uses.
    public var feed: String?
    public var state: State
    /// Why it ran: "schedule", "labels" (enough new ones), "manual".
    public var trigger: String
    /// Who ran it (a node's name, or "winnow retrain").
    public var by: String
    public var startedAt: Date
    public var updatedAt: Date
    /// While training: when another node may take the loop over.
    public var leaseUntil: Date
    /// The highest label id the pass saw (the next pass counts new labels from here).
    public var labelsThrough: Int64
    /// Labelled examples: from the store (resolved labels) and from the base data files.
    public var storeExamples: Int
    public var baseExamples: Int
    /// The model compared with, and the candidate's version.
    public var active: String?
    public var candidate: String?
    public var trainingSeconds: Double?
    /// Each check of the gate, with the change and its interval (on the test data and on the audits).
    public var gate: [RetrainGateResult]
    public var shadowUntil: Date?
    /// What the candidate did differently in shadow, at the end of it (on the node that ended it).
    public var shadowReport: ShadowSummary?
    /// What happened last, in one sentence.
    public var message: String

    public init(id: Int64, feed: String?, trigger: String, by: String, at: Date, leaseUntil: Date, labelsThrough: Int64) {
        self.id = id
        self.feed = feed
        self.state = .training
        self.trigger = trigger
        self.by = by
        self.startedAt = at
        self.updatedAt = at
        self.leaseUntil = leaseUntil
        self.labelsThrough = labelsThrough
        self.storeExamples = 0
        self.baseExamples = 0
        self.gate = []
        self.message = "training"
    }
}

/// A step of the retraining loop as the changes feed and webhooks carry it (`retraining.step`): the pass as it stood
/// after the step, with its state, candidate, gate figures and message. Written in the same transaction as the step.
/// A pass of the shared model (`feed` nil) belongs to every feed: each feed's readers and webhook receive it.
public struct RetrainingEvent: Codable, Equatable, Sendable {
    public var seq: Int64?
    public var pass: RetrainPass
    public var at: Date

    public init(seq: Int64? = nil, pass: RetrainPass) {
        self.seq = seq
        self.pass = pass
        self.at = pass.updatedAt
    }

    /// The event's id, stable across deliveries.
    public var id: String { "evt_\(seq ?? 0)" }
    /// The feed whose model the pass trains; nil for the shared model.
    public var feed: String? { pass.feed }

    private enum CodingKeys: String, CodingKey { case id, seq, feed, pass, at }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        seq = try c.decodeIfPresent(Int64.self, forKey: .seq)
        pass = try c.decode(RetrainPass.self, forKey: .pass)
        at = try c.decode(Date.self, forKey: .at)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        if seq != nil { try c.encode(id, forKey: .id) }
        try c.encodeIfPresent(seq, forKey: .seq)
        try c.encodeIfPresent(feed, forKey: .feed)
        try c.encode(pass, forKey: .pass)
        try c.encode(at, forKey: .at)
    }
}

/// The gate's verdict on one set of rows: each check as the gate made it (`EvaluationGate.Check`: both models'
/// values, the allowed drop, the paired change and its interval).
public struct RetrainGateResult: Codable, Equatable, Sendable {
    /// "test data" or "audits".
    public var rows: String
    public var count: Int
    public var passed: Bool
    public var checks: [EvaluationGate.Check]

    public init(rows: String, count: Int, verdict: EvaluationGate.Verdict) {
        self.rows = rows
        self.count = count
        self.passed = verdict.passed
        self.checks = verdict.checks
    }

    /// The verdict the result records.
    public var verdict: EvaluationGate.Verdict { EvaluationGate.Verdict(passed: passed, checks: checks) }
}

/// A shadow's findings as the pass records them.
public struct ShadowSummary: Codable, Equatable, Sendable {
    public var items: Int
    public var actionDisagreements: Int
    public var labelDisagreements: Int

    public init(items: Int, actionDisagreements: Int, labelDisagreements: Int) {
        self.items = items
        self.actionDisagreements = actionDisagreements
        self.labelDisagreements = labelDisagreements
    }

    /// The share of items whose decision the candidate would have changed.
    public var actionChangeShare: Double { items == 0 ? 0 : Double(actionDisagreements) / Double(items) }
}
