import Foundation

/// A process's name in the leases it takes (webhook deliveries, retraining passes): `host:port:pid:random`, unique per
/// process. Its `identity`, `host:port`, stays the same when the node restarts, so a restarted node knows the leases
/// its earlier run held: that run is dead (two live processes cannot listen on one port), and waiting for those leases
/// to run out (30 s for a delivery, two hours for a pass) would hold the feed's events or the loop for nothing.
public struct NodeName: Sendable, Equatable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let name: String
    /// `host:port`; nil when the port is not fixed (0: any free port, as tests run servers) or the name was given.
    public let identity: String?

    public init(name: String, identity: String?) {
        self.name = name
        self.identity = identity
    }

    /// A fixed name with no identity (`winnow retrain` from cron, the simulator, tests).
    public init(stringLiteral value: String) {
        self.init(name: value, identity: nil)
    }

    /// This process's name, listening on `port`.
    public static func current(port: Int, host: String = ProcessInfo.processInfo.hostName) -> NodeName {
        let identity = port > 0 ? "\(host):\(port)" : nil
        let name = "\(identity ?? host):\(ProcessInfo.processInfo.processIdentifier):\(WebhookService.newEndpointID())"
        return NodeName(name: name, identity: identity)
    }

    /// Whether `holder` (a lease's holder: a node's name, or its name and `#n`) is an earlier run of this node.
    public func isEarlierRun(_ holder: String) -> Bool {
        guard let identity, holder.hasPrefix(identity + ":") else { return false }
        return holder != name && !holder.hasPrefix(name + "#")
    }

    public var description: String { name }
}
