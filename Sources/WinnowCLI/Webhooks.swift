import ArgumentParser
import Engine
import Foundation
import Services

/// `winnow webhooks set|show|test|remove`: a feed's webhook, through the server's API (admin key).
struct Webhooks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set, show, test and remove the webhooks that push decision changes to feeds (admin key).",
        discussion: """
            A feed's webhook receives every change of one of its items' decisions (a rescore crossing a cut-off, a \
            reviewer's decision, an appeal's outcome, an undo, a corrected label) as signed Standard Webhooks \
            messages, in order, retried until the receiver answers 2xx. Feeds without an endpoint read the same \
            events from GET /v1/changes.

            Examples:
              winnow webhooks set --feed news https://news.example/winnow-events
              winnow webhooks show --feed news
              winnow webhooks test --feed news
              winnow webhooks remove --feed news
            """,
        subcommands: [SetWebhook.self, Show.self, Test.self, Remove.self])

    typealias Answer = WebhookView
    struct FeedOption: ParsableArguments {
        @Option(help: "The feed.") var feed: String

        func validate() throws {
            guard Policy.isValidFeed(feed) else { throw ValidationError("--feed: \(PolicyError.invalidFeed(feed).description)") }
        }
    }

    struct SetWebhook: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract: "Point a feed's webhook at a URL; prints the signing secret once.",
            discussion: """
                Winnow makes the secret unless --secret gives one (whsec_ and base64 of 24-64 random bytes); keep it: \
                the receiver verifies every message with it, and it is never shown again. Setting a webhook again \
                keeps its place: no event is skipped or sent twice because of it.

                Examples:
                  winnow webhooks set --feed news https://news.example/hook
                  winnow webhooks set --feed news https://news.example/hook \\
                    --events review --events appeal
                  winnow webhooks set --feed news https://news.example/hook \\
                    --secret-stdin < news-secret.txt
                """)

        @OptionGroup var server: ClientOptions
        @OptionGroup var target: FeedOption
        @Argument(help: ArgumentHelp("The receiver's http(s) URL.", valueName: "endpoint")) var endpoint: String
        @Option(help: "The signing secret (default: a new one). Visible to other users in the process list: prefer --secret-stdin.")
        var secret: String?
        @Flag(help: "Read the signing secret from standard input (one line).") var secretStdin = false
        @Option(help: "What to deliver (repeatable; default everything): a decision cause or retraining (the retraining loop's steps): \(EventTopic.allCases.map(\.rawValue).joined(separator: ", ")).")
        var events: [String] = []
        @Flag(help: "Print the server's answer as JSON.") var json = false

        func run() async throws {
            var body: [String: Any] = ["url": endpoint]
            if secretStdin {
                guard secret == nil else { throw ValidationError("Give the secret with --secret or --secret-stdin, not both.") }
                guard let line = readLine(), !line.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw CommandError("--secret-stdin: standard input held no secret; pipe one line like whsec_….")
                }
                body["secret"] = line.trimmingCharacters(in: .whitespaces)
            } else if let secret {
                body["secret"] = secret
            }
            if !events.isEmpty { body["events"] = events }
            let client = try server.client()
            let data = try await client.send("PUT", "/v1/feeds/\(target.feed)/webhook", body: body)
            if json { return print(String(decoding: data, as: UTF8.self)) }
            let answer = try client.decode(Answer.self, data)
            print((answer.replaced == true ? "Replaced" : "Set") + " the webhook of feed \(answer.feed): \(answer.url)")
            if let secret = answer.secret { print("Signing secret (shown once, keep it): \(secret)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a feed's webhook (or every feed's): state, pending events, lag, failures.",
            discussion: """
                Examples:
                  winnow webhooks show --feed news
                  winnow webhooks show --json
                """)

        @OptionGroup var server: ClientOptions
        @Option(help: "The feed (default: every feed with a webhook).") var feed: String?
        @Flag(help: "Print the server's answer as JSON.") var json = false

        func run() async throws {
            let client = try server.client()
            if let feed {
                guard Policy.isValidFeed(feed) else { throw ValidationError("--feed: \(PolicyError.invalidFeed(feed).description)") }
                let data = try await client.send("GET", "/v1/feeds/\(feed)/webhook")
                if json { return print(String(decoding: data, as: UTF8.self)) }
                return print(try client.decode(Answer.self, data).lines.joined(separator: "\n"))
            }
            struct List: Decodable { var webhooks: [Answer] }
            let data = try await client.send("GET", "/v1/webhooks")
            if json { return print(String(decoding: data, as: UTF8.self)) }
            let list = try client.decode(List.self, data).webhooks
            if list.isEmpty { return print("No feed has a webhook. Set one with: winnow webhooks set --feed FEED URL") }
            print(list.map { $0.lines.joined(separator: "\n") }.joined(separator: "\n\n"))
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a signed test message to a feed's webhook now and say what the receiver answered.",
            discussion: """
                Exits with 1 when the receiver did not take it.

                Example:
                  winnow webhooks test --feed news
                """)

        @OptionGroup var server: ClientOptions
        @OptionGroup var target: FeedOption
        @Flag(help: "Print the server's answer as JSON.") var json = false

        func run() async throws {
            let client = try server.client()
            let data = try await client.send("POST", "/v1/feeds/\(target.feed)/webhook/test")
            let result = try client.decode(WebhookService.TestResult.self, data)
            if json {
                print(String(decoding: data, as: UTF8.self))
            } else if result.delivered {
                print("Delivered \(result.messageID): the receiver answered \(result.status ?? 0) in \(FixedText.format(result.milliseconds, places: 0)) ms.")
            } else {
                print("Not delivered (\(result.messageID)): \(Terminal.visible(result.error ?? "no answer")).")
            }
            if !result.delivered { throw ExitCode(1) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a feed's webhook (its events stay readable from GET /v1/changes while they are kept).",
            discussion: """
                Example:
                  winnow webhooks remove --feed news
                """)

        @OptionGroup var server: ClientOptions
        @OptionGroup var target: FeedOption

        func run() async throws {
            _ = try await server.client().send("DELETE", "/v1/feeds/\(target.feed)/webhook")
            print("Removed the webhook of feed \(target.feed).")
        }
    }
}

extension WebhookView {
    /// What an admin reads: the endpoint, its state and its figures, one fact per line.
    var lines: [String] {
        var out = ["Feed \(feed): \(url)", "  State: \(state)", "  Causes: \(events?.joined(separator: ", ") ?? "every change")",
                   "  Delivered: \(delivery.delivered) events (every event up to #\(delivery.deliveredThrough))",
                   "  Pending: \(delivery.pending)" + (delivery.pending > 0 ? ", the oldest waiting \(FixedText.format(delivery.lagSeconds, places: 1)) s" : ""),
                   "  Failed attempts: \(delivery.failedAttempts)"]
        if let error = delivery.lastError, delivery.attemptsSinceSuccess > 0 {
            out.append("  Failing since \(delivery.failingSince.map(ISOTime.format) ?? "?"): \(error) (\(delivery.attemptsSinceSuccess) attempts)")
            if let next = delivery.nextAttemptAt { out.append("  Next attempt: \(ISOTime.format(next))") }
        }
        if let last = delivery.lastSuccessAt { out.append("  Last delivery: \(ISOTime.format(last))") }
        out.append("  Set by \(createdBy) at \(ISOTime.format(createdAt))")
        return out
    }
}
