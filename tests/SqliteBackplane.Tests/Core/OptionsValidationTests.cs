using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SqliteBackplane.Tests.Infrastructure;
using SqliteBackplane.TestServer;
using Xunit;
using SqliteBackplane.Internal.Configuration;

namespace SqliteBackplane.Tests.Core;

public class OptionsValidationTests
{
    [Fact]
    public void Defaults_are_valid()
    {
        Assert.Empty(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions()));
    }

    [Theory]
    [InlineData("signalr\"; DROP TABLE x; --")]
    [InlineData("a;b")]
    [InlineData("it's")]
    [InlineData("")]
    [InlineData("1starts_with_digit")]
    [InlineData("has space")]
    public void Table_prefix_that_is_not_an_identifier_is_rejected(string prefix)
    {
        var failure = Assert.Single(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { TablePrefix = prefix }));

        Assert.Contains("SqliteBackplaneOptions.TablePrefix", failure);
        Assert.Contains("letters, digits or underscores", failure);
    }

    public static TheoryData<Action<SqliteBackplaneOptions>, string> BadIntervals => new()
    {
        { o => o.MessageExpiry = TimeSpan.Zero, "SqliteBackplaneOptions.MessageExpiry" },
        { o => o.SafetyPollInterval = TimeSpan.FromMilliseconds(-5), "SqliteBackplaneOptions.SafetyPollInterval" },
        { o => o.HeartbeatInterval = TimeSpan.Zero, "SqliteBackplaneOptions.HeartbeatInterval" },
        { o => o.NodeTimeout = TimeSpan.FromSeconds(-1), "SqliteBackplaneOptions.NodeTimeout" },
        { o => o.BusyTimeout = TimeSpan.FromMilliseconds(10), "SqliteBackplaneOptions.BusyTimeout" },
        { o => o.MaxMessageBytes = 0, "SqliteBackplaneOptions.MaxMessageBytes" },
        { o => o.MaxQueuedMessages = 0, "SqliteBackplaneOptions.MaxQueuedMessages" },
        { o => o.MaxQueuedMessages = 2_000_000, "SqliteBackplaneOptions.MaxQueuedMessages" },
        { o => o.MaxReaderLag = -1, "SqliteBackplaneOptions.MaxReaderLag" },
    };

    [Theory]
    [MemberData(nameof(BadIntervals))]
    public void Zero_or_negative_values_are_rejected_naming_the_option(Action<SqliteBackplaneOptions> configure, string optionName)
    {
        var options = new SqliteBackplaneOptions();
        configure(options);

        var failures = SqliteBackplaneOptionsValidator.Check(options);

        Assert.Contains(failures, f => f.Contains(optionName, StringComparison.Ordinal) && f.Contains("set it between", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(61)]
    public void A_resume_window_outside_zero_to_the_message_expiry_is_rejected(int seconds)
    {
        var failure = Assert.Single(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { EnableResume = true, ResumeWindow = TimeSpan.FromSeconds(seconds) }));

        Assert.Contains("SqliteBackplaneOptions.ResumeWindow", failure);
        Assert.Contains("must be more than zero and at most MessageExpiry (00:01:00)", failure);
        Assert.Empty(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { EnableResume = true, ResumeWindow = TimeSpan.FromSeconds(60) }));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(4L * 1024 * 1024 - 1)]
    public void A_wal_bound_under_4_MiB_is_rejected_with_the_smallest_allowed(long bytes)
    {
        var failure = Assert.Single(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { MaxWalSize = bytes }));

        Assert.Contains("SqliteBackplaneOptions.MaxWalSize", failure);
        Assert.Contains("set it to 4194304 (4 MiB) or more", failure);
        Assert.Empty(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { MaxWalSize = 4L * 1024 * 1024 }));
    }

    [Fact]
    public void Node_timeout_shorter_than_two_heartbeats_is_rejected()
    {
        var failures = SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { HeartbeatInterval = TimeSpan.FromSeconds(2), NodeTimeout = TimeSpan.FromSeconds(3) });

        Assert.Contains(failures, f => f.Contains("NodeTimeout") && f.Contains("at least twice"));
    }

    [Theory]
    [InlineData("Data Source=:memory:", "in-memory")]
    [InlineData("Data Source=x;Mode=Memory", "in-memory")]
    [InlineData("Data Source=x.db;Mode=ReadOnly", "read-only")]
    [InlineData("", "is empty")]
    [InlineData("Cache=Shared", "no Data Source")]
    [InlineData("Data Source=file:x.db?mode=rwc", "URI")]
    [InlineData("Nonsense Keyword=1", "could not be parsed")]
    public void Unusable_connection_strings_are_rejected_with_the_fix(string connectionString, string expected)
    {
        var failure = Assert.Single(SqliteBackplaneOptionsValidator.Check(new SqliteBackplaneOptions { ConnectionString = connectionString }));

        Assert.Contains("SqliteBackplaneOptions.ConnectionString", failure);
        Assert.Contains(expected, failure);
    }

    [Fact]
    public async Task Bad_options_stop_the_app_at_startup_with_the_option_name()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Services.AddSignalR().AddSqliteBackplane(o => o.TablePrefix = "bad;prefix");
        await using var app = builder.Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("SqliteBackplaneOptions.TablePrefix 'bad;prefix' is not a valid table prefix", ex.Message);
    }

    [Fact]
    public void Manager_constructed_directly_validates_its_options()
    {
        var options = Options.Create(new SqliteBackplaneOptions { HeartbeatInterval = TimeSpan.FromMilliseconds(-1) });

        var ex = Assert.Throws<OptionsValidationException>(() => new SqliteHubLifetimeManager<TestHub>(
            NullLogger<SqliteHubLifetimeManager<TestHub>>.Instance, options, new TestProtocolResolver()));

        Assert.Contains("SqliteBackplaneOptions.HeartbeatInterval", ex.Message);
    }
}
