using System.Security.Cryptography;

namespace Miosa.Actors.Common;

/// <summary>
/// Opaque resource ids: a type prefix, '_', then lowercase letters and digits only, because ids
/// appear in host names (previews, deployments).
/// </summary>
public static class ResourceId
{
    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
    public const int SuffixLength = 16;

    public static string New(string prefix) => $"{prefix}_{RandomToken(SuffixLength)}";

    /// <summary>A uniformly random lowercase alphanumeric token (no modulo bias).</summary>
    public static string RandomToken(int length) => RandomNumberGenerator.GetString(Alphabet, length);

    public static bool IsValid(string? id, string prefix) =>
        id is not null
        && id.Length > prefix.Length + 1
        && id.StartsWith(prefix, StringComparison.Ordinal)
        && id[prefix.Length] == '_'
        && id.AsSpan(prefix.Length + 1).IndexOfAnyExcept(Alphabet) < 0;
}

public static class IdPrefix
{
    public const string Organization = "org";
    public const string ApiKey = "key";
    public const string Sandbox = "sbx";
    public const string Workspace = "ws";
    public const string Project = "prj";
    public const string Preview = "prv";
    public const string ShareToken = "tok";
    public const string Snapshot = "snap";
    public const string Deployment = "dep";
    public const string Version = "ver";
    public const string Build = "bld";
}
