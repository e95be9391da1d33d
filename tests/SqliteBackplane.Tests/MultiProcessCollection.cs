using Xunit;

namespace SqliteBackplane.Tests;

/// <summary>
/// Tests that start server processes run one at a time, never beside other tests: CI has two cores, and timing
/// checks (heartbeats, node timeouts) must not starve.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MultiProcessCollection
{
    public const string Name = "Multi-process";
}
