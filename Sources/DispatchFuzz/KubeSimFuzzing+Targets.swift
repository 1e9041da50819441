import KubeModels
import KubeSim

/// Fuzz targets for what KubeSim parses on behalf of the API server: strategic merge patches and
/// CustomResourceDefinition schemas with the objects written against them.
enum KubeSimTargets {
    /// Input: one byte choosing the kind, then `patch \0 object`. A patch the simulator accepts
    /// applies the same once as twice (strategic merge is idempotent, as merge patch is).
    static func strategicMergePatch(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let first = bytes.first else { return }
        let kind = KubeSimFuzzing.patchableKinds[Int(first) % KubeSimFuzzing.patchableKinds.count]
        let (patchBytes, objectBytes) = Array(bytes.dropFirst()).split(at: 0)
        guard let patch = try? JSONValue.parse(patchBytes), let object = try? JSONValue.parse(objectBytes) else { return }
        guard let once = KubeSimFuzzing.strategicMergePatch(patch, to: object, kind: kind) else { return }
        let twice = KubeSimFuzzing.strategicMergePatch(patch, to: once, kind: kind)
        try require(twice == once, "a strategic merge patch applied twice differs from once")
    }

    /// Input: `schema \0 object`. Decoding is a fixed point (decoding the decoded object changes
    /// nothing) and gives the same validation errors. `pattern`s are dropped from the schema:
    /// Swift's regular expressions backtrack, so a pathological pattern would only measure that
    /// (CRD patterns come from whoever installs the CRD, not from the objects' writers).
    static func customResource(_ bytes: [UInt8]) throws(FuzzFailure) {
        let (schemaBytes, objectBytes) = bytes.split(at: 0)
        guard let schema = try? JSONValue.parse(schemaBytes), let object = try? JSONValue.parse(objectBytes) else { return }
        let safeSchema = withoutPatterns(schema)
        guard let first = KubeSimFuzzing.customResourceWrite(schema: safeSchema, object: object, old: nil) else { return }
        guard let second = KubeSimFuzzing.customResourceWrite(schema: safeSchema, object: first.decoded, old: nil) else {
            throw FuzzFailure("a schema accepted once was refused the second time")
        }
        try require(second.decoded == first.decoded, "decoding a decoded custom resource changed it")
        try require(second.errors == first.errors, "the same object gave different validation errors")
        if case .string(let text) = object[path: "columnPath"] ?? .null { _ = KubeSimFuzzing.columnPath(text, on: object) }
    }

    /// Input: `expression \0 variables` (a JSON object with `object`, `oldObject`, `request`).
    /// An expression that compiles evaluates the same twice, and `!(!(e))` compiles and
    /// evaluates to what `e` does.
    static func matchCondition(_ bytes: [UInt8]) throws(FuzzFailure) {
        let (sourceBytes, variableBytes) = bytes.split(at: 0)
        let source = String(decoding: sourceBytes, as: UTF8.self)
        let variables = (try? JSONValue.parse(variableBytes))?.objectValue ?? [:]
        guard let (first, second) = KubeSimFuzzing.matchCondition(source, variables: variables) else { return }
        try require(first == second, "the same expression evaluated differently twice")
        // Nesting two levels deeper can pass the depth limit; only a compiled one is compared.
        if case .some(let negated) = KubeSimFuzzing.doublyNegated(source, variables: variables) {
            try require(negated == first, "!(!(e)) differs from e")
        }
    }

    /// Input: one byte choosing the kind, then `configuration \0 object`. Applying the same
    /// configuration twice by the same manager is applying it once (server-side apply is
    /// declarative), ownership included.
    static func serverSideApply(_ bytes: [UInt8]) throws(FuzzFailure) {
        guard let first = bytes.first else { return }
        let kind = KubeSimFuzzing.patchableKinds[Int(first) % KubeSimFuzzing.patchableKinds.count]
        let (configurationBytes, objectBytes) = Array(bytes.dropFirst()).split(at: 0)
        guard let configuration = try? JSONValue.parse(configurationBytes), configuration.objectValue != nil,
            let object = try? JSONValue.parse(objectBytes), object.objectValue != nil,
            let (once, twice) = KubeSimFuzzing.serverSideApply(configuration, to: object, kind: kind)
        else { return }
        try require(twice == once, "applying the same configuration twice differs from once")
    }

    /// Input: any bytes as a protobuf body. Reading never traps, gives the same answer twice,
    /// and a spec that reads carries only strings.
    static func protobufReview(_ bytes: [UInt8]) throws(FuzzFailure) {
        let first = KubeSimFuzzing.protobufReview(bytes)
        try require(KubeSimFuzzing.protobufReview(bytes) == first, "the same bytes read differently twice")
        // With the envelope in front, arbitrary bytes reach the message parsers too.
        let enveloped = KubeSimFuzzing.protobufReview([0x6b, 0x38, 0x73, 0x00, 0x12, UInt8(min(bytes.count, 127))] + bytes.prefix(127))
        for attributes in (enveloped?.objectValue ?? [:]).values {
            try require(attributes.objectValue?.values.allSatisfy { $0.stringValue != nil } ?? false, "attributes must be strings")
        }
    }

    static func withoutPatterns(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var result: [String: JSONValue] = [:]
            for (key, member) in members where key != "pattern" { result[key] = withoutPatterns(member) }
            return .object(result)
        case .array(let elements): return .array(elements.map(withoutPatterns))
        default: return value
        }
    }
}
