using Miosa.Actors.Common;

namespace Miosa.Actors.Projects;

/// <summary>
/// A project: one app, site, document or workflow of a workspace's client. Deleted projects keep
/// their state (for the audit trail and an idempotent delete) but read as absent.
/// </summary>
public sealed record ProjectState(
    string Id,
    string? OrganizationId,
    string WorkspaceId,
    string Slug,
    string Name,
    Attribution Attribution,
    bool Deleted,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage
{
    public static ProjectState Empty(string id) => new(id, null, "", "", "", Attribution.None, false, default, default);

    public bool Exists => OrganizationId is not null;

    public Decision Process(IProjectCommand command) => command switch
    {
        CreateProject c when Exists => c.OrganizationId == OrganizationId && c.WorkspaceId == WorkspaceId && c.Slug == Slug
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("project_exists", $"Project {Id} already exists.")),
        CreateProject c => Decision.Accept(new ProjectCreated(c.ProjectId, c.OrganizationId, c.WorkspaceId, c.Slug, c.Name, c.Attribution, c.At, c.ActorKeyId)),
        // A repeated delete (a retry after a lost answer) succeeds again, so the caller can finish its clean-up.
        DeleteProject c when Exists && Deleted && OrganizationId == c.OrganizationId => Decision.Nothing,
        _ when !VisibleTo(command.OrganizationId) => Decision.Reject(NotFound),
        RenameProject c when c.Name == Name => Decision.Nothing,
        RenameProject c => Decision.Accept(new ProjectRenamed(Id, OrganizationId!, c.Name, c.At, c.ActorKeyId)),
        DeleteProject c when Holdings.Any(c.Holdings) =>
            Decision.Reject(Rejection.Conflict("project_not_empty", $"Project {Id} still holds {Holdings.Describe(c.Holdings)}; delete them first.")),
        DeleteProject c => Decision.Accept(new ProjectDeleted(Id, OrganizationId!, c.At, c.ActorKeyId)),
        _ => Decision.Nothing,
    };

    public ProjectState Apply(IMiosaEvent @event) => @event switch
    {
        ProjectCreated e => this with
        {
            OrganizationId = e.OrganizationId,
            WorkspaceId = e.WorkspaceId,
            Slug = e.Slug,
            Name = e.Name,
            Attribution = e.Attribution,
            CreatedAt = e.At,
            UpdatedAt = e.At,
        },
        ProjectRenamed e => this with { Name = e.Name, UpdatedAt = e.At },
        ProjectDeleted e => this with { Deleted = true, UpdatedAt = e.At },
        _ => this,
    };

    /// <summary>Another organization's project, or a deleted one, is indistinguishable from a missing one.</summary>
    public bool VisibleTo(string organizationId) => Exists && !Deleted && OrganizationId == organizationId;

    public ProjectView ToView() => new(Id, OrganizationId!, WorkspaceId, Slug, Name, Attribution, Deleted, CreatedAt, UpdatedAt);

    private Rejection NotFound => Rejection.NotFound("project_not_found", $"Project {Id} does not exist.");
}
