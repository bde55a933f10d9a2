import ArgumentParser
import Engine
import Foundation
import Learning
import Server
import WinnowJSON

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where the server is and which key to use: flags, then `WINNOW_URL` / `WINNOW_KEY`, then the config file
/// (`--config`, `WINNOW_CLI_CONFIG`, or `~/.config/winnow/cli.json`: `{"url": "…", "key": "…"}`), then the
/// default URL http://127.0.0.1:8080.
struct ClientOptions: ParsableArguments {
    @Option(help: "The Winnow server (default: WINNOW_URL, the config file, or http://127.0.0.1:8080).")
    var url: String?

    @Option(help: "Your API key (default: WINNOW_KEY or the config file).")
    var key: String?

    @Option(name: .customLong("client-config"), help: "A JSON file with \"url\" and \"key\" (default: ~/.config/winnow/cli.json).")
    var clientConfig: String?

    static let defaultURL = "http://127.0.0.1:8080"

    func client(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> WinnowClient {
        var fileURL: String?
        var fileKey: String?
        let explicit = clientConfig ?? environment["WINNOW_CLI_CONFIG"]
        let path = explicit ?? (environment["HOME"].map { $0 + "/.config/winnow/cli.json" } ?? "")
        if !path.isEmpty, let data = FileManager.default.contents(atPath: path) {
            // Read as strictly as the server reads its own: a misspelt "kee" or a number for "url" is named, not
            // passed over for the defaults (which would talk to another server, or say no key was given).
            let file: ClientFile
            do {
                file = try StrictDecoder.api.decode(ClientFile.self, from: JSONParser.parse([UInt8](data), document: "The client config \(path)"))
            } catch {
                throw CommandError.data("\(error.message(in: "The client config \(path) is not valid")) It holds {\"url\": \"http://127.0.0.1:8080\", \"key\": \"wnw_…\"}.")
            }
            fileURL = file.url
            fileKey = file.key
        } else if let explicit {
            throw CommandError.data("Cannot read the client config \(explicit); check the path.")
        }
        let address = url ?? environment["WINNOW_URL"] ?? fileURL ?? Self.defaultURL
        guard let base = URL(string: address), let scheme = base.scheme, ["http", "https"].contains(scheme), base.host != nil else {
            // A bad argument (64), or a bad input when the config file gave it (65).
            let fromFile = url == nil && environment["WINNOW_URL"] == nil && fileURL != nil
            throw CommandError("'\(address)' is not a server URL; pass one like --url http://127.0.0.1:8080\(fromFile ? " (this one is the client config's \"url\")" : "").",
                               code: fromFile ? Winnow.dataError : Winnow.usageError)
        }
        guard let key = key ?? environment["WINNOW_KEY"] ?? fileKey, !key.isEmpty else {
            throw CommandError("No API key. Pass --key, set WINNOW_KEY, or put \"key\" in \(path.isEmpty ? "~/.config/winnow/cli.json" : path); an admin makes one with 'winnow keys create --role moderator --name YOU'.",
                               code: Winnow.usageError)
        }
        return WinnowClient(base: base, key: key)
    }

    /// The client config file: `{"url": "…", "key": "…"}`, both optional.
    struct ClientFile: Decodable {
        var url: String?
        var key: String?
    }
}

/// What went wrong talking to the server, in words a moderator can act on.
enum ClientError: Error, CustomStringConvertible, Equatable {
    case unreachable(url: String, reason: String)
    case unauthorized(url: String)
    case forbidden(message: String)
    case leaseLost(message: String)
    case server(status: Int, code: String, message: String, field: String?)

    var description: String {
        switch self {
        case let .unreachable(url, reason):
            return Terminal.visible("Cannot reach the Winnow server at \(url) (\(reason)). Is 'winnow serve' running there? Pass --url or set WINNOW_URL.")
        case let .unauthorized(url):
            return "The server at \(url) refused the key (401): check --key or WINNOW_KEY; an admin makes keys with 'winnow keys create --role moderator'."
        case let .forbidden(message):
            return "Your key may not do this (403): \(Terminal.visible(message))"
        case let .leaseLost(message):
            // The server's words name the API's route; on the command line, the command.
            return Terminal.visible(message.replacingOccurrences(of: "Claim it first with POST /v1/review/claim.",
                                                                 with: "Claim it first: winnow review next (or r in winnow review)."))
        case let .server(status, code, message, field):
            return Terminal.visible("The server answered \(status) \(code)\(field.map { " (field \($0))" } ?? ""): \(message)")
        }
    }
}

/// A small client of Winnow's HTTP API (URLSession; FoundationNetworking on Linux).
struct WinnowClient: Sendable {
    let base: URL
    let key: String

    /// Sends a request and returns the JSON body of a 2xx answer.
    /// - Throws: `ClientError` for every other outcome.
    func send(_ method: String, _ path: String, body: [String: Any]? = nil) async throws -> Data {
        try await send(method, path, data: try body.map { try JSONSerialization.data(withJSONObject: $0, options: [.sortedKeys]) },
                       contentType: "application/json")
    }

    /// Sends `data` as the body (a model file, say) with its content type.
    func send(_ method: String, _ path: String, data: Data?, contentType: String) async throws -> Data {
        var request = URLRequest(url: URL(string: base.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + path)!)
        request.httpMethod = method
        request.timeoutInterval = 60
        request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization")
        if let data {
            request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            request.httpBody = data
        }
        let (data, status): (Data, Int) = try await withCheckedThrowingContinuation { continuation in
            URLSession.shared.dataTask(with: request) { data, response, error in
                if let error {
                    continuation.resume(throwing: ClientError.unreachable(url: base.absoluteString, reason: error.localizedDescription))
                } else {
                    continuation.resume(returning: (data ?? Data(), (response as? HTTPURLResponse)?.statusCode ?? 0))
                }
            }.resume()
        }
        guard (200..<300).contains(status) else {
            let error = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])?["error"] as? [String: Any] ?? [:]
            let code = error["code"] as? String ?? "http_\(status)"
            let message = error["message"] as? String ?? String(decoding: data.prefix(300), as: UTF8.self)
            switch (status, code) {
            case (401, _): throw ClientError.unauthorized(url: base.absoluteString)
            case (403, _): throw ClientError.forbidden(message: message)
            case (409, "lease_lost"): throw ClientError.leaseLost(message: message)
            default: throw ClientError.server(status: status, code: code, message: message, field: error["field"] as? String)
            }
        }
        return data
    }

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let text = try decoder.singleValueContainer().decode(String.self)
            if let date = ISOTime.parse(text) { return date }
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not an ISO 8601 date: \(text)"))
        }
        return decoder
    }()

    func decode<T: Decodable>(_ type: T.Type, _ data: Data) throws -> T {
        do {
            return try Self.decoder.decode(type, from: data)
        } catch {
            throw CommandError("The server's answer was not what this winnow expects (\(error)); are the client and server the same version?")
        }
    }

    // MARK: Review

    func claim(count: Int = 1, tiers: [Int], languages: [String], skills: [String], excluding: [Int] = []) async throws -> (raw: Data, tickets: [ReviewCard]) {
        // No tiers: the server's default for the key (tier 1, or 2 for a key of tier 2 only).
        var body: [String: Any] = ["count": count]
        if !tiers.isEmpty { body["tiers"] = tiers }
        if !excluding.isEmpty { body["excluding"] = excluding }
        if !languages.isEmpty { body["languages"] = languages }
        if !skills.isEmpty { body["skills"] = skills }
        let data = try await send("POST", "/v1/review/claim", body: body)
        return (data, try decode(ClaimPage.self, data).tickets)
    }

    func decide(ticket: Int, label: String, reasonCode: String, action: String? = nil, note: String? = nil, version: Int? = nil,
                wave: Bool = false) async throws -> Data {
        var body: [String: Any] = ["label": label, "reasonCode": reasonCode]
        if wave { body["wave"] = true }
        if let action { body["action"] = action }
        if let note { body["note"] = note }
        if let version { body["version"] = version }
        return try await send("POST", "/v1/review/tickets/\(ticket)/decision", body: body)
    }

    func release(ticket: Int, version: Int? = nil) async throws -> Data {
        try await send("POST", "/v1/review/tickets/\(ticket)/release", body: version.map { ["version": $0] } ?? [:])
    }

    /// Extends the caller's lease on `ticket`: the lease as the server now holds it.
    func renew(ticket: Int) async throws -> ReviewCard.Lease? {
        struct Answer: Decodable { var ticket: ReviewCard.Ticket }
        return try decode(Answer.self, try await send("POST", "/v1/review/tickets/\(ticket)/renew")).ticket.lease
    }

    func escalate(ticket: Int, note: String, version: Int? = nil) async throws -> Data {
        var body: [String: Any] = ["note": note]
        if let version { body["version"] = version }
        return try await send("POST", "/v1/review/tickets/\(ticket)/escalate", body: body)
    }

    /// Takes back the caller's decision of `ticket`; the raw answer and the ticket, theirs again to decide.
    func undo(ticket: Int) async throws -> (raw: Data, card: ReviewCard) {
        struct Answer: Decodable { var ticket: ReviewCard }
        let data = try await send("POST", "/v1/review/tickets/\(ticket)/undo")
        return (data, try decode(Answer.self, data).ticket)
    }

    func ticket(_ id: Int) async throws -> ReviewCard {
        try decode(ReviewCard.self, try await send("GET", "/v1/review/tickets/\(id)"))
    }

    func stats() async throws -> Data {
        try await send("GET", "/v1/review/stats")
    }
}

