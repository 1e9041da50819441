import ArgumentParser

@main
struct DirektivDispatch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "direktiv-dispatch",
        abstract: "Places Direktiv functions on Liqo-peered clusters and measures their invocations.",
        subcommands: [
            DemoCommand.self, ServeCommand.self, CheckRulesCommand.self, ExplainCommand.self, RebalanceCommand.self, DoctorCommand.self,
            SimCommand.self,
        ]
    )
}
