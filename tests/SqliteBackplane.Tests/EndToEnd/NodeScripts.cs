using System.Diagnostics;
using SqliteBackplane.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace SqliteBackplane.Tests.EndToEnd;

/// <summary>
/// Runs the Node scripts in <c>tests/e2e</c> (the @microsoft/signalr client and the playwright-core browser driver),
/// and the unit tests of the npm resume helper in <c>clients/js</c>. The first use of each directory installs its
/// packages with <c>npm ci</c> from the committed lockfile when node_modules lacks them.
/// Every script prints <c>OK ...</c> per check, then <c>PASS</c> (exit 0) or <c>FAIL details</c> (exit 1).
/// </summary>
public static class NodeScripts
{
    private static readonly TimeSpan InstallTimeout = TimeSpan.FromMinutes(5);
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private static readonly HashSet<string> Installed = [];

    /// <summary>The Node project of the end-to-end scripts.</summary>
    public static string ScriptDirectory => Path.Combine(RepositoryRoot.Path, "tests", "e2e");

    /// <summary>The npm resume helper, @sqlite-backplane/signalr-resume (the end-to-end project links it).</summary>
    public static string ResumeHelperDirectory => Path.Combine(RepositoryRoot.Path, "clients", "js");

    /// <summary>
    /// Runs <c>node &lt;script&gt; &lt;arguments&gt;</c> in <see cref="ScriptDirectory"/>, killing it after <paramref name="timeout"/>;
    /// <paramref name="onLine"/>, when given, sees each stdout line as it comes.
    /// </summary>
    public static async Task<NodeScriptResult> RunAsync(string script, IReadOnlyList<string> arguments, TimeSpan timeout, ITestOutputHelper output, Action<string>? onLine = null)
    {
        await EnsureInstalledAsync(ScriptDirectory, ["@microsoft/signalr", "@microsoft/signalr-protocol-msgpack", "@sqlite-backplane/signalr-resume", "playwright-core", "ws"], output);
        // The linked helper's own packages (its default protocol comes from its @microsoft/signalr).
        await EnsureInstalledAsync(ResumeHelperDirectory, ["@microsoft/signalr", "@microsoft/signalr-protocol-msgpack"], output);
        var result = await RunProcessAsync("node", [script, .. arguments], ScriptDirectory, timeout, output, $"node {script}", onLine);
        return new NodeScriptResult(script, result.ExitCode, result.Output);
    }

    /// <summary>Runs the resume helper's unit tests (<c>node --test test/</c> in <see cref="ResumeHelperDirectory"/>); returns the exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunResumeHelperTestsAsync(TimeSpan timeout, ITestOutputHelper output)
    {
        await EnsureInstalledAsync(ResumeHelperDirectory, ["@microsoft/signalr", "@microsoft/signalr-protocol-msgpack", "typescript"], output);
        return await RunProcessAsync("node", ["--test", "--test-reporter=tap", "test/"], ResumeHelperDirectory, timeout, output, "node --test (clients/js)");
    }

    private static async Task EnsureInstalledAsync(string directory, string[] required, ITestOutputHelper output)
    {
        await InstallLock.WaitAsync();
        try
        {
            if (Installed.Contains(directory))
            {
                return;
            }
            var missing = required.Where(package => !File.Exists(Path.Combine(directory, "node_modules", package, "package.json"))).ToList();
            if (missing.Count > 0)
            {
                output.WriteLine($"Installing Node packages ({string.Join(", ", missing)} missing): npm ci in {directory}");
                var install = await RunProcessAsync("npm", ["ci", "--no-audit", "--no-fund"], directory, InstallTimeout, output, "npm ci");
                if (install.ExitCode != 0)
                {
                    throw new InvalidOperationException($"npm ci in {directory} failed with exit code {install.ExitCode}:{Environment.NewLine}{install.Output}");
                }
            }
            Installed.Add(directory);
        }
        finally
        {
            InstallLock.Release();
        }
    }

    private static async Task<(int ExitCode, string Output)> RunProcessAsync(string fileName, IReadOnlyList<string> arguments, string workingDirectory, TimeSpan timeout, ITestOutputHelper output, string name,
        Action<string>? onLine = null)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }
        // playwright-core never downloads browsers, and this makes sure no install hook tries.
        startInfo.Environment["PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD"] = "1";
        startInfo.Environment["NO_COLOR"] = "1";

        var log = new OutputLog(name, output);
        var lines = new List<string>();
        using var process = new Process { StartInfo = startInfo };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (lines)
                {
                    lines.Add(e.Data);
                }
                log.Add("out", e.Data);
                onLine?.Invoke(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (lines)
                {
                    lines.Add("stderr: " + e.Data);
                }
                log.Add("err", e.Data);
            }
        };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException($"Cannot start '{fileName}': {ex.Message}. The end-to-end tests need Node.js 18 or later with npm on PATH.", ex);
        }
        process.StandardInput.Close();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await process.WaitForExitAsync().TimeoutAfter(timeout, $"{name} to finish");
        }
        catch (TimeoutException ex)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            throw new TimeoutException($"{ex.Message}{Environment.NewLine}Its output so far:{Environment.NewLine}{log}", ex);
        }
        // WaitForExitAsync also waits for the redirected streams to reach their end.
        lock (lines)
        {
            return (process.ExitCode, string.Join(Environment.NewLine, lines));
        }
    }
}

/// <summary>What a Node script printed, and how it exited.</summary>
public sealed record NodeScriptResult(string Script, int ExitCode, string Output)
{
    /// <summary>The <c>OK ...</c> lines, one per passed check.</summary>
    public IReadOnlyList<string> Checks => OutputLines.Where(line => line.StartsWith("OK ", StringComparison.Ordinal)).ToList();

    /// <summary>The files the script saved (<c>ARTIFACT &lt;path&gt;</c> lines).</summary>
    public IReadOnlyList<string> Artifacts => OutputLines.Where(line => line.StartsWith("ARTIFACT ", StringComparison.Ordinal)).Select(line => line["ARTIFACT ".Length..]).ToList();

    private IEnumerable<string> OutputLines => Output.Split(Environment.NewLine);

    /// <summary>
    /// Asserts the script exited 0 after printing PASS, and passed one check starting with each of
    /// <paramref name="expectedChecks"/>, in that order; the failure message carries the whole output.
    /// </summary>
    public void AssertPassed(params string[] expectedChecks)
    {
        var failure = OutputLines.FirstOrDefault(line => line.StartsWith("FAIL", StringComparison.Ordinal));
        Assert.True(ExitCode == 0 && failure is null && OutputLines.Contains("PASS"),
            $"{Script} failed (exit code {ExitCode}): {failure ?? "no FAIL line"}{Environment.NewLine}Output:{Environment.NewLine}{Output}");
        var checks = Checks;
        Assert.True(checks.Count == expectedChecks.Length,
            $"{Script} passed {checks.Count} checks, expected {expectedChecks.Length}:{Environment.NewLine}{string.Join(Environment.NewLine, checks)}");
        for (var i = 0; i < expectedChecks.Length; i++)
        {
            Assert.True(checks[i].StartsWith("OK " + expectedChecks[i], StringComparison.Ordinal),
                $"{Script} check {i + 1} was '{checks[i]}', expected it to start with 'OK {expectedChecks[i]}'.{Environment.NewLine}Output:{Environment.NewLine}{Output}");
        }
    }
}
