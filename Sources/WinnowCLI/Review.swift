import ArgumentParser
import Engine
import Foundation
import Learning

/// `winnow review`: moderators clear the queue from a terminal, one ticket at a time, or script it with `--json`.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct Review: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Review tickets from the queue: interactively, or one step at a time for scripts.",
        discussion: """
            With no subcommand, 'winnow review' claims one ticket at a time and shows the text (control and escape \
            characters made visible), the model's scores and reasons (hidden for blind audits), engagement, the author, \
            why the ticket exists, its history and the SLA time left. Keys: 1-9 decide a label (then the reason code \
            and the action), e escalate to tier 2, s skip (release), n add a note, u take back your last decision \
            (within 10 minutes), r retry or look again, ? help, q quit (releasing what you hold).

              export WINNOW_URL=http://127.0.0.1:8080 WINNOW_KEY=wnw_…
              winnow review --languages en,pt
              winnow review next --json
              winnow review decide 42 --label spam --reason scam --note "link farm"
              winnow review undo 42
              winnow review release 42
            """,
        subcommands: [ReviewLoop.self, ReviewNext.self, ReviewDecide.self, ReviewUndo.self, ReviewRelease.self, ReviewEscalate.self],
        defaultSubcommand: ReviewLoop.self)
}

/// What a reviewer can take: tiers, languages and skills.
struct RoutingOptions: ParsableArguments {
    @Option(name: .customLong("tier"), help: "A queue to take tickets from: 1, or 2 for escalations (repeat for both; default 1, or 2 for a key of tier 2 only).")
    var tiers: [Int] = []

    @Option(help: "Languages you read, comma-separated (default: any).")
    var languages: String?

    @Option(help: "Skill tags you have, comma-separated (tickets that need one go only to reviewers with it).")
    var skills: String?

    var languageList: [String] { Self.list(languages) }
    var skillList: [String] { Self.list(skills) }

    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    func validate() throws {
        for tier in tiers where tier != 1 && tier != 2 { throw ValidationError("--tier is 1 or 2, not \(tier).") }
    }
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct ReviewLoop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loop",
        abstract: "The interactive review loop (what 'winnow review' runs).",
        discussion: """
            Reads single keys from a terminal, or from standard input when it is a pipe (one key per decision; the \
            reason-code prompt takes a letter, or Enter for the suggested code):

              printf '2\\n1\\nq' | winnow review --url http://127.0.0.1:8080 --key wnw_…
            """)

    @OptionGroup var server: ClientOptions
    @OptionGroup var routing: RoutingOptions

    @Flag(help: "Plain output even on a colour terminal (NO_COLOR does the same).")
    var noColor = false

    @Option(help: "Minutes the ticket on screen stays yours with no key pressed (its lease is renewed meanwhile); then it goes back to the queue.")
    var holdMinutes: Double = 10

    func validate() throws {
        guard holdMinutes.isFinite, holdMinutes > 0, holdMinutes <= 240 else { throw ValidationError("--hold-minutes is more than 0 and at most 240.") }
    }

    func run() async throws {
        let terminal = Terminal(colour: noColor ? false : nil)
        let session = ReviewSession(client: try server.client(), routing: routing, terminal: terminal, holdMinutes: holdMinutes)
        let decided = try await session.run()
        terminal.line("Decided \(decided) ticket\(decided == 1 ? "" : "s"). Bye.")
        terminal.flush()
    }
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct ReviewNext: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Claim the next ticket and print it.",
        discussion: """
            Exits 0 with the ticket, or 3 when the queue has nothing for you (--json prints null then).

              winnow review next --json | jq .ticket.id
            """)

    @OptionGroup var server: ClientOptions
    @OptionGroup var routing: RoutingOptions
    @Flag(help: "Print the server's JSON.") var json = false

    func run() async throws {
        let client = try server.client()
        let (raw, cards) = try await client.claim(tiers: routing.tiers, languages: routing.languageList, skills: routing.skillList)
        guard let card = cards.first else {
            // --json prints the ticket, or null: one shape for scripts (the exit code says which).
            if json { print("null") } else { print("No ticket for you right now.") }
            throw ExitCode(3)
        }
        if json {
            let object = (try JSONSerialization.jsonObject(with: raw) as? [String: Any])?["tickets"] as? [Any] ?? []
            print(String(decoding: try JSONSerialization.data(withJSONObject: object.first ?? [:], options: [.sortedKeys]), as: UTF8.self))
        } else {
            let terminal = Terminal(colour: false)
            for line in ReviewScreen.card(card, note: nil, interactive: false, terminal: terminal) { terminal.line(line) }
            terminal.flush()
        }
    }
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct ReviewDecide: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decide",
        abstract: "Decide a ticket you hold.",
        discussion: """
              winnow review decide 42 --label spam --reason scam --note "link farm"
              winnow review decide 43 --label clear --reason not_violating --json
              winnow review decide 44 --label spam --reason scam --wave
            """)

    @OptionGroup var server: ClientOptions
    @Argument(help: "The ticket id.") var ticket: Int
    @Option(help: "The label: one of the model's classes.") var label: String
    @Option(name: .customLong("reason"), help: "A reason code from the server's list (see 'winnow review next').") var reasonCode: String
    @Option(help: "allow, demote or remove (default: allow for the clear class, remove otherwise).") var action: String?
    @Option(help: "A note kept with the decision.") var note: String?
    @Option(name: .customLong("ticket-version"), help: "The ticket version you saw (refused if it changed since).") var ticketVersion: Int?
    /// The option's first name, kept for scripts; hidden because `--version` also names the program's version flag
    /// (the help listed --version twice).
    @Option(name: .customLong("version"), help: .hidden) var legacyVersion: Int?
    var version: Int? { ticketVersion ?? legacyVersion }
    @Flag(help: "Also decide the open copies of the ticket's item the same way (its wave, as 'winnow review next' shows it).") var wave = false
    @Flag(help: "Print the server's JSON.") var json = false

    func validate() throws {
        if let action, !["allow", "demote", "remove"].contains(action) {
            throw ValidationError("--action is allow, demote or remove; got '\(action)'.")
        }
        if let ticketVersion, let legacyVersion, ticketVersion != legacyVersion {
            throw ValidationError("--ticket-version \(ticketVersion) and --version \(legacyVersion) disagree; give --ticket-version once.")
        }
    }

    func run() async throws {
        let data = try await server.client().decide(ticket: ticket, label: label, reasonCode: reasonCode, action: action, note: note, version: version,
                                                    wave: wave)
        if json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
            let applied = object?["action"] as? String ?? action ?? "decided"
            let copies = ((object?["wave"] as? [String: Any])?["tickets"] as? [Int]) ?? []
            let also = wave ? ", and \(ReviewScreen.copies(copies.count)) the same way" + (copies.isEmpty ? "" : " (tickets \(copies.map(String.init).joined(separator: ", ")))") : ""
            // A first review of a ticket decided twice, or a second that disagreed, does not act on the item yet.
            switch object?["outcome"] as? String {
            case "awaiting_second_review":
                print("Judged ticket \(ticket): \(label) (\(reasonCode))\(also); a second reviewer judges it independently before it is \(ReviewScreen.pastTense(applied)).")
            case "escalated_on_disagreement":
                print("Judged ticket \(ticket): \(label) (\(reasonCode)); it disagreed with an earlier review, so tier 2 decides (nothing was applied).")
            default:
                print("Decided ticket \(ticket): \(label), \(ReviewScreen.pastTense(applied)) (\(reasonCode))\(also).")
            }
        }
    }
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct ReviewUndo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "undo",
        abstract: "Take back your own decision of a ticket (within the server's undoMinutes, 10 by default).",
        discussion: """
            The ticket is yours again to decide (its lease runs as a claim's); the labels of the decision are \
            withdrawn and the item's decision is the policy's until you decide again. The history keeps both.

              winnow review undo 42
              winnow review decide 42 --label clear --reason not_violating
            """)

    @OptionGroup var server: ClientOptions
    @Argument(help: "The ticket id.") var ticket: Int
    @Flag(help: "Print the server's JSON.") var json = false

    func run() async throws {
        let (data, card) = try await server.client().undo(ticket: ticket)
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let until = card.ticket.lease.map { " until \(ReviewScreen.time($0.until)) UTC" } ?? ""
        print("Took back your decision on ticket \(ticket). It is yours again\(until): decide it with 'winnow review decide \(ticket) --label L --reason R', or release it.")
    }
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct ReviewRelease: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "release", abstract: "Give a ticket you hold back to the queue.", discussion: "  winnow review release 42")

    @OptionGroup var server: ClientOptions
    @Argument(help: "The ticket id.") var ticket: Int
    @Flag(help: "Print the server's JSON.") var json = false

    func run() async throws {
        let data = try await server.client().release(ticket: ticket)
        if json { print(String(decoding: data, as: UTF8.self)) } else { print("Released ticket \(ticket).") }
    }
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct ReviewEscalate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "escalate", abstract: "Pass a ticket you hold to tier 2 with a note.",
        discussion: "  winnow review escalate 42 --note \"looks coordinated; check the other accounts\"")

    @OptionGroup var server: ClientOptions
    @Argument(help: "The ticket id.") var ticket: Int
    @Option(help: "Why: tier 2 reads it with the item's history.") var note: String
    @Flag(help: "Print the server's JSON.") var json = false

    func run() async throws {
        let data = try await server.client().escalate(ticket: ticket, note: note)
        if json { print(String(decoding: data, as: UTF8.self)) } else { print("Escalated ticket \(ticket) to tier 2.") }
    }
}

