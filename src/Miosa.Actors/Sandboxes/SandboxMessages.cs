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
    bool AllowInternet) : IMiosaMessage;

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
    long? StorageBytes) : ISandboxCommand;

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
    DateTimeOffset UpdatedAt) : IMiosaMessage;
