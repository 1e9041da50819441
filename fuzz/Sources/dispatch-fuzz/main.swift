import DispatchFuzz

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// The libFuzzer driver for the targets of `DispatchFuzz`; the target comes from
// DISPATCH_FUZZ_TARGET (`scripts/fuzz.sh`). Built only with DISPATCH_FUZZ=1 and
// `-sanitize=fuzzer`, which links libFuzzer. SwiftPM gives every executable a `main` of its own,
// so libFuzzer's is never linked: this one hands control to libFuzzer's driver instead.

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// Writes a line to standard error (file descriptor 2).
func printError(_ text: String) {
    var line = text + "\n"
    line.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

let name = getenv("DISPATCH_FUZZ_TARGET").map { String(cString: $0) } ?? ""
guard let target = FuzzTarget(rawValue: name) else {
    printError("DISPATCH_FUZZ_TARGET must be one of: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    exit(2)
}
// Read by the callback, which cannot capture: set once, before the driver starts.
nonisolated(unsafe) var selected = target

/// One input. Exported under libFuzzer's name too, which its archive's own `main` refers to.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    do {
        try selected.run(bytes)
    } catch {
        printError("\(selected.rawValue): \(error)")
        abort()
    }
    return 0
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(runFuzzerDriver(&argc, &argv, testOneInput))
