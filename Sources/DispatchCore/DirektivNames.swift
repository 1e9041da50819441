/// Direktiv's own naming rules and the IDs it derives from names.
public enum DirektivNames {
    /// Direktiv namespace names: lower-case letters, digits, `-`, `_`, `.`; starting with a letter,
    /// ending with a letter or digit.
    public static func isNamespaceName(_ name: String) -> Bool {
        guard let first = name.first, let last = name.last, name.count <= 64 else { return false }
        guard ("a"..."z").contains(first), ("a"..."z").contains(last) || ("0"..."9").contains(last) else { return false }
        return name.allSatisfy(NamespacePattern.isNameCharacter)
    }

    /// The text part of a 0.8.1+ service ID for a namespace: runs of characters outside
    /// `[a-zA-Z0-9]` become `-`, then lower-cased (the 50-character cut is applied by the caller).
    public static func idText(_ text: String) -> String {
        var result = ""
        var inRun = false
        for scalar in text.unicodeScalars {
            let isAlphanumeric = (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z") || (scalar >= "0" && scalar <= "9")
            if isAlphanumeric {
                result.unicodeScalars.append(scalar)
                inRun = false
            } else if !inRun {
                result.append("-")
                inRun = true
            }
        }
        return result.lowercased()
    }
}
