// Pure Kotlin (JVM): no Android imports, so it builds and tests on any JVM. pytest also compiles it
// with kotlinc and runs these tests (tests/test_android_benchcore.py) against schemas/vectors.
plugins {
    id("org.jetbrains.kotlin.jvm")
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    testImplementation("junit:junit:4.13.2")
}

tasks.test {
    systemProperty("vitsdk.vectors", rootProject.projectDir.resolve("../schemas/vectors").absolutePath)
}
