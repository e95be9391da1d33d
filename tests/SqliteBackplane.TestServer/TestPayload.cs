namespace SqliteBackplane.TestServer;

/// <summary>A structured message payload, to check that every hub protocol receives correct bytes.</summary>
public sealed record TestPayload(int Number, string Text, IReadOnlyList<string> Items);

/// <summary>
/// Values that lose precision or shape in careless serialization: a long above 2^53, doubles, bytes, a UTC time and
/// unicode text. They must reach JSON and MessagePack clients on every server exactly as sent.
/// </summary>
public sealed record ExactPayload(long Long, double[] Doubles, byte[] Bytes, DateTime Time, string Text);
