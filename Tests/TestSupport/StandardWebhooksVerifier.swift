import Crypto
import Foundation

/// Standard Webhooks verification written here from the published scheme, independently of `WebhookSignature`:
/// HMAC-SHA256 over `id.timestamp.body` with the base64-decoded secret (after `whsec_`), compared with every `v1,`
/// signature of the header.
public enum StandardWebhooksVerifier {
    public static func verify(secret: String, id: String, timestamp: String, body: [UInt8], signatureHeader: String) -> Bool {
        guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))) else { return false }
        let mac = HMAC<SHA256>.authenticationCode(for: Array("\(id).\(timestamp).".utf8) + body, using: SymmetricKey(data: key))
        let expected = Data(mac).base64EncodedString()
        return signatureHeader.split(separator: " ").contains { $0 == "v1,\(expected)" }
    }
}

