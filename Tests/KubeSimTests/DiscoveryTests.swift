import Testing

@testable import KubeSim

/// Discovery orders a group's versions as the API server does (apimachinery's version
/// priority): the first is the preferred version kubectl uses.
@Suite struct DiscoveryTests {
    @Test func versionsFollowKubernetesPriority() {
        let versions = ["v1alpha1", "foo", "v1", "v1beta2", "v2", "v1beta1", "v10alpha1"]
        #expect(
            versions.sorted { Discovery.priority($0) > Discovery.priority($1) } == ["v2", "v1", "v1beta2", "v1beta1", "v10alpha1", "v1alpha1", "foo"])
    }
}
