import ArgumentParser
import DispatchDemo
import Logging
import ServiceLifecycle
import UnixSignals

/// `direktiv-dispatch demo`: the simulated three-cluster setup with the agent, step by step.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run KubeSim's seed scenario with the agent and show placement, invocations, a failing peer and an override.",
        discussion: """
            Everything runs in this process on loopback; no Kubernetes is needed. After the steps the \
            agent and KubeSim keep running (try the printed commands) until Ctrl-C or --duration.
            Exit status: 0 when every step behaved as expected, 1 otherwise (the reason is printed).
            """
    )

    @Option(help: "Address everything listens on.")
    var host = "127.0.0.1"

    @Option(help: "KubeSim's API server port (the kubeconfig points here; 0 picks a free one).")
    var apiPort = 16443

    @Option(help: "The agent's webhook port.")
    var webhookPort = 18443

    @Option(help: "The agent's proxy port.")
    var proxyPort = 18080

    @Option(help: "The agent's admin port (/metrics, /v1).")
    var adminPort = 19090

    @Option(help: "Stop this many seconds after the steps (default: run until Ctrl-C).")
    var duration: Int?

    @Option(help: "Directory for the kubeconfig, rules, admin token and certificates (default: a new temporary one).")
    var directory: String?

    @Option(help: "Calls per function in each invocation step.")
    var calls = 10

    @Option(help: "Log level of the agent and KubeSim (their logs go to stderr).")
    var logLevel: Logger.Level = .error

    func validate() throws {
        for (name, port) in [("--api-port", apiPort), ("--webhook-port", webhookPort), ("--proxy-port", proxyPort), ("--admin-port", adminPort)]
        where !(0...65535).contains(port) {
            throw ValidationError("\(name) must be a port number (0-65535)")
        }
        if let duration, duration < 0 { throw ValidationError("--duration must not be negative") }
        if !(1...1000).contains(calls) { throw ValidationError("--calls must be from 1 to 1000") }
    }

    func run() async throws {
        var options = DemoOptions()
        options.host = host
        options.apiPort = apiPort
        options.webhookPort = webhookPort
        options.proxyPort = proxyPort
        options.adminPort = adminPort
        options.duration = duration.map { .seconds($0) }
        options.directory = directory
        options.callsPerFunction = calls
        let level = logLevel
        var logger = Logger(label: "direktiv-dispatch-demo") { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        logger.logLevel = level
        let demo = Demo(options: options, output: { printLine($0) }, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: demo, successTerminationBehavior: .gracefullyShutdownGroup)], gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch let failure as DemoFailure {
            printError("demo failed at step \(failure)")
            throw ExitCode.failure
        }
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}