struct ClaimPage: Decodable {
    var tickets: [ReviewCard]
}

/// A claimed ticket as the server sends it (`TicketDetail`): the ticket and scores as the API shapes them, the
/// author, engagement and history as the Engine's own types.
struct ReviewCard: Decodable {
    /// The ticket's fields the terminal shows (the server sends more).
    struct Ticket: Decodable {
        var id: Int
        var tier: Int
        var reasons: [String]
        var slaSecondsLeft: Double
        var priority: Double
        var version: Int
        var note: String?
        var blind: Bool
        var lease: Lease?
    }
    struct Lease: Decodable {
        var holder: String
        var until: Date
    }
    struct Item: Decodable {
        var id: String
        var feed: String
        var text: String
        var language: String?
        var author: Author?
        var createdAt: Date
    }
    struct Decision: Decodable {
        var action: String
        var reason: String
    }
    struct Scores: Decodable {
        var stage: String
        var probabilities: [String: Double]
        var label: String
        var evidence: Double
        var decision: Decision
        var reasons: [Reason]
    }

    var ticket: Ticket
    var item: Item
    var engagement: EngagementSnapshot?
    var scores: Scores?
    var history: [HistoryEntry]
    var classes: [String]
    var reasonCodes: [String]
    var suggestedReasonCodes: [String: String]
    /// Sent by servers since the reviewer chooses actions; "clear" before.
    var clearLabel: String?
    /// Users' reports not yet judged (absent from older servers).
    var pendingReports: Int?
    /// Open tickets whose items are copies of this one (absent when there are none, and from older servers).
    var wave: Wave?

    struct Wave: Decodable {
        var copies: Int
        var tickets: [Int]
    }
}
