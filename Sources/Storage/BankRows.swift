import Engine
import Foundation
import Learning

/// What both stores share about banks' rows: how an entry's columns read back, and the digest that finds an entry
/// already in a bank.
enum BankRows {
    static func digest(_ signature: BankSignature) -> String {
        var hasher = FNV1a64()
        hasher.add(signature.kind.rawValue)
        hasher.add(signature.value)
        return hasher.hex
    }

    static func feeds(_ bank: Bank) -> String? { bank.feeds.map { $0.joined(separator: ",") } }

    static func feeds(stored text: String?) -> [String]? {
        text.map { $0.isEmpty ? [] : $0.split(separator: ",").map(String.init) }
    }

    static func entry(id: Int64, bank: String, kind: String, value: String, quality: Int?, note: String?, feed: String?, itemID: String?,
                      ticketID: Int64?, labelID: Int64?, addedBy: String, addedAt: Double) throws -> BankEntry {
        guard let kind = BankSignature.Kind(rawValue: kind) else { throw StoreError.corruptRow("bank entry \(id): unknown kind \(kind)") }
        let signature: BankSignature
        do {
            signature = try BankSignature(kind: kind, value: value, quality: quality)
        } catch {
            throw StoreError.corruptRow("bank entry \(id): \(error.description)")
        }
        return BankEntry(id: id, bank: bank, signature: signature, note: note,
                         source: BankEntrySource(feed: feed, itemID: itemID, ticketID: ticketID, labelID: labelID),
                         addedBy: addedBy, addedAt: Date(timeIntervalSince1970: addedAt))
    }

    static func bank(name: String, label: String, action: String, feeds: String?, description: String?, version: Int, entries: Int,
                     createdBy: String, createdAt: Double, updatedAt: Double) throws -> Bank {
        guard let action = Action(rawValue: action) else { throw StoreError.corruptRow("bank \(name): unknown action \(action)") }
        return Bank(name: name, label: label, action: action, feeds: Self.feeds(stored: feeds), description: description, version: version,
                    entries: entries, createdBy: createdBy, createdAt: Date(timeIntervalSince1970: createdAt),
                    updatedAt: Date(timeIntervalSince1970: updatedAt))
    }
}
