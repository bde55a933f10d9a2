import Foundation
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `winnow serve` as a real process, shared by the end-to-end suites (one node, or several on one database).
extension ServeEndToEndTests {
    /// A running server and its port. `port` and `printed` are set once, by `init`; everything else is the process's,
    /// so a server may be used from concurrent tasks.
    final class Server: @unchecked Sendable {
        let process = Process()
        let output = Pipe()
        var port = 0
        var printed = ""
        /// The file the server's stderr (its log) goes to, when one was given.
        let log: String?

        /// Requests go through one session that allows many connections to a host, so concurrent clients of one
        /// server are not queued behind each other in the client.
        static let session: URLSession = {
            let configuration = URLSessionConfiguration.ephemeral
            configuration.httpMaximumConnectionsPerHost = 64
            configuration.timeoutIntervalForRequest = 60
            return URLSession(configuration: configuration)
        }()

        /// Starts `winnow serve` on `port` (0: a free one) with `database` and `model` (the bundled one); `log` receives
        /// its stderr.
        init(database: String, port: Int = 0, model: String = ServeEndToEndTests.model, arguments: [String] = [], log: String? = nil) throws {
            self.log = log
            process.executableURL = try #require(EndToEndTests.executable, "build the winnow executable first")
            process.arguments = ["serve", "--port", "\(port)", "--database", database, "--model", model] + arguments
            process.standardOutput = output
            if let log {
                _ = FileManager.default.createFile(atPath: log, contents: nil)
                process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
            } else {
                process.standardError = FileHandle.nullDevice
            }
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while Date() < deadline {
                let data = output.fileHandleForReading.availableData
                if data.isEmpty {
                    if !process.isRunning { break }
                    Thread.sleep(forTimeInterval: 0.05)
                    continue
                }
                printed += String(decoding: data, as: UTF8.self)
                // The banner ends with the listening line, or (first start) with the line about feed keys.
                if let range = printed.range(of: #"listening on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression),
                   !printed.contains("First start") || printed.contains("Keys for feed services") {
                    self.port = Int(printed[range].split(separator: ":").last!)!
                    return
                }
            }
            if process.isRunning { process.terminate() }
            throw CommandFailure("the server did not say where it listens: \(printed)\(logTail())")
        }

        /// The last lines of the server's log, for a failure message ("" without a log).
        func logTail(lines: Int = 20) -> String {
            guard let log, let text = try? String(contentsOfFile: log, encoding: .utf8), !text.isEmpty else { return "" }
            return "\n--- last lines of \(log):\n" + text.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }

        /// One request; the status and the raw body. Throws when no answer came (refused, reset, timed out).
        func send(_ method: String, _ path: String, key: String?, body: Data? = nil, contentType: String = "application/json") async throws -> (Int, Data) {
            var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)\(path)")!)
            request.httpMethod = method
            if let key { request.setValue("Bearer \(key)", forHTTPHeaderField: "Authorization") }
            if let body {
                request.httpBody = body
                request.setValue(contentType, forHTTPHeaderField: "Content-Type")
            }
            let (data, response) = try await Self.session.data(for: request)
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, data)
        }

        /// One request with a JSON body (or none); the status and the answer as a JSON object ([:] when it is not one).
        func request(_ method: String, _ path: String, key: String?, body: String? = nil) async throws -> (Int, [String: Any]) {
            let (status, data) = try await send(method, path, key: key, body: body.map { Data($0.utf8) })
            let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:]
            return (status, json)
        }

        /// The sum of a Prometheus metric's samples (every label set) in `/metrics`; nil when it is not there.
        func metric(_ name: String, key: String) async throws -> Double? {
            let (status, data) = try await send("GET", "/metrics", key: key)
            guard status == 200 else { throw CommandFailure("GET /metrics answered \(status)") }
            var sum: Double?
            for line in String(decoding: data, as: UTF8.self).split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                guard parts.count >= 2 else { continue }
                let series = parts[0]
                guard series == name || series.hasPrefix(name + "{"), let value = Double(parts[1]) else { continue }
                sum = (sum ?? 0) + value
            }
            return sum
        }

        func kill9() {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }

        /// SIGTERM, then waits: a graceful stop.
        func stop() {
            guard process.isRunning else { return }
            process.terminate()
            process.waitUntilExit()
        }
    }
}
