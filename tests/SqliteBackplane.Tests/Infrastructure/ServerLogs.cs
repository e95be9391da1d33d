using System.Text.RegularExpressions;
using Xunit;

namespace SqliteBackplane.Tests.Infrastructure;

/// <summary>What a server process wrote that a healthy backplane never writes.</summary>
internal static partial class ServerLogs
{
    /// <summary>
    /// Lines reporting an unhandled exception anywhere, or logged by the backplane at Error/Critical level ("fail:"/"crit:").
    /// SignalR's own "Failed to invoke hub method" lines are not counted: tests make hub methods fail on purpose.
    /// </summary>
    public static IReadOnlyList<string> ErrorLines(ServerProcess server) =>
        server.Output.Split('\n').Where(line => ErrorLine().IsMatch(line)).Select(l => l.TrimEnd()).ToList();

    public static void AssertNoErrors(ServerProcess server)
    {
        var errors = ErrorLines(server);
        Assert.True(errors.Count == 0,
            $"{server.Name} logged {errors.Count} error or unhandled-exception lines:{Environment.NewLine}{string.Join(Environment.NewLine, errors.Take(20))}");
    }

    [GeneratedRegex(@"Unhandled|\] (fail|crit): SqliteBackplane", RegexOptions.CultureInvariant)]
    private static partial Regex ErrorLine();
}
