using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

public sealed record ApiKeyRecord(string Id, string Name, string KeyHash, DateTimeOffset CreatedAt);

/// <summary>An organization (one per customer platform) and its server-side keys.</summary>
public sealed record OrganizationState(
    string Id,
    string Slug,
    string Name,
    DateTimeOffset CreatedAt,
    ImmutableList<ApiKeyRecord> ApiKeys) : IMiosaMessage
{
    public static OrganizationState Empty(string id) => new(id, "", "", default, []);

    public bool Exists => Slug.Length > 0;

    public Decision Process(IOrganizationCommand command) => command switch
    {
        CreateOrganization c when Exists => c.Slug == Slug
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("organization_exists", $"Organization {Id} already exists.")),
        CreateOrganization c => Decision.Accept(
            new OrganizationCreated(c.OrganizationId, c.Slug, c.Name, c.At),
            new ApiKeyCreated(c.OrganizationId, c.FirstKey.KeyId, c.FirstKey.Name, c.FirstKey.KeyHash, c.At)),
        _ when !Exists => Decision.Reject(NotFound),
        CreateApiKey c => Decision.Accept(new ApiKeyCreated(Id, c.Key.KeyId, c.Key.Name, c.Key.KeyHash, c.At)),
        RevokeApiKey c when ApiKeys.All(k => k.Id != c.KeyId) =>
            Decision.Reject(Rejection.NotFound("api_key_not_found", $"API key {c.KeyId} does not exist.")),
        RevokeApiKey c => Decision.Accept(new ApiKeyRevoked(Id, c.KeyId, c.At)),
        _ => Decision.Nothing,
    };

    public OrganizationState Apply(IMiosaEvent @event) => @event switch
    {
        OrganizationCreated e => this with { Slug = e.Slug, Name = e.Name, CreatedAt = e.At },
        ApiKeyCreated e => this with { ApiKeys = ApiKeys.Add(new ApiKeyRecord(e.KeyId, e.Name, e.KeyHash, e.At)) },
        ApiKeyRevoked e => this with { ApiKeys = ApiKeys.RemoveAll(k => k.Id == e.KeyId) },
        _ => this,
    };

    /// <summary>The key id whose hash matches, compared in constant time.</summary>
    public string? Authenticate(string keyHash)
    {
        var presented = Encoding.ASCII.GetBytes(keyHash);
        string? match = null;
        foreach (var key in ApiKeys)
        {
            if (CryptographicOperations.FixedTimeEquals(presented, Encoding.ASCII.GetBytes(key.KeyHash)))
                match = key.Id;
        }
        return match;
    }

    public OrganizationView ToView() =>
        new(Id, Slug, Name, CreatedAt, ApiKeys.Select(k => new ApiKeyView(k.Id, k.Name, k.CreatedAt)).ToList());

    private Rejection NotFound => Rejection.NotFound("organization_not_found", $"Organization {Id} does not exist.");
}
