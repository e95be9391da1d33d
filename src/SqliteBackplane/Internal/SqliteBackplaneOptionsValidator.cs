using Microsoft.Extensions.Options;

namespace SqliteBackplane.Internal;

internal sealed class SqliteBackplaneOptionsValidator : IValidateOptions<SqliteBackplaneOptions>
{
    public ValidateOptionsResult Validate(string? name, SqliteBackplaneOptions options) => ValidateOptionsResult.Success;
}
