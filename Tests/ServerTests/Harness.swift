import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import Learning
import Logging
import NIOCore
import Synchronization
import Testing

@testable import Server
@testable import Services
@testable import Storage

/// A clock tests move by hand.
final class TestClock: Sendable {
    private let current: Mutex<Date>
    init(_ start: Date) { current = Mutex(start) }
    func now() -> Date { current.withLock { $0 } }
    func advance(hours: Double) { current.withLock { $0 = $0.addingTimeInterval(hours * 3600) } }
}

/// A small two-class model trained once from texts written for these tests.
enum Fixture {
    static let spam = [
        "WIN a FREE prize now, call 0906 to claim", "free cash prize claim now txt WIN to 80082", "urgent you have won a free holiday call now",
        "claim your free ringtone now text YES", "congratulations you won cash call now to claim", "FREE entry win a prize text now",
        "you are selected for a cash award call 0800 now", "win free tickets text CLAIM now", "cheap loans approved call now free",
        "your mobile won a prize call to claim free", "free prize draw winner call now", "txt WIN for a free cash prize today",
    ]
    static let clear = [
        "are we still on for lunch tomorrow", "see you at the station at six", "thanks for the photos from the weekend",
        "can you pick up milk on the way home", "the meeting moved to thursday morning", "happy birthday hope you have a lovely day",
        "i will call you after the game", "dinner was great thanks again", "running late be there in ten minutes",
        "did you finish the book i lent you", "the kids loved the park today", "let me know when you get home safe",
    ]

    static let model = train([("spam", spam), ("clear", clear)], version: "fixture-1")

    /// A naive-Bayes model on three copies of each class's texts (small buckets, no evidence shrinkage).
    static func train(_ classes: [(label: String, texts: [String])], version: String) -> TextClassifier {
        var rows: [LabelledText] = []
        for _ in 0..<3 {
            for (label, texts) in classes { rows += texts.map { LabelledText(text: $0, label: label) } }
        }
        var options = TrainingOptions()
        options.algorithm = .naiveBayes
        options.featurizer = FeaturizerConfig(bucketBits: 14)
        options.evidenceTarget = 0
        return try! TextClassifier.train(rows, options: options, modelVersion: version).0
    }

    /// Abuse beside spam and clear: for what moves between two harmful classes.
    static let abuse = [
        "you are an idiot and everyone hates you", "shut up you worthless loser", "nobody wants you here go away idiot",
        "you are pathetic and stupid", "what a disgusting worthless person", "get lost you stupid clown",
    ]

    static let threeClassModel = train([("spam", spam), ("clear", clear), ("abuse", abuse)], version: "fixture-3")
}

/// The server over an in-memory store, with one key per role and an injected clock.
struct Harness {
    let store: SQLiteStore
    let service: ScoringService
    let clock: TestClock
    let keys: [Role: String]
    let configuration: ServerConfiguration
    let routes: [RouteSpec]
    let app: Application<RouterResponder<WinnowRequestContext>>

    static let start = Date(timeIntervalSince1970: 1_800_000_000)

    /// Where webhook test messages go (no network).
    let transport: RecordingTransport

    init(configuration: ServerConfiguration = ServerConfiguration(), store: SQLiteStore? = nil, transport: RecordingTransport = RecordingTransport(),
         model: TextClassifier = Fixture.model) async throws {
        let store = try store ?? SQLiteStore()
        let clock = TestClock(Self.start)
        let service = ScoringService(store: store, engine: ScoringEngine(configuration: configuration.engine),
                                     model: try ActiveModel(model: model, source: "fixture"), clock: { clock.now() })
        try await service.start()
        var keys: [Role: String] = [:]
        for role in Role.allCases {
            keys[role] = try await APIKeys.create(name: "test-\(role.rawValue)", role: role, tiers: [.one, .two], in: store, at: Self.start)
        }
        let (router, routes) = WinnowServer.buildRouter(WinnowServices(scoring: service, configuration: configuration, transport: transport),
                                                        configuration: configuration)
        self.transport = transport
        self.store = store
        self.service = service
        self.clock = clock
        self.keys = keys
        self.configuration = configuration
        self.routes = routes
        self.app = WinnowServer.buildApplication(router: router, configuration: configuration, logger: Logger(label: "winnow.test"))
    }

    struct Answer {
        var status: HTTPResponse.Status
        var body: String
        var headers: HTTPFields
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
        var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }
    }

    /// Sends one request; `as` picks the key's role (nil: no key).
    func send(_ method: HTTPRequest.Method, _ uri: String, as role: Role? = .admin, body: String? = nil, headers: HTTPFields = [:]) async throws -> Answer {
        var fields = headers
        if let role, let key = keys[role] { fields[.authorization] = "Bearer \(key)" }
        if body != nil, fields[.contentType] == nil { fields[.contentType] = "application/json" }
        let requestHeaders = fields
        return try await app.test(.router) { client in
            try await client.execute(uri: uri, method: method, headers: requestHeaders, body: body.map { ByteBuffer(string: $0) }) { response in
                Answer(status: response.status, body: String(buffer: response.body), headers: response.headers)
            }
        }
    }

    /// A body of raw bytes (which need not be UTF-8).
    func send(_ method: HTTPRequest.Method, _ uri: String, as role: Role? = .admin, bytes: [UInt8], headers: HTTPFields) async throws -> Answer {
        var fields = headers
        if let role, let key = keys[role] { fields[.authorization] = "Bearer \(key)" }
        let requestHeaders = fields
        return try await app.test(.router) { client in
            try await client.execute(uri: uri, method: method, headers: requestHeaders, body: ByteBuffer(bytes: bytes)) { response in
                Answer(status: response.status, body: String(buffer: response.body), headers: response.headers)
            }
        }
    }

    func post(_ uri: String, as role: Role? = .feed, _ body: String) async throws -> Answer {
        try await send(.post, uri, as: role, body: body)
    }
}

/// The samples of a Prometheus text exposition: each line's series (name and labels, as written) and value.
func metricSamples(_ text: String) -> [(series: Substring, value: Double)] {
    text.split(separator: "\n").compactMap { line in
        guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { return nil }
        return (line[..<space], value)
    }
}

/// The value of one series (name and labels exactly as written), nil when absent.
func metric(_ text: String, _ series: String) -> Double? {
    metricSamples(text).first { $0.series == series }?.value
}

func json(_ object: Any) -> String {
    String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}


/// A webhook transport that records what it was asked to send and answers `status` (or throws `failure`).
final class RecordingTransport: WebhookTransport, @unchecked Sendable {
    struct Sent {
        var url: String
        var headers: [String: String]
        var body: [UInt8]
    }

    private let lock = NSLock()
    private var _sent: [Sent] = []
    private var _status = 204
    private var _failure: (any Error)?

    var sent: [Sent] { lock.withLock { _sent } }

    func answer(_ status: Int) { lock.withLock { _status = status; _failure = nil } }
    func fail(_ error: any Error) { lock.withLock { _failure = error } }

    func post(url: String, headers: [(name: String, value: String)], body: [UInt8], timeoutSeconds: Double) async throws -> Int {
        try lock.withLock {
            _sent.append(Sent(url: url, headers: Dictionary(headers.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }), body: body))
            if let failure = _failure { throw failure }
            return _status
        }
    }
}
