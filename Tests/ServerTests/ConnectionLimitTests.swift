import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import ServiceLifecycle
import Testing

#if canImport(Glibc)
import Glibc
#endif

@testable import Server

/// A client on a bare TCP socket, for what no HTTP client library sends: headers a byte at a time, a body that never
/// ends, a chunk size that is not hex. Its waits run on a thread of their own: blocking one of the few threads of the
/// async runtime would starve the server under test.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw POSIXError(.ECONNREFUSED) }
    }

    deinit { close(fd) }

    /// Sends `text`; false when the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// What arrives within `seconds`, and whether the server closed the connection by then (stops at the close, or
    /// once `until` is found in what arrived).
    func read(for seconds: Double, until: String? = nil) async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.waitForData(seconds, until: until)) }
        }
    }

    private func waitForData(_ seconds: Double, until: String?) -> (text: String, closed: Bool) {
        var received: [UInt8] = []
        let end = Date().addingTimeInterval(seconds)
        while Date() < end {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let left = Int32(max(1, end.timeIntervalSinceNow * 1000))
            guard poll(&poller, 1, left) > 0 else { continue }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { return (String(decoding: received, as: UTF8.self), true) }
            received += buffer[0..<n]
            if let until, String(decoding: received, as: UTF8.self).contains(until) { break }
        }
        return (String(decoding: received, as: UTF8.self), false)
    }
}

