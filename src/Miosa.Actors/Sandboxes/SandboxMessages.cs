using System.Text.Json.Serialization;
using Miosa.Actors.Common;

namespace Miosa.Actors.Sandboxes;

public enum SandboxStatus { Creating, Running, Suspended, Stopped, Failed, Destroyed }

/// <summary>What a sandbox may use; enforced by the host's cgroups.</summary>
public sealed record SandboxResources(double Cpu, int MemoryMb, int DiskMb, int Pids)
{
    public static SandboxResources Default { get; } = new(Cpu: 1, MemoryMb: 512, DiskMb: 2048, Pids: 256);
}

/// <summary>Everything a host needs to (re)start the sandbox.</summary>
public sealed record SandboxSpec(
    string SandboxId,
    string Template,
    IReadOnlyDictionary<string, string> Env,
    SandboxResources Resources,
    bool AllowInternet) : IMiosaMessage
{
    /// <summary>The new sandbox's workspace starts as this snapshot's (Snapshots/; on the host that holds it).</summary>
    public string? SnapshotId { get; init; }

    /// <summary>The new sandbox's workspace starts as a copy-on-write copy of this sandbox's, as it is at the start (a fork).</summary>
    public string? ForkOf { get; init; }
}

public interface ISandboxCommand : IEntityMessage
{
    string SandboxId { get; }
    string IEntityMessage.EntityId => SandboxId;
}

public sealed record CreateSandbox(
    string SandboxId,
    string OrganizationId,
    SandboxSpec Spec,
    int TimeoutSeconds,
    bool AutoResume,
    Attribution Attribution,
    DateTimeOffset At) : ISandboxCommand;

public sealed record GetSandbox(string SandboxId, string OrganizationId) : ISandboxCommand;

public sealed record DestroySandbox(string SandboxId, string OrganizationId, DateTimeOffset At) : ISandboxCommand;

/// <summary>The placement flow's outcome, told by the entity to itself so it is decided like any command.</summary>
public sealed record RecordSandboxStarted(string SandboxId, string Host, string IngressUrl, DateTimeOffset At) : ISandboxCommand;

public sealed record RecordSandboxFailed(string SandboxId, string Reason, DateTimeOffset At) : ISandboxCommand;

/// <summary>
/// Suspends a running sandbox: frozen, or <paramref name="Hibernate"/> (processes stopped, memory
/// freed). <paramref name="OrganizationId"/> is null when the platform asks (its host saw it idle).
/// </summary>
public sealed record SuspendSandbox(string SandboxId, string? OrganizationId, DateTimeOffset At, bool Hibernate = false) : ISandboxCommand;

/// <summary>
/// Resumes a suspended sandbox: asked for explicitly, or <paramref name="OnTraffic"/> (exec, files,
/// preview, terminal reached a suspended sandbox), which only a sandbox with auto_resume accepts.
/// </summary>
public sealed record ResumeSandbox(string SandboxId, string? OrganizationId, DateTimeOffset At, bool OnTraffic = false) : ISandboxCommand;

/// <summary>The host froze the sandbox (or, <paramref name="Hibernated"/>, stopped its processes).</summary>
public sealed record RecordSandboxSuspended(string SandboxId, bool Hibernated, DateTimeOffset At) : ISandboxCommand;

public sealed record RecordSandboxResumed(string SandboxId, DateTimeOffset At) : ISandboxCommand;

/// <summary>A host that (re)started asks what to do with a sandbox it finds on its disk.</summary>
public sealed record ReconcileSandbox(string SandboxId, string Host) : ISandboxCommand;

/// <summary>
/// A host's meter reading for one window of a sandbox it runs: CPU and memory from the cgroup,
/// storage from the workspace (null when not measured this window).
/// </summary>
public sealed record RecordSandboxUsage(
    string SandboxId,
    DateTimeOffset WindowStart,
    DateTimeOffset WindowEnd,
    double CpuSeconds,
    double MemoryMbSeconds,
    long? StorageBytes,
    long EgressBytes = 0) : ISandboxCommand;

public sealed record SandboxCreationRequested(
    string SandboxId,
    string OrganizationId,
    SandboxSpec Spec,
    int TimeoutSeconds,
    bool AutoResume,
    Attribution Attribution,
    DateTimeOffset At) : IMiosaEvent;

public sealed record SandboxStarted(string SandboxId, string Host, string IngressUrl, DateTimeOffset At) : IMiosaEvent;

public sealed record SandboxFailed(string SandboxId, string Reason, DateTimeOffset At) : IMiosaEvent;

public sealed record SandboxDestroyed(string SandboxId, DateTimeOffset At) : IMiosaEvent;

/// <summary>
/// Suspended: frozen with its processes and memory kept, or hibernated (processes stopped, memory
/// freed, workspace kept: resuming starts its processes afresh).
/// </summary>
public sealed record SandboxSuspended(string SandboxId, bool Hibernated, DateTimeOffset At) : IMiosaEvent;

public sealed record SandboxResumed(string SandboxId, DateTimeOffset At) : IMiosaEvent;

public sealed record SandboxUsageRecorded(
    string SandboxId,
    string OrganizationId,
    Attribution Attribution,
    DateTimeOffset WindowStart,
    DateTimeOffset WindowEnd,
    double CpuSeconds,
    double MemoryMbSeconds,
    long? StorageBytes,
    long EgressBytes) : IUsageEvent
{
    // Derived, so not persisted.
    [JsonIgnore] public string ResourceType => SandboxActor.Kind;
    [JsonIgnore] public string ResourceId => SandboxId;
    [JsonIgnore] public double RunningSeconds => (WindowEnd - WindowStart).TotalSeconds;
}

/// <summary>A sandbox as the API shows it.</summary>
public sealed record SandboxView(
    string Id,
    string OrganizationId,
    SandboxStatus Status,
    string Template,
    IReadOnlyDictionary<string, string> Env,
    SandboxResources Resources,
    bool AllowInternet,
    int TimeoutSeconds,
    bool AutoResume,
    Attribution Attribution,
    string? Host,
    string? IngressUrl,
    string? Error,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage
{
    /// <summary>Suspended by hibernation: its processes were stopped and start afresh on resume.</summary>
    public bool Hibernated { get; init; }
}