/// `winnow queue stats`.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct Queue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The review queue's figures.",
        subcommands: [QueueStats.self])
}

@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct QueueStats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Depth by tier, reason and language; the oldest ticket; SLA breaches; with an admin key, reviewers' pace and gold accuracy.",
        discussion: "  winnow queue stats\n  winnow queue stats --json")

    @OptionGroup var server: ClientOptions
    @Flag(help: "Print the server's JSON.") var json = false

    func run() async throws {
        let data = try await server.client().stats()
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let stats = try WinnowClient.decoder.decode(QueueFigures.self, from: data)
        print(QueueFigures.table(stats))
    }
}

struct QueueFigures: Decodable {
    struct Reviewer: Decodable {
        var name: String
        var decisionsLastHour: Int
        var decisionsLast24Hours: Int
        var perActiveHour: Double
        var goldSeen: Int
        var goldAccuracy: Double?
    }
    var open: Int
    var claimed: Int
    var byTier: [String: Int]
    var byReason: [String: Int]
    var byLanguage: [String: Int]
    var oldestAgeSeconds: Double?
    var overdue: Int
    var breachedLast24Hours: Int
    var reviewers: [Reviewer]

    static func table(_ s: QueueFigures) -> String {
        func counts(_ d: [String: Int]) -> String {
            d.isEmpty ? "-" : d.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map { "\(Terminal.visible($0.key)) \($0.value)" }
                .joined(separator: ", ")
        }
        var lines = [
            "Open tickets    \(s.open) (\(s.claimed) claimed)",
            "By tier         \(counts(s.byTier))",
            "By reason       \(counts(s.byReason))",
            "By language     \(counts(s.byLanguage))",
            "Oldest          \(s.oldestAgeSeconds.map(ReviewScreen.duration) ?? "-")",
            "Past SLA        \(s.overdue) open, \(s.breachedLast24Hours) decided late in the last 24 h",
        ]
        if !s.reviewers.isEmpty {
            lines.append("")
            lines.append("\(pad("Reviewer", 20)) \(pad("last hour", 9, right: true)) \(pad("24 h", 6, right: true)) \(pad("per hour", 8, right: true)) \(pad("gold", 11, right: true))")
            for r in s.reviewers {
                let gold = r.goldAccuracy.map { "\(Int(($0 * 100).rounded()))% of \(r.goldSeen)" } ?? "-"
                lines.append("\(pad(Terminal.fit(Terminal.visible(r.name), 20), 20)) \(pad("\(r.decisionsLastHour)", 9, right: true)) \(pad("\(r.decisionsLast24Hours)", 6, right: true)) \(pad(format(r.perActiveHour, 1), 8, right: true)) \(pad(gold, 11, right: true))")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// The interactive loop: claim one ticket, show it, act on single keys. A failed call never leaves the screen stuck:
/// when the server does not answer, the reviewer keeps the ticket on screen and can retry the same step (`r`: safe,
/// the server's version check refuses a repeat), skip, or quit; quitting says plainly what could not be given back.
final class ReviewSession {
    let client: WinnowClient
    let routing: RoutingOptions
    let terminal: Terminal
    /// How long the ticket on screen stays the reviewer's without a key pressed: its lease is renewed meanwhile, then
    /// let go (it goes back to the queue).
    let holdSeconds: Double
    private var current: ReviewCard? {
        didSet { renewAt = current?.ticket.lease.map { Self.renewal(of: $0.until, now: Date()) } }
    }
    /// When to renew the lease of the ticket on screen (halfway through what is left of it).
    private var renewAt: Date?
    private var lastKeyAt = Date()
    /// The ticket whose wave the next decision settles (`w` turns it on and off for the ticket on screen).
    private var waveOf: Int?
    /// Whether the next decision also settles the wave of the ticket on screen: only while that ticket is the one
    /// `w` was pressed on and copies of it wait.
    private var settlesWave: Bool {
        guard let card = current, (card.wave?.copies ?? 0) > 0 else { return false }
        return waveOf == card.ticket.id
    }
    private var note: String?
    private var decided = 0
    /// Tickets skipped in this session, not handed out again (the latest 100).
    private var skipped: [Int] = []
    /// The step that failed because the server did not answer, to try again with `r`.
    private var retry: (what: String, step: () async throws -> Void)?
    /// The ticket this session decided last, which `u` takes back, and the copies its wave decision settled.
    private var lastDecided: (id: Int, copies: [Int])?

    init(client: WinnowClient, routing: RoutingOptions, terminal: Terminal, holdMinutes: Double = 10) {
        self.client = client
        self.routing = routing
        self.terminal = terminal
        self.holdSeconds = holdMinutes * 60
    }

    /// "10 minutes", "1 minute", "1m 30s".
    static func minutes(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole % 60 == 0 ? "\(whole / 60) minute\(whole == 60 ? "" : "s")" : ReviewScreen.duration(seconds)
    }

    /// Halfway from now to the lease's end (at least a second on): a clock that differs from the server's by less
    /// than half the lease still renews in time.
    static func renewal(of until: Date, now: Date) -> Date {
        now.addingTimeInterval(max(1, until.timeIntervalSince(now) / 2))
    }

    /// Waits for the reviewer's next key. Meanwhile the ticket on screen stays theirs: its lease is renewed before it
    /// runs out while a key was pressed within `holdSeconds`; after that the ticket goes back to the queue and the
    /// screen says so. A lease the server says is lost drops the ticket, as a refused decision would.
    private func waitForKey() async {
        while let card = current, let renewAt {
            switch terminal.waitForInputOrResize(seconds: renewAt.timeIntervalSinceNow) {
            case .input: return
            case .resized:
                // The card again, laid out for the window's new size (one narrowed under it had its lines broken
                // mid-word by the terminal); keys typed meanwhile stay meant for it.
                show(card, discardingTypedAhead: false)
                terminal.flush()
                continue
            case .timeout: break
            }
            let now = Date()
            // The ticket on screen is gone: said on a line of its own, then the prompt again.
            func dropped(_ message: String, _ style: Terminal.Style) {
                current = nil
                note = nil
                terminal.line()
                terminal.line(terminal.styled(message, style))
                terminal.write("Press r for the next ticket, q to quit.\n> ")
                terminal.flush()
            }
            if now.timeIntervalSince(lastKeyAt) >= holdSeconds {
                await releaseCurrent()
                dropped("No key for \(Self.minutes(holdSeconds)): ticket \(card.ticket.id) went back to the queue.", .yellow)
                return
            }
            do {
                let lease = try await client.renew(ticket: card.ticket.id)
                current?.ticket.lease = lease
            } catch let error as ClientError {
                switch error {
                case .unreachable:
                    // The lease may still be live: try again soon (a decision made meanwhile retries as usual).
                    self.renewAt = now.addingTimeInterval(10)
                case .leaseLost, .server(409, _, _, _), .server(404, _, _, _):
                    dropped(error.description, .red)
                    return
                default:
                    self.renewAt = now.addingTimeInterval(30)
                }
            } catch {
                self.renewAt = now.addingTimeInterval(30)
            }
        }
    }

    /// Runs until `q` or the end of the input; returns how many tickets were decided.
    func run() async throws -> Int {
        terminal.enterRawMode()
        terminal.followResizes()
        defer { terminal.restore() }
        do {
            try await loop()
        } catch {
            await releaseCurrent()
            throw error
        }
        return decided
    }

    private func loop() async throws {
        try await next()
        while true {
            terminal.flush()
            await waitForKey()
            guard let key = terminal.readKey() else {
                await releaseCurrent()
                return
            }
            lastKeyAt = Date()
            switch key {
            case "q":
                await releaseCurrent()
                return
            case "?":
                help()
                continue
            case "u":
                guard let (id, copies) = lastDecided else {
                    terminal.line("Nothing to take back: you have not decided a ticket in this session.")
                    continue
                }
                await run("take back your decision on ticket \(id)") {
                    var (_, card) = try await self.client.undo(ticket: id)
                    // The ticket on screen goes back to the queue; the one taken back is shown to decide again.
                    if let shown = self.current, shown.ticket.id != id { _ = try? await self.client.release(ticket: shown.ticket.id) }
                    self.lastDecided = nil
                    self.decided -= 1
                    // The copies its wave decision settled are taken back too and go back to the queue (undone, each
                    // would be leased to this reviewer), where the ticket's wave finds them again.
                    var back = 0, notUndone: [Int] = [], stillHeld: [Int] = []
                    for copy in copies {
                        guard (try? await self.client.undo(ticket: copy)) != nil else { notUndone.append(copy); continue }
                        back += 1
                        if (try? await self.client.release(ticket: copy)) == nil { stillHeld.append(copy) }
                    }
                    self.decided -= back
                    // The ticket as it is now, with its wave (the undo's answer has none).
                    if let fresh = try? await self.client.ticket(id) { card = fresh }
                    self.current = card
                    self.note = nil
                    let also = copies.isEmpty ? "" : " and on \(back == copies.count ? "its" : "\(back) of its") \(ReviewScreen.copies(copies.count))"
                    self.terminal.line(self.terminal.styled("↶ Took back your decision on ticket \(id)\(also); decide it again.", .yellow))
                    if !notUndone.isEmpty {
                        self.terminal.line(self.terminal.styled("Not taken back (decided by the wave; try winnow review undo): tickets "
                            + notUndone.map(String.init).joined(separator: ", ") + ".", .red))
                    }
                    if !stillHeld.isEmpty {
                        self.terminal.line(self.terminal.styled("Still leased to you until your lease ends (not given back): tickets "
                            + stillHeld.map(String.init).joined(separator: ", ") + ".", .yellow))
                    }
                    self.show(card)
                }
                continue
            case "r":
                if let retry {
                    self.retry = nil
                    terminal.line("Trying again: \(retry.what)…")
                    await run(retry.what, retry.step)
                } else if current == nil {
                    try await next()
                } else {
                    terminal.line("Nothing to retry; press ? for help.")
                }
                continue
            default: break
            }
            guard let card = current else {
                terminal.line(key == "n" ? "No ticket to note. Press r to look again, q to quit." : "No ticket on screen. Press r to look again, q to quit.")
                continue
            }
            switch key {
            case "w":
                guard let wave = card.wave, wave.copies > 0 else {
                    terminal.line("No copies of this item wait in the queue: there is no wave to decide.")
                    continue
                }
                waveOf = settlesWave ? nil : card.ticket.id
                terminal.line(terminal.styled(settlesWave ? "Your decision settles this ticket and its \(ReviewScreen.copies(wave.copies)) the same way (w: this ticket only)."
                    : "Your decision settles this ticket only.", .yellow))
                prompt(ReviewScreen.keys(card, terminal: terminal))
            case "s":
                await run("give ticket \(card.ticket.id) back") {
                    _ = try await self.client.release(ticket: card.ticket.id)
                    self.current = nil
                    self.skipped = Array((self.skipped + [card.ticket.id]).suffix(100))
                    self.terminal.line("Skipped ticket \(card.ticket.id).")
                    try await self.next()
                }
            case "t":
                wholeText(card)
            case "n":
                if let text = terminal.readLine(prompt: "Note: "), !text.isEmpty {
                    note = text
                    terminal.line(terminal.styled("Note kept for this ticket.", .dim))
                } else {
                    terminal.line(terminal.styled("No note kept.", .dim))
                }
            case "e":
                guard let text = terminal.readLine(prompt: "Why escalate (tier 2 reads this): "), !text.isEmpty else {
                    terminal.line("Not escalated: a note is needed.")
                    continue
                }
                // A note kept with n goes with the escalation (it was lost: only a decision carried it).
                let full = self.note.map { "\($0) — \(text)" } ?? text
                await run("escalate ticket \(card.ticket.id)") {
                    _ = try await self.client.escalate(ticket: card.ticket.id, note: full, version: card.ticket.version)
                    self.note = nil
                    self.terminal.line(self.terminal.styled("Escalated ticket \(card.ticket.id) to tier 2.", .yellow))
                    self.current = nil
                    try await self.next()
                }
            default:
                guard let ascii = key.asciiValue, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(ascii),
                      Int(ascii - UInt8(ascii: "0")) <= card.classes.count else {
                    terminal.line("Unknown key '\(Terminal.visible(String(key)))'; press ? for help.")
                    continue
                }
                let label = card.classes[Int(ascii - UInt8(ascii: "1"))]
                guard let code = chooseReasonCode(card, label: label), let action = chooseAction(card, label: label) else {
                    terminal.line("Cancelled.")
                    continue
                }
                let note = self.note, wave = settlesWave
                let attempts = Attempts()
                await run("decide ticket \(card.ticket.id) as \(label)") {
                    let outcome: String, applied: String
                    var copies: [Int] = [], secondPending: [Int] = [], retried = false
                    attempts.count += 1
                    do {
                        let answer = try await self.client.decide(ticket: card.ticket.id, label: label, reasonCode: code, action: action, note: note,
                                                                  version: card.ticket.version, wave: wave)
                        let object = (try? JSONSerialization.jsonObject(with: answer)) as? [String: Any]
                        outcome = object?["outcome"] as? String ?? "decided"
                        applied = object?["action"] as? String ?? action
                        copies = (object?["wave"] as? [String: Any])?["tickets"] as? [Int] ?? []
                        secondPending = (object?["wave"] as? [String: Any])?["awaitingSecondReview"] as? [Int] ?? []
                    } catch ClientError.server(409, "already_decided", _, _) where attempts.count > 1 {
                        // A retry whose first attempt reached the server: the decision stands.
                        outcome = "decided"
                        applied = action
                        retried = true
                    } catch ClientError.server(409, "already_decided", _, _) {
                        // Decided elsewhere first (another window on this key, say): this choice was not recorded
                        // (outside testing: the desk confirmed it as if it had been).
                        self.terminal.line(self.terminal.styled("Ticket \(card.ticket.id) was already decided elsewhere (another window or session of yours?); \(label) was not recorded. Its history shows the decision that stands.", .yellow))
                        self.current = nil
                        self.waveOf = nil
                        try await self.next()
                        return
                    }
                    self.decided += 1 + copies.count
                    self.lastDecided = (card.ticket.id, copies)
                    let after = outcome == "awaiting_second_review" ? " A second reviewer will judge it independently."
                        : outcome == "escalated_on_disagreement" ? " It disagreed with an earlier review, so tier 2 decides." : ""
                    let done = outcome == "decided" ? ReviewScreen.pastTense(applied) : "\(ReviewScreen.pastTense(applied)) once confirmed"
                    var settled = ""
                    if wave {
                        let waiting = card.wave?.copies ?? 0
                        if retried {
                            settled = " Its copies were decided with it on the first attempt (see each ticket's history; u cannot take them back)."
                        } else if outcome == "escalated_on_disagreement" {
                            settled = " Its copies wait for tier 2's decision."
                        } else if outcome == "awaiting_second_review" {
                            settled = " Its copies wait for the second review's decision."
                        } else if copies.count >= waiting {
                            settled = " Its \(ReviewScreen.copies(copies.count)) too."
                        } else {
                            settled = " \(copies.count) of its \(ReviewScreen.copies(waiting)) too (the others were taken or decided by someone else meanwhile)."
                        }
                        // Copies drawn for two reviews got this as their first: a second reviewer decides them.
                        if !secondPending.isEmpty, !retried {
                            settled += " \(secondPending.count == copies.count ? "Each" : "\(secondPending.count) of them") got it as a first review and waits for a second reviewer."
                        }
                    }
                    self.terminal.line(self.terminal.styled("✓ Ticket \(card.ticket.id): \(label), \(done) (\(code)).\(after)\(settled)", .green))
                    self.current = nil
                    self.waveOf = nil
                    try await self.next()
                }
            }
        }
    }

    /// Runs one step of the loop. When the server does not answer, the ticket stays on screen and `r` tries the same
    /// step again; a lost lease drops the ticket; any other refusal is shown with the ticket kept.
    private func run(_ what: String, _ step: @escaping () async throws -> Void) async {
        do {
            try await step()
        } catch let error as ClientError {
            switch error {
            case .unreachable:
                retry = (what, step)
                terminal.line(terminal.styled(error.description, .red))
                terminal.line("Press r to try again (\(what)), s to skip, q to quit.")
            case .server(409, "version_mismatch", _, _):
                // Someone added a reason, a note or a tier: show the ticket as it is now and let the reviewer decide again.
                terminal.line(terminal.styled("The ticket changed since you saw it (a new reason, note or tier); here it is again.", .yellow))
                if let card = current { await reload(card.ticket.id) }
            case .leaseLost:
                current = nil
                note = nil
                terminal.line(terminal.styled(error.description, .red))
                terminal.line("Press r for the next ticket, q to quit.")
            default:
                terminal.line(terminal.styled(error.description, .red))
            }
        } catch let error as CommandError {
            terminal.line(terminal.styled(error.description, .red))
        } catch {
            terminal.line(terminal.styled("\(error)", .red))
        }
    }

    private func chooseReasonCode(_ card: ReviewCard, label: String) -> String? {
        let letters = ReviewScreen.letters
        let (lines, prompt, codes, suggested) = ReviewScreen.reasonChoice(card, label: label, width: terminal.width)
        for line in lines { terminal.line(line) }
        terminal.write(prompt)
        terminal.flush()
        while let byte = terminal.readByte() {
            switch byte {
            case 0x0A, 0x0D:
                terminal.line(suggested)
                return suggested
            case 0x1B, 0x03, 0x04:
                terminal.line()
                return nil
            case 0x20, 0x09: continue
            default:
                if let index = letters.firstIndex(of: Character(Unicode.Scalar(byte))), index < codes.count {
                    terminal.line(codes[index])
                    return codes[index]
                }
            }
        }
        return nil
    }

    /// The action for the decision: Enter takes the default for the label (allow for the clear class, remove
    /// otherwise), or a (allow), d (demote), r (remove).
    private func chooseAction(_ card: ReviewCard, label: String) -> String? {
        let standard = label == (card.clearLabel ?? "clear") ? "allow" : "remove"
        terminal.write(ReviewScreen.actionPrompt(standard: standard))
        terminal.flush()
        while let byte = terminal.readByte() {
            let chosen: String? = switch byte {
            case 0x0A, 0x0D: standard
            case UInt8(ascii: "a"): "allow"
            case UInt8(ascii: "d"): "demote"
            case UInt8(ascii: "r"): "remove"
            case 0x1B, 0x03, 0x04: ""
            default: nil
            }
            guard let chosen else { continue }
            // The server refuses a removal labelled harmless: the desk says why before it is sent.
            if chosen == "remove", standard == "allow" {
                terminal.write("\n" + terminal.styled("A removal needs a harmful label; Esc and choose the class, or a / d: ", .yellow))
                terminal.flush()
                continue
            }
            if chosen.isEmpty { terminal.line(); return nil }
            terminal.line(chosen)
            return chosen
        }
        return nil
    }

    /// Claims the next ticket and shows it. When the server does not answer, says so and waits (`r` looks again);
    /// only a refused key ends the session.
    private func next() async throws {
        note = nil
        retry = nil
        let cards: [ReviewCard]
        do {
            cards = try await client.claim(tiers: routing.tiers, languages: routing.languageList, skills: routing.skillList,
                                           excluding: skipped).tickets
        } catch let error as ClientError {
            if case .unauthorized = error { throw CommandError(error.description) }
            if case .forbidden = error { throw CommandError(error.description) }
            current = nil
            terminal.line(terminal.styled(error.description, .red))
            terminal.line("Press r to look again, q to quit.")
            return
        }
        current = cards.first
        guard let card = current else {
            terminal.line("No ticket for you right now. Press r to look again, q to quit.")
            return
        }
        guard !card.classes.isEmpty else {
            await releaseCurrent()
            throw CommandError("The server sent a ticket without the model's classes, so no label can be chosen; check that the server runs a model.")
        }
        show(card)
    }

    private func show(_ card: ReviewCard, discardingTypedAhead: Bool = true) {
        terminal.layingOut()
        terminal.line()
        let keys = ReviewScreen.keys(card, terminal: terminal)
        for line in ReviewScreen.card(card, note: note, settlesWave: settlesWave, terminal: terminal, keyLines: keys.count) { terminal.line(line) }
        // Keys typed before this card reached the screen were meant for the one before (outside testing: a label
        // pressed twice decided the next ticket unseen). They are dropped once the card shows, and the desk says so.
        terminal.flush()
        if discardingTypedAhead, terminal.discardTypedAhead() {
            terminal.line(terminal.styled("(Keys typed before ticket \(card.ticket.id) appeared were ignored.)", .dim))
        }
        prompt(keys)
    }

    /// The key lines, then the prompt on a line of its own.
    private func prompt(_ keys: [String]) {
        for line in keys.dropLast() { terminal.line(line) }
        terminal.write((keys.last ?? "") + "\n> ")
    }

    private func reload(_ id: Int) async {
        guard let card = try? await client.ticket(id) else { return }
        current = card
        show(card)
    }

    /// Gives back the ticket on screen; when the server does not take it, says until when it stays leased.
    private func releaseCurrent() async {
        guard let card = current else { return }
        current = nil
        retry = nil
        do {
            _ = try await client.release(ticket: card.ticket.id)
        } catch {
            let until = card.ticket.lease.map { " at \(ReviewScreen.time($0.until)) UTC" } ?? " within minutes"
            terminal.line(terminal.styled("Could not give ticket \(card.ticket.id) back (\(error)). It returns to the queue by itself when your lease ends\(until).", .red))
        }
    }

    /// The item's whole text, a page at a time (a key turns the page, q stops), then the ticket's keys again.
    private func wholeText(_ card: ReviewCard) {
        var lines = Terminal.wrap(Terminal.visible(ReviewScreen.shownText(card.item.text), keepNewlines: true), width: terminal.width)
        if let note = card.ticket.note { lines += [""] + Terminal.wrap("The ticket's note: \(Terminal.visible(note))", width: terminal.width) }
        let page = max(4, terminal.height - 4)
        terminal.line(terminal.styled("The whole text of item \(Terminal.visible(card.item.id)) (\(lines.count) line\(lines.count == 1 ? "" : "s")):", .bold))
        var start = 0
        while start < lines.count {
            for line in lines[start..<min(lines.count, start + page)] { terminal.line(line) }
            start += page
            guard start < lines.count else { break }
            terminal.line(terminal.styled("— \(lines.count - start) more line\(lines.count - start == 1 ? "" : "s"): any key, q to stop —", .dim))
            terminal.flush()
            guard let key = terminal.readAnyKey(), key != "q" else { break }
        }
        prompt(ReviewScreen.keys(card, terminal: terminal))
    }

    private func help() {
        let lines = [
            "1-9  decide: the label with that number, then a reason code (its letter, or Enter)",
            "     and the action (Enter for the label's default, or a allow, d demote, r remove)",
            "e    escalate to tier 2 with a note",
            "s    skip: give the ticket back to the queue",
            "n    add a note to your decision",
            "t    the whole text and the ticket's note, a page at a time",
            "w    wave: the next decision settles the open copies of this item too (w again: this ticket only)",
            "u    take back your last decision (within the server's undo time, 10 minutes by default)",
            "r    try again after a failure, or look for a ticket when there is none",
            "?    this help",
            "q    quit (the ticket you hold goes back to the queue)",
        ]
        // Each entry within the width, its continuation under its words.
        for line in lines {
            let parts = Terminal.wrap(String(line.dropFirst(5)), width: terminal.width - 5)
            for (i, part) in parts.enumerated() { terminal.line((i == 0 ? String(line.prefix(5)) : "     ") + part) }
        }
        if let card = current {
            prompt(ReviewScreen.keys(card, terminal: terminal))
        }
    }
}

/// How a ticket looks on the terminal (laid out for its size; 80×24 when it does not say).
enum ReviewScreen {
    static let textLines = 7
    static let historyLines = 4

    static func duration(_ seconds: Double) -> String {
        let s = Int(abs(seconds).rounded())
        let text = s >= 86_400 ? "\(s / 86_400)d \(s % 86_400 / 3600)h" : s >= 3600 ? "\(s / 3600)h \(s % 3600 / 60)m" : s >= 60 ? "\(s / 60)m \(s % 60)s" : "\(s)s"
        return text
    }

    /// The item's text as the desk shows it; an item that is only media has none, and the desk cannot show media.
    static func shownText(_ text: String) -> String {
        text.isBlank ? "(no text: the item is only media, which this desk cannot show; look at it on the feed)" : text
    }

    static func time(_ date: Date) -> String {
        let c = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: date)
        return String(format: "%02d-%02d %02d:%02d", c.month ?? 0, c.day ?? 0, c.hour ?? 0, c.minute ?? 0)
    }

    static let letters = Array("abcdefghijklmnopqrstuvwxyz")

    /// The reason codes to choose from (a letter each), wrapped to the width, and the prompt, short enough that the
    /// code typed after it still fits.
    static func reasonChoice(_ card: ReviewCard, label: String, width: Int) -> (lines: [String], prompt: String, codes: [String], suggested: String) {
        let codes = Array(card.reasonCodes.prefix(letters.count))
        let suggested = card.suggestedReasonCodes[label] ?? codes.first ?? "other"
        let listing = codes.enumerated().map { "\(letters[$0.offset]) \(Terminal.visible($0.element))" }.joined(separator: "  ")
        let lines = Terminal.wrap(listing, width: width - 2).map { "  " + $0 }
        // The chosen code is echoed after the prompt: leave room for the longest.
        let longest = codes.map { Terminal.visible($0).count }.max() ?? 0
        let prompt = Terminal.fit("Reason [Enter: \(Terminal.visible(suggested)), Esc: cancel]: ", max(16, width - longest))
        return (lines, prompt, codes, suggested)
    }

    static func actionPrompt(standard: String) -> String {
        "Action [Enter: \(standard), a allow, d demote, r remove, Esc: cancel]: "
    }

    /// "1 copy", "12 copies".
    static func copies(_ n: Int) -> String { n == 1 ? "1 copy" : "\(n) copies" }

    /// What happened to the item, for the confirmation line.
    static func pastTense(_ action: String) -> String {
        switch action {
        case "allow": "allowed"
        case "demote": "demoted"
        case "remove": "removed"
        case "review": "kept for review"
        default: action
        }
    }

    /// At most `terminal.height` − 1 − `keyLines` lines of at most `terminal.width` characters: with the key lines and
    /// the prompt, the screen fits the terminal (80×24 when it does not say; it needs about 20 rows). A taller terminal shows
    /// more of the text, a shorter one less of it and of the history.
    /// `interactive` false: for `winnow review next`, whose reader decides with `winnow review decide` (its flags,
    /// not the loop's keys, are named).
    static func card(_ card: ReviewCard, note: String?, settlesWave: Bool = false, interactive: Bool = true, terminal: Terminal,
                     keyLines: Int = 1) -> [String] {
        let width = terminal.width
        let t = card.ticket
        var lines: [String] = []
        let sla = t.slaSecondsLeft >= 0 ? "SLA \(duration(t.slaSecondsLeft)) left" : "SLA overdue by \(duration(t.slaSecondsLeft))"
        let header = "Ticket \(t.id) · tier \(t.tier) · \(t.reasons.joined(separator: ", ")) · \(sla) · priority \(format(t.priority, 2))"
        lines.append(terminal.styled(Terminal.fit(header, width), .bold, t.slaSecondsLeft < 0 ? .red : .cyan))
        let item = card.item
        lines.append(Terminal.fit("Item \(Terminal.visible(item.id)) in \(item.feed) · \(item.language.map { Terminal.visible($0) } ?? "language unknown") · created \(time(item.createdAt)) UTC", width))
        if let a = item.author {
            var facts = ["author \(Terminal.visible(a.id))"]
            if let age = a.accountAgeDays { facts.append("account \(format(age, 0)) days") }
            if let f = a.followers { facts.append("\(f) followers") }
            if let r = a.priorRemovals { facts.append("\(r) earlier removal\(r == 1 ? "" : "s")") }
            lines.append(Terminal.fit(facts.joined(separator: " · "), width))
        } else {
            lines.append("author unknown")
        }
        let rule = terminal.styled(String(repeating: "─", count: width), .dim)
        lines.append(rule)
        // Each key line beyond the first (many classes), and the wave's line, take a line of the text.
        let waiting = card.wave?.copies ?? 0
        // The ticket's note (an escalation's or an appeal's) is for reading whole: wrapped, on the desk up to three
        // lines (t shows the rest), its lines beyond the first taken from the text's.
        var ticketNote: [String] = []
        if let note = t.note {
            let kind = t.reasons.contains("escalation") ? "Escalation note" : t.reasons.contains("appeal") ? "Appeal note" : "Note"
            ticketNote = Terminal.wrap("\(kind): \(Terminal.visible(note))", width: width)
            if interactive, ticketNote.count > 3 {
                ticketNote = Array(ticketNote.prefix(2)) + [Terminal.fit(ticketNote[2], width - 20) + " … (t: all of it)"]
            }
        }
        let room = Self.textLines + (terminal.height - 24) - (keyLines - 1) - (waiting > 0 ? 1 : 0) - max(0, ticketNote.count - 1)
        let textLines = max(2, room)
        // Below two lines of text the history gives up lines (down to one).
        let historyLines = max(1, Self.historyLines - max(0, 2 - room))
        var text = Terminal.wrap(Terminal.visible(Self.shownText(item.text), keepNewlines: true), width: width)
        // `winnow review next` prints to a shell, which scrolls: the whole text there.
        if interactive, text.count > textLines {
            let more = text.count - (textLines - 1)
            // The end of a long text can be what matters (padding hides it): t shows all of it.
            text = Array(text.prefix(textLines - 1)) + [terminal.styled("… \(more) more line\(more == 1 ? "" : "s") (t: the whole text)", .dim)]
        }
        lines += text
        lines.append(rule)
        if let scores = card.scores {
            let probabilities = scores.probabilities.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3).map { "\($0.key) \(format($0.value, 2))" }.joined(separator: " · ")
            lines.append(Terminal.fit("Model: \(probabilities) · evidence \(format(scores.evidence, 2))", width))
            let why = scores.reasons.prefix(4).map { "\"\(Terminal.visible($0.feature))\" \($0.contribution >= 0 ? "+" : "")\(format($0.contribution, 2))" }
            // Where the decision on screen was made. A review stage is a person's step (a decision, its undo, a label
            // changed): its reason's first clause says which ("review at review" read as nonsense after an undo).
            let policy = switch scores.stage {
            case "review":
                "Now: \(scores.decision.action), " + (scores.decision.reason.components(separatedBy: CharacterSet(charactersIn: ";:")).first ?? "")
            case "engagement": "Policy: \(scores.decision.action) on engagement"
            case "time": "Policy: \(scores.decision.action) at a scheduled rescore"
            default: "Policy: \(scores.decision.action) at \(scores.stage)"
            }
            lines.append(Terminal.fit("\(policy) · why \(scores.label): " + (why.isEmpty ? "no strong features" : why.joined(separator: ", ")), width))
        } else {
            lines.append(terminal.styled("Blind audit: the model's answer is hidden. Judge the item on its own.", .magenta))
        }
        // Users' reports (what opened a report ticket) are not the feed's engagement counter of the same name.
        let reports = card.pendingReports.map { $0 > 0 ? " · \($0) user report\($0 == 1 ? "" : "s") to judge" : "" } ?? ""
        if let e = card.engagement?.counters {
            lines.append(Terminal.fit("Engagement: \(e.views) views · \(e.likes) likes · \(e.shares) shares · \(e.comments) comments · \(e.hides) hides\(reports)", width))
        } else {
            lines.append(Terminal.fit("Engagement: none reported by the feed\(reports)", width))
        }
        let history = card.history.compactMap { entry -> String? in
            switch entry {
            case let .stage(s): return "\(time(s.scoredAt)) \(s.stage.rawValue): \(s.decision.action.rawValue) (\(s.label))"
            case let .ticket(e):
                var text = "\(time(e.at)) ticket \(e.kind.rawValue)"
                if let by = e.by { text += " by \(Terminal.visible(by))" }
                if let reason = e.reason, e.kind == .opened || e.kind == .joined { text += ": \(reason.rawValue)" }
                if let label = e.label { text += ": \(label)" + (e.reasonCode.map { " (\($0))" } ?? "") }
                if let n = e.note { text += " — \(Terminal.visible(n))" }
                return text
            case .engagement: return nil
            }
        }
        lines.append("History (\(min(historyLines, history.count)) latest of \(history.count)):")
        lines += history.suffix(historyLines).map { "  " + Terminal.fit($0, width - 2) }
        lines += ticketNote.map { terminal.styled($0, .yellow) }
        if let note { lines.append(Terminal.fit("Your note: \(Terminal.visible(note))", width)) }
        if waiting > 0 {
            let copies = ReviewScreen.copies(waiting)
            let wait = "Wave: \(copies) of this item wait\(waiting == 1 ? "s" : "") in the queue"
            let text = !interactive ? wait + " · decide --wave settles \(waiting == 1 ? "it" : "them")"
                : settlesWave ? "Wave: your decision settles this ticket and its \(copies) · w: this one only"
                : wait + " · w: decide \(waiting == 1 ? "it" : "them") with this one"
            lines.append(terminal.styled(Terminal.fit(text, width), .bold, .magenta))
        }
        return lines
    }

    /// The key bar: one line when it fits the width, else the labels on one line and the other keys on the next. The
    /// prompt ("> ") follows on a line of its own.
    static func keys(_ card: ReviewCard, terminal: Terminal) -> [String] {
        let entries = card.classes.prefix(9).enumerated().map { (key: "\($0.offset + 1)", word: Terminal.visible($0.element)) }
        let commands = [("e", "escalate"), ("s", "skip"), ("n", "note")] + ((card.wave?.copies ?? 0) > 0 ? [("w", "wave")] : [])
            + [("u", "undo"), ("?", "help"), ("q", "quit")]
        func render(_ parts: [(key: String, word: String)]) -> (text: String, width: Int) {
            let text = parts.map { "\(terminal.styled($0.key, .bold)) \($0.word)" }.joined(separator: "  ")
            let width = parts.map { Terminal.columns($0.key) + 1 + Terminal.columns($0.word) }.reduce(0, +) + max(0, parts.count - 1) * 2
            return (text, width)
        }
        let one = render(entries + commands.map { (key: $0.0, word: $0.1) })
        if one.width <= terminal.width { return [one.text] }
        // The labels over as many lines as they need (a label longer than a line is cut), then the other keys (over
        // two lines on a narrow terminal).
        func rows(_ parts: [(key: String, word: String)]) -> [String] {
            var lines: [String] = [], row: [(key: String, word: String)] = []
            for part in parts {
                let part = (key: part.key, word: Terminal.fit(part.word, terminal.width - part.key.count - 1))
                if !row.isEmpty, render(row + [part]).width > terminal.width {
                    lines.append(render(row).text)
                    row = []
                }
                row.append(part)
            }
            if !row.isEmpty { lines.append(render(row).text) }
            return lines
        }
        return rows(entries) + rows(commands.map { (key: $0.0, word: $0.1) })
    }
}

/// `winnow stats`: what blind audits say about the automatic path, and the queue.
@available(macOS 10.15, macCatalyst 13, iOS 13, tvOS 13, watchOS 6, *)
struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Precision, missed harm, prevalence and recall of automatic decisions, estimated from blind audits (admin key).",
        discussion: """
            Each audit counts for 1/π automatic decisions (π the probability it had of being sampled); every figure has \
            a 95% interval and the number of audits behind it.

              winnow stats --url http://127.0.0.1:8080 --key wnw_…
              winnow stats --since 2026-11-01 --until 2026-11-08
              winnow stats --json
            """)

