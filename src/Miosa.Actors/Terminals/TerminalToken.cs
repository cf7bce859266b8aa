using System.Text.Json.Serialization;
using Miosa.Actors.Common;

namespace Miosa.Actors.Terminals;

/// <summary>What an <c>mt_</c> token grants: a terminal in one organization's sandbox, opened at a size, until it expires.</summary>
public sealed record TerminalGrant(string OrganizationId, string SandboxId, int Cols, int Rows, DateTimeOffset ExpiresAt)
{
    /// <summary>Whether it opens <paramref name="sandboxId"/>'s terminal now; the sandbox's organization is checked against the entity.</summary>
    public bool Opens(string sandboxId, DateTimeOffset now) => SandboxId == sandboxId && now < ExpiresAt;
}

/// <summary>
/// Browser-safe terminal tokens: <c>mt_</c> + base64url(claims) + "." + base64url(HMAC-SHA256)
/// (<see cref="BrowserTokenSigner"/>, purpose <c>terminal</c>: keys of their own, so a preview token
/// never opens a terminal). Short-lived and stateless: a browser opens the terminal WebSocket with the
/// token alone, and any API node verifies it offline.
/// </summary>
public sealed class TerminalTokenKeys
{
    public const string Prefix = "mt_";
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromMinutes(5);
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(1);

    /// <summary>Largest column or row count a terminal is opened or resized to.</summary>
    public const int MaxSize = 1000;

    public const int DefaultCols = 80;
    public const int DefaultRows = 24;

    private readonly BrowserTokenSigner _signer;

    /// <param name="clusterSecret">The secret every node shares; keys are derived from it, one per key id.</param>
    /// <param name="currentKeyId">The key id new tokens are signed with.</param>
    /// <param name="acceptedKeyIds">Earlier key ids still accepted (rotation).</param>
    public TerminalTokenKeys(string clusterSecret, string currentKeyId = "k1", IEnumerable<string>? acceptedKeyIds = null) =>
        _signer = new BrowserTokenSigner(clusterSecret, Prefix, "terminal", currentKeyId, acceptedKeyIds);

    public string Sign(TerminalGrant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        return _signer.Sign(keyId => new Claims(keyId, grant.OrganizationId, grant.SandboxId, grant.Cols, grant.Rows, grant.ExpiresAt.ToUnixTimeSeconds()));
    }

    /// <summary>The grant of a genuine token signed with an accepted key, else null. Expiry is the caller's check.</summary>
    public TerminalGrant? Verify(string? token) =>
        _signer.Verify<Claims>(token) is { } c
            ? new TerminalGrant(c.OrganizationId, c.SandboxId, c.Cols, c.Rows, DateTimeOffset.FromUnixTimeSeconds(c.ExpiresAt))
            : null;

    private sealed record Claims(
        [property: JsonPropertyName("k")] string KeyId,
        [property: JsonPropertyName("o")] string OrganizationId,
        [property: JsonPropertyName("s")] string SandboxId,
        [property: JsonPropertyName("c")] int Cols,
        [property: JsonPropertyName("r")] int Rows,
        [property: JsonPropertyName("e")] long ExpiresAt) : IBrowserTokenClaims;
}
