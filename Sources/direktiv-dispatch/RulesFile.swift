import ArgumentParser
import DispatchCore
import Foundation

/// A rules file given to a command: parsed, or refused with every issue and its line.
enum RulesFile {
    /// The rules at `path`; the defaults without one.
    static func load(_ path: String?) throws -> Rules {
        guard let path else { return Rules() }
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ValidationError("cannot read the rules file \(path): \(error.localizedDescription)")
        }
        do {
            return try RulesParser.parse(text)
        } catch {
            throw ValidationError("invalid rules \(path):\n" + error.issues.map { "\(path):\($0)" }.joined(separator: "\n"))
        }
    }
}
