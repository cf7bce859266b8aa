using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;
using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

/// <summary>A live key. Prefix and Scopes are null for keys from before they existed (full keys).</summary>
public sealed record ApiKeyRecord(
    string Id,
    string Name,
    string KeyHash,
    DateTimeOffset CreatedAt,
    string? Prefix = null,
    IReadOnlyList<string>? Scopes = null,
    DateTimeOffset? LastUsedAt = null)
{
    [JsonIgnore]
    public IReadOnlyList<string> EffectiveScopes => Scopes ?? ApiKeyScopes.Default;
}

/// <summary>An organization (one per customer platform) and its server-side keys.</summary>
public sealed record OrganizationState(
    string Id,
    string Slug,
    string Name,
    DateTimeOffset CreatedAt,
    ImmutableList<ApiKeyRecord> ApiKeys) : IMiosaMessage
{
    /// <summary>Last use is coarse on purpose: one event per key per minute, not one per request.</summary>
    public static readonly TimeSpan LastUseResolution = TimeSpan.FromSeconds(60);

    public static OrganizationState Empty(string id) => new(id, "", "", default, []);

    public TenantBranding? Branding { get; init; }

    public TenantPreviewDomain? PreviewDomain { get; init; }

    /// <summary>Counts changes to what edges route by (branding, verified domain): see <see cref="Routing.IRoute.Version"/>.</summary>
    public long RouteVersion { get; init; }

    public bool Exists => Slug.Length > 0;

    public Decision Process(IOrganizationCommand command) => command switch
    {
        CreateOrganization c when Exists => c.Slug == Slug
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("organization_exists", $"Organization {Id} already exists.")),
        CreateOrganization c when InvalidScopes(c.FirstKey) is { } rejection => Decision.Reject(rejection),
        CreateOrganization c => Decision.Accept(
            new OrganizationCreated(c.OrganizationId, c.Slug, c.Name, c.At),
            Created(c.FirstKey, c.At, actorKeyId: null)),
        _ when !Exists => Decision.Reject(NotFound),
        CreateApiKey c when ApiKeys.Any(k => k.Id == c.Key.KeyId) => Decision.Nothing,
        CreateApiKey c when InvalidScopes(c.Key) is { } rejection => Decision.Reject(rejection),
        CreateApiKey c => Decision.Accept(Created(c.Key, c.At, c.ActorKeyId)),
        RevokeApiKey c when ApiKeys.All(k => k.Id != c.KeyId) =>
            Decision.Reject(Rejection.NotFound("api_key_not_found", $"API key {c.KeyId} does not exist.")),
        // Revoking the last key would lock the organization out for good: only the operator could help.
        RevokeApiKey c when ApiKeys.Count == 1 => Decision.Reject(Rejection.Conflict("last_api_key",
            $"API key {c.KeyId} is the organization's last live key; create another one before revoking it.")),
        RevokeApiKey c => Decision.Accept(new ApiKeyRevoked(Id, c.KeyId, c.At, c.ActorKeyId)),
        SetBranding c when c.Branding == Branding => Decision.Nothing,
        SetBranding c => Decision.Accept(new BrandingChanged(Id, c.Branding, c.At, c.ActorKeyId)),
        SetPreviewDomain c when c.Domain == PreviewDomain?.Domain => Decision.Nothing,
        SetPreviewDomain c => Decision.Accept(new PreviewDomainSet(Id, c.Domain, c.At, c.ActorKeyId)),
        // A check that raced a change of domain verifies nothing.
        RecordPreviewDomainVerified c when c.Domain != PreviewDomain?.Domain => Decision.Reject(Rejection.Conflict(
            "preview_domain_changed", $"The preview domain is no longer {c.Domain}.")),
        RecordPreviewDomainVerified when PreviewDomain!.Status == PreviewDomainStatus.Verified => Decision.Nothing,
        RecordPreviewDomainVerified c => Decision.Accept(new PreviewDomainVerified(Id, c.Domain, c.At, c.ActorKeyId)),
        _ => Decision.Nothing,
    };

    /// <summary>Records that a key was used at <paramref name="at"/>, unless its stored last use is recent enough.</summary>
    public Decision RecordUse(string keyId, DateTimeOffset at) =>
        ApiKeys.Find(k => k.Id == keyId) is { } key && (key.LastUsedAt is not { } last || at - last >= LastUseResolution)
            ? Decision.Accept(new ApiKeyUsed(Id, keyId, at))
            : Decision.Nothing;

    public OrganizationState Apply(IMiosaEvent @event) => @event switch
    {
        OrganizationCreated e => this with { Slug = e.Slug, Name = e.Name, CreatedAt = e.At },
        ApiKeyCreated e => this with { ApiKeys = ApiKeys.Add(new ApiKeyRecord(e.KeyId, e.Name, e.KeyHash, e.At, e.Prefix, e.Scopes)) },
        ApiKeyRevoked e => this with { ApiKeys = ApiKeys.RemoveAll(k => k.Id == e.KeyId) },
        BrandingChanged e => this with { Branding = e.Branding, RouteVersion = RouteVersion + 1 },
        PreviewDomainSet e => this with
        {
            PreviewDomain = new TenantPreviewDomain(e.Domain, PreviewDomainStatus.Pending, null),
            RouteVersion = RouteVersion + 1,
        },
        PreviewDomainVerified e => this with
        {
            PreviewDomain = new TenantPreviewDomain(e.Domain, PreviewDomainStatus.Verified, e.At),
            RouteVersion = RouteVersion + 1,
        },
        ApiKeyUsed e when ApiKeys.Find(k => k.Id == e.KeyId) is { } key => this with
        {
            ApiKeys = ApiKeys.Replace(key, key with { LastUsedAt = e.At }),
        },
        _ => this,
    };

    /// <summary>The live key whose hash matches, compared in constant time.</summary>
    public ApiKeyRecord? Authenticate(string keyHash)
    {
        var presented = Encoding.ASCII.GetBytes(keyHash);
        ApiKeyRecord? match = null;
        foreach (var key in ApiKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Encoding.ASCII.GetBytes(key.KeyHash)))
                match = key;
        }
        return match;
    }

    public OrganizationView ToView() =>
        new(Id, Slug, Name, CreatedAt, ApiKeys.Select(k => new ApiKeyView(k.Id, k.Name, k.CreatedAt, k.Prefix ?? LegacyPrefix, k.EffectiveScopes, k.LastUsedAt)).ToList());

    public TenantView ToTenantView() => new(Id, Branding, PreviewDomain);

    /// <summary>What edges need: the branding and the preview domain once verified.</summary>
    public Routing.TenantRoute ToRoute() => new(Id, Branding,
        PreviewDomain is { Status: PreviewDomainStatus.Verified } d ? d.Domain : null, RouteVersion);

    private ApiKeyCreated Created(ApiKeyGrant key, DateTimeOffset at, string? actorKeyId) =>
        new(Id, key.KeyId, key.Name, key.KeyHash, at, key.Prefix, key.Scopes ?? ApiKeyScopes.Default, actorKeyId);

    private static Rejection? InvalidScopes(ApiKeyGrant key) => key.Scopes is null ? null : ApiKeyScopes.Validate(key.Scopes);

    // Keys from before prefixes were stored: the organization part is all that is known.
    private string LegacyPrefix => ApiKeySecret.Prefix + Id[(IdPrefix.Organization.Length + 1)..];

    private Rejection NotFound => Rejection.NotFound("organization_not_found", $"Organization {Id} does not exist.");
}
