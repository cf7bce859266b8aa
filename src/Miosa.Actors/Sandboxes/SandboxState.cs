using Miosa.Actors.Common;

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
        RecordSandboxStarted c when Status == SandboxStatus.Creating
                                    || (Status == SandboxStatus.Running && (c.Host != Host || c.IngressUrl != IngressUrl)) =>
            Decision.Accept(new SandboxStarted(Id, c.Host, c.IngressUrl, c.At)),
        RecordSandboxFailed c when Status == SandboxStatus.Creating => Decision.Accept(new SandboxFailed(Id, c.Reason, c.At)),
        // Usage of an unknown or destroyed sandbox, an empty window or one overlapping the last is dropped.
        RecordSandboxUsage c when Exists && Status != SandboxStatus.Destroyed && c.WindowEnd > c.WindowStart && c.WindowStart >= MeteredUntil =>
            Decision.Accept(new SandboxUsageRecorded(Id, OrganizationId!, Attribution with { Metadata = null },
                c.WindowStart, c.WindowEnd, Math.Max(0, c.CpuSeconds), Math.Max(0, c.MemoryMbSeconds), c.StorageBytes, EgressBytes: 0)),
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
        SandboxStarted e => this with { Status = SandboxStatus.Running, Host = e.Host, IngressUrl = e.IngressUrl, UpdatedAt = e.At },
        SandboxFailed e => this with { Status = SandboxStatus.Failed, Error = e.Reason, UpdatedAt = e.At },
        SandboxDestroyed e => this with { Status = SandboxStatus.Destroyed, IngressUrl = null, UpdatedAt = e.At },
        SandboxUsageRecorded e => this with { MeteredUntil = e.WindowEnd },
        _ => this,
    };

    /// <summary>Whether the given host should keep running this sandbox (asked by a host after it restarts).</summary>
    public bool ShouldRunOn(string host) => Exists && Status == SandboxStatus.Running && Host == host;

    /// <summary>Another organization's sandbox is indistinguishable from a missing one.</summary>
    public bool VisibleTo(string organizationId) => Exists && OrganizationId == organizationId;

    public SandboxView ToView() => new(
        Id, OrganizationId!, Status, Spec!.Template, Spec.Env, Spec.Resources, Spec.AllowInternet,
        TimeoutSeconds, AutoResume, Attribution, Host, IngressUrl, Error, CreatedAt, UpdatedAt);

    private Rejection NotFound => Rejection.NotFound("sandbox_not_found", $"Sandbox {Id} does not exist.");
}
