using Miosa.Actors.Common;

namespace Miosa.Actors.Projects;

/// <summary>Commands that change a project carry <c>ActorKeyId</c>, the API key that asked, for the audit log.</summary>
public interface IProjectCommand : IEntityMessage
{
    string ProjectId { get; }
    string OrganizationId { get; }
    string IEntityMessage.EntityId => ProjectId;
}

/// <summary>Creates the project in a workspace the caller checked, under a slug it already claimed.</summary>
public sealed record CreateProject(
    string ProjectId,
    string OrganizationId,
    string WorkspaceId,
    string Slug,
    string Name,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IProjectCommand;

public sealed record GetProject(string ProjectId, string OrganizationId) : IProjectCommand;

public sealed record RenameProject(string ProjectId, string OrganizationId, string Name, DateTimeOffset At, string? ActorKeyId = null) : IProjectCommand;

/// <summary>Deletes the project unless <paramref name="Holdings"/> (live resources counted in it, by kind) is non-empty.</summary>
public sealed record DeleteProject(
    string ProjectId,
    string OrganizationId,
    IReadOnlyDictionary<string, long> Holdings,
    DateTimeOffset At,
    string? ActorKeyId = null) : IProjectCommand;

public sealed record ProjectCreated(
    string ProjectId,
    string OrganizationId,
    string WorkspaceId,
    string Slug,
    string Name,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "project.created";
    string IAuditedEvent.ResourceId => ProjectId;
}

public sealed record ProjectRenamed(string ProjectId, string OrganizationId, string Name, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "project.renamed";
    string IAuditedEvent.ResourceId => ProjectId;
}

public sealed record ProjectDeleted(string ProjectId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "project.deleted";
    string IAuditedEvent.ResourceId => ProjectId;
}

/// <summary>A project as the API shows it.</summary>
public sealed record ProjectView(
    string Id,
    string OrganizationId,
    string WorkspaceId,
    string Slug,
    string Name,
    Attribution Attribution,
    bool Deleted,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage;
