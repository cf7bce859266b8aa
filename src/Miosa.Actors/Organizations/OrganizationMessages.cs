using Miosa.Actors.Common;

namespace Miosa.Actors.Organizations;

public interface IOrganizationCommand : IEntityMessage
{
    string OrganizationId { get; }
    string IEntityMessage.EntityId => OrganizationId;
}

public sealed record CreateOrganization(string OrganizationId, string Slug, string Name, ApiKeyGrant FirstKey, DateTimeOffset At)
    : IOrganizationCommand;

public sealed record GetOrganization(string OrganizationId) : IOrganizationCommand;

/// <summary>Issues a key; <paramref name="ActorKeyId"/> is the key that asked (for the audit log).</summary>
public sealed record CreateApiKey(string OrganizationId, ApiKeyGrant Key, DateTimeOffset At, string? ActorKeyId = null) : IOrganizationCommand;

public sealed record RevokeApiKey(string OrganizationId, string KeyId, DateTimeOffset At, string? ActorKeyId = null) : IOrganizationCommand;

/// <summary>Checks a presented key's hash against the organization's live keys.</summary>
public sealed record Authenticate(string OrganizationId, string KeyHash) : IOrganizationCommand;

/// <summary>A new key as the organization stores it: never the key itself, only its hash and display prefix.</summary>
public sealed record ApiKeyGrant(string KeyId, string Name, string KeyHash, string? Prefix = null, IReadOnlyList<string>? Scopes = null)
{
    /// <summary>The grant for a freshly issued key.</summary>
    public static ApiKeyGrant For(string keyId, string name, string key, IReadOnlyList<string> scopes) =>
        new(keyId, name, ApiKeySecret.Hash(key), ApiKeySecret.PrefixOf(key), scopes);
}

public sealed record OrganizationCreated(string OrganizationId, string Slug, string Name, DateTimeOffset At) : IAuditedEvent
{
    string IAuditedEvent.Action => "organization.created";
    string IAuditedEvent.ResourceId => OrganizationId;
}

// Prefix and Scopes are null in events written before keys had them: such keys are full keys.
public sealed record ApiKeyCreated(
    string OrganizationId,
    string KeyId,
    string Name,
    string KeyHash,
    DateTimeOffset At,
    string? Prefix = null,
    IReadOnlyList<string>? Scopes = null,
    string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "api_key.created";
    string IAuditedEvent.ResourceId => KeyId;
}

public sealed record ApiKeyRevoked(string OrganizationId, string KeyId, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "api_key.revoked";
    string IAuditedEvent.ResourceId => KeyId;
}

/// <summary>A key authenticated a request; written at most once per <see cref="OrganizationState.LastUseResolution"/> per key.</summary>
public sealed record ApiKeyUsed(string OrganizationId, string KeyId, DateTimeOffset At) : IMiosaEvent;

public sealed record OrganizationView(string Id, string Slug, string Name, DateTimeOffset CreatedAt, IReadOnlyList<ApiKeyView> ApiKeys)
    : IMiosaMessage;

public sealed record ApiKeyView(
    string Id,
    string Name,
    DateTimeOffset CreatedAt,
    string Prefix,
    IReadOnlyList<string> Scopes,
    DateTimeOffset? LastUsedAt) : IMiosaMessage;

public sealed record Authenticated(string OrganizationId, string KeyId, IReadOnlyList<string> Scopes) : IMiosaMessage;
