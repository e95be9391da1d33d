namespace SqliteBackplane;

/// <summary>What a send does when the backplane log already holds as many rows as its capacity allows.</summary>
public enum SqliteBackplaneLogFullMode
{
    /// <summary>Delete the oldest rows to make room. Readers that had not read them yet skip them, as expired rows.</summary>
    DropOldest,

    /// <summary>Refuse the send with a <see cref="SqliteBackplaneFullException"/>; nothing is written.</summary>
    RejectNewMessages,
}
