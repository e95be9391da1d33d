using System.Diagnostics;
using System.Runtime.InteropServices;

namespace SqliteBackplane.TestSupport;

/// <summary>
/// A child process that prints a line starting with a known prefix and followed by its address once it listens (the
/// test server's and the benchmark server's <c>LISTENING http://127.0.0.1:port</c>). Every output line goes to the
/// caller's callback. Stopped by its own process id: <see cref="KillAsync"/> like <c>kill -9</c>, <see cref="Terminate"/>
/// with SIGTERM; never by name.
/// </summary>
public sealed class ListeningProcess : IAsyncDisposable
{
    private const int SigTerm = 15;

    private ListeningProcess(Process process, Uri address)
    {
        Process = process;
        Address = address;
    }

    /// <summary>The running process (its standard input is open when the start info redirected it).</summary>
    public Process Process { get; }

    /// <summary>The operating-system process id.</summary>
    public int ProcessId => Process.Id;

    /// <summary>The address printed after the prefix.</summary>
    public Uri Address { get; }

    /// <summary>
    /// Starts <paramref name="startInfo"/> (its output is redirected here) and waits at most <paramref name="startTimeout"/>
    /// for the line that starts with <paramref name="listeningPrefix"/>. <paramref name="onLine"/> receives each line with
    /// its stream ("out" or "err"). On failure the process is killed and the exception names <paramref name="name"/>,
    /// the reason and the command; the caller adds the output it collected.
    /// </summary>
    public static async Task<ListeningProcess> StartAsync(ProcessStartInfo startInfo, string name, string listeningPrefix, TimeSpan startTimeout,
        Action<string, string>? onLine = null)
    {
        startInfo.RedirectStandardOutput = true;
        startInfo.RedirectStandardError = true;
        startInfo.UseShellExecute = false;
        var listening = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = startInfo, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                listening.TrySetException(new InvalidOperationException($"{name} closed its output before it was listening."));
                return;
            }

            onLine?.Invoke("out", e.Data);
            if (e.Data.StartsWith(listeningPrefix, StringComparison.Ordinal))
            {
                listening.TrySetResult(new Uri(e.Data[listeningPrefix.Length..].Trim()));
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                onLine?.Invoke("err", e.Data);
            }
        };
        process.Exited += (_, _) => listening.TrySetException(new InvalidOperationException($"{name} exited with code {process.ExitCode} before it was listening."));

        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            return new ListeningProcess(process, await listening.Task.WaitAsync(startTimeout));
        }
        catch (Exception ex)
        {
            KillQuietly(process);
            await process.WaitForExitAsync();
            process.Dispose();
            var reason = ex is TimeoutException ? $"did not print its '{listeningPrefix.Trim()}' line within {startTimeout.TotalSeconds} s" : ex.Message;
            throw new InvalidOperationException($"{name} failed to start: {reason}{Environment.NewLine}Command: {startInfo.FileName} {string.Join(' ', startInfo.ArgumentList)}", ex);
        }
    }

    /// <summary>Kills the process and its children at once, like <c>kill -9</c>, and waits for it to exit.</summary>
    public async Task KillAsync()
    {
        KillQuietly(Process);
        await Process.WaitForExitAsync();
    }

    /// <summary>Sends SIGTERM (Linux and macOS) so the app shuts down gracefully; does not wait.</summary>
    /// <exception cref="PlatformNotSupportedException">On Windows, which has no SIGTERM.</exception>
    public void Terminate()
    {
        if (OperatingSystem.IsWindows())
        {
            throw new PlatformNotSupportedException("A graceful stop of a child process needs SIGTERM (Linux, macOS).");
        }

        if (!Process.HasExited && SendSignal(Process.Id, SigTerm) != 0)
        {
            throw new InvalidOperationException($"Sending SIGTERM to process {Process.Id} failed (errno {Marshal.GetLastPInvokeError()}).");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        Process.Dispose();
    }

    /// <summary>Kills <paramref name="process"/> and its children unless it has exited.</summary>
    public static void KillQuietly(Process process)
    {
        try
        {
            process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Already exited.
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
