package dev.vitsdk.bench

import android.content.ContentProvider
import android.content.ContentValues
import android.content.Context
import android.database.Cursor
import android.database.MatrixCursor
import android.net.Uri
import android.os.ParcelFileDescriptor
import android.provider.OpenableColumns
import java.io.File
import java.io.FileNotFoundException

/**
 * Hands results JSON files (files/results/RUN/NAME.json) to the app the user shares them with, read-only,
 * through a temporary URI grant: the framework's ContentProvider doing the one thing androidx's
 * FileProvider did here, so the app needs no androidx. Nothing outside files/results is reachable.
 */
class ResultsProvider : ContentProvider() {
    override fun onCreate(): Boolean = true

    private fun fileOf(uri: Uri): File {
        val ctx = context ?: throw FileNotFoundException("no context")
        val root = File(ctx.filesDir, "results").canonicalFile
        val f = File(root, uri.path.orEmpty().trimStart('/')).canonicalFile
        if (!f.path.startsWith(root.path + File.separator) || !f.isFile) throw FileNotFoundException("not a results file: $uri")
        return f
    }

    override fun openFile(uri: Uri, mode: String): ParcelFileDescriptor {
        if (mode != "r") throw SecurityException("results are shared read-only (asked for '$mode')")
        return ParcelFileDescriptor.open(fileOf(uri), ParcelFileDescriptor.MODE_READ_ONLY)
    }

    override fun query(uri: Uri, projection: Array<out String>?, selection: String?, selectionArgs: Array<out String>?,
                       sortOrder: String?): Cursor {
        val f = fileOf(uri)
        val cols = projection ?: arrayOf(OpenableColumns.DISPLAY_NAME, OpenableColumns.SIZE)
        return MatrixCursor(cols, 1).apply {
            addRow(cols.map { if (it == OpenableColumns.SIZE) f.length() else if (it == OpenableColumns.DISPLAY_NAME) f.name else null })
        }
    }

    override fun getType(uri: Uri): String = "application/json"
    override fun insert(uri: Uri, values: ContentValues?): Uri? = throw UnsupportedOperationException("read-only")
    override fun delete(uri: Uri, selection: String?, selectionArgs: Array<out String>?): Int = throw UnsupportedOperationException("read-only")
    override fun update(uri: Uri, values: ContentValues?, selection: String?, selectionArgs: Array<out String>?): Int =
        throw UnsupportedOperationException("read-only")

    companion object {
        const val AUTHORITY = "dev.vitsdk.bench.results"

        /** content://AUTHORITY/RUN/NAME.json for a file under files/results. */
        fun uriFor(context: Context, file: File): Uri {
            val root = File(context.filesDir, "results").canonicalFile
            val rel = file.canonicalFile.relativeTo(root).invariantSeparatorsPath
            return Uri.Builder().scheme("content").authority(AUTHORITY).path(rel).build()
        }
    }
}
