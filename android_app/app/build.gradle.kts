plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

android {
    namespace = "dev.vitsdk.bench"
    compileSdk = 35

    defaultConfig {
        applicationId = "dev.vitsdk.bench"
        minSdk = 26          // LiteRT 1.4 and ExecuTorch need 23+; 26 for java.time and thermal APIs we use
        targetSdk = 35       // Android 15: SystemHealthManager power monitors
        versionCode = 1
        versionName = "0.1.0"
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
    packaging {
        jniLibs { useLegacyPackaging = true }   // .so files stay mmap-able for ExecuTorch/LiteRT
    }
}

dependencies {
    implementation(project(":benchcore"))
    // ExecuTorch Java/Kotlin API (org.pytorch.executorch.Module) with the XNNPACK backend in its .so.
    implementation("org.pytorch:executorch-android:1.0.1")
    implementation("com.facebook.soloader:soloader:0.10.5")
    implementation("com.facebook.fbjni:fbjni:0.5.1")
    // LiteRT Interpreter API (package org.tensorflow.lite), CPU with XNNPACK.
    implementation("com.google.ai.edge.litert:litert:1.4.1")
    implementation("androidx.core:core-ktx:1.13.1")   // FileProvider for "Share results"
}
