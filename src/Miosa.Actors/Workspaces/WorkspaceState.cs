using Miosa.Actors.Common;

namespace Miosa.Actors.Workspaces;

/// <summary>
/// A workspace: one downstream client of the customer platform, holding its projects. Deleted
/// workspaces keep their state (for the audit trail and an idempotent delete) but read as absent.
/// </summary>
public sealed record WorkspaceState(
    string Id,
    string? OrganizationId,
    string Slug,
    string Name,
    Attribution Attribution,
    bool Deleted,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage
{
    public static WorkspaceState Empty(string id) => new(id, null, "", "", Attribution.None, false, default, default);

    public bool Exists => OrganizationId is not null;

    public Decision Process(IWorkspaceCommand command) => command switch
    {
        CreateWorkspace c when Exists => c.OrganizationId == OrganizationId && c.Slug == Slug
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("workspace_exists", $"Workspace {Id} already exists.")),
        CreateWorkspace c => Decision.Accept(new WorkspaceCreated(c.WorkspaceId, c.OrganizationId, c.Slug, c.Name, c.Attribution, c.At, c.ActorKeyId)),
        // A repeated delete (a retry after a lost answer) succeeds again, so the caller can finish its clean-up.
        DeleteWorkspace c when Exists && Deleted && OrganizationId == c.OrganizationId => Decision.Nothing,
        _ when !VisibleTo(command.OrganizationId) => Decision.Reject(NotFound),
        RenameWorkspace c when c.Name == Name => Decision.Nothing,
        RenameWorkspace c => Decision.Accept(new WorkspaceRenamed(Id, OrganizationId!, c.Name, c.At, c.ActorKeyId)),
        DeleteWorkspace c when Holdings.Any(c.Holdings) =>
            Decision.Reject(Rejection.Conflict("workspace_not_empty", $"Workspace {Id} still holds {Holdings.Describe(c.Holdings)}; delete them first.")),
        DeleteWorkspace c => Decision.Accept(new WorkspaceDeleted(Id, OrganizationId!, c.At, c.ActorKeyId)),
        _ => Decision.Nothing,
    };

    public WorkspaceState Apply(IMiosaEvent @event) => @event switch
    {
        WorkspaceCreated e => this with
        {
            OrganizationId = e.OrganizationId,
            Slug = e.Slug,
            Name = e.Name,
            Attribution = e.Attribution,
            CreatedAt = e.At,
            UpdatedAt = e.At,
        },
        WorkspaceRenamed e => this with { Name = e.Name, UpdatedAt = e.At },
        WorkspaceDeleted e => this with { Deleted = true, UpdatedAt = e.At },
        _ => this,
    };

    /// <summary>Another organization's workspace, or a deleted one, is indistinguishable from a missing one.</summary>
    public bool VisibleTo(string organizationId) => Exists && !Deleted && OrganizationId == organizationId;

    public WorkspaceView ToView() => new(Id, OrganizationId!, Slug, Name, Attribution, Deleted, CreatedAt, UpdatedAt);

    private Rejection NotFound => Rejection.NotFound("workspace_not_found", $"Workspace {Id} does not exist.");
}
