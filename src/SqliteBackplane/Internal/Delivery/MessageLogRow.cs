namespace SqliteBackplane.Internal.Delivery;

/// <summary>A message row as read from the log, before its envelope is decoded.</summary>
internal readonly record struct MessageLogRow(long Id, string Hub, int Kind, long CreatedAtMs, long ExpiresAtMs, byte[] Body);
