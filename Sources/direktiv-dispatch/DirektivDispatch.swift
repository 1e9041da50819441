import ArgumentParser
import NIOCore
import NIOPosix

@main
struct DirektivDispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "direktiv-dispatch",
        abstract: "Places Direktiv functions on Liqo-peered clusters and measures their invocations.",
        subcommands: [DemoCommand.self, ServeCommand.self, CheckRulesCommand.self, ExplainCommand.self, SimCommand.self]
    )

    /// Runs the command with Swift's tasks on NIO's event loops.
    ///
    /// Every proxied call passes between sockets and tasks several times; on the default executor
    /// each pass is a thread hop with a wake-up, which dominated the proxy's profile.
    static func main() async {
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await main(nil)
    }
}
