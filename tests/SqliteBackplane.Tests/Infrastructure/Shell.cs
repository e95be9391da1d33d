using System.Diagnostics;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>Runs a command-line program and fails with its stderr when it fails.</summary>
internal static class Shell
{
    public static string Run(string program, params string[] args)
    {
        var startInfo = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            startInfo.ArgumentList.Add(arg);
        }

        using var process = Process.Start(startInfo)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        if (!process.WaitForExit(30_000) || process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed ({(process.HasExited ? process.ExitCode : -1)}): {error}");
        }

        return output;
    }

    public static void TryRun(string program, params string[] args)
    {
        try
        {
            Run(program, args);
        }
        catch (Exception)
        {
        }
    }
}
