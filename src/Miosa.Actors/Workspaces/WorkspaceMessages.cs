using Miosa.Actors.Common;

namespace Miosa.Actors.Workspaces;

/// <summary>Commands that change a workspace carry <c>ActorKeyId</c>, the API key that asked, for the audit log.</summary>
public interface IWorkspaceCommand : IEntityMessage
{
    string WorkspaceId { get; }
    string OrganizationId { get; }
    string IEntityMessage.EntityId => WorkspaceId;
}

/// <summary>Creates the workspace under a slug the caller already claimed for it.</summary>
public sealed record CreateWorkspace(
    string WorkspaceId,
    string OrganizationId,
    string Slug,
    string Name,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IWorkspaceCommand;

public sealed record GetWorkspace(string WorkspaceId, string OrganizationId) : IWorkspaceCommand;

public sealed record RenameWorkspace(string WorkspaceId, string OrganizationId, string Name, DateTimeOffset At, string? ActorKeyId = null) : IWorkspaceCommand;

/// <summary>
/// Deletes the workspace unless <paramref name="Holdings"/> (what the list read model counted in it,
/// by kind) is non-empty.
/// </summary>
public sealed record DeleteWorkspace(
    string WorkspaceId,
    string OrganizationId,
    IReadOnlyDictionary<string, long> Holdings,
    DateTimeOffset At,
    string? ActorKeyId = null) : IWorkspaceCommand;

public sealed record WorkspaceCreated(
    string WorkspaceId,
    string OrganizationId,
    string Slug,
    string Name,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "workspace.created";
    string IAuditedEvent.ResourceId => WorkspaceId;
}

public sealed record WorkspaceRenamed(string WorkspaceId, string OrganizationId, string Name, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "workspace.renamed";
    string IAuditedEvent.ResourceId => WorkspaceId;
}

public sealed record WorkspaceDeleted(string WorkspaceId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "workspace.deleted";
    string IAuditedEvent.ResourceId => WorkspaceId;
}

/// <summary>A workspace as the API shows it.</summary>
public sealed record WorkspaceView(
    string Id,
    string OrganizationId,
    string Slug,
    string Name,
    Attribution Attribution,
    bool Deleted,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage;
