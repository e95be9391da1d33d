using System.Diagnostics;
using SqliteBackplane.Internal.Storage;
using Xunit;

namespace SqliteBackplane.Tests.Core;

public class SqliteSleepCheckTests
{
    [Theory]
    [InlineData(1, 1.08, false)] // SQLite 3.53 (SQLitePCLRaw 2.1.x, 3.x): sleeps and reports a millisecond
    [InlineData(0, 0.2, false)]
    [InlineData(1000, 1000.1, true)] // SQLitePCLRaw 2.0.x's e_sqlite3: sleep(3) rounded up to a second
    [InlineData(1000, 0.5, true)] // reports a second even if the clock disagrees
    [InlineData(1, 1000.0, true)] // reports a millisecond but took a second
    [InlineData(1, 499.0, false)] // a slow machine is not a slow build
    public void A_build_that_sleeps_whole_seconds_is_detected_from_what_sqlite3_sleep_reports_and_takes(int reported, double elapsedMs, bool slow)
    {
        Assert.Equal(slow, SqliteSleepCheck.SleepsWholeSeconds(reported, TimeSpan.FromMilliseconds(elapsedMs)));
    }

    [Fact]
    public void The_SQLite_build_the_package_brings_is_not_the_slow_kind()
    {
        SQLitePCL.Batteries_V2.Init();
        var started = Stopwatch.GetTimestamp();
        var reported = SqliteSleepCheck.Sleep(1);

        // The value SQLite reports is the decisive one here (the 2.0.x build reports 1000); the elapsed time only
        // feeds the same check the backplane runs at start.
        Assert.Equal(1, reported);
        Assert.False(SqliteSleepCheck.SleepsWholeSeconds(reported, Stopwatch.GetElapsedTime(started)));
    }
}
