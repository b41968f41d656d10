plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

// Every runtime version comes from schemas/runtime_versions.json (the one list; the Python exporter,
// the host tests and the app at run time read the same file). The file is packaged as a Java resource,
// so the app reports exactly the versions it was built with.
val versionsFile = rootProject.file("../schemas/runtime_versions.json")
@Suppress("UNCHECKED_CAST")
val versions = groovy.json.JsonSlurper().parse(versionsFile) as Map<String, Any>
fun v(name: String): String = versions[name]?.toString() ?: error("$versionsFile has no '$name'")

val versionsResource = layout.buildDirectory.dir("generated/runtime-versions")
val copyRuntimeVersions by tasks.registering(Copy::class) {
    from(versionsFile)
    into(versionsResource)
}

android {
    namespace = "dev.vitsdk.bench"
    compileSdk = v("compile_sdk").toInt()

    defaultConfig {
        applicationId = "dev.vitsdk.bench"
        minSdk = v("min_sdk").toInt()          // 26 for java.time and the thermal APIs the app uses
        targetSdk = v("compile_sdk").toInt()   // 35, Android 15: SystemHealthManager power monitors
        versionCode = 1
        versionName = v("app")
        ndk { abiFilters += listOf("arm64-v8a", "x86_64") }
    }

    buildTypes {
        debug {
            // Debuggable, so `adb exec-out run-as dev.vitsdk.bench cat ...` can read results
            // where `adb pull` of the app's external files folder is denied.
        }
        release {
            isMinifyEnabled = false
        }
    }
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    kotlinOptions { jvmTarget = "17" }
    sourceSets["main"].resources.srcDir(versionsResource)
    packaging {
        jniLibs { useLegacyPackaging = true }   // .so files stay mmap-able for ExecuTorch/LiteRT
    }
}

tasks.named("preBuild") { dependsOn(copyRuntimeVersions) }

dependencies {
    implementation(project(":benchcore"))
    // ExecuTorch Java/Kotlin API (org.pytorch.executorch.Module) with the XNNPACK backend in its .so;
    // the same version as the exporter's executorch (tests/test_android_versions.py checks).
    implementation("org.pytorch:executorch-android:${v("executorch")}")
    implementation("com.facebook.soloader:nativeloader:${v("soloader_nativeloader")}")
    implementation("com.facebook.fbjni:fbjni:${v("fbjni")}")
    // LiteRT Interpreter API (package org.tensorflow.lite), CPU with XNNPACK.
    implementation("com.google.ai.edge.litert:litert:${v("litert")}")
}
