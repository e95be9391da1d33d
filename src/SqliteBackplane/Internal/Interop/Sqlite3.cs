using System.Runtime.InteropServices;

namespace SqliteBackplane.Internal.Interop;

/// <summary>The native SQLite calls Microsoft.Data.Sqlite and SQLitePCLRaw do not expose, on the bundled e_sqlite3.</summary>
internal static class Sqlite3
{
    public const string Library = "e_sqlite3";

    public const int FileControlHasMoved = 20;

    // DllImport, not LibraryImport: the LibraryImport generator emits unsafe code, which this assembly does not allow.
    [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_file_control")]
    public static extern int FileControl(IntPtr db, [MarshalAs(UnmanagedType.LPUTF8Str)] string databaseName, int operation, ref int argument);

    [DllImport(Library, CallingConvention = CallingConvention.Cdecl, EntryPoint = "sqlite3_busy_handler")]
    public static extern int BusyHandler(IntPtr db, IntPtr callback, IntPtr state);
}
