import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import KubeModels
import NIOCore

/// Answers Kubernetes API requests from the simulator's store.
struct KubeSimResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let sim: KubeSim
    let watches: WatchTracker

    func respond(to request: Request, context: Context) async throws -> Response {
        if APIPath.parse(request.uri.path, types: []) == .health { return .text("ok") }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "), let user = sim.authenticate(String(header.dropFirst(7)))
        else {
            return .status(.failure(401, .unauthorized, "Unauthorized"))
        }
        do {
            let served = sim.customResources.snapshot(sim.store)
            let path = APIPath.parse(request.uri.path, types: served.types)
            if let attributes = Self.attributes(path, request), !sim.authorizer.allows(user, attributes) {
                throw Authorizer.forbidden(user, attributes)
            }
            return try await handle(path, request, served, user: user)
        } catch let status as Status {
            return .status(status)
        } catch let refusal as AdmissionChain.Refusal {
            return .status(refusal.status, warnings: refusal.warnings)
        } catch {
            return .status(.failure(500, .internalError, "\(error)"))
        }
    }

    /// What RBAC is asked about a request: its verb (`get`/`list`/`watch`/`create`/`update`/
    /// `patch`/`delete`) on a resource, or on a path for discovery and OpenAPI.
    static func attributes(_ path: APIPath, _ request: Request) -> RequestAttributes? {
        switch path {
        case .health: return nil
        case .version, .coreVersions, .groups, .group, .resourceList, .openAPI:
            return .nonResource(verb: "get", path: request.uri.path)
        case .peer, .peerLatency: return .nonResource(verb: "post", path: request.uri.path)
        case .unknownResource, .notFound: return nil
        case .resource(let type, let namespace, let name, let subresource):
            let verb: String
            switch (request.method, name) {
            case (.get, nil):
                let watch = request.uri.queryParameters["watch"]
                verb = watch == "true" || watch == "1" ? "watch" : "list"
            case (.get, _): verb = "get"
            case (.post, _): verb = "create"
            case (.put, _): verb = "update"
            case (.patch, _): verb = "patch"
            case (.delete, nil): verb = "deletecollection"
            case (.delete, _): verb = "delete"
            default: verb = request.method.rawValue.lowercased()
            }
            // A list or watch naming one object by `metadata.name=` field selector is authorized
            // against resourceNames, as the API server's RequestInfoFactory names it.
            var named = name
            if name == nil, verb == "list" || verb == "watch", let text = request.uri.queryParameters["fieldSelector"],
                let selector = try? FieldSelector(parsing: String(text))
            {
                named = selector.requirements.first { $0.path == "metadata.name" && $0.equal }?.value
            }
            return .resource(
                verb: verb, group: type.group, resource: type.plural, subresource: subresource, namespace: type.namespaced ? namespace : nil,
                name: named)
        }
    }

    private func handle(_ path: APIPath, _ request: Request, _ served: CustomResourceRegistry.Snapshot, user: UserInfo) async throws -> Response {
        switch path {
        case .resource(.selfSubjectAccessReviews, _, nil, nil) where request.method == .post:
            return try await selfSubjectAccessReview(request, user: user)
        case .resource(.serviceAccounts, let namespace, let name?, "token") where request.method == .post:
            _ = try sim.store.get(.serviceAccounts, namespace: namespace, name: name)
            let body = (try? await bodyJSON(request)) ?? [:]
            let seconds = body[path: "spec", "expirationSeconds"]?.integerValue ?? 3600
            let token = sim.issueToken(for: .serviceAccount(namespace: namespace ?? "default", name: name))
            return .json(
                [
                    "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                    "metadata": ["name": .string(name), "namespace": .string(namespace ?? "default")],
                    "spec": [
                        "audiences": body[path: "spec", "audiences"] ?? ["https://kubernetes.default.svc"], "expirationSeconds": .integer(seconds),
                    ],
                    "status": [
                        "token": .string(token),
                        "expirationTimestamp": .string(ObjectStore.timestamp(Date().addingTimeInterval(TimeInterval(seconds)))),
                    ],
                ], status: .created)
        case .health: return .text("ok")
        case .version: return .json(Discovery.version)
        case .coreVersions: return .json(Discovery.coreVersions(serverAddress: request.uri.host.map { "\($0):\(request.uri.port ?? 443)" }))
        case .groups: return .json(Discovery.groups(types: served.types))
        case .group(let group): return .json(Discovery.group(group, types: served.types))
        case .resourceList(let group, let version): return .json(Discovery.resourceList(group: group, version: version, types: served.types))
        case .openAPI(let rest): return try OpenAPI.respond(rest, served: served)
        case .peer(let cluster, let reachable):
            guard request.method == .post else { throw Status.failure(405, .methodNotAllowed, "use POST") }
            let nodes = try sim.setPeer(cluster: cluster, reachable: reachable)
            guard !nodes.isEmpty else { throw Status.failure(404, .notFound, "no Liqo virtual node belongs to cluster \"\(cluster)\"") }
            return .json(["cluster": .string(cluster), "reachable": .bool(reachable), "nodes": .array(nodes.map(JSONValue.string))])
        case .peerLatency(let cluster):
            guard request.method == .post else { throw Status.failure(405, .methodNotAllowed, "use POST") }
            guard let text = request.uri.queryParameters["ms"].map(String.init), let milliseconds = Int(text), (0...60_000).contains(milliseconds)
            else { throw Status.failure(400, .badRequest, "ms must be a whole number of milliseconds between 0 and 60000") }
            let changed = try sim.setPeerLatency(cluster: cluster, milliseconds: milliseconds)
            guard !changed.isEmpty else { throw Status.failure(404, .notFound, "no Liqo Connection belongs to cluster \"\(cluster)\"") }
            return .json([
                "cluster": .string(cluster), "milliseconds": .integer(Int64(milliseconds)), "connections": .array(changed.map(JSONValue.string)),
            ])
        case .unknownResource, .notFound:
            throw Status.failure(404, .notFound, "the server could not find the requested resource")
        case .resource(let type, let namespace, let name, let subresource):
            let query = request.uri.queryParameters
            let write = ResourceWrite(
                type: type, custom: served.custom[type],
                fieldValidation: try FieldValidation(query: query["fieldValidation"].map(String.init)),
                dryRun: dryRun(request),
                manager: try ServerSideApply.manager(query: query["fieldManager"].map(String.init), userAgent: request.headers[.userAgent]),
                force: query["force"] == "true", user: user)
            let response = try await resource(request, write, namespace: namespace, name: name, subresource: subresource)
            // An instance whose last finalizer went may let its definition's deletion finish.
            if write.custom != nil, request.method == .put || request.method == .patch { sim.finishDefinitionDeletions() }
            return response
        }
    }

    /// What every write to one resource type needs: the type, its definition when it is a custom
    /// resource, and the request's options.
    struct ResourceWrite {
        var type: ResourceType
        var custom: CustomResourceRegistry.Served?
        var fieldValidation: FieldValidation
        var dryRun: Bool
        /// Who owns the fields this write sets (`fieldManager`, else from the User-Agent).
        var manager: String
        /// Server-side apply's `force`: take conflicting fields over.
        var force: Bool
        /// Who writes, as admission webhooks are told.
        var user: UserInfo

        var patchSchema: PatchSchema? { PatchSchema.builtIn(type) }
    }

    private func resource(
        _ request: Request, _ write: ResourceWrite, namespace: String?, name: String?, subresource: String?
    ) async throws -> Response {
        let type = write.type
        if let subresource, subresource != "status" || !type.hasStatusSubresource {
            throw Status.failure(404, .notFound, "the server could not find the requested resource (\(subresource))")
        }
        let query = request.uri.queryParameters
        switch (request.method, name) {
        case (.get, nil):
            if let watch = query["watch"], watch == "1" || watch == "true" {
                return try watchResponse(request, type, namespace: namespace, custom: write.custom)
            }
            return try list(request, type, namespace: namespace, custom: write.custom)
        case (.get, let name?):
            return .json(try sim.store.get(type, namespace: namespace, name: name))
        case (.post, nil):
            let body = try ObjectStore.validated(try await bodyJSON(request), type, namespace: namespace)
            let candidate =
                type.namespaced ? body.setting("metadata", (body["metadata"] ?? [:]).setting("namespace", .string(namespace ?? "default"))) : body
            return try await create(candidate, write, namespace: namespace)
        case (.put, let name?):
            var warnings: [String] = []
            let body = try decoded(try ObjectStore.validated(try await bodyJSON(request), type, namespace: namespace), write, warnings: &warnings)
            let current = try sim.store.get(type, namespace: namespace, name: name)
            if subresource == "status" {
                try write.custom?.validated(current.setting("status", body["status"]), oldObject: current)
                return .json(
                    try sim.store.update(body, type, namespace: namespace, name: name, subresource: subresource, dryRun: write.dryRun),
                    warnings: warnings)
            }
            let candidate = body.setting(
                "metadata", (body["metadata"] ?? [:]).setting("namespace", current[path: "metadata", "namespace"]).setting("name", .string(name)))
            let admitted = try await sim.admission.admit(
                .update, type, namespace: namespace, object: candidate, oldObject: current, dryRun: write.dryRun, user: write.user)
            let object = owned(try checked(admitted.object, write, oldObject: current), old: current, write)
            let validated = try await sim.admission.validate(
                .update, type, namespace: namespace, object: object, oldObject: current, dryRun: write.dryRun, user: write.user)
            let updated = try sim.store.update(object, type, namespace: namespace, name: name, dryRun: write.dryRun)
            return .json(try definitionWritten(updated, write), warnings: warnings + admitted.warnings + validated)
        case (.patch, let name?):
            let body = try await bodyBytes(request)
            return try await patch(request, write, namespace: namespace, name: name, subresource: subresource, body: body)
        case (.delete, let name?):
            let (options, accepted) = try Self.deletionOptions(try await bodyBytes(request), query: request.uri.queryParameters)
            // DELETE is admitted with the object being deleted as oldObject and no object.
            let current = try sim.store.get(type, namespace: namespace, name: name)
            let admitted = try await sim.admission.admit(
                .delete, type, namespace: namespace, object: nil, oldObject: current, dryRun: options.dryRun, user: write.user)
            let validated = try await sim.admission.validate(
                .delete, type, namespace: namespace, object: nil, oldObject: current, dryRun: options.dryRun, user: write.user)
            var result = try sim.store.delete(type, namespace: namespace, name: name, options: options)
            if type == .customResourceDefinitions || write.custom != nil, !options.dryRun {
                sim.finishDefinitionDeletions()
                if type == .customResourceDefinitions, !result.removed, (try? sim.store.get(type, namespace: nil, name: name)) == nil {
                    result.removed = true
                }
            }
            // 202 only where the API server sends it: not deleted yet, and orphanDependents=false asked.
            return .json(result.object, status: !result.removed && accepted ? .accepted : .ok, warnings: admitted.warnings + validated)
        default:
            throw Status.failure(405, .methodNotAllowed, "the server does not allow this method on the requested resource")
        }
    }

    /// SelfSubjectAccessReview (`kubectl auth can-i`): whether the caller may do what the spec
    /// describes, answered by the same authorizer.
    private func selfSubjectAccessReview(_ request: Request, user: UserInfo) async throws -> Response {
        let review: JSONValue
        if request.headers[.contentType]?.hasPrefix("application/vnd.kubernetes.protobuf") == true {
            // kubectl sends this kind as protobuf; the answer is JSON, which client-go decodes by its Content-Type.
            do {
                review = ["spec": try ProtobufReview.spec(Array(buffer: try await bodyBytes(request)))]
            } catch {
                throw Status.failure(400, .badRequest, "the body of the request is not a SelfSubjectAccessReview in protobuf")
            }
        } else {
            review = try await bodyJSON(request)
        }
        let attributes: RequestAttributes
        if let resource = review[path: "spec", "resourceAttributes"] {
            let subresource = resource["subresource"]?.stringValue
            attributes = .resource(
                verb: resource["verb"]?.stringValue ?? "", group: resource["group"]?.stringValue ?? "",
                resource: resource["resource"]?.stringValue ?? "",
                subresource: subresource?.isEmpty == false ? subresource : nil,
                namespace: resource["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 },
                name: resource["name"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 })
        } else if let nonResource = review[path: "spec", "nonResourceAttributes"] {
            attributes = .nonResource(verb: nonResource["verb"]?.stringValue ?? "", path: nonResource["path"]?.stringValue ?? "")
        } else {
            throw Status.failure(
                422, .invalid,
                "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: [spec.resourceAttributes: Invalid value: \"null\": exactly one of nonResourceAttributes or resourceAttributes must be specified]"
            )
        }
        let allowed = sim.authorizer.allows(user, attributes)
        var status: [String: JSONValue] = ["allowed": .bool(allowed)]
        if allowed { status["reason"] = user.groups.contains("system:masters") ? "" : "RBAC: allowed by a role binding" }
        return .json(
            [
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": [:], "spec": review["spec"] ?? [:],
                "status": .object(status),
            ],
            status: .created)
    }

    // MARK: - Writes

    static let unsupportedPatch = Status.failure(
        415, .unsupportedMediaType,
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )

    /// Create, as the API server runs it: decode (custom resources pruned and defaulted), mutating
    /// admission, validation, storage.
    private func create(
        _ body: JSONValue, _ write: ResourceWrite, namespace: String?, appliedConfiguration: JSONValue? = nil
    ) async throws
        -> Response
    {
        if write.custom != nil, sim.isTerminating(write.type) {
            throw Status.failure(
                405, .methodNotAllowed, "create not allowed while custom resource definition is terminating",
                details: .init(group: write.type.group, kind: write.type.plural))
        }
        var warnings: [String] = []
        // A kind with a status subresource ignores the status sent on create (a pod starts
        // Pending, as PodStrategy.PrepareForCreate has it); nodes are the exception, a kubelet
        // registers its node with its status.
        let dropsStatus = write.custom == nil && write.type.hasStatusSubresource && write.type != .nodes
        let sent = dropsStatus ? body.setting("status", nil) : body
        let candidate = try decoded(sent, write, warnings: &warnings)
        let admitted = try await sim.admission.admit(
            .create, write.type, namespace: namespace, object: candidate, oldObject: nil, dryRun: write.dryRun, user: write.user)
        let object = owned(try checked(admitted.object, write, oldObject: nil), old: nil, write, applied: appliedConfiguration)
        let validated = try await sim.admission.validate(
            .create, write.type, namespace: namespace, object: object, oldObject: nil, dryRun: write.dryRun, user: write.user)
        let created = try sim.store.create(object, write.type, namespace: namespace, dryRun: write.dryRun)
        return .json(try definitionWritten(created, write), status: .created, warnings: warnings + admitted.warnings + validated)
    }

    /// Decoding a request body: a custom resource pruned and defaulted by its schema, a built-in
    /// kind pruned of fields its type lacks and defaulted as the API server's `SetDefaults_*` do.
    private func decoded(_ body: JSONValue, _ write: ResourceWrite, warnings: inout [String]) throws(Status) -> JSONValue {
        if let custom = write.custom { return try custom.decoded(body, fieldValidation: write.fieldValidation, warnings: &warnings) }
        let known = try BuiltInDecoding.decoded(body, write.type, fieldValidation: write.fieldValidation, warnings: &warnings)
        return BuiltInDefaults.applied(known, write.type)
    }

    /// The object with its `managedFields`: an apply's configuration owned by its manager, or
    /// what a create or update changed owned by the writer.
    private func owned(_ object: JSONValue, old: JSONValue?, _ write: ResourceWrite, applied: JSONValue? = nil) -> JSONValue {
        if let applied {
            let entry = ServerSideApply.Entry(
                manager: write.manager, operation: "Apply", apiVersion: write.type.apiVersion, time: ObjectStore.timestamp(),
                fields: FieldSet(of: applied, schema: write.patchSchema))
            return ServerSideApply.storing([entry], in: object)
        }
        return ServerSideApply.update(object, from: old, manager: write.manager, schema: write.patchSchema, apiVersion: write.type.apiVersion)
    }

    /// The validation after admission: a custom resource against its schema, a built-in kind by
    /// its `Validate*` rules, a definition as the API server checks definitions (with its
    /// defaults filled in).
    private func checked(_ object: JSONValue, _ write: ResourceWrite, oldObject: JSONValue?) throws -> JSONValue {
        if let custom = write.custom { return try custom.validated(object, oldObject: oldObject) }
        try BuiltInValidation.check(object, oldObject: oldObject, write.type)
        guard write.type == .customResourceDefinitions else { return object }
        let definition = try CustomResourceDefinition(object)
        if let oldObject, let old = try? CustomResourceDefinition(oldObject), old.namespaced != definition.namespaced {
            throw FieldError.invalid(
                [FieldError(.invalid, "spec.scope", value: object[path: "spec", "scope"], "field is immutable")], kind: "CustomResourceDefinition",
                group: "apiextensions.k8s.io", name: definition.name)
        }
        return oldObject == nil ? CustomResourceDefinition.created(object) : CustomResourceDefinition.defaulted(object)
    }

    /// After a definition is stored, what the API server's CRD controllers do at once: accept its
    /// names and mark it Established, so that its resources are served.
    private func definitionWritten(_ object: JSONValue, _ write: ResourceWrite) throws -> JSONValue {
        guard write.type == .customResourceDefinitions, !write.dryRun, let name = object[path: "metadata", "name"]?.stringValue,
            let definition = try? CustomResourceDefinition(object)
        else { return object }
        return try sim.store.modify(.customResourceDefinitions, namespace: nil, name: name, subresource: "status") { stored in
            stored = stored.setting("status", definition.status(current: stored["status"]))
        }
    }

    /// DeleteOptions from the body and the query (the query's win, as in the API server's
    /// handler), and whether `orphanDependents=false` was asked (which makes a pending delete 202).
    static func deletionOptions(_ body: ByteBuffer, query: FlatDictionary<Substring, Substring>) throws(Status) -> (DeletionOptions, Bool) {
        var json: JSONValue = [:]
        if body.readableBytes > 0 {
            guard let parsed = try? JSONValue.parse(body.readableBytesView), parsed.objectValue != nil else {
                throw Status.failure(400, .badRequest, "the body of a DELETE must be DeleteOptions (a JSON object)")
            }
            json = parsed
        }
        var options = DeletionOptions(
            gracePeriodSeconds: json["gracePeriodSeconds"]?.integerValue,
            preconditionUID: json[path: "preconditions", "uid"]?.stringValue,
            preconditionResourceVersion: json[path: "preconditions", "resourceVersion"]?.stringValue,
            dryRun: json["dryRun"]?.arrayValue?.contains("All") ?? false)
        var policy = json["propagationPolicy"]?.stringValue
        var orphan = json["orphanDependents"]?.boolValue
        if let grace = query["gracePeriodSeconds"] {
            guard let value = Int64(grace) else { throw Status.failure(400, .badRequest, "gracePeriodSeconds must be an integer") }
            options.gracePeriodSeconds = value
        }
        if let value = query["propagationPolicy"] { policy = String(value) }
        if let value = query["orphanDependents"] { orphan = value == "true" }
        if query["dryRun"] == "All" { options.dryRun = true }
        if let policy {
            guard let parsed = DeletionOptions.Propagation(rawValue: policy) else {
                throw Status.failure(
                    422, .invalid,
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: \"\(policy)\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                )
            }
            if orphan != nil {
                throw Status.failure(
                    422, .invalid,
                    "DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Invalid value: \"\(policy)\": orphanDependents and deletionPropagation cannot be both set"
                )
            }
            options.propagationPolicy = parsed
        } else if let orphan {
            options.propagationPolicy = orphan ? .orphan : .background
        }
        return (options, orphan == false)
    }

    // MARK: - Bodies

    private func bodyBytes(_ request: Request) async throws -> ByteBuffer {
        var request = request
        do {
            return try await request.collectBody(upTo: sim.options.maximumRequestBytes)
        } catch {
            throw Status.failure(413, .requestEntityTooLarge, "Request entity too large: limit is \(sim.options.maximumRequestBytes)")
        }
    }

    private func bodyJSON(_ request: Request) async throws -> JSONValue {
        let bytes = try await bodyBytes(request)
        do {
            return try JSONValue.parse(bytes.readableBytesView)
        } catch {
            // kubectl and client-go send JSON; YAML is accepted for convenience, as the API server does.
            if let value = try? JSONValue(yaml: String(buffer: bytes)), value.objectValue != nil { return value }
            throw Status.failure(400, .badRequest, "the body of the request was not valid JSON: \(error)")
        }
    }

    // MARK: - List and watch

    private func selectors(
        _ request: Request, _ type: ResourceType, custom: CustomResourceRegistry.Served?
    ) throws -> (LabelSelector?, FieldSelector?) {
        let query = request.uri.queryParameters
        let labels: LabelSelector?
        let fields: FieldSelector?
        do {
            labels = try query["labelSelector"].map { try LabelSelector(parsing: String($0)) }
            fields = try query["fieldSelector"].map { try FieldSelector(parsing: String($0)) }
        } catch {
            throw Status.failure(400, .badRequest, "\(error)")
        }
        if let fields { try FieldSelectors.check(fields, type, custom: custom) }
        return (labels, fields.map { FieldSelectors.stored($0, type) })
    }

    /// ValidateListOptions: which combinations of list and watch options the API server accepts.
    static func checkListOptions(_ query: FlatDictionary<Substring, Substring>, watch: Bool) throws(Status) {
        try checkListOptions({ query[Substring($0)].map(String.init) }, watch: watch)
    }

    static func checkListOptions(_ query: (String) -> String?, watch: Bool) throws(Status) {
        func invalid(_ field: String, _ value: String, _ detail: String) -> Status {
            .failure(422, .invalid, "ListOptions.meta.k8s.io \"\" is invalid: \(field): Forbidden: \(detail)")
        }
        let resourceVersion = query("resourceVersion") ?? ""
        let match = query("resourceVersionMatch") ?? ""
        let sendInitialEvents = query("sendInitialEvents").map { $0 == "true" || $0 == "1" }
        if let sendInitialEvents {
            guard watch else { throw invalid("sendInitialEvents", "", "sendInitialEvents is forbidden for list") }
            if match != "NotOlderThan" {
                throw invalid("resourceVersionMatch", match, "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
            }
            if !(query("allowWatchBookmarks") == "true" || query("allowWatchBookmarks") == "1"), sendInitialEvents {
                throw invalid("allowWatchBookmarks", "", "sendInitialEvents requires setting allowWatchBookmarks to true")
            }
            return
        }
        guard !match.isEmpty else { return }
        if watch { throw invalid("resourceVersionMatch", match, "resourceVersionMatch is forbidden for watch") }
        guard match == "Exact" || match == "NotOlderThan" else {
            throw .failure(
                422, .invalid,
                "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"\(match)\": supported values: \"Exact\", \"NotOlderThan\""
            )
        }
        if resourceVersion.isEmpty {
            throw invalid("resourceVersionMatch", match, "resourceVersionMatch is forbidden unless resourceVersion is provided")
        }
        if !(query("continue") ?? "").isEmpty {
            throw invalid("resourceVersionMatch", match, "resourceVersionMatch is forbidden when continue is provided")
        }
        if match == "Exact", resourceVersion == "0" {
            throw invalid("resourceVersionMatch", match, "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")
        }
    }

    private func list(_ request: Request, _ type: ResourceType, namespace: String?, custom: CustomResourceRegistry.Served?) throws -> Response {
        let query = request.uri.queryParameters
        try Self.checkListOptions(query, watch: false)
        let (labels, fields) = try selectors(request, type, custom: custom)
        var limit: Int?
        if let text = query["limit"] {
            guard let value = Int(text), value >= 0 else { throw Status.failure(400, .badRequest, "limit must be a non-negative integer") }
            limit = value
        }
        let page = try sim.store.list(
            type,
            namespace: namespace,
            labelSelector: labels,
            fieldSelector: fields,
            limit: limit,
            continueToken: query["continue"].map(String.init),
            resourceVersion: query["resourceVersion"].map(String.init),
            resourceVersionMatch: query["resourceVersionMatch"].map(String.init)
        )
        var metadata: [String: JSONValue] = ["resourceVersion": .string(page.resourceVersion)]
        if let token = page.continueToken { metadata["continue"] = .string(token) }
        if let remaining = page.remainingItemCount { metadata["remainingItemCount"] = .integer(Int64(remaining)) }
        if TablePrinter.wantsTable(request) {
            return .json(TablePrinter.table(type, custom: custom, page.items, listMetadata: .object(metadata)))
        }
        return .json([
            "apiVersion": .string(type.apiVersion), "kind": .string(custom?.definition.listKind ?? "\(type.kind)List"), "metadata": .object(metadata),
            "items": .array(page.items),
        ])
    }

    private func watchResponse(
        _ request: Request, _ type: ResourceType, namespace: String?, custom: CustomResourceRegistry.Served?
    ) throws -> Response {
        if let failure = sim.takeWatchFailure() { throw failure }
        let query = request.uri.queryParameters
        try Self.checkListOptions(query, watch: true)
        let (labels, fields) = try selectors(request, type, custom: custom)
        let store = sim.store
        let sendInitialEvents = query["sendInitialEvents"] == "true" || query["sendInitialEvents"] == "1"
        let registration = try watches.register { () throws(Status) in
            try store.watch(
                type, namespace: namespace, labelSelector: labels, fieldSelector: fields, resourceVersion: query["resourceVersion"].map(String.init),
                sendInitialEvents: sendInitialEvents)
        }
        let watches = watches
        let timeout = query["timeoutSeconds"].flatMap { Int($0) }.map { Duration.seconds($0) } ?? sim.options.defaultWatchTimeout
        let bookmarks = query["allowWatchBookmarks"] == "true" || query["allowWatchBookmarks"] == "1"
        let interval = sim.options.bookmarkInterval
        let table = TablePrinter.wantsTable(request)
        let body = ResponseBody { writer in
            let timer = Task {
                try await Task.sleep(for: timeout)
                registration.end()
            }
            let bookmarkTimer: Task<Void, any Error>? =
                bookmarks
                ? Task {
                    while true {
                        try await Task.sleep(for: interval)
                        registration.bookmark()
                    }
                } : nil
            defer {
                timer.cancel()
                bookmarkTimer?.cancel()
                registration.end()
                watches.finished(registration)
            }
            for await frame in registration.frames {
                let line: JSONValue
                switch frame {
                case .event(let kind, let object):
                    line = [
                        "type": .string(kind.rawValue),
                        "object": table ? TablePrinter.table(type, custom: custom, [object], listMetadata: nil) : object,
                    ]
                case .bookmark(let version), .initialEventsEnd(let version):
                    var metadata: [String: JSONValue] = ["resourceVersion": .string(version)]
                    if case .initialEventsEnd = frame { metadata["annotations"] = ["k8s.io/initial-events-end": "true"] }
                    line = [
                        "type": "BOOKMARK",
                        "object": ["kind": .string(type.kind), "apiVersion": .string(type.apiVersion), "metadata": .object(metadata)],
                    ]
                case .error(let status):
                    line = ["type": "ERROR", "object": try JSONValue(encoding: status)]
                }
                var buffer = ByteBuffer(bytes: try line.encoded())
                buffer.writeString("\n")
                try await writer.write(buffer)
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: body)
    }

    // MARK: - Patch

    private func dryRun(_ request: Request) -> Bool {
        request.uri.queryParameters["dryRun"] == "All"
    }

    private func patch(
        _ request: Request, _ write: ResourceWrite, namespace: String?, name: String, subresource: String?, body: ByteBuffer
    ) async throws -> Response {
        let type = write.type
        let contentType = request.headers[.contentType].map { $0.split(separator: ";").first.map(String.init) ?? $0 } ?? ""
        let query = request.uri.queryParameters
        let patchBody: JSONValue
        do {
            patchBody =
                contentType == "application/apply-patch+yaml"
                ? try JSONValue(yaml: String(buffer: body)) : try JSONValue.parse(body.readableBytesView)
        } catch {
            throw Status.failure(400, .badRequest, "the body of the request was not valid: \(error)")
        }
        if contentType == "application/apply-patch+yaml" {
            guard let manager = query["fieldManager"], !manager.isEmpty else {
                throw Status.failure(400, .badRequest, "PATCH \(request.uri.path): fieldManager is required for apply requests")
            }
            guard patchBody["apiVersion"]?.stringValue != nil, patchBody["kind"]?.stringValue != nil else {
                throw Status.failure(400, .badRequest, "invalid object type: an apply configuration needs apiVersion and kind")
            }
            // Server-side apply creates what does not exist yet.
            if (try? sim.store.get(type, namespace: namespace, name: name)) == nil {
                var object = try ObjectStore.validated(patchBody, type, namespace: namespace)
                object = object.setting("metadata", (object["metadata"] ?? [:]).setting("name", .string(name)))
                if type.namespaced {
                    object = object.setting("metadata", (object["metadata"] ?? [:]).setting("namespace", .string(namespace ?? "default")))
                }
                return try await create(object, write, namespace: namespace, appliedConfiguration: patchBody)
            }
        }
        if contentType == "application/strategic-merge-patch+json", write.custom != nil {
            // Custom resources carry no patch strategy: the API server refuses this patch type for them.
            throw Self.unsupportedPatch
        }
        // The API server retries a patch that races another write; so does the simulator.
        for _ in 0..<5 {
            let current = try sim.store.get(type, namespace: namespace, name: name)
            let patched: JSONValue
            switch contentType {
            case "application/json-patch+json":
                let operations: [JSONPatchOperation]
                do {
                    operations = try patchBody.decode(as: [JSONPatchOperation].self)
                } catch {
                    throw Status.failure(400, .badRequest, "invalid JSON patch: \(error)")
                }
                do {
                    patched = try JSONPatch.apply(operations, to: current)
                } catch {
                    throw Status.failure(422, .invalid, "the server rejected our request due to an error in our request: \(error)")
                }
            case "application/merge-patch+json":
                guard patchBody.objectValue != nil else {
                    throw Status.failure(400, .badRequest, "the body of the request must be a JSON object for a merge patch")
                }
                patched = JSONMergePatch.apply(patchBody, to: current)
            case "application/apply-patch+yaml":
                guard patchBody.objectValue != nil else { throw Status.failure(400, .badRequest, "an apply configuration must be an object") }
                patched = try ServerSideApply.apply(
                    patchBody, to: current, manager: write.manager, force: write.force, schema: write.patchSchema, apiVersion: type.apiVersion)
            case "application/strategic-merge-patch+json":
                guard let schema = PatchSchema.builtIn(type) else { throw Self.unsupportedPatch }
                do {
                    patched = try StrategicMergePatch.apply(patchBody, to: current, schema: schema)
                } catch {
                    throw Status.failure(400, .badRequest, "the strategic merge patch could not be applied: \(error)")
                }
            default:
                throw Status.failure(
                    415, .unsupportedMediaType,
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json"
                )
            }
            // A patch is conditional on the version it was computed from; one that carries a
            // resourceVersion (the patched object has one other than the stored) must match it.
            let patchedVersion = patched[path: "metadata", "resourceVersion"]?.stringValue ?? ""
            var conditional = patched.setting(
                "metadata",
                (patched["metadata"] ?? [:]).setting(
                    "resourceVersion", patchedVersion.isEmpty ? current[path: "metadata", "resourceVersion"] : .string(patchedVersion)))
            var warnings: [String] = []
            conditional = try decoded(conditional, write, warnings: &warnings)
            if subresource == nil {
                let admitted = try await sim.admission.admit(
                    .update, type, namespace: namespace, object: conditional, oldObject: current, dryRun: write.dryRun, user: write.user)
                conditional = try checked(admitted.object, write, oldObject: current)
                // An apply recorded its ownership itself; any other patch is an update.
                if contentType != "application/apply-patch+yaml" { conditional = owned(conditional, old: current, write) }
                warnings += admitted.warnings
                warnings += try await sim.admission.validate(
                    .update, type, namespace: namespace, object: conditional, oldObject: current, dryRun: write.dryRun, user: write.user)
            } else {
                try write.custom?.validated(current.setting("status", conditional["status"]), oldObject: current)
            }
            let toStore = conditional
            let isDryRun = write.dryRun
            let result: Result<JSONValue, Status> = Result { () throws(Status) in
                try sim.store.update(toStore, type, namespace: namespace, name: name, subresource: subresource, dryRun: isDryRun)
            }
            switch result {
            case .success(let object):
                return .json(try definitionWritten(object, write), warnings: warnings)
            case .failure(let failure):
                // Only a race is retried; a version the client put in the patch itself stays a conflict.
                guard failure.code == 409, patchedVersion.isEmpty || patchedVersion == current[path: "metadata", "resourceVersion"]?.stringValue
                else { throw failure }
            }
        }
        throw ObjectStore.conflict(type, name)
    }
}

extension Response {
    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok, warnings: [String] = []) -> Response {
        let data = (try? value.encoded()) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/json"]
        // As the API server passes on admission warnings: one `299` warning header each.
        for warning in warnings {
            let escaped = warning.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            headers.append(HTTPField(name: HTTPField.Name("Warning")!, value: "299 - \"\(escaped)\""))
        }
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func status(_ status: Status, warnings: [String] = []) -> Response {
        let value = (try? JSONValue(encoding: status)) ?? [:]
        return .json(value, status: HTTPResponse.Status(code: status.code ?? 500), warnings: warnings)
    }

    static func text(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/plain"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
