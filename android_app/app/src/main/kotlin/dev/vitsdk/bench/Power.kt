package dev.vitsdk.bench

import android.annotation.TargetApi
import android.content.Context
import android.content.Intent
import android.content.IntentFilter
import android.os.BatteryManager
import android.os.Build
import android.os.OutcomeReceiver
import android.os.PowerManager
import android.os.PowerMonitor
import android.os.PowerMonitorReadings
import android.os.SystemClock
import android.os.health.SystemHealthManager
import dev.vitsdk.benchcore.EnergySamples
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.ScheduledExecutorService
import java.util.concurrent.TimeUnit

/** Samples power on a background thread over a window; `stop()` returns what was read. */
interface PowerSampler {
    val description: String
    fun start()
    fun stop(): EnergySamples?
}

/** A cumulative energy counter: each reading is (seconds on the sampling clock, total microwatt-seconds). */
interface EnergyCounters {
    val description: String
    fun read(): Pair<Double, Double>?
}

/** Reads [counters] every [periodMs] on a background thread; the samples become an [EnergySamples.Counter]. */
class CounterSampler(private val counters: EnergyCounters, private val periodMs: Long) : PowerSampler {
    private val times = ArrayList<Double>()
    private val totals = ArrayList<Double>()
    private var exec: ScheduledExecutorService? = null
    override val description: String get() = counters.description

    private fun sample() {
        counters.read()?.let { (t, e) -> synchronized(this) { times.add(t); totals.add(e) } }
    }

    override fun start() {
        synchronized(this) { times.clear(); totals.clear() }
        exec = Executors.newSingleThreadScheduledExecutor().apply {
            scheduleAtFixedRate({ sample() }, 0, periodMs, TimeUnit.MILLISECONDS)
        }
    }

    override fun stop(): EnergySamples? {
        exec?.let { it.shutdownNow(); it.awaitTermination(2, TimeUnit.SECONDS) }
        exec = null
        sample()
        synchronized(this) {
            if (times.size < 2) return null
            return EnergySamples.Counter(times.toDoubleArray(), totals.toDoubleArray(), description)
        }
    }
}

/**
 * Android 15+ (API 35) SystemHealthManager power monitors: cumulative energy in microwatt-seconds.
 * Only MEASUREMENT monitors (on-device power rails, ODPM) are used; CONSUMER monitors are modelled
 * by the system, not measured, so a phone with only those falls back to the battery.
 */
@TargetApi(35)
class PowerMonitorCounters private constructor(
    private val shm: SystemHealthManager,
    private val monitors: List<PowerMonitor>,
) : EnergyCounters {
    override val description: String = monitors.joinToString { it.name }

    override fun read(): Pair<Double, Double>? {
        val latch = CountDownLatch(1)
        var result: PowerMonitorReadings? = null
        shm.getPowerMonitorReadings(monitors, null, object : OutcomeReceiver<PowerMonitorReadings, RuntimeException> {
            override fun onResult(r: PowerMonitorReadings) { result = r; latch.countDown() }
            override fun onError(e: RuntimeException) { latch.countDown() }
        })
        if (!latch.await(2, TimeUnit.SECONDS)) return null
        val r = result ?: return null
        var total = 0.0
        var stampMs = 0L
        for (m in monitors) {
            val e = r.getConsumedEnergy(m)
            if (e == PowerMonitorReadings.ENERGY_UNAVAILABLE.toLong()) return null
            total += e.toDouble()
            stampMs = maxOf(stampMs, r.getTimestampMillis(m))   // elapsedRealtime of the snapshot
        }
        return (if (stampMs > 0) stampMs / 1e3 else SystemClock.elapsedRealtimeNanos() / 1e9) to total
    }

    companion object {
        /** The MEASUREMENT monitors of this phone, or null when it has none. */
        fun create(context: Context): PowerMonitorCounters? {
            val shm = context.getSystemService(SystemHealthManager::class.java) ?: return null
            val latch = CountDownLatch(1)
            var list: List<PowerMonitor> = emptyList()
            shm.getSupportedPowerMonitors(null) { l -> list = l; latch.countDown() }
            if (!latch.await(2, TimeUnit.SECONDS)) return null
            val rails = list.filter { it.type == PowerMonitor.POWER_MONITOR_TYPE_MEASUREMENT }
            return if (rails.isEmpty()) null else PowerMonitorCounters(shm, rails)
        }
    }
}

