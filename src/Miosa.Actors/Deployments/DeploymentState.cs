using System.Collections.Immutable;
using Miosa.Actors.Common;
using Miosa.Actors.Routing;

namespace Miosa.Actors.Deployments;

/// <summary>
/// One deployment: its host label, its numbered versions and which one is live. Pure: the actor
/// runs the builds the events call for. <see cref="PreviouslyActive"/> is the stack a rollback
/// without a version pops. A deleted deployment keeps its state but reads as absent.
/// </summary>
public sealed record DeploymentState(
    string Id,
    string? OrganizationId,
    string Name,
    string Slug,
    string HostLabel,
    bool SpaFallback,
    ImmutableList<DeploymentVersion> Versions,
    string? ActiveVersionId,
    ImmutableList<string> PreviouslyActive,
    bool Deleted,
    long RouteVersion,
    Attribution Attribution,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage
{
    public const string InterruptedCode = "build_interrupted";

    public static DeploymentState Empty(string id) => new(
        id, null, "", "", "", false, [], null, [], false, 0, Attribution.None, default, default);

    /// <summary>End of the last egress window recorded per edge (see <see cref="RecordDeploymentEgress"/>).</summary>
    public ImmutableDictionary<string, DateTimeOffset> EgressMeteredUntil { get; init; } = ImmutableDictionary<string, DateTimeOffset>.Empty;

    public bool Exists => OrganizationId is not null;

    public DeploymentVersion? Version(string versionId) => Versions.Find(v => v.Id == versionId);

    public DeploymentVersion? Active => ActiveVersionId is null ? null : Version(ActiveVersionId);

    public Decision Process(IDeploymentCommand command) => command switch
    {
        CreateDeployment c when Exists => c.OrganizationId == OrganizationId && c.HostLabel == HostLabel
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("deployment_exists", $"Deployment {Id} already exists.")),
        CreateDeployment c => Decision.Accept(new DeploymentCreated(
            c.DeploymentId, c.OrganizationId, c.Name, c.Slug, c.HostLabel, c.SpaFallback, c.Attribution, c.At, c.ActorKeyId)),
        // A repeated delete (a retry after a lost answer) succeeds again.
        DeleteDeployment c when Exists && Deleted && OrganizationId == c.OrganizationId => Decision.Nothing,
        GetDeployment c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        DeleteDeployment c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        DeleteDeployment c => Decision.Accept(new DeploymentDeleted(Id, OrganizationId!, c.At, c.ActorKeyId)),
        PublishVersion c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        PublishVersion c when Version(c.VersionId) is not null => Decision.Nothing,
        PublishVersion c => Decision.Accept(new VersionQueued(
            Id, c.VersionId, c.BuildId, Versions.Count + 1, c.SandboxId, c.Host, c.Mode, c.OutputDir, c.Promote, c.At)),
        GetVersion c when !VisibleTo(c.OrganizationId) || Version(c.VersionId) is null => Decision.Reject(VersionNotFound(c.VersionId)),
        GetBuildLog c when !VisibleTo(c.OrganizationId) || Versions.Find(v => v.BuildId == c.BuildId) is null =>
            Decision.Reject(Rejection.NotFound("build_not_found", $"Build {c.BuildId} does not exist.")),
        PromoteVersion c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        PromoteVersion c => MakeActive(c.VersionId, rollback: false, c.At),
        RollbackDeployment c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        RollbackDeployment c when c.VersionId is not null => MakeActive(c.VersionId, rollback: true, c.At),
        RollbackDeployment when PreviouslyActive.IsEmpty => Decision.Reject(Rejection.Conflict(
            "no_previous_version", $"Deployment {Id} has no version that was live before the current one; name a version_id.")),
        RollbackDeployment c => MakeActive(PreviouslyActive[^1], rollback: true, c.At),
        RecordBuildStarted c when Version(c.VersionId) is { State: VersionState.Queued } =>
            Decision.Accept(new VersionBuildStarted(Id, c.VersionId, c.At)),
        RecordBuildOutcome c when Version(c.Outcome.VersionId) is { State: VersionState.Queued or VersionState.Building } version => Finish(version, c),
        RecordDeploymentEgress c when Exists && c.EgressBytes > 0 && c.WindowEnd > c.WindowStart
                                      && c.WindowStart >= EgressMeteredUntil.GetValueOrDefault(c.Edge) =>
            Decision.Accept(new DeploymentUsageRecorded(Id, OrganizationId!, Attribution with { Metadata = null }, c.Edge, c.WindowStart, c.WindowEnd, c.EgressBytes)),
        _ => Decision.Nothing,
    };

    public DeploymentState Apply(IMiosaEvent @event) => @event switch
    {
        DeploymentCreated e => this with
        {
            OrganizationId = e.OrganizationId,
            Name = e.Name,
            Slug = e.Slug,
            HostLabel = e.HostLabel,
            SpaFallback = e.SpaFallback,
            Attribution = e.Attribution,
            CreatedAt = e.At,
            UpdatedAt = e.At,
            RouteVersion = RouteVersion + 1,
        },
        DeploymentDeleted e => this with { Deleted = true, UpdatedAt = e.At, RouteVersion = RouteVersion + 1 },
        VersionQueued e => this with
        {
            Versions = Versions.Add(new DeploymentVersion(e.VersionId, e.BuildId, e.Number, VersionState.Queued, e.SandboxId, e.Mode, e.OutputDir,
                e.Promote, null, null, null, null, "", e.At, e.At)),
            UpdatedAt = e.At,
        },
        VersionBuildStarted e => WithVersion(e.VersionId, v => v with { State = VersionState.Building, UpdatedAt = e.At }, e.At),
        VersionBuilt e => WithVersion(e.VersionId,
            v => v with { State = VersionState.Ready, Release = e.Release, SourceCommit = e.SourceCommit, Log = e.Log, UpdatedAt = e.At }, e.At),
        VersionBuildFailed e => WithVersion(e.VersionId, v => v with
        {
            State = VersionState.Failed,
            SourceCommit = e.SourceCommit,
            ErrorCode = e.ErrorCode,
            Error = e.Error,
            Log = e.Log,
            UpdatedAt = e.At,
        }, e.At),
        ActiveVersionChanged e => this with
        {
            ActiveVersionId = e.VersionId,
            // A rollback to the version on top of the stack pops it; anything else pushes what was live.
            PreviouslyActive = e.Rollback && !PreviouslyActive.IsEmpty && PreviouslyActive[^1] == e.VersionId
                ? PreviouslyActive.RemoveAt(PreviouslyActive.Count - 1)
                : e.PreviousVersionId is null ? PreviouslyActive : PreviouslyActive.Add(e.PreviousVersionId),
            UpdatedAt = e.At,
            RouteVersion = RouteVersion + 1,
        },
        DeploymentUsageRecorded e => this with { EgressMeteredUntil = EgressMeteredUntil.SetItem(e.Edge, e.WindowEnd) },
        _ => this,
    };

    /// <summary>Versions whose build was cut short (a node stopped): the actor fails them after recovery.</summary>
    public IEnumerable<DeploymentVersion> Unfinished => Versions.Where(v => v.State is VersionState.Queued or VersionState.Building);

    /// <summary>Another organization's deployment, or a deleted one, is indistinguishable from a missing one.</summary>
    public bool VisibleTo(string organizationId) => Exists && !Deleted && OrganizationId == organizationId;

    public DeploymentView ToView() => new(
        Id, OrganizationId!, Name, Slug, HostLabel, SpaFallback, ActiveVersionId, Versions, Attribution, CreatedAt, UpdatedAt);

    public VersionView ToView(string versionId) => new(Id, Version(versionId)!, versionId == ActiveVersionId);

    public BuildLogView ToBuildLog(string buildId)
    {
        var version = Versions.Find(v => v.BuildId == buildId)!;
        return new(Id, buildId, version.Id, version.State, version.Log);
    }

    /// <summary>What every edge needs: the host and the live release (none before the first promote, or once deleted).</summary>
    public DeploymentRoute ToRoute() => new(Id, OrganizationId ?? "", HostLabel, Deleted ? null : Active?.Release, Deleted ? null : ActiveVersionId,
        SpaFallback, Deleted, RouteVersion);

    private Decision MakeActive(string versionId, bool rollback, DateTimeOffset at) => Version(versionId) switch
    {
        null => Decision.Reject(VersionNotFound(versionId)),
        { State: not VersionState.Ready } v => Decision.Reject(Rejection.Conflict(
            "version_not_ready", $"Version {versionId} is {v.State.ToString().ToLowerInvariant()}; only a ready version can go live.")),
        _ when versionId == ActiveVersionId => Decision.Nothing,
        _ => Decision.Accept(new ActiveVersionChanged(Id, versionId, ActiveVersionId, rollback, at)),
    };

    private Decision Finish(DeploymentVersion version, RecordBuildOutcome c)
    {
        var o = c.Outcome;
        if (o.Release is null || o.ErrorCode is not null)
            return Decision.Accept(new VersionBuildFailed(Id, version.Id, o.SourceCommit, o.ErrorCode ?? "build_failed", o.Error ?? "The build failed.", o.Log, c.At));
        var built = new VersionBuilt(Id, version.Id, o.Release, o.SourceCommit, o.Log, c.At);
        // A build that ends after a newer version went live does not take its place.
        var newerLive = Active is { } active && active.Number > version.Number;
        return version.Promote && !Deleted && !newerLive
            ? Decision.Accept(built, new ActiveVersionChanged(Id, version.Id, ActiveVersionId, false, c.At))
            : Decision.Accept(built);
    }

    private DeploymentState WithVersion(string versionId, Func<DeploymentVersion, DeploymentVersion> change, DateTimeOffset at)
    {
        var index = Versions.FindIndex(v => v.Id == versionId);
        return index < 0 ? this : this with { Versions = Versions.SetItem(index, change(Versions[index])), UpdatedAt = at };
    }

    private Rejection NotFound => Rejection.NotFound("deployment_not_found", $"Deployment {Id} does not exist.");

    private static Rejection VersionNotFound(string versionId) => Rejection.NotFound("version_not_found", $"Version {versionId} does not exist.");
}
