/// Knative's `config-features` switches that decide whether a patched Service is accepted.
public struct KnativeFeatures: Sendable, Hashable {
    public var affinityEnabled: Bool
    public var tolerationsEnabled: Bool
    /// Where the switches were read, `namespace/name`, so warnings point at the right object.
    public var configMap: String

    public init(affinityEnabled: Bool, tolerationsEnabled: Bool, configMap: String = "knative-serving/config-features") {
        self.affinityEnabled = affinityEnabled
        self.tolerationsEnabled = tolerationsEnabled
        self.configMap = configMap
    }

    public static let affinityFlag = "kubernetes.podspec-affinity"
    public static let tolerationsFlag = "kubernetes.podspec-tolerations"

    /// Reads the ConfigMap's data; a missing key means Knative's default, disabled.
    public init(configMapData data: [String: String], configMap: String = "knative-serving/config-features") {
        affinityEnabled = data[Self.affinityFlag]?.lowercased() == "enabled"
        tolerationsEnabled = data[Self.tolerationsFlag]?.lowercased() == "enabled"
        self.configMap = configMap
    }

    /// The flags that must be enabled but are not.
    public func missingFlags(addsTolerations: Bool) -> [String] {
        var flags: [String] = []
        if !affinityEnabled { flags.append(Self.affinityFlag) }
        if addsTolerations, !tolerationsEnabled { flags.append(Self.tolerationsFlag) }
        return flags
    }
}
