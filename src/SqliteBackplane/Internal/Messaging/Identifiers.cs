using System.Text;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>Checks names that travel in rows (group names, user ids, connection ids) before anything is queued.</summary>
internal static class Identifiers
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Rejects strings that are not valid UTF-16 (an unpaired surrogate): SQLite and the row envelope store UTF-8, so
    /// such a name could not be stored and matched back unchanged.
    /// </summary>
    public static void ThrowIfNotValidUnicode(string value, string parameterName)
    {
        try
        {
            StrictUtf8.GetByteCount(value);
        }
        catch (EncoderFallbackException ex)
        {
            throw new ArgumentException(
                $"The value contains an unpaired surrogate character at index {ex.Index}, so it is not valid Unicode text and cannot be stored in the backplane. Use valid Unicode text.",
                parameterName, ex);
        }
    }

    /// <summary>The list without null entries (the in-box manager ignores them), each entry checked.</summary>
    public static IReadOnlyList<string> WithoutNulls(IReadOnlyList<string> values, string parameterName)
    {
        List<string>? filtered = null;
        for (var i = 0; i < values.Count; i++)
        {
            var value = values[i];
            if (value is null)
            {
                filtered ??= [.. values.Take(i)];
                continue;
            }

            ThrowIfNotValidUnicode(value, parameterName);
            filtered?.Add(value);
        }

        return filtered ?? values;
    }
}
