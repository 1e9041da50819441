import KubeModels

/// A webhook's `matchConditions` expression, in the subset of CEL the chart uses: the
/// variables `object`, `oldObject` and `request`, field selection, `has()`, string, integer,
/// boolean and `null` literals, `==`, `!=`, `!`, `&&`, `||` and parentheses.
///
/// The API server compiles every expression when a configuration is written and refuses one
/// that does not compile; KubeSim refuses what it cannot evaluate the same way, so a chart
/// using more CEL than this fails a test here rather than passing untested. Evaluation follows
/// CEL: selecting a missing field is an error, and `&&`/`||` absorb an error when the other
/// side decides (`false && error` is false).
struct MatchCondition: Sendable {
    indirect enum Expression: Sendable, Equatable {
        case variable(String)
        case literal(JSONValue)
        case select(Expression, String)
        case has(Expression, String)
        case not(Expression)
        case equal(Expression, Expression, negated: Bool)
        case and(Expression, Expression)
        case or(Expression, Expression)
    }

    struct CompileError: Error, CustomStringConvertible {
        var description: String
    }

    struct EvaluationError: Error, CustomStringConvertible {
        var description: String
    }

    static let variables: Set<String> = ["object", "oldObject", "request"]
    /// Longer than the API server's limit on an expression's cost would allow anyway.
    static let maximumLength = 10_000
    static let maximumDepth = 64

    let expression: Expression

    init(compiling source: String) throws(CompileError) {
        guard source.utf8.count <= Self.maximumLength else { throw CompileError(description: "expression is too long") }
        var parser = Parser(tokens: try Self.tokens(source))
        let expression = try parser.parseOr(depth: 0)
        guard parser.position == parser.tokens.count else {
            throw CompileError(description: "unexpected \(parser.tokens[parser.position]) at token \(parser.position + 1)")
        }
        self.expression = expression
    }

    /// The expression's value as a boolean; anything else is an evaluation error.
    func evaluate(_ variables: [String: JSONValue]) throws(EvaluationError) -> Bool {
        guard case .bool(let value) = try Self.value(expression, variables) else {
            throw EvaluationError(description: "expression did not evaluate to a bool")
        }
        return value
    }

    static func value(_ expression: Expression, _ variables: [String: JSONValue]) throws(EvaluationError) -> JSONValue {
        switch expression {
        case .variable(let name): return variables[name] ?? .null
        case .literal(let value): return value
        case .select(let base, let field):
            let container = try value(base, variables)
            guard case .object(let members) = container else { throw EvaluationError(description: "no such key: \(field)") }
            guard let member = members[field] else { throw EvaluationError(description: "no such key: \(field)") }
            return member
        case .has(let base, let field):
            guard case .object(let members) = try value(base, variables) else {
                throw EvaluationError(description: "invalid type for field selection")
            }
            return .bool(members[field] != nil)
        case .not(let operand):
            guard case .bool(let bool) = try value(operand, variables) else { throw EvaluationError(description: "no such overload: !_") }
            return .bool(!bool)
        case .equal(let left, let right, let negated):
            let equal = try value(left, variables) == value(right, variables)
            return .bool(negated ? !equal : equal)
        case .and(let left, let right): return try logical(left, right, variables, decidingValue: false)
        case .or(let left, let right): return try logical(left, right, variables, decidingValue: true)
        }
    }

