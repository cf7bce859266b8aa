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

public sealed record CreateApiKey(string OrganizationId, ApiKeyGrant Key, DateTimeOffset At) : IOrganizationCommand;

public sealed record RevokeApiKey(string OrganizationId, string KeyId, DateTimeOffset At) : IOrganizationCommand;

/// <summary>Checks a presented key's hash against the organization's live keys.</summary>
public sealed record Authenticate(string OrganizationId, string KeyHash) : IOrganizationCommand;

/// <summary>A new key as the organization stores it: never the key itself, only its hash.</summary>
public sealed record ApiKeyGrant(string KeyId, string Name, string KeyHash);

public sealed record OrganizationCreated(string OrganizationId, string Slug, string Name, DateTimeOffset At) : IMiosaEvent;

public sealed record ApiKeyCreated(string OrganizationId, string KeyId, string Name, string KeyHash, DateTimeOffset At) : IMiosaEvent;

public sealed record ApiKeyRevoked(string OrganizationId, string KeyId, DateTimeOffset At) : IMiosaEvent;

public sealed record OrganizationView(string Id, string Slug, string Name, DateTimeOffset CreatedAt, IReadOnlyList<ApiKeyView> ApiKeys)
    : IMiosaMessage;

public sealed record ApiKeyView(string Id, string Name, DateTimeOffset CreatedAt) : IMiosaMessage;

public sealed record Authenticated(string OrganizationId, string KeyId) : IMiosaMessage;