/** This phone's power rails (Android 15+), or null: where [bestPowerSampler] looks first. */
fun powerMonitors(context: Context): EnergyCounters? =
    if (Build.VERSION.SDK_INT >= 35) PowerMonitorCounters.create(context) else null

/**
 * The best energy source here: power rails when [monitors] finds them, else the battery (never null;
 * a battery without readings yields no samples, and the results say energy is unavailable and why).
 */
fun bestPowerSampler(context: Context, periodMs: Long, clock: () -> Double,
                     monitors: (Context) -> EnergyCounters? = ::powerMonitors): PowerSampler =
    monitors(context)?.let { CounterSampler(it, periodMs) } ?: BatterySampler(context, periodMs, clock)

/** BatteryManager CURRENT_NOW and the sticky battery intent's voltage, raw (units are detected later). */
class BatterySampler(private val context: Context, private val periodMs: Long, private val clock: () -> Double) : PowerSampler {
    private val bm = context.getSystemService(BatteryManager::class.java)
    private val t = ArrayList<Double>()
    private val current = ArrayList<Double>()
    private val voltage = ArrayList<Double>()
    private var exec: ScheduledExecutorService? = null
    override val description = "BatteryManager CURRENT_NOW x EXTRA_VOLTAGE"

    private fun sample() {
        val i = bm?.getIntProperty(BatteryManager.BATTERY_PROPERTY_CURRENT_NOW) ?: Int.MIN_VALUE
        val v = batteryIntent(context)?.getIntExtra(BatteryManager.EXTRA_VOLTAGE, -1) ?: -1
        if (i == Int.MIN_VALUE || v <= 0) return   // property unsupported or voltage unknown
        synchronized(this) {
            t.add(clock()); current.add(i.toDouble()); voltage.add(v.toDouble())
        }
    }

    override fun start() {
        synchronized(this) { t.clear(); current.clear(); voltage.clear() }
        exec = Executors.newSingleThreadScheduledExecutor().apply {
            scheduleAtFixedRate({ sample() }, 0, periodMs, TimeUnit.MILLISECONDS)
        }
    }

    override fun stop(): EnergySamples? {
        exec?.let { it.shutdownNow(); it.awaitTermination(2, TimeUnit.SECONDS) }
        exec = null
        synchronized(this) {
            if (t.size < 2) return null
            return EnergySamples.Battery(t.toDoubleArray(), current.toDoubleArray(), voltage.toDoubleArray())
        }
    }
}

fun batteryIntent(context: Context): Intent? =
    context.registerReceiver(null, IntentFilter(Intent.ACTION_BATTERY_CHANGED))

/** True when USB, AC, wireless or dock power is connected (then the battery current includes charging). */
fun isPlugged(context: Context): Boolean = (batteryIntent(context)?.getIntExtra(BatteryManager.EXTRA_PLUGGED, 0) ?: 0) != 0

/** PowerManager thermal status (API 29+) and the battery temperature, in the results' thermal_state shape. */
fun thermalState(context: Context): Map<String, Any?> {
    val pm = context.getSystemService(PowerManager::class.java)
    val status = if (Build.VERSION.SDK_INT >= 29) pm?.let { dev.vitsdk.benchcore.ResultsDoc.thermalName(it.currentThermalStatus) } else null
    val tenths = batteryIntent(context)?.getIntExtra(BatteryManager.EXTRA_TEMPERATURE, Int.MIN_VALUE) ?: Int.MIN_VALUE
    return linkedMapOf("state" to status, "temperature_c" to if (tenths == Int.MIN_VALUE) null else tenths / 10.0)
}