/// The limits on connections (issue 17): before them, idle connections, slow header senders and slow body senders
/// all stayed open past 125 s, and only the open-file limit stopped new ones.
@Suite(.serialized) struct ConnectionLimitTests {
    /// Runs `body` with the port of a live server over a harness's routes, with its limits set by `configure`: the
    /// application `serve` runs (`WinnowServer.application`), on a free port. (Not HummingbirdTesting's `.live`:
    /// it rebinds the application to another address through `ApplicationConfiguration.with(address:)`, which drops
    /// the connection cap.)
    func live(_ configure: (inout ServerConfiguration) -> Void, _ body: @escaping @Sendable (Harness, Int) async throws -> Void) async throws {
        var configuration = ServerConfiguration()
        configuration.port = 0
        configure(&configuration)
        let h = try await Harness(configuration: configuration)
        let (router, _) = WinnowServer.buildRouter(WinnowServices(scoring: h.service, configuration: configuration, transport: h.transport), configuration: configuration)
        let (ports, bound) = AsyncStream<Int>.makeStream()
        let logger = Logger(label: "test")
        let app = WinnowServer.buildApplication(router: router, configuration: configuration, logger: logger) { port in bound.yield(port) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var next = ports.makeAsyncIterator()
            let port = try #require(await next.next())
            do {
                try await body(h, port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await live({ $0.idleTimeoutSeconds = 1 }) { _, port in
            let connection = try RawConnection(port: port)
            let start = Date()
            #expect(await connection.read(for: 4).closed)
            #expect(Date().timeIntervalSince(start) >= 0.9)
        }
    }

    @Test func aClientSendingItsHeadersSlowlyIsClosedWhenTheHeadIsNotCompleteInTime() async throws {
        try await live({ $0.idleTimeoutSeconds = 1 }) { _, port in
            let connection = try RawConnection(port: port)
            #expect(connection.send("GET /health HTTP/1.1\r\nHost: winnow\r\n"))
            var closed = false
            for n in 0..<15 where !closed {
                // A header line every 200 ms: always some bytes, never the end of the head.
                if !connection.send("X-Slow-\(n): yes\r\n") { closed = true } else { closed = await connection.read(for: 0.2).closed }
            }
            #expect(closed, "the connection was still open after 3 s of headers")
        }
    }

    @Test func aBodyThatDoesNotArriveInTimeClosesTheConnectionAndAnAnsweredOneDoesNot() async throws {
        try await live({ $0.bodyTimeoutSeconds = 1; $0.idleTimeoutSeconds = 10 }) { h, port in
            let key = h.keys[.feed]!
            let slow = try RawConnection(port: port)
            slow.send("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\": ")
            #expect(await slow.read(for: 4).closed)
            // A whole request on a connection of its own is answered, and the connection stays open for the next.
            let body = #"{"id": "fast", "text": "see you at six"}"#
            let fast = try RawConnection(port: port)
            fast.send("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)")
            let answer = await fast.read(for: 2, until: "\"fast\"")
            #expect(answer.text.hasPrefix("HTTP/1.1 201"))
            let after = await fast.read(for: 1.5)
            #expect(!after.closed)
        }
    }

    /// Outside testing: `Expect: 100-continue` was never answered, so curl held each body over 1 MiB back for a second.
    /// The server answers 100 as soon as the head arrives; the body then follows and gets its answer.
    @Test func expectContinueIsAnsweredAtOnce() async throws {
        try await live({ $0.idleTimeoutSeconds = 10 }) { h, port in
            let key = h.keys[.feed]!
            let body = #"{"id": "waited", "text": "see you at six"}"#
            let connection = try RawConnection(port: port)
            connection.send("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\n"
                            + "Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            let interim = await connection.read(for: 3, until: "\r\n\r\n")
            #expect(interim.text == "HTTP/1.1 100 Continue\r\n\r\n", "\(interim.text.debugDescription)")
            connection.send(body)
            let answer = await connection.read(for: 3, until: "\"waited\"")
            #expect(answer.text.hasPrefix("HTTP/1.1 201"), "\(answer.text)")
            // A request without the header gets no 100.
            let plain = try RawConnection(port: port)
            plain.send("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\n")
            #expect(await plain.read(for: 2, until: "ok").text.hasPrefix("HTTP/1.1 200"))
        }
    }

    /// Outside testing: a body over the limit was read up to the limit before its 413, and `Expect: 100-continue` was
    /// answered 100 whatever the declared length. A `Content-Length` over the route's limit is refused from the head,
    /// before any of the body is sent; over the largest limit of any route, without a 100 first.
    @Test func aBodyDeclaredOverTheLimitIsRefusedFromItsHead() async throws {
        try await live({ $0.idleTimeoutSeconds = 10; $0.maxBodyBytes = 4_096 }) { h, port in
            let key = h.keys[.feed]!
            let head = "Host: winnow\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\n"
            let waiting = try RawConnection(port: port)
            waiting.send("POST /v1/items HTTP/1.1\r\n\(head)Expect: 100-continue\r\nContent-Length: 1000000000\r\n\r\n")
            let refused = await waiting.read(for: 3, until: "}}")
            #expect(refused.text.hasPrefix("HTTP/1.1 413"), "\(refused.text.debugDescription)")
            #expect(refused.text.contains(#""code":"body_too_large""#), "\(refused.text)")
            // Over this route's limit (4 KiB for a report) but under the largest: refused without the body.
            let report = try RawConnection(port: port)
            report.send("POST /v1/items/x/reports HTTP/1.1\r\n\(head)Content-Length: 8192\r\n\r\n")
            let early = await report.read(for: 3, until: "}}")
            #expect(early.text.hasPrefix("HTTP/1.1 413"), "\(early.text.debugDescription)")
            #expect(early.text.contains("over 4096 bytes"), "\(early.text)")
            // Then the connection closes: the body is not read to its end first (outside testing: a declared 10^12
            // bytes held the connection open for them).
            let closed = early.closed ? true : await report.read(for: 3).closed
            #expect(closed)
            // A model file (256 MiB at most, the largest body of all): over it, no 100 either.
            let model = try RawConnection(port: port)
            model.send("POST /v1/models HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(h.keys[.admin]!)\r\n"
                       + "Content-Type: application/octet-stream\r\nExpect: 100-continue\r\nContent-Length: \((256 << 20) + 1)\r\n\r\n")
            let file = await model.read(for: 3, until: "}}")
            #expect(file.text.hasPrefix("HTTP/1.1 413") && file.text.contains("at most 256 MiB"), "\(file.text.debugDescription)")
            // Each route's own limit decides the 100 (outside testing: every length up to the largest limit got one, and
            // curl sent a 2 MiB body to a route of 1 MiB): at the limit a 100, one byte over it the 413 alone.
            let admin = h.keys[.admin]!
            for (method, path, limit) in [("POST", "/v1/items/x/engagement", 4_096), ("PUT", "/v1/policies/default", 4_096),
                                          ("POST", "/v1/items:batch", 8 << 20), ("POST", "/v1/labels", 8 << 20),
                                          ("POST", "/v1/items", 16 << 20), ("POST", "/v1/banks/te/entries", 16 << 20)] {
                for length in [limit, limit + 1] {
                    let connection = try RawConnection(port: port)
                    connection.send("\(method) \(path) HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(admin)\r\nContent-Type: application/json\r\n"
                                    + "Expect: 100-continue\r\nContent-Length: \(length)\r\n\r\n")
                    let answer = await connection.read(for: 3, until: length == limit ? "\r\n\r\n" : "}}")
                    let expected = length == limit ? "HTTP/1.1 100 Continue" : "HTTP/1.1 413"
                    #expect(answer.text.hasPrefix(expected), "\(method) \(path) \(length): \(answer.text.debugDescription)")
                }
            }
            // Within the limit, 100 and then the answer, as before.
            let body = #"{"id": "small", "text": "see you at six"}"#
            let small = try RawConnection(port: port)
            small.send("POST /v1/items HTTP/1.1\r\n\(head)Expect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
            #expect(await small.read(for: 3, until: "\r\n\r\n").text == "HTTP/1.1 100 Continue\r\n\r\n")
            small.send(body)
            #expect(await small.read(for: 3, until: "\"small\"").text.hasPrefix("HTTP/1.1 201"))
        }
    }

    /// Outside testing: `Transfer-Encoding: gzip, chunked` was read as chunked alone, the compressed bytes then parsed
    /// as JSON (a 400 about the JSON), and `Content-Encoding` was not read at all. A coding the server does not decode
    /// is refused by name: 501 for a transfer coding, 415 for a content coding; nothing is stored. Chunked alone works.
    @Test func aBodyCodedAsTheServerCannotDecodeIsRefusedByName() async throws {
        try await live({ $0.idleTimeoutSeconds = 10 }) { h, port in
            let key = h.keys[.feed]!
            let head = "POST /v1/items HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(key)\r\nContent-Type: application/json\r\n"
            func chunked(_ body: String) -> String { String(body.utf8.count, radix: 16) + "\r\n" + body + "\r\n0\r\n\r\n" }
            let gzipped = try RawConnection(port: port)
            gzipped.send(head + "Transfer-Encoding: gzip, chunked\r\n\r\n" + chunked(#"{"id": "gz-1", "text": "hello there"}"#))
            let refused = await gzipped.read(for: 3, until: "}}")
            #expect(refused.text.hasPrefix("HTTP/1.1 501"), "\(refused.text)")
            #expect(refused.text.contains(#""code":"unsupported_transfer_coding""#) && refused.text.contains(#""field":"Transfer-Encoding""#), "\(refused.text)")
            #expect(refused.text.contains("'gzip'"), "\(refused.text)")
            let body = #"{"id": "ce-1", "text": "hello there"}"#
            let compressed = try RawConnection(port: port)
            compressed.send(head + "Content-Encoding: gzip\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body)
            let unsupported = await compressed.read(for: 3, until: "}}")
            #expect(unsupported.text.hasPrefix("HTTP/1.1 415"), "\(unsupported.text)")
            #expect(unsupported.text.contains(#""code":"unsupported_content_coding""#) && unsupported.text.contains(#""field":"Content-Encoding""#), "\(unsupported.text)")
            #expect(try await h.send(.get, "/v1/items/gz-1", as: .feed).status == .notFound)
            #expect(try await h.send(.get, "/v1/items/ce-1", as: .feed).status == .notFound)
            // Chunked alone, and identity, are read as they are.
            let plain = try RawConnection(port: port)
            plain.send(head + "Transfer-Encoding: chunked\r\nContent-Encoding: identity\r\n\r\n" + chunked(#"{"id": "ch-1", "text": "hello there"}"#))
            let created = await plain.read(for: 3, until: "\"ch-1\"")
            #expect(created.text.hasPrefix("HTTP/1.1 201"), "\(created.text)")
        }
    }

    /// Outside testing: an HTTP/1.0 request without keep-alive got its answer and then an open connection until the
    /// idle timeout (ab and health checkers wait for the close). The connection closes after the answer when the client
    /// asked for it in any of HTTP/1's ways, and stays open when it did not.
    @Test(arguments: [
        ("GET /health HTTP/1.0\r\n\r\n", true),
        ("GET /health HTTP/1.1\r\nHost: winnow\r\nConnection: Close\r\n\r\n", true),
        ("GET /health HTTP/1.1\r\nHost: winnow\r\nConnection: te, close\r\n\r\n", true),
        ("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false),
        ("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\n", false),
    ])
    func theConnectionClosesAfterTheAnswerWhenTheClientAsked(request: String, closes: Bool) async throws {
        try await live({ $0.idleTimeoutSeconds = 20 }) { _, port in
            let connection = try RawConnection(port: port)
            connection.send(request)
            let answer = await connection.read(for: 3, until: "ok\"}")
            #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text)")
            let after = await connection.read(for: closes ? 3 : 1.5)
            #expect(after.closed == closes, "\(request.debugDescription)")
        }
    }

    @Test func connectionsBeyondTheCapWaitUntilOneCloses() async throws {
        try await live({ $0.maxConnections = 2; $0.idleTimeoutSeconds = 30 }) { _, port in
            var holders = [try RawConnection(port: port), try RawConnection(port: port)]
            try await Task.sleep(for: .milliseconds(200))
            let third = try RawConnection(port: port)  // the kernel accepts it into the backlog
            third.send("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\n")
            #expect(await third.read(for: 1, until: "\r\n\r\n").text.isEmpty, "a third connection was served beyond the cap of 2")
            holders.removeFirst()  // closes one
            #expect(await third.read(for: 3, until: "ok").text.hasPrefix("HTTP/1.1 200"))
            _ = holders
        }
    }

    /// Outside testing: 1,100 sockets from one client sending their headers slowly held every connection slot for the
    /// idle timeout. One address holds at most `maxConnectionsPerAddress`; a further connection is closed at once, and
    /// served again once one of the address's closes.
    @Test func oneAddressHoldsAtMostItsShareOfConnections() async throws {
        try await live({ $0.maxConnectionsPerAddress = 2; $0.idleTimeoutSeconds = 30 }) { _, port in
            var holders = [try RawConnection(port: port), try RawConnection(port: port)]
            holders[0].send("GET /hea")  // a head sent slowly, never finished
            try await Task.sleep(for: .milliseconds(200))
            let third = try RawConnection(port: port)
            third.send("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\n")
            let refused = await third.read(for: 3)
            #expect(refused.closed && refused.text.isEmpty, "a third connection from one address was served beyond its 2: \(refused.text)")
            holders.removeFirst()  // closes one
            try await Task.sleep(for: .milliseconds(200))
            let fourth = try RawConnection(port: port)
            fourth.send("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\n")
            #expect(await fourth.read(for: 3, until: "ok").text.hasPrefix("HTTP/1.1 200"))
            _ = holders
        }
    }

    /// Issue 17: `Transfer-Encoding: chunked` with the chunk size `zz` answered 500.
    @Test func aMalformedChunkedBodyIsA400() async throws {
        try await live({ _ in }) { h, port in
            let connection = try RawConnection(port: port)
            connection.send("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nAuthorization: Bearer \(h.keys[.feed]!)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{\"id\": \"a\"}\r\n0\r\n\r\n")
            let answer = await connection.read(for: 3, until: "}}")
            #expect(answer.text.hasPrefix("HTTP/1.1 400"), "\(answer.text)")
            #expect(answer.text.contains("\"malformed_request\""))
        }
    }

    /// Issue 17: an over-long URL or header answered 400 with an empty body. Now the API's JSON error says what to
    /// fix, and the connection closes (its framing cannot be trusted).
    @Test(arguments: ["url", "header"])
    func anOverlongHeadIsA400NamingTheLimit(_ part: String) async throws {
        try await live({ _ in }) { h, port in
            let connection = try RawConnection(port: port)
            let long = String(repeating: "a", count: 100_000)
            let head = part == "url"
                ? "GET /v1/items/\(long) HTTP/1.1\r\nHost: winnow\r\n\r\n"
                : "GET /health HTTP/1.1\r\nHost: winnow\r\nX-Long: \(long)\r\n\r\n"
            connection.send(head)
            let answer = await connection.read(for: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 400"), "\(answer.text.prefix(300))")
            #expect(answer.text.lowercased().contains("content-type: application/json"))
            #expect(answer.text.contains(#""code":"malformed_request""#))
            #expect(answer.text.contains("over the server's limit"))
            #expect(answer.closed)
        }
    }

    /// Outside testing: a `Content-Length` of 10^30 was answered with NIO's own words ("invalid character in
    /// content-length header"), and a method nobody knows with "not valid HTTP/1.1 (invalidMethod)". Each error the
    /// parser finds in a request's head says the rule the client broke. The parser cannot tell an unknown method from
    /// bytes that are not HTTP (a TLS handshake), so that 400's message names both.
    @Test(arguments: [
        ("FROB /health HTTP/1.1\r\nHost: winnow\r\n\r\n", "GET, HEAD, POST, PUT, PATCH and DELETE), or the bytes are not HTTP at all (TLS sent to a plain-HTTP port"),
        ("\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}\u{00}\u{01}\u{fc}\u{03}\u{03}", "GET, HEAD, POST, PUT, PATCH and DELETE), or the bytes are not HTTP at all (TLS sent to a plain-HTTP port"),
        ("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nContent-Length: 1000000000000000000000000000000\r\n\r\n", "one whole number of bytes, in digits, below 2^64"),
        ("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nContent-Length: 12a\r\n\r\n", "one whole number of bytes, in digits, below 2^64"),
        ("GET /health HTTP/7.5\r\nHost: winnow\r\n\r\n", "not HTTP/1.0 or HTTP/1.1"),
        ("GET /health HTTP/1.1\nHost: winnow\n\n", "or its lines end in a bare LF"),
        ("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "two Content-Length headers"),
        // RFC 9112 §6.3: a body whose length cannot be known (it was answered 501 and then read as the next request).
        ("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nTransfer-Encoding: gzip\r\n\r\n{\"id\": \"x\"}", "The Transfer-Encoding 'gzip' does not end in chunked"),
    ])
    func aBadHeadSaysTheRuleItBroke(_ request: String, rule: String) async throws {
        try await live({ _ in }) { _, port in
            let connection = try RawConnection(port: port)
            connection.send(request)
            let answer = await connection.read(for: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 400"), "\(answer.text.prefix(300))")
            #expect(answer.text.contains(#""code":"malformed_request""#))
            #expect(answer.text.contains(rule), "\(answer.text)")
            #expect(answer.closed)
        }
    }

    /// Outside testing: two `Host` headers were accepted (the first read as the authority, the second passed on), the
    /// way a request is smuggled past a proxy that reads the other. RFC 9112 §3.2: 400 for more than one, and for an
    /// HTTP/1.1 request with none; HTTP/1.0 may leave it out. A refusal after an answered request comes after that
    /// answer.
    @Test(arguments: [
        ("GET /health HTTP/1.1\r\nHost: winnow\r\nHost: other\r\n\r\n", "2 Host headers"),
        ("POST /v1/items HTTP/1.1\r\nHost: winnow\r\nhost: winnow\r\nContent-Length: 2\r\n\r\n{}", "2 Host headers"),
        ("GET /health HTTP/1.1\r\n\r\n", "no Host header"),
        ("GET /health HTTP/1.1\r\nHost: a, b\r\n\r\n", "The Host header 'a, b' is not a host name and port"),
        ("GET /health HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", nil),
        ("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\nGET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "2 Host headers"),
        ("GET /health HTTP/1.0\r\n\r\n", nil),
    ])
    func aRequestNeedsExactlyOneHost(_ request: String, refusal: String?) async throws {
        try await live({ _ in }) { _, port in
            let connection = try RawConnection(port: port)
            connection.send(request)
            let answer = await connection.read(for: 5)
            guard let refusal else {
                #expect(answer.text.hasPrefix("HTTP/1.1 200"), "\(answer.text.debugDescription)")
                return
            }
            // The status lines' codes ("HTTP/1.1 request" in a message is not one).
            let statuses = answer.text.matches(of: try Regex(#"HTTP/1\.1 (\d{3}) "#)).compactMap { $0.output[1].substring.map(String.init) }
            #expect(statuses.last == "400", "\(answer.text.debugDescription)")
            #expect(statuses.dropLast().allSatisfy { $0 == "200" })
            #expect(answer.text.contains(#""code":"malformed_request""#) && answer.text.contains(refusal), "\(answer.text)")
            #expect(answer.closed)
        }
    }

    /// Outside testing: a target in absolute form (`http://host/path`, which servers must take) passed NIO's
    /// conversion re-encoded, so a fragment was dropped and a bad '%' read as a value, where origin form refuses both.
    /// It is read as origin form with the target's host (RFC 9112 §3.2.2), and meets the same checks.
    @Test(arguments: [
        ("GET http://x/health HTTP/1.1\r\nHost: winnow\r\n\r\n", "200", nil),
        ("GET HTTP://x:8080?x HTTP/1.1\r\nHost: winnow\r\n\r\n", "404", nil),
        ("GET http://x/health#frag HTTP/1.1\r\nHost: winnow\r\n\r\n", "400", "has a fragment"),
        ("GET http://x/v1/items/a?feed=%zz HTTP/1.1\r\nHost: winnow\r\n\r\n", "400", "not valid percent-encoding"),
        ("GET http://x/v1/items/a%zz HTTP/1.1\r\nHost: winnow\r\n\r\n", "404", "not a valid percent-encoded item id"),
        ("GET http://user@x/health HTTP/1.1\r\nHost: winnow\r\n\r\n", "400", "The Host header 'user@x' is not a host name and port"),
    ] as [(String, String, String?)])
    func anAbsoluteTargetMeetsTheChecksOfOriginForm(_ request: String, status: String, message: String?) async throws {
        try await live({ _ in }) { h, port in
            let connection = try RawConnection(port: port)
            connection.send(request.replacingOccurrences(of: "Host: winnow\r\n", with: "Host: winnow\r\nAuthorization: Bearer \(h.keys[.feed]!)\r\n"))
            let answer = await connection.read(for: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 \(status)"), "\(answer.text.prefix(400))")
            if let message { #expect(answer.text.contains(message), "\(answer.text)") }
        }
    }

    /// A malformed head after an answered request on the same connection: the first answer arrives whole, then the
    /// JSON 400.
    @Test func aMalformedHeadAfterAnAnsweredRequestGetsItsOwnAnswer() async throws {
        try await live({ _ in }) { h, port in
            let connection = try RawConnection(port: port)
            connection.send("GET /health HTTP/1.1\r\nHost: winnow\r\n\r\nNOT-HTTP\r\n\r\n")
            let answer = await connection.read(for: 5)
            #expect(answer.text.hasPrefix("HTTP/1.1 200 OK\r\n"), "\(answer.text.debugDescription)")
            let second = try #require(answer.text.range(of: #"{"status":"ok"}HTTP/1.1 400 Bad Request\#r\#n"#))
            #expect(answer.text[second.upperBound...].contains(#""code":"malformed_request""#))
            #expect(answer.text.components(separatedBy: "\r\n\r\n").count == 3)  // two answers, nothing more
            #expect(answer.closed)
        }
    }
}
