using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Snapshots;

/// <summary>
/// One snapshot of a sandbox: its configuration (template, env, resources), where its content is,
/// how big it is. It outlives its sandbox. Pure: the actor asks the host to store or delete the
/// content as the events call for. A deleted snapshot keeps its state but reads as absent.
/// </summary>
public sealed record SnapshotState(
    string Id,
    string? OrganizationId,
    string SandboxId,
    string? Name,
    SnapshotStatus Status,
    SandboxSpec? Sandbox,
    string Host,
    long SizeBytes,
    long TotalBytes,
    int Files,
    string? Error,
    Attribution Attribution,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage
{
    public static SnapshotState Empty(string id) =>
        new(id, null, "", null, SnapshotStatus.Creating, null, "", 0, 0, 0, null, Attribution.None, default, default);

    public bool Exists => OrganizationId is not null;

    public Decision Process(ISnapshotCommand command) => command switch
    {
        CreateSnapshot c when Exists => c.OrganizationId == OrganizationId && c.SandboxId == SandboxId
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("snapshot_exists", $"Snapshot {Id} already exists.")),
        CreateSnapshot c => Decision.Accept(new SnapshotRequested(
            c.SnapshotId, c.OrganizationId, c.SandboxId, c.Name, c.Sandbox, c.Host, c.Attribution, c.At, c.ActorKeyId)),
        RecordSnapshotStored c when Exists && Status == SnapshotStatus.Creating =>
            Decision.Accept(new SnapshotStored(Id, c.SizeBytes, c.TotalBytes, c.Files, c.At)),
        RecordSnapshotFailed c when Exists && Status == SnapshotStatus.Creating => Decision.Accept(new SnapshotFailed(Id, c.Reason, c.At)),
        RecordSnapshotStored or RecordSnapshotFailed => Decision.Nothing,
        // A repeated delete (a retry after a lost answer) succeeds again.
        DeleteSnapshot c when Exists && Status == SnapshotStatus.Deleted && OrganizationId == c.OrganizationId => Decision.Nothing,
        GetSnapshot c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        DeleteSnapshot c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        DeleteSnapshot when Status == SnapshotStatus.Creating =>
            Decision.Reject(Rejection.Conflict("snapshot_not_ready", $"Snapshot {Id} is still being stored; delete it once it is ready.")),
        DeleteSnapshot c => Decision.Accept(new SnapshotDeleted(Id, OrganizationId!, c.At, c.ActorKeyId)),
        _ => Decision.Nothing,
    };

    public SnapshotState Apply(IMiosaEvent @event) => @event switch
    {
        SnapshotRequested e => this with
        {
            OrganizationId = e.OrganizationId,
            SandboxId = e.SandboxId,
            Name = e.Name,
            Status = SnapshotStatus.Creating,
            Sandbox = e.Sandbox,
            Host = e.Host,
            Attribution = e.Attribution,
            CreatedAt = e.At,
            UpdatedAt = e.At,
        },
        SnapshotStored e => this with { Status = SnapshotStatus.Ready, SizeBytes = e.SizeBytes, TotalBytes = e.TotalBytes, Files = e.Files, UpdatedAt = e.At },
        SnapshotFailed e => this with { Status = SnapshotStatus.Failed, Error = e.Reason, UpdatedAt = e.At },
        SnapshotDeleted e => this with { Status = SnapshotStatus.Deleted, UpdatedAt = e.At },
        _ => this,
    };

    /// <summary>Another organization's snapshot, or a deleted one, is indistinguishable from a missing one.</summary>
    public bool VisibleTo(string organizationId) => Exists && Status != SnapshotStatus.Deleted && OrganizationId == organizationId;

    public SnapshotView ToView() => new(
        Id, OrganizationId!, SandboxId, Name, Status, Sandbox!, Host, SizeBytes, TotalBytes, Files, Error, Attribution, CreatedAt, UpdatedAt);

    private Rejection NotFound => Rejection.NotFound("snapshot_not_found", $"Snapshot {Id} does not exist.");
}
