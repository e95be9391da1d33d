using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace SqliteBackplane.Tests.Maintenance;

/// <summary>
/// Records every SQL statement that any connection in this process runs on one database file, as SQLite itself
/// reports it. An auto-extension (<c>sqlite3_auto_extension</c>) sees each connection as it opens, including those the
/// library opens internally; on connections to a watched file it installs <c>sqlite3_trace_v2(SQLITE_TRACE_STMT)</c>,
/// which reports the text of each statement as it starts (triggers included). Statements the test itself runs can be
/// left out with <see cref="Suppress"/>.
/// </summary>
internal sealed class SqliteStatementTrace : IDisposable
{
    private const string Library = "e_sqlite3";
    private const uint TraceStatement = 0x01;

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int AutoExtensionCallback(IntPtr db, IntPtr errorMessage, IntPtr api);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int TraceCallback(uint type, IntPtr context, IntPtr statement, IntPtr sql);

    // Static so native code never holds a pointer to a collected delegate.
    private static readonly AutoExtensionCallback s_autoExtension = OnConnectionOpened;
    private static readonly TraceCallback s_trace = OnStatement;
    private static readonly ConcurrentDictionary<string, SqliteStatementTrace> s_watched = new(StringComparer.Ordinal);
    private static readonly ConcurrentDictionary<IntPtr, SqliteStatementTrace> s_connections = new();
    private static readonly Lazy<bool> s_registered = new(Register);

    [ThreadStatic]
    private static bool t_suppressed;

    private readonly ConcurrentQueue<string> _statements = new();
    private readonly string _databasePath;

    private SqliteStatementTrace(string databasePath) => _databasePath = databasePath;

    /// <summary>Starts recording statements on <paramref name="databasePath"/> for connections opened from now on.</summary>
    public static SqliteStatementTrace Start(string databasePath)
    {
        if (!s_registered.Value)
        {
            throw new InvalidOperationException("sqlite3_auto_extension failed.");
        }

        var trace = new SqliteStatementTrace(databasePath);
        if (!s_watched.TryAdd(databasePath, trace))
        {
            throw new InvalidOperationException($"'{databasePath}' is traced already.");
        }

        return trace;
    }

    /// <summary>The statements recorded so far, in the order they started.</summary>
    public IReadOnlyList<string> Statements => [.. _statements];

    /// <summary>Runs test code whose statements must not be recorded (on this thread).</summary>
    public static T Suppress<T>(Func<T> work)
    {
        t_suppressed = true;
        try
        {
            return work();
        }
        finally
        {
            t_suppressed = false;
        }
    }

    public void Dispose()
    {
        s_watched.TryRemove(_databasePath, out _);
        foreach (var (db, trace) in s_connections)
        {
            if (ReferenceEquals(trace, this))
            {
                s_connections.TryRemove(db, out _);
            }
        }
    }

    private static bool Register() => AutoExtension(Marshal.GetFunctionPointerForDelegate(s_autoExtension)) == 0;

    private static int OnConnectionOpened(IntPtr db, IntPtr errorMessage, IntPtr api)
    {
        try
        {
            var path = Marshal.PtrToStringUTF8(DbFilename(db, "main"));
            if (path is not null && s_watched.TryGetValue(path, out var trace))
            {
                s_connections[db] = trace;
                TraceV2(db, TraceStatement, Marshal.GetFunctionPointerForDelegate(s_trace), IntPtr.Zero);
            }
            else
            {
                // A handle address can be reused by a later connection to another file.
                s_connections.TryRemove(db, out _);
            }
        }
        catch
        {
            // Never let an exception cross into native code.
        }

        return 0;
    }

    private static int OnStatement(uint type, IntPtr context, IntPtr statement, IntPtr sql)
    {
        try
        {
            if (type == TraceStatement && !t_suppressed && s_connections.TryGetValue(DbHandle(statement), out var trace))
            {
                var text = Marshal.PtrToStringUTF8(sql);
                if (text is not null)
                {
                    trace._statements.Enqueue(text);
                }
            }
        }
        catch
        {
        }

        return 0;
    }

    [DllImport(Library, EntryPoint = "sqlite3_auto_extension", CallingConvention = CallingConvention.Cdecl)]
    private static extern int AutoExtension(IntPtr entryPoint);

    [DllImport(Library, EntryPoint = "sqlite3_trace_v2", CallingConvention = CallingConvention.Cdecl)]
    private static extern int TraceV2(IntPtr db, uint mask, IntPtr callback, IntPtr context);

    [DllImport(Library, EntryPoint = "sqlite3_db_filename", CallingConvention = CallingConvention.Cdecl)]
    private static extern IntPtr DbFilename(IntPtr db, [MarshalAs(UnmanagedType.LPUTF8Str)] string schema);

    [DllImport(Library, EntryPoint = "sqlite3_db_handle", CallingConvention = CallingConvention.Cdecl)]
    private static extern IntPtr DbHandle(IntPtr statement);
}
