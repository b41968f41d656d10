// swift-tools-version: 6.0
// The platform-free half of the vitsdk iOS benchmark app: run specs, bundle manifests, the
// measurement protocol, latency statistics, battery-level energy and the results JSON. It imports
// Foundation only, so `swift test` runs it on Linux (scripts/swift_chroot.sh) against the shared
// test vectors in ../../schemas/vectors, and the app (ios_app/VitBench) links the same code.
import PackageDescription

let package = Package(
    name: "BenchCore",
    platforms: [.iOS(.v17), .macOS(.v14)],
    products: [
        .library(name: "BenchCore", targets: ["BenchCore"]),
    ],
    targets: [
        .target(name: "BenchCore"),
        .testTarget(name: "BenchCoreTests", dependencies: ["BenchCore"]),
    ]
)
