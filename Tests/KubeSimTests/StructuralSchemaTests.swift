import KubeModels
import Testing

@testable import KubeSim

/// The structural schema as the API server applies it to custom resources (apiextensions-apiserver:
/// `pkg/apiserver/schema` for structure, pruning and defaulting; kube-openapi's validator for
/// values), checked with plain values.
@Suite struct StructuralSchemaTests {
    static let placementSchema: JSONValue = [
        "type": "object",
        "properties": [
            "spec": [
                "type": "object",
                "required": ["cluster"],
                "properties": [
                    "cluster": ["type": "string", "minLength": 1, "maxLength": 8, "pattern": "^[a-z0-9-]+$"],
                    "replicas": ["type": "integer", "minimum": 0, "maximum": 10, "default": 1],
                    "weight": ["type": "number", "exclusiveMaximum": true, "maximum": 1],
                    "mode": ["type": "string", "enum": ["spread", "pack"], "default": "spread"],
                    "port": ["x-kubernetes-int-or-string": true],
                    "note": ["type": "string", "nullable": true],
                    "tags": ["type": "array", "maxItems": 2, "items": ["type": "string"], "x-kubernetes-list-type": "set"],
                    "labels": ["type": "object", "additionalProperties": ["type": "string"]],
                    "extra": ["type": "object", "x-kubernetes-preserve-unknown-fields": true],
                    "id": [
                        "type": "string", "x-kubernetes-validations": [["rule": "self == oldSelf", "message": "id is immutable"]],
                    ],
                ],
            ],
            "status": ["type": "object", "properties": ["phase": ["type": "string"]]],
        ],
    ]

    func schema(_ json: JSONValue = placementSchema) throws -> StructuralSchema {
        var errors: [FieldError] = []
        let schema = StructuralSchema.parse(json, path: "openAPIV3Schema", errors: &errors, isRoot: true)
        #expect(errors.isEmpty, "\(errors)")
        return schema
    }

    func errors(_ value: JSONValue, old: JSONValue? = nil) throws -> [String] {
        var errors: [FieldError] = []
        try schema().validate(value, path: "", oldValue: old, errors: &errors)
        return errors.map(\.description)
    }

    @Test func aValidObjectHasNoErrors() throws {
        #expect(try errors(["spec": ["cluster": "main", "replicas": 3, "port": "http", "note": .null, "tags": ["a", "b"]]]).isEmpty)
        #expect(try errors(["spec": ["cluster": "main", "port": 8080, "extra": ["anything": ["goes": true]]]]).isEmpty)
    }

