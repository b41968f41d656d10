// Pure Kotlin (JVM): no Android imports, so it builds and tests on any JVM. pytest also compiles it
// with kotlinc and runs these tests (tests/test_android_benchcore.py) against schemas/vectors.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

// versions: ../schemas/runtime_versions.json, the one list (app/build.gradle.kts reads it the same way)
@Suppress("UNCHECKED_CAST")
val versions = groovy.json.JsonSlurper().parse(rootProject.file("../schemas/runtime_versions.json")) as Map<String, Any>

dependencies {
    testImplementation("junit:junit:${versions["junit"]}")
}

tasks.test {
    systemProperty("vitsdk.vectors", rootProject.projectDir.resolve("../schemas/vectors").absolutePath)
}
