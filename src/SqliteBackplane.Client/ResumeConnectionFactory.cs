using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Connections.Client;

namespace SqliteBackplane.Client;

/// <summary>
/// Wraps the connection factory: every connect (the first, automatic reconnects, a manual restart) carries the resume
/// query parameter with the current token and position. The HTTP connection factory requires the endpoint's URL to
/// equal <see cref="HttpConnectionOptions.Url"/>, so both are set (a HubConnection connects one at a time).
/// </summary>
internal sealed class ResumeConnectionFactory(IConnectionFactory inner, ResumeState state, HttpConnectionOptions? httpOptions) : IConnectionFactory
{
    public const string QueryParameter = "sqlitebackplane-resume";

    public ValueTask<ConnectionContext> ConnectAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        if (endpoint is not UriEndPoint uriEndPoint)
        {
            return inner.ConnectAsync(endpoint, cancellationToken);
        }

        state.OnConnecting();
        var target = WithTicket(uriEndPoint.Uri, state.QueryValue());
        if (httpOptions is { Url: not null })
        {
            httpOptions.Url = target;
        }

        return inner.ConnectAsync(new UriEndPoint(target), cancellationToken);
    }

    /// <summary><paramref name="uri"/> with the resume parameter set to <paramref name="value"/> (replacing an earlier one).</summary>
    public static Uri WithTicket(Uri uri, string value)
    {
        var builder = new UriBuilder(uri);
        var kept = builder.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Where(pair => !pair.StartsWith(QueryParameter + "=", StringComparison.Ordinal) && pair != QueryParameter);
        builder.Query = string.Join('&', kept.Append(QueryParameter + "=" + Uri.EscapeDataString(value)));
        return builder.Uri;
    }
}
