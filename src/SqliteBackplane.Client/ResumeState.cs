using System.Globalization;

namespace SqliteBackplane.Client;

/// <summary>
/// One HubConnection's place in the backplane log (docs/resume.md): the last token and the committed position, kept
/// across reconnects of the same connection object. The receive loop updates it; each connect reads it.
/// </summary>
internal sealed class ResumeState
{
    private readonly object _lock = new();
    private string? _token;
    private long _position;
    private long? _pending;

    /// <summary>The value of the resume query parameter for the next connect.</summary>
    public string QueryValue()
    {
        lock (_lock)
        {
            return _token is null ? "1" : _token + "." + _position.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>The committed position (the last log position fully received).</summary>
    public long Position
    {
        get
        {
            lock (_lock)
            {
                return _position;
            }
        }
    }

    public void OnToken(string token, long position)
    {
        lock (_lock)
        {
            _token = token;
            _position = Math.Max(_position, position);
        }
    }

    public void OnMarker(long position)
    {
        lock (_lock)
        {
            _pending = position;
        }
    }

    /// <summary>An ordinary message (no invocation id, not reserved) reached the app: the pending position is committed.</summary>
    public void OnDelivered()
    {
        lock (_lock)
        {
            if (_pending is { } pending)
            {
                // Never backwards: SignalR's stateful reconnect may hand the receive loop a marker it has seen before.
                _position = Math.Max(_position, pending);
                _pending = null;
            }
        }
    }

    /// <summary>A new connection starts: a marker not followed by its message before the drop is not committed.</summary>
    public void OnConnecting()
    {
        lock (_lock)
        {
            _pending = null;
        }
    }
}
