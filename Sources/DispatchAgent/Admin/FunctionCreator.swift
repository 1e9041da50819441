import DispatchCore
import KubeClient
import KubeModels
import Logging

/// Creates and deletes functions through the agent's own API (`POST`/`DELETE /v1/functions`).
///
/// The Knative Service is built as Direktiv builds it, placed with the same decision the webhook
/// takes, and created with the affinity already in place. It goes to a configurable namespace:
/// Direktiv 0.8.1 and later delete every workload in their own functions namespace that they did
/// not define, so there the target must be another (functions) namespace. Without a target
/// namespace the API is disabled: guessing one would put Services where Direktiv deletes them.
public struct FunctionCreator: Sendable {
    let client: KubeClient
    let placer: Placer
    let state: AgentState
    /// Where functions are created; nil disables the API.
    let targetNamespace: String?
    let sidecarImage: String?
    let knownNamespaces: @Sendable () -> Set<String>
    let logger: Logger

    public enum Failure: Error, CustomStringConvertible {
        case disabled
        case invalid(String)
        case unknownNamespace(String, known: [String])
        case exists(String)
        case notFound(String)
        case notManaged(String)
        case rejected(PlacementDecision)
        case api(String)

        public var description: String {
            switch self {
            case .disabled:
                "the functions API is disabled: set --functions-target-namespace (chart: direktiv.functionsTargetNamespace) to a namespace other than Direktiv's own functions namespace"
            case .invalid(let message): message
            case .unknownNamespace(let namespace, let known):
                "unknown Direktiv namespace \"\(namespace)\": add it to direktivNamespaces in the rules (known: \(known.joined(separator: ", ")))"
            case .exists(let name): "\(name) exists already"
            case .notFound(let name): "\(name) does not exist"
            case .notManaged(let name): "\(name) was not created by direktiv-dispatch; delete it where it was defined"
            case .rejected(let decision): "placement rejected: \(decision.summary)"
            case .api(let message): message
            }
        }
    }

    /// What was created, where and why.
    public struct Created: Sendable {
        public var kubernetesNamespace: String
        public var name: String
        public var decision: PlacementDecision
        public var object: JSONValue
    }

    public func create(_ spec: FunctionSpec) async throws(Failure) -> Created {
        guard let namespace = targetNamespace else { throw .disabled }
        let known = knownNamespaces()
        guard known.contains(spec.namespace) else { throw .unknownNamespace(spec.namespace, known: known.sorted()) }
        let rules = state.rules
        var object: JSONValue
        let workload: FunctionWorkload
        do {
            object = try DirektivServiceBuilder.knativeService(spec, namespace: namespace, sizes: rules.sizes, sidecarImage: sidecarImage)
            workload = try WorkloadReader.read(
                object, kind: .knativeService, knownNamespaces: [spec.namespace], sizes: rules.sizes, namespace: namespace)
        } catch let error as FunctionSpecError {
            throw .invalid(error.description)
        } catch {
            throw .invalid(String(describing: error))
        }
        let placed = await placer.place(workload, object: object, operation: "API")
        let decision = placed.decision
        if decision.outcome == .rejected { throw .rejected(decision) }
        do {
            object = try JSONPatch.apply(placed.operations, to: object)
        } catch {
            throw .api("cannot apply the placement patch: \(error)")
        }
        do {
            let created = try await client.create(object, .knativeServices, namespace: namespace, fieldManager: "direktiv-dispatch")
            logger.notice(
                "function created",
                metadata: [
                    "function": "\(namespace)/\(spec.name)", "direktivNamespace": "\(spec.namespace)", "cluster": "\(decision.cluster ?? "none")",
                ])
            return Created(kubernetesNamespace: namespace, name: spec.name, decision: decision, object: created)
        } catch let error as KubeAPIError where error.isAlreadyExists {
            throw .exists("Knative Service \(namespace)/\(spec.name)")
        } catch let error as KubeAPIError where error.isInvalid {
            throw .invalid(error.message)
        } catch {
            throw .api("cannot create Knative Service \(namespace)/\(spec.name): \(error)")
        }
    }

    /// Deletes a function this API created; `direktivNamespace` must be the one it was created for.
    public func delete(direktivNamespace: String, name: String) async throws(Failure) {
        guard let namespace = targetNamespace else { throw .disabled }
        let qualified = "Knative Service \(namespace)/\(name)"
        let existing: JSONValue
        do {
            existing = try await client.get(JSONValue.self, .knativeServices, name: name, namespace: namespace)
        } catch let error as KubeAPIError where error.isNotFound {
            throw .notFound(qualified)
        } catch {
            throw .api("cannot read \(qualified): \(error)")
        }
        let labels = existing[path: "metadata", "labels"]
        guard labels?[DirektivServiceBuilder.managedByLabel]?.stringValue == DirektivServiceBuilder.managedByValue else {
            throw .notManaged(qualified)
        }
        guard existing[path: "metadata", "annotations", FunctionIdentity.namespaceAnnotation]?.stringValue == direktivNamespace else {
            throw .notFound("\(qualified) of Direktiv namespace \(direktivNamespace)")
        }
        do {
            _ = try await client.delete(.knativeServices, name: name, namespace: namespace)
            logger.notice("function deleted", metadata: ["function": "\(namespace)/\(name)"])
        } catch let error as KubeAPIError where error.isNotFound {
            throw .notFound(qualified)
        } catch {
            throw .api("cannot delete \(qualified): \(error)")
        }
    }
}
