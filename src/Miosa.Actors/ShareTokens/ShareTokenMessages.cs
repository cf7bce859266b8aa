using System.Security.Cryptography;
using System.Text;
using Miosa.Actors.Common;

namespace Miosa.Actors.ShareTokens;

public interface IShareTokenCommand : IEntityMessage
{
    string TokenId { get; }
    string IEntityMessage.EntityId => TokenId;
}

/// <summary>Stores a share link: only the secret's hash and the password's slow hash are kept.</summary>
public sealed record CreateShareToken(
    string TokenId,
    string OrganizationId,
    string SandboxId,
    int Port,
    string TokenHash,
    string? PasswordHash,
    DateTimeOffset? ExpiresAt,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IShareTokenCommand;

public sealed record GetShareToken(string TokenId, string OrganizationId) : IShareTokenCommand;

public sealed record RevokeShareToken(string TokenId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IShareTokenCommand;

public sealed record ShareTokenCreated(
    string TokenId,
    string OrganizationId,
    string SandboxId,
    int Port,
    string TokenHash,
    string? PasswordHash,
    DateTimeOffset? ExpiresAt,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "share_token.created";
    string IAuditedEvent.ResourceId => TokenId;
}

public sealed record ShareTokenRevoked(string TokenId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "share_token.revoked";
    string IAuditedEvent.ResourceId => TokenId;
}

/// <summary>A share link as the API shows it (never the secret, which is shown once at creation).</summary>
public sealed record ShareTokenView(
    string Id,
    string OrganizationId,
    string SandboxId,
    int Port,
    DateTimeOffset? ExpiresAt,
    bool PasswordProtected,
    bool Revoked,
    Attribution Attribution,
    DateTimeOffset CreatedAt) : IMiosaMessage;

/// <summary>
/// Share link secrets: <c>ms_</c> + the token id's suffix + 32 random characters, so an edge finds
/// the token's route from the secret alone and compares hashes (SHA-256: the secret is random, not a password).
/// </summary>
public static class ShareTokenSecret
{
    public const string Prefix = "ms_";
    private const int RandomLength = 32;

    public static string Issue(string tokenId) => $"{Prefix}{tokenId[(IdPrefix.ShareToken.Length + 1)..]}{ResourceId.RandomToken(RandomLength)}";

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>The token id a secret names, or null when it is not shaped like one.</summary>
    public static string? TokenIdOf(string? secret) =>
        secret is { Length: 3 + ResourceId.SuffixLength + RandomLength } && secret.StartsWith(Prefix, StringComparison.Ordinal)
        && ResourceId.IsValid($"{IdPrefix.ShareToken}_{secret[3..]}", IdPrefix.ShareToken)
            ? $"{IdPrefix.ShareToken}_{secret.Substring(3, ResourceId.SuffixLength)}"
            : null;
}

/// <summary>
/// Share link passwords: PBKDF2-SHA256 with a random salt and many iterations (slow on purpose;
/// edges also rate-limit wrong guesses). Stored as <c>pbkdf2-sha256$iterations$salt$hash</c>.
/// </summary>
public static class SharePassword
{
    private const int Iterations = 200_000;

    public static string Hash(string password)
    {
        var salt = RandomNumberGenerator.GetBytes(16);
        var hash = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), salt, Iterations, HashAlgorithmName.SHA256, 32);
        return $"pbkdf2-sha256${Iterations}${Convert.ToBase64String(salt)}${Convert.ToBase64String(hash)}";
    }

    public static bool Verify(string password, string stored)
    {
        var parts = stored.Split('$');
        if (parts.Length != 4 || parts[0] != "pbkdf2-sha256" || !int.TryParse(parts[1], out var iterations)) return false;
        try
        {
            var expected = Convert.FromBase64String(parts[3]);
            var actual = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Convert.FromBase64String(parts[2]), iterations,
                HashAlgorithmName.SHA256, expected.Length);
            return CryptographicOperations.FixedTimeEquals(expected, actual);
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
