import ArgumentParser
import DispatchCore
import Foundation

/// `direktiv-dispatch check-rules PATH`: validates a rules file.
struct CheckRulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-rules",
        abstract: "Validate a rules file; print every problem with its line and column."
    )

    @Argument(help: "The rules YAML file.")
    var path: String

    func run() throws {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read \(path): \(error.localizedDescription)")
        }
        do {
            let rules = try RulesParser.parse(text)
            print(
                "\(path): valid: \(rules.namespaces.count) namespace rule(s), cluster label \(rules.clusterLabel), functions namespaces \(rules.functionsNamespaces.joined(separator: ",")), \(rules.direktivNamespaces.count) known Direktiv namespace(s)"
            )
        } catch {
            for issue in error.issues {
                printError("\(path):\(issue)")
            }
            throw ExitCode(1)
        }
    }
}

/// Writes a line to standard output at once (unbuffered), for progress that pipes must see.
func printLine(_ message: String) {
    FileHandle.standardOutput.write(Data((message + "\n").utf8))
}

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}
