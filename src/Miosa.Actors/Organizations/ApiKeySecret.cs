using System.Security.Cryptography;
using System.Text;
using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

/// <summary>
/// An organization key <c>msk_&lt;org suffix&gt;&lt;secret&gt;</c>. The org suffix lets a request find its
/// organization without an index; only the SHA-256 of the whole key is stored (the secret has
/// 190 bits of entropy, so a fast hash is enough).
/// </summary>
public static class ApiKeySecret
{
    public const string Prefix = "msk_";
    private const int SecretLength = 37;

    public static string Issue(string organizationId) =>
        Prefix + organizationId[(IdPrefix.Organization.Length + 1)..] + ResourceId.RandomToken(SecretLength);

    /// <summary>
    /// How a key is shown after it was issued: its first 24 characters. The first 20 name the
    /// organization and are the same for all its keys, so four characters of the secret tell keys
    /// apart while 33 (170 bits) stay unknown.
    /// </summary>
    public static string PrefixOf(string key) => key[..Math.Min(key.Length, Prefix.Length + ResourceId.SuffixLength + 4)];

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>The organization a well-formed key names, or null for anything else.</summary>
    public static string? OrganizationOf(string? key)
    {
        if (key is null || key.Length != Prefix.Length + ResourceId.SuffixLength + SecretLength
            || !key.StartsWith(Prefix, StringComparison.Ordinal))
            return null;
        var id = $"{IdPrefix.Organization}_{key.Substring(Prefix.Length, ResourceId.SuffixLength)}";
        return ResourceId.IsValid(id, IdPrefix.Organization) ? id : null;
    }
}
