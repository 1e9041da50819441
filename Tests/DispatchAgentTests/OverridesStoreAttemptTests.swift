import DispatchCore
import HTTPTypes
import Testing

@testable import DispatchAgent

/// How one write of an override treats what other writers did to the shared ConfigMap between
/// its attempts.
@Suite struct OverridesStoreAttemptTests {
    let pinMain = NamespaceOverride(pin: "main")
    let pinExternal = NamespaceOverride(pin: "external1")

    @Test func aFirstAttemptWritesTheKeyAndKeepsTheOthers() throws {
        let attempt = try OverridesStore.attempt(pinMain, for: "team-a", on: ["team-b": pinExternal.storedValue], seen: nil)
        #expect(attempt.data == ["team-a": pinMain.storedValue, "team-b": pinExternal.storedValue])
        #expect(attempt.replaced == nil)
    }

    @Test func anotherNamespaceChangedMeanwhileIsNoConflict() throws {
        // The first attempt saw team-a empty; team-b was set before the retry.
        let attempt = try OverridesStore.attempt(pinMain, for: "team-a", on: ["team-b": pinExternal.storedValue], seen: .some(nil))
        #expect(attempt.data["team-a"] == pinMain.storedValue)
        #expect(attempt.data["team-b"] == pinExternal.storedValue)
    }

    @Test(arguments: [
        // Set by someone else after the first attempt saw it empty.
        (String??.some(nil), ["team-a": "{\"pin\":\"external1\"}"] as [String: String]?),
        // Changed by someone else.
        (String??.some("{\"pin\":\"external2\"}"), ["team-a": "{\"pin\":\"external1\"}"]),
        // Removed by someone else, ConfigMap emptied.
        (String??.some("{\"pin\":\"external2\"}"), nil),
    ])
    func theSameNamespaceChangedMeanwhileIsAConflict(seen: String??, data: [String: String]?) {
        #expect(throws: OverridesStore.WriteError.self) {
            try OverridesStore.attempt(pinMain, for: "team-a", on: data, seen: seen)
        }
    }

    @Test func aRemovalDropsTheKeyAndReportsWhatWasThere() throws {
        let attempt = try OverridesStore.attempt(nil, for: "team-a", on: ["team-a": pinMain.storedValue], seen: .some(pinMain.storedValue))
        #expect(attempt.data.isEmpty)
        #expect(attempt.replaced == pinMain.storedValue)
    }

    @Test func aConflictIsAnsweredWith409AndAnAPIFailureWith502() {
        #expect(AdminAPI.storeError(.conflict("x")).status.code == 409)
        #expect(AdminAPI.storeError(.api("x")).status.code == 502)
    }
}
