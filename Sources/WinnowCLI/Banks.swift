import ArgumentParser
import Engine
import Foundation
import Services

/// `winnow banks list|create|show|add|remove|import|export`: banks of signatures of decided content, through the
/// server's API (admin key).
struct Banks: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage the banks that catch copies of decided content at creation (admin key).",
        discussion: """
            A bank is a named, versioned set of signatures (texts, PDQ hashes of images, frame hashes of videos) with \
            the label and the action a match applies at stage 1, before the classifier decides. Reviewers' removals \
            fill each feed's automatic banks (engine.banks); admins add entries and import ThreatExchange-style PDQ \
            hash lists.

            Examples:
              winnow banks create spam-wave --label spam --action remove
              winnow banks add spam-wave --text "claim your free prize at the link below"
              winnow banks add spam-wave --image scam.jpg --note "campaign 12"
              winnow banks import known-scams hashes.csv
              winnow banks export known-scams --output hashes.csv
              winnow banks list
            """,
        subcommands: [List.self, Create.self, Show.self, Add.self, Remove.self, Import.self, Export.self])

    static func object(_ data: Data) throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw CommandError("The server's answer was not a JSON object.") }
        return object
    }

    static func line(_ bank: [String: Any]) -> String {
        let feeds = (bank["feeds"] as? [String]).map { $0.isEmpty ? "no feed" : $0.joined(separator: ",") } ?? "every feed"
        return "\(bank["name"] as? String ?? "?")  \(bank["label"] as? String ?? "?") → \(bank["action"] as? String ?? "?")  "
            + "v\(bank["version"] as? Int ?? 0), \(bank["entries"] as? Int ?? 0) entries, \(feeds)"
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the banks.")
        @OptionGroup var server: ClientOptions
        @Flag(help: "Print the server's answer as JSON.") var json = false

        func run() async throws {
            let data = try await server.client().send("GET", "/v1/banks")
            if json { return print(String(decoding: data, as: UTF8.self)) }
            let banks = try Banks.object(data)["banks"] as? [[String: Any]] ?? []
            if banks.isEmpty { return print("No banks yet. Create one with: winnow banks create NAME --label LABEL --action remove") }
            for bank in banks { print(Banks.line(bank)) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a bank, or change an existing one's label, action, feeds and description.",
            discussion: """
                Examples:
                  winnow banks create spam-wave --label spam --action remove
                  winnow banks create known-scams --label spam --action review \\
                    --feed sms --feed web
                """)
        @OptionGroup var server: ClientOptions
        @Argument(help: "The bank's name (a-z, 0-9, '-', '_', '.').") var name: String
        @Option(help: "The class a match applies.") var label: String
        @Option(help: "The action a match applies: allow, demote, review or remove.") var action: String
        @Option(help: "A feed it applies to (repeatable; default every feed).") var feed: [String] = []
        @Option(help: "What the bank holds, for people.") var description: String?
        @Flag(help: "Print the server's answer as JSON.") var json = false

        func validate() throws {
            guard Bank.isValidName(name) else { throw ValidationError("A bank name is 1 to 64 of a-z, 0-9, '-', '_' and '.', starting with a letter or digit.") }
            guard Action(rawValue: action) != nil else { throw ValidationError("--action is allow, demote, review or remove, not '\(action)'.") }
        }

        func run() async throws {
            var body: [String: Any] = ["label": label, "action": action]
            if !feed.isEmpty { body["feeds"] = feed }
            if let description { body["description"] = description }
            let data = try await server.client().send("PUT", "/v1/banks/\(name)", body: body)
            if json { return print(String(decoding: data, as: UTF8.self)) }
            print(Banks.line(try Banks.object(data)))
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a bank and its entries (newest last).")
        @OptionGroup var server: ClientOptions
        @Argument(help: "The bank.") var name: String
        @Option(help: "Entries to show at most.") var limit = 100
        @Flag(help: "Print the entries' page as JSON.") var json = false

        func run() async throws {
            let client = try server.client()
            let bank = try Banks.object(try await client.send("GET", "/v1/banks/\(name)"))
            let data = try await client.send("GET", "/v1/banks/\(name)/entries?limit=\(max(1, min(limit, 1_000)))")
            if json { return print(String(decoding: data, as: UTF8.self)) }
            print(Banks.line(bank))
            for entry in try Banks.object(data)["entries"] as? [[String: Any]] ?? [] {
                let source = entry["source"] as? [String: Any] ?? [:]
                let from = (source["ticketID"] as? Int).map { " from ticket \($0)" } ?? ""
                let value = entry["value"] as? String ?? ""
                print("  \(entry["id"] as? Int ?? 0)  \(entry["kind"] as? String ?? "?")  \(value.prefix(64))\(value.count > 64 ? "…" : "")\(from)"
                      + ((entry["note"] as? String).map { "  (\($0))" } ?? ""))
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add an entry: a text, a PDQ hash, or an image or video file (hashed by the server and dropped).",
            discussion: """
                Examples:
                  winnow banks add spam-wave --text "claim your free prize at the link below"
                  winnow banks add spam-wave --quality 100 \\
                    --pdq f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22
                  winnow banks add spam-wave --image scam.jpg
                  winnow banks add spam-wave --video clip.mp4
                """)
        @OptionGroup var server: ClientOptions
        @Argument(help: "The bank.") var name: String
        @Option(help: "A text to sign (at least 4 words).") var text: String?
        @Option(help: "An image's PDQ hash (64 hex digits).") var pdq: String?
        @Option(help: "The PDQ hash's quality (0-100).") var quality = 100
        @Option(help: "An image file (JPEG, PNG or WebP).", completion: .file()) var image: String?
        @Option(help: "A video file.", completion: .file()) var video: String?
        @Option(help: "A note kept with the entry.") var note: String?
        @Flag(help: "Print the server's answer as JSON.") var json = false

        func validate() throws {
            guard [text != nil, pdq != nil, image != nil, video != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("Give exactly one of --text, --pdq, --image and --video.")
            }
        }

        func run() async throws {
            var entry: [String: Any]
            if let text {
                entry = ["type": "text", "text": text]
            } else if let pdq {
                entry = ["type": "image", "pdq": pdq, "quality": quality]
            } else {
                let path = image ?? video!
                guard let bytes = FileManager.default.contents(atPath: path) else { throw CommandError.data("Cannot read \(path): check the path.") }
                entry = ["type": image != nil ? "image" : "video", "data": bytes.base64EncodedString()]
            }
            if let note { entry["note"] = note }
            let data = try await server.client().send("POST", "/v1/banks/\(name)/entries", body: ["entries": [entry]])
            if json { return print(String(decoding: data, as: UTF8.self)) }
            let answer = try Banks.object(data)
            for added in answer["entries"] as? [[String: Any]] ?? [] {
                print("Entry \(added["id"] as? Int ?? 0) (\(added["kind"] as? String ?? "?")): \(added["value"] as? String ?? "")")
            }
            if let bank = answer["bank"] as? [String: Any] { print(Banks.line(bank)) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an entry (--entry), or the whole bank.")
        @OptionGroup var server: ClientOptions
        @Argument(help: "The bank.") var name: String
        @Option(help: "The entry to remove; without it the bank and all its entries go.") var entry: Int64?

        func run() async throws {
            let client = try server.client()
            if let entry {
                let bank = try Banks.object(try await client.send("DELETE", "/v1/banks/\(name)/entries/\(entry)"))
                print("Removed entry \(entry). " + Banks.line(bank))
            } else {
                _ = try await client.send("DELETE", "/v1/banks/\(name)")
                print("Removed bank \(name) and its entries.")
            }
        }
    }

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add the PDQ hashes of a hash-list CSV (a hash column, optionally quality and note).",
            discussion: """
                The file is a ThreatExchange-style PDQ hash list: a header naming a `hash` (or `pdq`) column and \
                optionally `quality` and `note`, or no header with the hash first and its quality second. A bad line \
                refuses the whole file, naming the line.
                """)
        @OptionGroup var server: ClientOptions
        @Argument(help: "The bank.") var name: String
        @Argument(help: "The CSV file.", completion: .file()) var file: String

        func run() async throws {
            guard let bytes = FileManager.default.contents(atPath: file) else { throw CommandError.data("Cannot read \(file): check the path.") }
            let answer = try Banks.object(try await server.client().send("POST", "/v1/banks/\(name)/import", data: bytes, contentType: "text/csv"))
            print("Imported \(answer["added"] as? Int ?? 0) hashes (\(answer["existing"] as? Int ?? 0) already in the bank).")
            if let bank = answer["bank"] as? [String: Any] { print(Banks.line(bank)) }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Write the bank's PDQ hashes as a hash-list CSV.")
        @OptionGroup var server: ClientOptions
        @Argument(help: "The bank.") var name: String
        @Option(help: "Where to write it (default: standard output).", completion: .file()) var output: String?

        func run() async throws {
            let data = try await server.client().send("GET", "/v1/banks/\(name)/export")
            if let output {
                do { try data.write(to: URL(fileURLWithPath: output)) } catch {
                    // Said in words (outside testing: Foundation's "Code=4" and "Code=512 (null)").
                    throw CommandError("Cannot write \(output) (\(DataFileReader.reason(error, path: output))); check that its folder exists and is writable.")
                }
                print("Wrote \(max(0, String(decoding: data, as: UTF8.self).split(separator: "\n").count - 1)) hashes to \(output).")
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }
}
