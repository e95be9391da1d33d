using System.Diagnostics;
using System.Net.Sockets;
using SqliteBackplane.Internal.Delivery;
using SqliteBackplane.Internal.Storage;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;

namespace SqliteBackplane.Tests.Core;

/// <summary>
/// Wake sockets live in a private per-user directory, and only dead node sockets in it are ever deleted: not files that
/// a node row names elsewhere, not ordinary files, not sockets whose process still runs.
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class WakeSocketTests : IDisposable
{
    private readonly TempDatabase _scratch = new();
    private readonly List<Socket> _sockets = [];
    private readonly string _directory = SocketDirectory.Prepare(SocketDirectory.Path());

    [Fact]
    public void The_socket_directory_is_private_to_this_user()
    {
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(_directory));
        Assert.Null(new DirectoryInfo(_directory).LinkTarget);
    }

    [Fact]
    public void A_new_node_removes_dead_sockets_and_keeps_live_sockets_and_other_files()
    {
        var dead = DeadSocket(_directory);
        var live = LiveSocket(_directory);
        var ordinary = OrdinaryFile(_directory, NodeSocketName());
        var unrelated = OrdinaryFile(_directory, "notes.txt");

        using (var channel = SocketWakeChannel.Create(Guid.NewGuid().ToString("N")))
        {
            Assert.StartsWith("unix:" + _directory + "/", channel.Endpoint, StringComparison.Ordinal);
        }

        Assert.False(File.Exists(dead), "A socket whose process is gone must be removed when a node starts.");
        Assert.True(File.Exists(live), "A socket that a live process is bound to must be kept.");
        Assert.True(File.Exists(ordinary), "An ordinary file must be kept, whatever its name.");
        Assert.True(File.Exists(unrelated), "A file not named like a node socket must be kept.");
        File.Delete(ordinary);
        File.Delete(unrelated);
    }

    [Fact]
    public void Reaping_deletes_only_a_dead_node_socket_in_this_users_directory()
    {
        var outside = OrdinaryFile(_scratch.Directory, "precious.txt");
        var outsideNamedLikeASocket = OrdinaryFile(_scratch.Directory, NodeSocketName());
        var deadOutside = DeadSocket(_scratch.Directory);
        var ordinaryInside = OrdinaryFile(_directory, NodeSocketName());
        var live = LiveSocket(_directory);
        var dead = DeadSocket(_directory);

        foreach (var path in new[] { outside, outsideNamedLikeASocket, deadOutside, ordinaryInside, live, dead, _directory + "/../" + Path.GetFileName(dead) })
        {
            WakeEndpoints.DeleteStale(WakeEndpoints.UnixScheme + path);
        }

        Assert.True(File.Exists(outside));
        Assert.True(File.Exists(outsideNamedLikeASocket));
        Assert.True(File.Exists(deadOutside), "A socket outside this user's socket directory must never be deleted.");
        Assert.True(File.Exists(ordinaryInside), "An ordinary file must never be deleted, even in the socket directory.");
        Assert.True(File.Exists(live), "The socket of a live process must be kept, even if its row was reaped.");
        Assert.False(File.Exists(dead), "A dead node's socket must be deleted when it is reaped.");
        File.Delete(ordinaryInside);
    }

    [Fact]
    public void A_directory_that_is_not_private_is_made_private()
    {
        var directory = Path.Combine(_scratch.Directory, "open");
        Directory.CreateDirectory(directory);
        File.SetUnixFileMode(directory, (UnixFileMode)0b111_101_101);

        SocketDirectory.Prepare(directory);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(directory));
    }

    [Fact]
    public void A_symbolic_link_in_place_of_the_directory_is_refused_with_the_reason()
    {
        var target = Directory.CreateDirectory(Path.Combine(_scratch.Directory, "elsewhere")).FullName;
        var link = Path.Combine(_scratch.Directory, "sqlite-backplane");
        Directory.CreateSymbolicLink(link, target);

        var refused = Assert.Throws<IOException>(() => SocketDirectory.Prepare(link));

        Assert.Contains($"'{link}' is not a directory", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_directory_of_another_user_is_refused_with_the_reason()
    {
        if (Environment.UserName != "root")
        {
            Console.WriteLine("Skipped: only root can give a directory to another user.");
            return;
        }

        var directory = Directory.CreateDirectory(Path.Combine(_scratch.Directory, "theirs")).FullName;
        Run("chown", "65534", directory);

        var refused = Assert.Throws<IOException>(() => SocketDirectory.Prepare(directory));

        Assert.Contains("belongs to user id 65534, not to this process's user id 0", refused.Message, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            var path = (socket.LocalEndPoint as UnixDomainSocketEndPoint)?.ToString();
            socket.Dispose();
            if (path is not null)
            {
                File.Delete(path);
            }
        }

        _scratch.Dispose();
    }

    private static string NodeSocketName() => SocketDirectory.SocketName(Guid.NewGuid().ToString("N"));

    /// <summary>A socket file nobody is bound to any more, as a killed process leaves it.</summary>
    internal static string DeadSocket(string directory)
    {
        var path = Path.Combine(directory, NodeSocketName());
        // .NET deletes the path it bound when the socket is disposed (a killed process cannot): bind elsewhere and move it.
        var bound = Path.Combine(directory, Guid.NewGuid().ToString("N") + ".binding");
        using (var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified))
        {
            socket.Bind(new UnixDomainSocketEndPoint(bound));
            File.Move(bound, path);
        }

        Assert.True(File.Exists(path), "The dead socket's file must stay after its socket is closed.");
        return path;
    }

    private string LiveSocket(string directory)
    {
        var path = Path.Combine(directory, NodeSocketName());
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        _sockets.Add(socket);
        socket.Bind(new UnixDomainSocketEndPoint(path));
        return path;
    }

    private static string OrdinaryFile(string directory, string name)
    {
        var path = Path.Combine(directory, name);
        File.WriteAllText(path, "keep me");
        return path;
    }

    private static void Run(string program, params string[] args)
    {
        using var process = Process.Start(new ProcessStartInfo(program, args) { RedirectStandardError = true })!;
        var error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(10_000) && process.ExitCode == 0, $"{program} {string.Join(' ', args)} failed: {error}");
    }
}
