namespace SqliteBackplane.TestServer;

/// <summary>A structured message payload, to check that every hub protocol receives correct bytes.</summary>
public sealed record TestPayload(int Number, string Text, IReadOnlyList<string> Items);
