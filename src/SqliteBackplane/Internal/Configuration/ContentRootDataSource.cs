using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace SqliteBackplane.Internal.Configuration;

/// <summary>
/// In a host, resolves a relative <c>Data Source</c> against the host's content root instead of the working directory,
/// so every process of one app opens the same file whatever directory it was started from.
/// </summary>
internal sealed class ContentRootDataSource(IHostEnvironment? environment) : IPostConfigureOptions<SqliteBackplaneOptions>
{
    public void PostConfigure(string? name, SqliteBackplaneOptions options)
    {
        if (environment is null || string.IsNullOrEmpty(environment.ContentRootPath))
        {
            return;
        }

        options.ConnectionString = Resolve(options.ConnectionString, environment.ContentRootPath);
    }

    /// <summary>The connection string with a relative file Data Source made absolute under <paramref name="contentRoot"/>; anything else unchanged.</summary>
    public static string Resolve(string connectionString, string contentRoot)
    {
        SqliteConnectionStringBuilder builder;
        try
        {
            builder = new SqliteConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException)
        {
            // The options validator reports it.
            return connectionString;
        }

        var dataSource = builder.DataSource;
        if (string.IsNullOrWhiteSpace(dataSource) || Path.IsPathRooted(dataSource) || dataSource == ":memory:"
            || dataSource.StartsWith("file:", StringComparison.OrdinalIgnoreCase) || builder.Mode == SqliteOpenMode.Memory)
        {
            return connectionString;
        }

        builder.DataSource = Path.GetFullPath(dataSource, contentRoot);
        return builder.ToString();
    }
}
