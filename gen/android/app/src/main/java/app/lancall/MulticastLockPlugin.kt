package app.lancall

import android.app.Activity
import android.content.Context
import android.content.pm.PackageManager
import android.net.wifi.WifiManager
import android.os.Build
import android.util.Log
import app.tauri.annotation.Command
import app.tauri.annotation.TauriPlugin
import app.tauri.plugin.Invoke
import app.tauri.plugin.JSObject
import app.tauri.plugin.Plugin

/**
 * The Wi-Fi multicast lock lancall holds while it browses for hosts or hosts a call (mDNS).
 *
 * Android's Wi-Fi driver drops incoming multicast unless an app holds a
 * `WifiManager.MulticastLock`; without it a phone host is invisible and a phone finds nothing,
 * with no error anywhere. Called from Rust (`src-tauri/src/netlock.rs`), not from the webview.
 * The lock is reference-counted: browsing and hosting each acquire and release it once.
 */
@TauriPlugin
class MulticastLockPlugin(private val activity: Activity) : Plugin(activity) {
    private val lock: WifiManager.MulticastLock by lazy {
        val wifi = activity.applicationContext.getSystemService(Context.WIFI_SERVICE) as WifiManager
        wifi.createMulticastLock("lancall-mdns").apply { setReferenceCounted(true) }
    }

    @Command
    fun acquire(invoke: Invoke) {
        askForLocalNetwork()
        lock.acquire()
        invoke.resolve(held())
    }

    @Command
    fun release(invoke: Invoke) {
        if (lock.isHeld) lock.release()
        invoke.resolve(held())
    }

    private fun held(): JSObject {
        val result = JSObject()
        result.put("held", lock.isHeld)
        return result
    }

    /** Android 17 (API 37) makes reaching local-network devices a runtime permission. */
    private fun askForLocalNetwork() {
        if (Build.VERSION.SDK_INT < LOCAL_NETWORK_API) return
        if (activity.checkSelfPermission(LOCAL_NETWORK) == PackageManager.PERMISSION_GRANTED) return
        Log.i(TAG, "asking for the local network permission")
        activity.requestPermissions(arrayOf(LOCAL_NETWORK), REQUEST_LOCAL_NETWORK)
    }

    companion object {
        private const val TAG = "lancall"
        private const val LOCAL_NETWORK = "android.permission.ACCESS_LOCAL_NETWORK"
        private const val LOCAL_NETWORK_API = 37
        private const val REQUEST_LOCAL_NETWORK = 7443
    }
}
