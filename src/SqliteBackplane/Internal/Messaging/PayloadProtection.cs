using System.Security.Cryptography;
using System.Text;

namespace SqliteBackplane.Internal.Messaging;

/// <summary>
/// Encrypts row payloads at rest with AES-256-GCM. Keys are strings of any length, each derived to 256 bits with
/// HKDF-SHA256. The first key encrypts; every key is tried to decrypt (the one whose id the row names first), so keys
/// rotate without downtime: add the new key second everywhere, then make it first, then drop the old one.
/// Routing data (targets, excluded ids) stays readable; it is bound to the ciphertext as associated data.
/// </summary>
internal sealed class PayloadProtection
{
    public const int KeyIdSize = 4;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    private static readonly byte[] DerivationInfo = Encoding.ASCII.GetBytes("SqliteBackplane payload key v1");

    private readonly (byte[] Id, byte[] Key)[] _keys;

    private PayloadProtection((byte[] Id, byte[] Key)[] keys) => _keys = keys;

    /// <summary>Returns null when no keys are configured (payloads are stored as they are).</summary>
    public static PayloadProtection? Create(IEnumerable<string>? keys)
    {
        var derived = (keys ?? []).Select(Derive).ToArray();
        return derived.Length == 0 ? null : new PayloadProtection(derived);
    }

    private static (byte[] Id, byte[] Key) Derive(string secret)
    {
        var key = HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(secret), 32, salt: [], info: DerivationInfo);
        // The id is a hash of the derived key, not of the secret, and too short to help a guess.
        var id = SHA256.HashData(key)[..KeyIdSize];
        return (id, key);
    }

    /// <summary>Layout: key id (4) | nonce (12) | tag (16) | ciphertext.</summary>
    public byte[] Encrypt(ReadOnlySpan<byte> plaintext, ReadOnlySpan<byte> associatedData)
    {
        var (id, key) = _keys[0];
        var output = new byte[KeyIdSize + NonceSize + TagSize + plaintext.Length];
        id.CopyTo(output, 0);
        var nonce = output.AsSpan(KeyIdSize, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(nonce, plaintext, output.AsSpan(KeyIdSize + NonceSize + TagSize), output.AsSpan(KeyIdSize + NonceSize, TagSize), associatedData);
        return output;
    }

    /// <summary>Decrypts with the key the data names, then with every other key. False when none works (wrong keys or tampering).</summary>
    public bool TryDecrypt(ReadOnlySpan<byte> sealedData, ReadOnlySpan<byte> associatedData, out byte[] plaintext)
    {
        plaintext = [];
        if (sealedData.Length < KeyIdSize + NonceSize + TagSize)
        {
            return false;
        }

        var id = sealedData[..KeyIdSize];
        foreach (var preferred in new[] { true, false })
        {
            foreach (var (keyId, key) in _keys)
            {
                if (id.SequenceEqual(keyId) != preferred)
                {
                    continue;
                }

                var buffer = new byte[sealedData.Length - KeyIdSize - NonceSize - TagSize];
                try
                {
                    using var aes = new AesGcm(key, TagSize);
                    aes.Decrypt(sealedData.Slice(KeyIdSize, NonceSize), sealedData[(KeyIdSize + NonceSize + TagSize)..],
                        sealedData.Slice(KeyIdSize + NonceSize, TagSize), buffer, associatedData);
                    plaintext = buffer;
                    return true;
                }
                catch (AuthenticationTagMismatchException)
                {
                }
            }
        }

        return false;
    }
}
