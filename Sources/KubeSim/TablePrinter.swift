import Foundation
import Hummingbird
import KubeModels

/// Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for to print `kubectl get`.
enum TablePrinter {
    static func wantsTable(_ request: Request) -> Bool {
        request.headers[.accept]?.contains("as=Table") ?? false
    }

    struct Column {
        var name: String
        var type: String
        var format: String = ""
        var priority = 0
        var description = ""
        var cell: (JSONValue) -> JSONValue
    }

    static func table(
        _ type: ResourceType, custom: CustomResourceRegistry.Served? = nil, _ objects: [JSONValue], listMetadata: JSONValue?
    )
        -> JSONValue
    {
        let columns = custom.map(self.columns(_:)) ?? self.columns(type)
        var result: [String: JSONValue] = [
            "kind": "Table",
            "apiVersion": "meta.k8s.io/v1",
            "columnDefinitions": .array(
                columns.map { column in
                    [
                        "name": .string(column.name), "type": .string(column.type), "format": .string(column.format),
                        "description": .string(column.description),
                        "priority": .integer(Int64(column.priority)),
                    ]
                }),
            "rows": .array(
                objects.map { object in
                    [
                        "cells": .array(columns.map { $0.cell(object) }),
                        "object": [
                            "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": object["metadata"] ?? [:],
                        ],
                    ]
                }),
        ]
        if let listMetadata { result["metadata"] = listMetadata }
        return .object(result)
    }

    static func name(_ object: JSONValue) -> JSONValue { object[path: "metadata", "name"] ?? "" }

    static func age(_ object: JSONValue) -> JSONValue {
        since(object[path: "metadata", "creationTimestamp"])
    }

    /// A timestamp as the time since it, the way `kubectl get` shows ages (`45s`, `3m`, `2h`, `5d`).
    static func since(_ timestamp: JSONValue?) -> JSONValue {
        guard let text = timestamp?.stringValue, let date = try? Date(text, strategy: .iso8601) else { return "<unknown>" }
        let seconds = max(0, Int(Date().timeIntervalSince(date)))
        switch seconds {
        case ..<120: return .string("\(seconds)s")
        case ..<7200: return .string("\(seconds / 60)m")
        case ..<172_800: return .string("\(seconds / 3600)h")
        default: return .string("\(seconds / 86400)d")
        }
    }

