// The vitsdk Android benchmark app. Open this folder in Android Studio (it syncs Gradle and the SDK).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()        // com.google.ai.edge.litert
        mavenCentral()  // org.pytorch:executorch-android
    }
}

rootProject.name = "vitsdk-bench"
include(":app")        // the Android app: activity, runtimes, power sources (Android APIs)
include(":benchcore")  // pure Kotlin, no Android imports: protocol, stats, energy, JSON (host-JVM tested)
