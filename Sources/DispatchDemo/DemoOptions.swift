/// How the demo runs: fixed default ports (flags change them), how long, where its files go.
public struct DemoOptions: Sendable {
    public var host = "127.0.0.1"
    /// KubeSim's API server (the kubeconfig points here).
    public var apiPort = 16443
    public var webhookPort = 18443
    public var proxyPort = 18080
    public var adminPort = 19090
    /// How long to keep running after the steps; `nil` until interrupted.
    public var duration: Duration?
    /// Where the kubeconfig, rules, token and certificates go; a new temporary directory when `nil`.
    public var directory: String?
    /// Calls per function in each invocation step.
    public var callsPerFunction = 10
    /// Longest wait for functions to become Ready or for a change to be seen.
    public var stepTimeout: Duration = .seconds(60)

    public init() {}
}

/// A step of the demo did not behave as expected.
public struct DemoFailure: Error, CustomStringConvertible {
    public var step: String
    public var reason: String
    public var description: String { "\(step): \(reason)" }
}