    @Test func typesAreCheckedWithTheAPIServersMessages() throws {
        #expect(
            try errors(["spec": ["cluster": "main", "replicas": "three"]]) == [
                "spec.replicas: Invalid value: \"string\": spec.replicas in body must be of type integer: \"string\""
            ])
        #expect(try errors(["spec": ["cluster": "main", "replicas": 2.5]]).count == 1)
        // 2.0 is an integer to Go's JSON decoding, as it is to the API server.
        #expect(try errors(["spec": ["cluster": "main", "replicas": 2.0]]).isEmpty)
        #expect(
            try errors(["spec": ["cluster": "main", "port": true]]) == [
                "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\""
            ])
        #expect(try errors(["spec": "text"]).first?.hasPrefix("spec: Invalid value: \"string\": spec in body must be of type object") == true)
    }

    @Test func requiredEnumBoundsLengthsAndPattern() throws {
        #expect(try errors(["spec": [:]]) == ["spec.cluster: Required value"])
        #expect(
            try errors(["spec": ["cluster": "main", "mode": "scatter"]]) == [
                "spec.mode: Unsupported value: \"scatter\": supported values: \"spread\", \"pack\""
            ])
        #expect(
            try errors(["spec": ["cluster": "main", "replicas": 11]]) == [
                "spec.replicas: Invalid value: 11: spec.replicas in body should be less than or equal to 10"
            ])
        #expect(
            try errors(["spec": ["cluster": "main", "replicas": -1]]) == [
                "spec.replicas: Invalid value: -1: spec.replicas in body should be greater than or equal to 0"
            ])
        #expect(
            try errors(["spec": ["cluster": "main", "weight": 1]]) == ["spec.weight: Invalid value: 1: spec.weight in body should be less than 1"])
        #expect(try errors(["spec": ["cluster": "averylongname"]]) == ["spec.cluster: Too long: may not be longer than 8"])
        #expect(
            try errors(["spec": ["cluster": ""]]).contains("spec.cluster: Invalid value: \"\": spec.cluster in body should be at least 1 chars long"))
        #expect(
            try errors(["spec": ["cluster": "Main"]]) == ["spec.cluster: Invalid value: \"Main\": spec.cluster in body should match '^[a-z0-9-]+$'"])
        #expect(try errors(["spec": ["cluster": "main", "tags": ["a", "b", "c"]]]).contains("spec.tags: Too many: 3: must have at most 2 items"))
        #expect(try errors(["spec": ["cluster": "main", "tags": ["a", "a"]]]) == ["spec.tags[1]: Duplicate value: \"a\""])
        #expect(try errors(["spec": ["cluster": "main", "labels": ["a": 1]]]).count == 1)
    }

    @Test func nullIsRefusedUnlessNullable() throws {
        #expect(try errors(["spec": ["cluster": "main", "note": .null]]).isEmpty)
        #expect(
            try errors(["spec": ["cluster": .null]]) == [
                "spec.cluster: Invalid value: \"null\": spec.cluster in body must be of type string: \"null\""
            ])
    }

    @Test func selfEqualsOldSelfMakesAFieldImmutable() throws {
        let old: JSONValue = ["spec": ["cluster": "main", "id": "a"]]
        #expect(try errors(["spec": ["cluster": "main", "id": "a"]], old: old).isEmpty)
        #expect(try errors(["spec": ["cluster": "main", "id": "b"]], old: old) == ["spec.id: Invalid value: \"b\": id is immutable"])
        // On create there is no old value, so the rule does not apply.
        #expect(try errors(["spec": ["cluster": "main", "id": "b"]]).isEmpty)
    }

    @Test func pruningDropsUnknownFieldsAndReportsThem() throws {
        var unknown: [String] = []
        let object: JSONValue = [
            "apiVersion": "x.io/v1", "kind": "Thing", "metadata": ["name": "a", "bogus": 1],
            "spec": ["cluster": "main", "typo": 1, "labels": ["k": "v"], "extra": ["kept": ["deep": 1]]], "top": true,
        ]
        let pruned = try schema().pruned(object, unknown: &unknown, isRoot: true)
        #expect(unknown.sorted() == ["metadata.bogus", "spec.typo", "top"])
        #expect(pruned["top"] == nil)
        #expect(pruned[path: "spec", "typo"] == nil)
        #expect(pruned[path: "spec", "labels", "k"] == "v")
        #expect(pruned[path: "spec", "extra", "kept", "deep"] == 1)
        #expect(pruned[path: "metadata", "name"] == "a")
        #expect(pruned["apiVersion"] == "x.io/v1")
    }

    @Test func defaultsFillMissingFieldsAndReplaceNonNullableNulls() throws {
        let defaulted = try schema().defaulted(["spec": ["cluster": "main", "mode": .null, "note": .null]])
        #expect(defaulted[path: "spec", "replicas"] == 1)
        #expect(defaulted[path: "spec", "mode"] == "spread")
        #expect(defaulted[path: "spec", "note"] == .null)
        // Defaults apply below a present object only: a missing spec stays missing.
        #expect(try schema().defaulted(["status": [:]])["spec"] == nil)
    }

    @Test func nonStructuralSchemasAreRefused() {
        func problems(_ json: JSONValue) -> [String] {
            var errors: [FieldError] = []
            _ = StructuralSchema.parse(json, path: "s", errors: &errors, isRoot: true)
            return errors.map(\.description)
        }
        #expect(
            problems(["type": "object", "properties": ["a": ["description": "no type"]]]) == [
                "s.properties[a].type: Required value: must not be empty for specified object fields"
            ])
        #expect(problems(["type": "string"]) == ["s.type: Invalid value: \"string\": must be object at the root"])
        #expect(problems(["type": "object", "properties": ["a": ["type": "array"]]]) == ["s.properties[a].items: Required value: must be specified"])
        #expect(problems(["type": "object", "properties": ["a": ["type": "strin"]]]).count == 1)
        #expect(problems(["type": "object", "properties": ["a": ["type": "integer", "default": "x"]]]).count == 1)
        #expect(problems(["type": "object", "properties": ["a": ["type": "string", "pattern": "(unclosed"]]]).count == 1)
        // The int-or-string idiom may name types under anyOf; nothing else may.
        #expect(
            problems([
                "type": "object", "properties": ["a": ["x-kubernetes-int-or-string": true, "anyOf": [["type": "integer"], ["type": "string"]]]],
            ]).isEmpty)
        #expect(
            problems(["type": "object", "properties": ["a": ["type": "string", "anyOf": [["type": "integer"], ["type": "string"]]]]]).count == 2)
    }

    @Test func printerColumnPathsSelectLikeClientGo() throws {
        let object: JSONValue = [
            "status": [
                "conditions": [["type": "Other", "status": "False"], ["type": "Ready", "status": "True", "reason": "Up"]],
                "latency": ["value": "12ms"],
            ],
            "metadata": ["labels": ["app.kubernetes.io/name": "fn"]],
        ]
        #expect(try ColumnPath(".status.conditions[?(@.type=='Ready')].status").values(in: object) == ["True"])
        #expect(try ColumnPath(".status.conditions[?(@.type==\"Ready\")].reason").values(in: object) == ["Up"])
        #expect(try ColumnPath(".status.conditions[?(@.type!=\"Ready\")].status").values(in: object) == ["False"])
        #expect(try ColumnPath(".status.conditions[*].type").values(in: object) == ["Other", "Ready"])
        #expect(try ColumnPath(".status.conditions[1].type").values(in: object) == ["Ready"])
        #expect(try ColumnPath(".metadata.labels['app.kubernetes.io/name']").values(in: object) == ["fn"])
        #expect(try ColumnPath(".status.latency.value").values(in: object) == ["12ms"])
        #expect(try ColumnPath(".status.missing").values(in: object).isEmpty)
        #expect(throws: ColumnPath.ParseError.self) { try ColumnPath("status.url") }
        #expect(throws: ColumnPath.ParseError.self) { try ColumnPath(".status[?(@.a > 1)]") }
    }
}
