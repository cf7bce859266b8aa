using System.Text.Json.Serialization;
using Miosa.Actors.Common;

namespace Miosa.Actors.Previews;

/// <summary>What an <c>mp_</c> token grants: one organization's sandbox, optionally one port, until it expires.</summary>
public sealed record PreviewGrant(string OrganizationId, string SandboxId, int? Port, DateTimeOffset ExpiresAt)
{
    public bool Opens(string organizationId, string sandboxId, int port, DateTimeOffset now) =>
        OrganizationId == organizationId && SandboxId == sandboxId && (Port is null || Port == port) && now < ExpiresAt;
}

/// <summary>
/// Browser-safe preview tokens: <c>mp_</c> + base64url(claims) + "." + base64url(HMAC-SHA256)
/// (<see cref="BrowserTokenSigner"/>, purpose <c>preview</c>). Stateless, so every edge verifies them
/// without the control plane. The claims name the signing key's id so keys rotate: new tokens use
/// the current key, edges keep accepting the previous ones for a while.
/// </summary>
public sealed class PreviewTokenKeys
{
    public const string Prefix = "mp_";
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromHours(24);
    private readonly BrowserTokenSigner _signer;

    /// <param name="clusterSecret">The secret every node shares; keys are derived from it, one per key id.</param>
    /// <param name="currentKeyId">The key id new tokens are signed with.</param>
    /// <param name="acceptedKeyIds">Earlier key ids still accepted (rotation).</param>
    public PreviewTokenKeys(string clusterSecret, string currentKeyId = "k1", IEnumerable<string>? acceptedKeyIds = null) =>
        _signer = new BrowserTokenSigner(clusterSecret, Prefix, "preview", currentKeyId, acceptedKeyIds);

    public string CurrentKeyId => _signer.CurrentKeyId;

    public string Sign(PreviewGrant grant)
    {
        ArgumentNullException.ThrowIfNull(grant);
        return _signer.Sign(keyId => new Claims(keyId, grant.OrganizationId, grant.SandboxId, grant.Port, grant.ExpiresAt.ToUnixTimeSeconds()));
    }

    /// <summary>The grant of a genuine token signed with an accepted key, else null. Expiry is the caller's check.</summary>
    public PreviewGrant? Verify(string? token) =>
        _signer.Verify<Claims>(token) is { } claims
            ? new PreviewGrant(claims.OrganizationId, claims.SandboxId, claims.Port, DateTimeOffset.FromUnixTimeSeconds(claims.ExpiresAt))
            : null;

    private sealed record Claims(
        [property: JsonPropertyName("k")] string KeyId,
        [property: JsonPropertyName("o")] string OrganizationId,
        [property: JsonPropertyName("s")] string SandboxId,
        [property: JsonPropertyName("p")] int? Port,
        [property: JsonPropertyName("e")] long ExpiresAt) : IBrowserTokenClaims;
}