    @OptionGroup var server: ClientOptions
    @Option(help: "Only automatic decisions made at or after this time (ISO 8601, e.g. 2026-11-01 or 2026-11-01T09:00:00Z).") var since: String?
    @Option(help: "Only automatic decisions made before this time (ISO 8601).") var until: String?
    @Flag(help: "Print the server's JSON.") var json = false

    /// The query part for `--since` / `--until`, as full ISO 8601 times.
    func query() throws -> String {
        var parts: [String] = []
        for (name, value) in [("since", since), ("until", until)] {
            guard let value else { continue }
            guard let date = TimeOption.parse(value) else { throw ValidationError(TimeOption.problem("--\(name)", value)) }
            parts.append("\(name)=\(ISOTime.format(date))")
        }
        return parts.isEmpty ? "" : "?" + parts.joined(separator: "&")
    }

    func validate() throws { _ = try query() }

    struct Answer: Decodable {
        var audits: AuditEstimates
        var queue: QueueFigures
    }

    func run() async throws {
        let client = try server.client()
        let data = try await client.send("GET", "/v1/stats" + (try query()))
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        let answer = try client.decode(Answer.self, data)
        print(Self.table(answer.audits))
        print("")
        print(QueueFigures.table(answer.queue))
    }

    static func table(_ a: AuditEstimates) -> String {
        func row(_ name: String, _ e: Estimate?) -> String {
            guard let e else { return "\(pad(name, 34)) -  (no audits yet)" }
            return "\(pad(name, 34)) \(format(e.value, 3))  [\(format(e.low, 3)), \(format(e.high, 3))]  \(e.audits) audit\(e.audits == 1 ? "" : "s")"
        }
        var lines = ["Automatic decisions, from \(a.audits) blind audit\(a.audits == 1 ? "" : "s") (95% intervals):",
                     row("precision of removals", a.removalPrecision),
                     row("harmful among allowed (missed)", a.missedHarm),
                     row("harmful among what feeds show", a.prevalenceShown)]
        for (label, e) in a.recall.sorted(by: { $0.key < $1.key }) { lines.append(row("recall of \(Terminal.visible(label))", e)) }
        if let error = a.reviewerError {
            lines.append("Harm shares corrected for a reviewer error of \(format(error.rate, 3)) [\(format(error.low, 3)), \(format(error.high, 3))] (agreement \(format(error.agreement, 3)) in \(error.pairs) double reviews).")
        } else {
            lines.append("Harm shares are as auditors labelled them: fewer than \(ReviewerError.minimumPairs) double reviews to correct for reviewer error.")
        }
        return lines.joined(separator: "\n")
    }
}

/// How many times a step of the desk ran (a retry after the server did not answer runs it again).
final class Attempts {
    var count = 0
}
