using System.Collections.Immutable;
using System.Text.Json.Serialization;
using Miosa.Actors.Common;

namespace Miosa.Actors.Deployments;

/// <summary>queued: accepted, not started; building: the source is being frozen and packaged; ready: its release exists; failed: see its error.</summary>
public enum VersionState { Queued, Building, Ready, Failed }

/// <summary>An immutable, sha256-keyed release: <paramref name="Kind"/> is <c>static</c> (served by the edge) or <c>dynamic</c>.</summary>
public sealed record ReleaseRef(string Sha256, string Kind, long SizeBytes);

/// <summary>One publish of a deployment: its number, its build, the release it produced (or why not).</summary>
public sealed record DeploymentVersion(
    string Id,
    string BuildId,
    int Number,
    VersionState State,
    string SandboxId,
    string Mode,
    string? OutputDir,
    bool Promote,
    ReleaseRef? Release,
    string? SourceCommit,
    string? ErrorCode,
    string? Error,
    string Log,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt);

public interface IDeploymentCommand : IEntityMessage
{
    string DeploymentId { get; }
    string IEntityMessage.EntityId => DeploymentId;
}

/// <summary>
/// Creates a deployment served at <paramref name="HostLabel"/> (<c>&lt;slug&gt;.&lt;workspace or organization slug&gt;</c>,
/// already claimed) under the base domain.
/// </summary>
public sealed record CreateDeployment(
    string DeploymentId,
    string OrganizationId,
    string Name,
    string Slug,
    string HostLabel,
    bool SpaFallback,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IDeploymentCommand;

public sealed record GetDeployment(string DeploymentId, string OrganizationId) : IDeploymentCommand;

public sealed record DeleteDeployment(string DeploymentId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IDeploymentCommand;

/// <summary>Queues a new version built from sandbox <paramref name="SandboxId"/> (already checked to be the caller's, on <paramref name="Host"/>).</summary>
public sealed record PublishVersion(
    string DeploymentId,
    string OrganizationId,
    string VersionId,
    string BuildId,
    string SandboxId,
    string Host,
    string Mode,
    string? OutputDir,
    bool Promote,
    DateTimeOffset At) : IDeploymentCommand;

public sealed record GetVersion(string DeploymentId, string OrganizationId, string VersionId) : IDeploymentCommand;

public sealed record GetBuildLog(string DeploymentId, string OrganizationId, string BuildId) : IDeploymentCommand;

/// <summary>Makes a ready version the live one (routing only).</summary>
public sealed record PromoteVersion(string DeploymentId, string OrganizationId, string VersionId, DateTimeOffset At) : IDeploymentCommand;

/// <summary>Goes back to <paramref name="VersionId"/>, or without one to the version that was live before the current one.</summary>
public sealed record RollbackDeployment(string DeploymentId, string OrganizationId, string? VersionId, DateTimeOffset At) : IDeploymentCommand;

public sealed record RecordBuildStarted(string DeploymentId, string VersionId, DateTimeOffset At) : IDeploymentCommand;

public sealed record RecordBuildOutcome(string DeploymentId, ReleaseBuildOutcome Outcome, DateTimeOffset At) : IDeploymentCommand;

public sealed record DeploymentCreated(
    string DeploymentId,
    string OrganizationId,
    string Name,
    string Slug,
    string HostLabel,
    bool SpaFallback,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "deployment.created";
    string IAuditedEvent.ResourceId => DeploymentId;
}

public sealed record DeploymentDeleted(string DeploymentId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "deployment.deleted";
    string IAuditedEvent.ResourceId => DeploymentId;
}

public sealed record VersionQueued(
    string DeploymentId, string VersionId, string BuildId, int Number, string SandboxId, string Host, string Mode, string? OutputDir, bool Promote, DateTimeOffset At) : IMiosaEvent;

public sealed record VersionBuildStarted(string DeploymentId, string VersionId, DateTimeOffset At) : IMiosaEvent;

public sealed record VersionBuilt(string DeploymentId, string VersionId, ReleaseRef Release, string? SourceCommit, string Log, DateTimeOffset At) : IMiosaEvent;

public sealed record VersionBuildFailed(
    string DeploymentId, string VersionId, string? SourceCommit, string ErrorCode, string Error, string Log, DateTimeOffset At) : IMiosaEvent;

/// <summary>The live version changed (promote, rollback, or a publish with promote): a routing event, nothing is rebuilt.</summary>
public sealed record ActiveVersionChanged(string DeploymentId, string VersionId, string? PreviousVersionId, bool Rollback, DateTimeOffset At) : IMiosaEvent;

/// <summary>A deployment as the API shows it.</summary>
public sealed record DeploymentView(
    string Id,
    string OrganizationId,
    string Name,
    string Slug,
    string HostLabel,
    bool SpaFallback,
    string? ActiveVersionId,
    ImmutableList<DeploymentVersion> Versions,
    Attribution Attribution,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage;

public sealed record VersionView(string DeploymentId, DeploymentVersion Version, bool Active) : IMiosaMessage;

public sealed record BuildLogView(string DeploymentId, string BuildId, string VersionId, VersionState State, string Log) : IMiosaMessage;

/// <summary>The answer to a promote or rollback.</summary>
public sealed record ActiveVersionView(string DeploymentId, string ActiveVersionId) : IMiosaMessage;

// The builder: freezes a sandbox's workspace and packages a release.

public sealed record ReleaseBuildRequest(
    string DeploymentId, string VersionId, string BuildId, string SandboxId, string Host, string Mode, string? OutputDir);

/// <summary>What a build produced: a release, or an error code and message; always its log.</summary>
public sealed record ReleaseBuildOutcome(
    string VersionId, ReleaseRef? Release, string? SourceCommit, string? ErrorCode, string? Error, string Log) : IMiosaMessage;

/// <summary>
/// Builds releases from a sandbox's workspace on the host that holds it. One implementation per
/// kind of host; a build never throws for bad input, it answers an outcome with an error code.
/// </summary>
public interface IReleaseBuilder
{
    Task<ReleaseBuildOutcome> BuildAsync(ReleaseBuildRequest request, CancellationToken ct);
}

/// <summary>Ids that name their deployment: a version or build id carries the deployment id's suffix, then its own.</summary>
public static class DeploymentIds
{
    private const int OwnSuffixLength = 8;

    public static string NewVersionId(string deploymentId) => Child(IdPrefix.Version, deploymentId);

    public static string NewBuildId(string deploymentId) => Child(IdPrefix.Build, deploymentId);

    /// <summary>The deployment a version or build id belongs to; null when the id is not one.</summary>
    public static string? DeploymentOf(string id, string prefix) =>
        ResourceId.IsValid(id, prefix) && id.Length == prefix.Length + 1 + ResourceId.SuffixLength + OwnSuffixLength
            ? $"{IdPrefix.Deployment}_{id.Substring(prefix.Length + 1, ResourceId.SuffixLength)}"
            : null;

    private static string Child(string prefix, string deploymentId) =>
        $"{prefix}_{deploymentId[(IdPrefix.Deployment.Length + 1)..]}{ResourceId.RandomToken(OwnSuffixLength)}";
}

/// <summary>
/// An edge's count of the bytes it served for the deployment over one window. Windows are per edge
/// (<paramref name="Edge"/>): a window starting before that edge's last one is a resend and dropped.
/// </summary>
public sealed record RecordDeploymentEgress(
    string DeploymentId, string Edge, DateTimeOffset WindowStart, DateTimeOffset WindowEnd, long EgressBytes) : IDeploymentCommand;

/// <summary>Egress of a deployment's static files as one edge served them (usage).</summary>
public sealed record DeploymentUsageRecorded(
    string DeploymentId,
    string OrganizationId,
    Attribution Attribution,
    string Edge,
    DateTimeOffset WindowStart,
    DateTimeOffset WindowEnd,
    long EgressBytes) : IUsageEvent
{
    [JsonIgnore] public string ResourceType => DeploymentActor.Kind;
    [JsonIgnore] public string ResourceId => DeploymentId;
    // Served by the edge itself: nothing runs, so no running time, CPU, memory or storage here.
    [JsonIgnore] public double RunningSeconds => 0;
    [JsonIgnore] public double CpuSeconds => 0;
    [JsonIgnore] public double MemoryMbSeconds => 0;
    [JsonIgnore] public long? StorageBytes => null;
}