    /// `&&` and `||` as CEL has them: commutative, an error absorbed by a deciding value.
    private static func logical(
        _ left: Expression, _ right: Expression, _ variables: [String: JSONValue], decidingValue: Bool
    ) throws(EvaluationError) -> JSONValue {
        var firstError: EvaluationError?
        for side in [left, right] {
            switch Result(catching: { () throws(EvaluationError) in try value(side, variables) }) {
            case .success(.bool(let bool)):
                if bool == decidingValue { return .bool(decidingValue) }
            case .success:
                firstError = firstError ?? EvaluationError(description: "no such overload: logical operator on a non-bool")
            case .failure(let error):
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
        return .bool(!decidingValue)
    }

    // MARK: - Tokens

    enum Token: Sendable, Equatable, CustomStringConvertible {
        case identifier(String)
        case string(String)
        case integer(Int64)
        case symbol(String)

        var description: String {
            switch self {
            case .identifier(let name): return "'\(name)'"
            case .string(let text): return "'\"\(text)\"'"
            case .integer(let value): return "'\(value)'"
            case .symbol(let symbol): return "'\(symbol)'"
            }
        }
    }

    static func tokens(_ source: String) throws(CompileError) -> [Token] {
        var tokens: [Token] = []
        let characters = Array(source.unicodeScalars)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            if character.properties.isWhitespace {
                index += 1
                continue
            }
            if character == "'" || character == "\"" {
                var text = ""
                index += 1
                while index < characters.count, characters[index] != character {
                    if characters[index] == "\\" {
                        index += 1
                        guard index < characters.count else { break }
                        switch characters[index] {
                        case "n": text.unicodeScalars.append("\n")
                        case "t": text.unicodeScalars.append("\t")
                        case "\\", "'", "\"": text.unicodeScalars.append(characters[index])
                        default: throw CompileError(description: "unsupported escape \\\(characters[index]) in a string")
                        }
                    } else {
                        text.unicodeScalars.append(characters[index])
                    }
                    index += 1
                }
                guard index < characters.count else { throw CompileError(description: "unterminated string") }
                index += 1
                tokens.append(.string(text))
                continue
            }
            if character.properties.isASCIIHexDigit, ("0"..."9").contains(character) {
                var digits = ""
                while index < characters.count, ("0"..."9").contains(characters[index]) {
                    digits.unicodeScalars.append(characters[index])
                    index += 1
                }
                guard let value = Int64(digits) else { throw CompileError(description: "integer \(digits) out of range") }
                tokens.append(.integer(value))
                continue
            }
            if character == "_" || (character.isASCII && character.properties.isAlphabetic) {
                var name = ""
                while index < characters.count,
                    characters[index] == "_"
                        || (characters[index].isASCII && (characters[index].properties.isAlphabetic || ("0"..."9").contains(characters[index])))
                {
                    name.unicodeScalars.append(characters[index])
                    index += 1
                }
                tokens.append(.identifier(name))
                continue
            }
            let next = index + 1 < characters.count ? String(characters[index + 1]) : ""
            let pair = String(character) + next
            if ["==", "!=", "&&", "||"].contains(pair) {
                tokens.append(.symbol(pair))
                index += 2
                continue
            }
            if ["!", "(", ")", "."].contains(String(character)) {
                tokens.append(.symbol(String(character)))
                index += 1
                continue
            }
            throw CompileError(description: "unsupported character '\(character)'")
        }
        return tokens
    }

    // MARK: - Parsing

    struct Parser {
        let tokens: [Token]
        var position = 0

        mutating func take(_ symbol: String) -> Bool {
            guard position < tokens.count, tokens[position] == .symbol(symbol) else { return false }
            position += 1
            return true
        }

        mutating func expect(_ symbol: String) throws(CompileError) {
            guard take(symbol) else { throw CompileError(description: "expected '\(symbol)' at token \(position + 1)") }
        }

        func checkDepth(_ depth: Int) throws(CompileError) {
            if depth > MatchCondition.maximumDepth { throw CompileError(description: "expression is nested too deeply") }
        }

        mutating func parseOr(depth: Int) throws(CompileError) -> Expression {
            try checkDepth(depth)
            var left = try parseAnd(depth: depth + 1)
            while take("||") { left = .or(left, try parseAnd(depth: depth + 1)) }
            return left
        }

        mutating func parseAnd(depth: Int) throws(CompileError) -> Expression {
            var left = try parseEquality(depth: depth + 1)
            while take("&&") { left = .and(left, try parseEquality(depth: depth + 1)) }
            return left
        }

        mutating func parseEquality(depth: Int) throws(CompileError) -> Expression {
            var left = try parseUnary(depth: depth + 1)
            while true {
                if take("==") {
                    left = .equal(left, try parseUnary(depth: depth + 1), negated: false)
                } else if take("!=") {
                    left = .equal(left, try parseUnary(depth: depth + 1), negated: true)
                } else {
                    return left
                }
            }
        }

        mutating func parseUnary(depth: Int) throws(CompileError) -> Expression {
            try checkDepth(depth)
            if take("!") { return .not(try parseUnary(depth: depth + 1)) }
            return try parseSelection(depth: depth + 1)
        }

        mutating func parseSelection(depth: Int) throws(CompileError) -> Expression {
            var base = try parsePrimary(depth: depth + 1)
            while take(".") {
                guard position < tokens.count, case .identifier(let field) = tokens[position] else {
                    throw CompileError(description: "expected a field name at token \(position + 1)")
                }
                position += 1
                if position < tokens.count, tokens[position] == .symbol("(") {
                    throw CompileError(description: "method calls are not supported (\(field))")
                }
                base = .select(base, field)
            }
            return base
        }

        mutating func parsePrimary(depth: Int) throws(CompileError) -> Expression {
            try checkDepth(depth)
            guard position < tokens.count else { throw CompileError(description: "unexpected end of expression") }
            let token = tokens[position]
            position += 1
            switch token {
            case .string(let text): return .literal(.string(text))
            case .integer(let value): return .literal(.integer(value))
            case .symbol("("):
                let inner = try parseOr(depth: depth + 1)
                try expect(")")
                return inner
            case .identifier("true"): return .literal(.bool(true))
            case .identifier("false"): return .literal(.bool(false))
            case .identifier("null"): return .literal(.null)
            case .identifier("has"):
                try expect("(")
                guard case .select(let base, let field) = try parseSelection(depth: depth + 1) else {
                    throw CompileError(description: "invalid argument to has() macro")
                }
                try expect(")")
                return .has(base, field)
            case .identifier(let name):
                guard MatchCondition.variables.contains(name) else { throw CompileError(description: "undeclared reference to '\(name)'") }
                if position < tokens.count, tokens[position] == .symbol("(") {
                    throw CompileError(description: "function calls are not supported (\(name))")
                }
                return .variable(name)
            default:
                throw CompileError(description: "unexpected \(token) at token \(position)")
            }
        }
    }
}
