using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Miosa.Actors.Common;

/// <summary>The claims of a browser token; each names the id of the key that signed it.</summary>
public interface IBrowserTokenClaims
{
    string KeyId { get; }
}

/// <summary>
/// Signed, stateless browser tokens: <c>prefix</c> + base64url(JSON claims) + "." +
/// base64url(HMAC-SHA256 of that claims text). Any node verifies them offline. Keys are derived from
/// the cluster secret per purpose and key id (HKDF, info <c>"miosa {purpose} token {key id}"</c>), so
/// a token of one kind never verifies as another and keys rotate: new tokens use the current key
/// id, verification still accepts the earlier ones listed. Expiry and scope are the caller's checks.
/// </summary>
public sealed class BrowserTokenSigner
{
    /// <summary>Longer input is refused unread.</summary>
    public const int MaxTokenLength = 1024;

    private readonly Dictionary<string, byte[]> _keys;

    /// <param name="clusterSecret">The secret every node shares.</param>
    /// <param name="prefix">What every token of this kind starts with (e.g. <c>mp_</c>).</param>
    /// <param name="purpose">Separates the keys of each kind of token (e.g. <c>preview</c>).</param>
    /// <param name="currentKeyId">The key id new tokens are signed with.</param>
    /// <param name="acceptedKeyIds">Earlier key ids still accepted (rotation).</param>
    public BrowserTokenSigner(string clusterSecret, string prefix, string purpose, string currentKeyId = "k1", IEnumerable<string>? acceptedKeyIds = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(prefix);
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        Prefix = prefix;
        CurrentKeyId = currentKeyId;
        _keys = (acceptedKeyIds ?? []).Append(currentKeyId).Distinct()
            .ToDictionary(id => id, id => HKDF.DeriveKey(HashAlgorithmName.SHA256, Encoding.UTF8.GetBytes(clusterSecret), 32,
                info: Encoding.UTF8.GetBytes($"miosa {purpose} token {id}")));
    }

    public string Prefix { get; }

    public string CurrentKeyId { get; }

    /// <summary>Signs the claims <paramref name="claims"/> builds for the current key id.</summary>
    public string Sign<TClaims>(Func<string, TClaims> claims) where TClaims : IBrowserTokenClaims
    {
        ArgumentNullException.ThrowIfNull(claims);
        var value = claims(CurrentKeyId);
        if (value.KeyId != CurrentKeyId) throw new ArgumentException("The claims must name the current key id.", nameof(claims));
        var body = Base64Url(JsonSerializer.SerializeToUtf8Bytes(value));
        return $"{Prefix}{body}.{Base64Url(HMACSHA256.HashData(_keys[CurrentKeyId], Encoding.ASCII.GetBytes(body)))}";
    }

    /// <summary>The claims of a genuine token of this kind signed with an accepted key, else null.</summary>
    public TClaims? Verify<TClaims>(string? token) where TClaims : class, IBrowserTokenClaims
    {
        if (token is null || !token.StartsWith(Prefix, StringComparison.Ordinal) || token.Length > MaxTokenLength) return null;
        var dot = token.IndexOf('.', Prefix.Length);
        if (dot < 0) return null;
        var body = token[Prefix.Length..dot];
        try
        {
            var claims = JsonSerializer.Deserialize<TClaims>(FromBase64Url(body));
            if (claims?.KeyId is null || !_keys.TryGetValue(claims.KeyId, out var key)) return null;
            var expected = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(body));
            return CryptographicOperations.FixedTimeEquals(expected, FromBase64Url(token[(dot + 1)..])) ? claims : null;
        }
        catch (Exception e) when (e is FormatException or JsonException or ArgumentException or NotSupportedException)
        {
            return null;
        }
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }
}
