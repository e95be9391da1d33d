using System.Buffers.Text;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace SqliteBackplane.Internal.Storage;

/// <summary>
/// Issues and checks resume tokens (docs/resume.md, docs/security.md). A token names the connection it resumes and the
/// log position that connection started from, and carries an HMAC-SHA256 over both and the hub, so it cannot be forged
/// or moved to another connection or hub. The key is derived from the first of <c>EncryptionKeys</c> when they are set
/// (all of them are tried when checking, so keys rotate), otherwise it is a random key stored once in the meta table.
/// Layout: base64url(UTF-8 connection id) <c>~</c> start position <c>~</c> base64url(MAC).
/// </summary>
internal sealed class ResumeTokens
{
    private const char Separator = '~';
    private static readonly byte[] DerivationInfo = Encoding.ASCII.GetBytes("SqliteBackplane resume token key v1");

    private readonly bool _keysFromOptions;
    private byte[][]? _keys;

    public ResumeTokens(IEnumerable<string>? encryptionKeys)
    {
        var derived = (encryptionKeys ?? []).Select(secret =>
            HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, salt: [], info: DerivationInfo)).ToArray();
        _keysFromOptions = derived.Length > 0;
        _keys = _keysFromOptions ? derived : null;
    }

    /// <summary>
    /// Loads the key from the meta table, creating it when the file has none. Writer thread, inside a transaction. The
    /// node calls it with <paramref name="reload"/> in its join transaction (which is retried whole when it fails, so
    /// a key created by a transaction that rolled back is never kept); registrations call it as a fallback.
    /// </summary>
    public void EnsureKey(WriterContext context, bool reload = false)
    {
        if (_keysFromOptions || !reload && Volatile.Read(ref _keys) is not null)
        {
            return;
        }

        context.Execute(context.Queries.InsertResumeKey, (Columns.Value, Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))));
        var stored = (string)context.Scalar(context.Queries.SelectResumeKey)!;
        Volatile.Write(ref _keys, [Convert.FromBase64String(stored)]);
    }

    public string Issue(string hub, string connectionId, long startPosition)
    {
        var keys = Volatile.Read(ref _keys) ?? throw new InvalidOperationException("The resume token key is not loaded.");
        return Base64Url.EncodeToString(Encoding.UTF8.GetBytes(connectionId)) + Separator +
            startPosition.ToString(CultureInfo.InvariantCulture) + Separator + Base64Url.EncodeToString(Mac(keys[0], hub, connectionId, startPosition));
    }

    /// <summary>Checks a token for <paramref name="hub"/>; false when it is malformed or its MAC does not match any key.</summary>
    public bool TryRead(string hub, string token, out string connectionId, out long startPosition)
    {
        connectionId = "";
        startPosition = 0;
        var keys = Volatile.Read(ref _keys);
        var parts = token.Split(Separator);
        if (keys is null || parts.Length != 3 ||
            !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out startPosition))
        {
            return false;
        }

        try
        {
            connectionId = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[0]));
            var mac = Base64Url.DecodeFromChars(parts[2]);
            foreach (var key in keys)
            {
                if (CryptographicOperations.FixedTimeEquals(mac, Mac(key, hub, connectionId, startPosition)))
                {
                    return true;
                }
            }
        }
        catch (FormatException)
        {
            // Not base64url: forged or damaged.
        }

        return false;
    }

    private static byte[] Mac(byte[] key, string hub, string connectionId, long startPosition) =>
        HMACSHA256.HashData(key, Encoding.UTF8.GetBytes(string.Join('\0', hub, connectionId, startPosition.ToString(CultureInfo.InvariantCulture))));
}