    static func condition(_ object: JSONValue, _ type: String) -> JSONValue? {
        object[path: "status", "conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    /// A custom resource's columns: Name, then its `additionalPrinterColumns`, or Name and Age
    /// when it declares none, as the API server's table convertor for CRDs prints them.
    static func columns(_ custom: CustomResourceRegistry.Served) -> [Column] {
        let nameColumn = Column(name: "Name", type: "string", format: "name", cell: name)
        let declared = custom.version.printerColumns
        guard !declared.isEmpty else { return [nameColumn, Column(name: "Age", type: "date", cell: age)] }
        return [nameColumn]
            + declared.map { column in
                Column(name: column.name, type: column.type, format: column.format, priority: column.priority, description: column.description) {
                    object in
                    // Only the first value a path selects is shown; none leaves the cell empty.
                    guard let value = column.path.values(in: object).first else { return .null }
                    switch column.type {
                    case "date": return since(value)
                    case "integer": return value.integerValue.map(JSONValue.integer) ?? .null
                    case "number": return value
                    case "boolean": return value.boolValue.map(JSONValue.bool) ?? .null
                    default:
                        if case .string = value { return value }
                        return .string((try? value.encoded()).map { String(decoding: $0, as: UTF8.self) } ?? "")
                    }
                }
            }
    }

    static func columns(_ type: ResourceType) -> [Column] {
        let nameColumn = Column(name: "Name", type: "string", format: "name", cell: name)
        let ageColumn = Column(name: "Age", type: "string", cell: age)
        switch type {
        case .nodes:
            return [
                nameColumn,
                Column(name: "Status", type: "string") { object in
                    var status = condition(object, "Ready")?["status"]?.stringValue == "True" ? "Ready" : "NotReady"
                    if object[path: "spec", "unschedulable"]?.boolValue == true { status += ",SchedulingDisabled" }
                    return .string(status)
                },
                Column(name: "Roles", type: "string") { object in
                    let roles = (object[path: "metadata", "labels"]?.stringMap ?? [:]).keys
                        .filter { $0.hasPrefix("node-role.kubernetes.io/") }.map { String($0.dropFirst("node-role.kubernetes.io/".count)) }.sorted()
                    return .string(roles.isEmpty ? "<none>" : roles.joined(separator: ","))
                },
                ageColumn,
                Column(name: "Version", type: "string") { $0[path: "status", "nodeInfo", "kubeletVersion"] ?? "" },
            ]
        case .pods:
            return [
                nameColumn,
                Column(name: "Ready", type: "string") { object in
                    let statuses = object[path: "status", "containerStatuses"]?.arrayValue ?? []
                    let total = object[path: "spec", "containers"]?.arrayValue?.count ?? statuses.count
                    let ready = statuses.filter { $0["ready"]?.boolValue == true }.count
                    return .string("\(ready)/\(total)")
                },
                Column(name: "Status", type: "string") { $0[path: "status", "phase"] ?? "Unknown" },
                Column(name: "Restarts", type: "string") { _ in "0" },
                ageColumn,
                Column(name: "Node", type: "string", priority: 1) { $0[path: "spec", "nodeName"] ?? "<none>" },
            ]
        case .deployments:
            return [
                nameColumn,
                Column(name: "Ready", type: "string") { object in
                    .string("\(object[path: "status", "readyReplicas"]?.integerValue ?? 0)/\(object[path: "spec", "replicas"]?.integerValue ?? 1)")
                },
                Column(name: "Up-to-date", type: "integer") { $0[path: "status", "updatedReplicas"] ?? 0 },
                Column(name: "Available", type: "integer") { $0[path: "status", "availableReplicas"] ?? 0 },
                ageColumn,
            ]
        case .namespaces:
            return [nameColumn, Column(name: "Status", type: "string") { $0[path: "status", "phase"] ?? "Active" }, ageColumn]
        case .configMaps:
            return [nameColumn, Column(name: "Data", type: "integer") { .integer(Int64($0["data"]?.objectValue?.count ?? 0)) }, ageColumn]
        case .secrets:
            return [
                nameColumn, Column(name: "Type", type: "string") { $0["type"] ?? "Opaque" },
                Column(name: "Data", type: "integer") { .integer(Int64($0["data"]?.objectValue?.count ?? 0)) }, ageColumn,
            ]
        case .services:
            return [
                nameColumn, Column(name: "Type", type: "string") { $0[path: "spec", "type"] ?? "ClusterIP" },
                Column(name: "Cluster-IP", type: "string") { $0[path: "spec", "clusterIP"] ?? "<none>" },
                Column(name: "External-IP", type: "string") { object in
                    object[path: "spec", "externalName"]
                        ?? .string(
                            object[path: "spec", "externalIPs"]?.arrayValue?.compactMap(\.stringValue).joined(separator: ",").nonEmpty ?? "<none>")
                },
                Column(name: "Port(s)", type: "string") { object in
                    let ports = (object[path: "spec", "ports"]?.arrayValue ?? []).map {
                        "\($0["port"]?.integerValue ?? 0)/\($0["protocol"]?.stringValue ?? "TCP")"
                    }
                    return .string(ports.joined(separator: ",").nonEmpty ?? "<none>")
                },
                ageColumn,
                Column(name: "Selector", type: "string", priority: 1) { object in
                    let selector = (object[path: "spec", "selector"]?.stringMap ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    return .string(selector.joined(separator: ",").nonEmpty ?? "<none>")
                },
            ]
        case .endpointSlices:
            return [
                nameColumn, Column(name: "AddressType", type: "string") { $0["addressType"] ?? "" },
                Column(name: "Ports", type: "string") { object in
                    let ports = (object["ports"]?.arrayValue ?? []).compactMap { $0["port"]?.integerValue.map(String.init) }
                    return .string(ports.joined(separator: ",").nonEmpty ?? "<unset>")
                },
                Column(name: "Endpoints", type: "string") { object in
                    let addresses = (object["endpoints"]?.arrayValue ?? []).flatMap { $0["addresses"]?.arrayValue?.compactMap(\.stringValue) ?? [] }
                    return .string(addresses.joined(separator: ",").nonEmpty ?? "<unset>")
                },
                ageColumn,
            ]
        case .replicaSets:
            return [
                nameColumn, Column(name: "Desired", type: "integer") { $0[path: "spec", "replicas"] ?? 1 },
                Column(name: "Current", type: "integer") { $0[path: "status", "replicas"] ?? 0 },
                Column(name: "Ready", type: "integer") { $0[path: "status", "readyReplicas"] ?? 0 }, ageColumn,
            ]
        case .horizontalPodAutoscalers:
            return [
                nameColumn,
                Column(name: "Reference", type: "string") { object in
                    .string(
                        "\(object[path: "spec", "scaleTargetRef", "kind"]?.stringValue ?? "")/\(object[path: "spec", "scaleTargetRef", "name"]?.stringValue ?? "")"
                    )
                },
                Column(name: "MinPods", type: "integer") { $0[path: "spec", "minReplicas"] ?? 1 },
                Column(name: "MaxPods", type: "integer") { $0[path: "spec", "maxReplicas"] ?? 0 },
                Column(name: "Replicas", type: "integer") { $0[path: "status", "currentReplicas"] ?? 0 }, ageColumn,
            ]
        case .leases:
            return [nameColumn, Column(name: "Holder", type: "string") { $0[path: "spec", "holderIdentity"] ?? "" }, ageColumn]
        default:
            return [nameColumn, ageColumn]
        }
    }
}

extension String {
    /// nil for the empty string, for `?? "<none>"`.
    var nonEmpty: String? { isEmpty ? nil : self }
}
