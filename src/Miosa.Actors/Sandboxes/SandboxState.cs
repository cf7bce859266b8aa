using System.Collections.Immutable;
using Miosa.Actors.Common;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;

namespace Miosa.Actors.Sandboxes;

/// <summary>One sandbox's lifecycle. Pure: the actor performs the side effects the events call for.</summary>
public sealed record SandboxState(
    string Id,
    string? OrganizationId,
    SandboxStatus Status,
    SandboxSpec? Spec,
    int TimeoutSeconds,
    bool AutoResume,
    Attribution Attribution,
    string? Host,
    string? IngressUrl,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage
{
    public static SandboxState Empty(string id) =>
        new(id, null, SandboxStatus.Creating, null, 0, true, Attribution.None, null, null, null, default, default);

    /// <summary>End of the last metered window: a window starting before it would count twice.</summary>
    public DateTimeOffset MeteredUntil { get; init; }

    public const int MaxPreviews = 100;

    /// <summary>Open previews; a destroyed sandbox has none.</summary>
    public ImmutableList<SandboxPreview> Previews { get; init; } = [];

    /// <summary>Counts changes to what edges route by (placement, previews): see <see cref="IRoute.Version"/>.</summary>
    public long RouteVersion { get; init; }

    /// <summary>Suspended by hibernation (processes stopped) rather than frozen.</summary>
    public bool Hibernated { get; init; }

    public bool Exists => OrganizationId is not null;

    public Decision Process(ISandboxCommand command) => command switch
    {
        CreateSandbox c when Exists => c.OrganizationId == OrganizationId
            ? Decision.Nothing
            : Decision.Reject(Rejection.Conflict("sandbox_exists", $"Sandbox {Id} already exists.")),
        CreateSandbox c => Decision.Accept(new SandboxCreationRequested(
            c.SandboxId, c.OrganizationId, c.Spec, c.TimeoutSeconds, c.AutoResume, c.Attribution, c.At)),
        GetSandbox c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        DestroySandbox c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        DestroySandbox when Status == SandboxStatus.Destroyed => Decision.Nothing,
        DestroySandbox c => Decision.Accept(new SandboxDestroyed(Id, c.At)),
        OpenPreview c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        OpenPreview when Status != SandboxStatus.Running => Decision.Reject(NotRunning),
        OpenPreview c when Previews.Any(p => p.Port == c.Port) => Decision.Nothing,
        // A sandbox's route travels whole to every edge: its previews are bounded.
        OpenPreview when Previews.Count >= MaxPreviews => Decision.Reject(new Rejection("preview_limit_reached",
            $"Sandbox {Id} has {MaxPreviews} previews, the most a sandbox can have; close one first.", 409, "port")),
        OpenPreview c => Decision.Accept(new PreviewOpened(Id, new SandboxPreview(c.PreviewId, c.Port, c.Visibility, c.Attribution, c.At))),
        ClosePreview c when !VisibleTo(c.OrganizationId) || Previews.All(p => p.Id != c.PreviewId) =>
            Decision.Reject(Rejection.NotFound("preview_not_found", $"Preview {c.PreviewId} does not exist.")),
        ClosePreview c => Decision.Accept(new PreviewClosed(Id, c.PreviewId, c.At)),
        ListPreviews c when !VisibleTo(c.OrganizationId) => Decision.Reject(NotFound),
        SuspendSandbox c when c.OrganizationId is { } org && !VisibleTo(org) => Decision.Reject(NotFound),
        SuspendSandbox when Status is SandboxStatus.Running or SandboxStatus.Suspended => Decision.Nothing,
        SuspendSandbox => Decision.Reject(NotRunning),
        ResumeSandbox c when c.OrganizationId is { } org && !VisibleTo(org) => Decision.Reject(NotFound),
        ResumeSandbox { OnTraffic: true } when Status == SandboxStatus.Suspended && !AutoResume => Decision.Reject(new Rejection("sandbox_suspended",
            $"Sandbox {Id} is suspended and does not resume on traffic (auto_resume is false); POST /v1/sandboxes/{Id}/resume.", 409)),
        ResumeSandbox when Status is SandboxStatus.Running or SandboxStatus.Suspended => Decision.Nothing,
        ResumeSandbox => Decision.Reject(NotRunning),
        RecordSandboxSuspended c when Status == SandboxStatus.Running || (Status == SandboxStatus.Suspended && c.Hibernated && !Hibernated) =>
            Decision.Accept(new SandboxSuspended(Id, c.Hibernated, c.At)),
        RecordSandboxResumed c when Status == SandboxStatus.Suspended => Decision.Accept(new SandboxResumed(Id, c.At)),
        RecordSandboxStarted c when Status == SandboxStatus.Creating
                                    || (Status == SandboxStatus.Running && (c.Host != Host || c.IngressUrl != IngressUrl)) =>
            Decision.Accept(new SandboxStarted(Id, c.Host, c.IngressUrl, c.At)),
        RecordSandboxFailed c when Status == SandboxStatus.Creating => Decision.Accept(new SandboxFailed(Id, c.Reason, c.At)),
        // Usage of an unknown or destroyed sandbox, an empty window or one overlapping the last is dropped.
        RecordSandboxUsage c when Exists && Status != SandboxStatus.Destroyed && c.WindowEnd > c.WindowStart && c.WindowStart >= MeteredUntil =>
            Decision.Accept(new SandboxUsageRecorded(Id, OrganizationId!, Attribution with { Metadata = null },
                c.WindowStart, c.WindowEnd, Math.Max(0, c.CpuSeconds), Math.Max(0, c.MemoryMbSeconds), c.StorageBytes, Math.Max(0, c.EgressBytes))),
        _ => Decision.Nothing,
    };

    public SandboxState Apply(IMiosaEvent @event) => @event switch
    {
        SandboxCreationRequested e => this with
        {
            OrganizationId = e.OrganizationId,
            Status = SandboxStatus.Creating,
            Spec = e.Spec,
            TimeoutSeconds = e.TimeoutSeconds,
            AutoResume = e.AutoResume,
            Attribution = e.Attribution,
            CreatedAt = e.At,
            UpdatedAt = e.At,
        },
        SandboxStarted e => this with
        {
            Status = SandboxStatus.Running,
            Host = e.Host,
            IngressUrl = e.IngressUrl,
            UpdatedAt = e.At,
            RouteVersion = RouteVersion + 1,
        },
        SandboxFailed e => this with { Status = SandboxStatus.Failed, Error = e.Reason, UpdatedAt = e.At, RouteVersion = RouteVersion + 1 },
        SandboxDestroyed e => this with
        {
            Status = SandboxStatus.Destroyed,
            IngressUrl = null,
            Previews = [],
            UpdatedAt = e.At,
            RouteVersion = RouteVersion + 1,
        },
        SandboxSuspended e => this with { Status = SandboxStatus.Suspended, Hibernated = e.Hibernated, UpdatedAt = e.At, RouteVersion = RouteVersion + 1 },
        SandboxResumed e => this with { Status = SandboxStatus.Running, Hibernated = false, UpdatedAt = e.At, RouteVersion = RouteVersion + 1 },
        PreviewOpened e => this with { Previews = Previews.Add(e.Preview), RouteVersion = RouteVersion + 1 },
        PreviewClosed e => this with { Previews = Previews.RemoveAll(p => p.Id == e.PreviewId), RouteVersion = RouteVersion + 1 },
        SandboxUsageRecorded e => this with { MeteredUntil = e.WindowEnd },
        _ => this,
    };

    /// <summary>Whether the given host should keep running this sandbox (asked by a host after it restarts).</summary>
    public bool ShouldRunOn(string host) => Exists && Status == SandboxStatus.Running && Host == host;

    /// <summary>Whether a restarted host keeps this sandbox's workspace without starting it (suspended there).</summary>
    public bool KeepsWorkspaceOn(string host) => Exists && Status == SandboxStatus.Suspended && Host == host;

    /// <summary>Another organization's sandbox is indistinguishable from a missing one.</summary>
    public bool VisibleTo(string organizationId) => Exists && OrganizationId == organizationId;

    public SandboxView ToView() => new(
        Id, OrganizationId!, Status, Spec!.Template, Spec.Env, Spec.Resources, Spec.AllowInternet,
        TimeoutSeconds, AutoResume, Attribution, Host, IngressUrl, Error, CreatedAt, UpdatedAt)
    { Hibernated = Hibernated };

    public PreviewList ToPreviewList() => new(Id, OrganizationId!, Previews);

    /// <summary>What edges need to route this sandbox's previews.</summary>
    public SandboxRoute ToRoute() => new(Id, OrganizationId!, Status is SandboxStatus.Running or SandboxStatus.Suspended ? IngressUrl : null,
        Status == SandboxStatus.Running, Previews.Select(p => new PreviewRoute(p.Id, p.Port, p.Visibility)).ToList(), RouteVersion)
    {
        Suspended = Status == SandboxStatus.Suspended,
        AutoResume = AutoResume,
    };

    /// <summary>Whether an event changes <see cref="ToRoute"/>.</summary>
    public static bool ChangesRoute(IMiosaEvent e) =>
        e is SandboxStarted or SandboxFailed or SandboxDestroyed or SandboxSuspended or SandboxResumed or PreviewOpened or PreviewClosed;

    private Rejection NotRunning => Rejection.Conflict("sandbox_not_running", $"Sandbox {Id} is {Status.ToString().ToLowerInvariant()}, not running.");

    private Rejection NotFound => Rejection.NotFound("sandbox_not_found", $"Sandbox {Id} does not exist.");
}
