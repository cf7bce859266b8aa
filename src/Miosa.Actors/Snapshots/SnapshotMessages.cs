using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Snapshots;

/// <summary>creating: its host is storing the content; ready: usable for restore and create; failed; deleted.</summary>
public enum SnapshotStatus { Creating, Ready, Failed, Deleted }

public interface ISnapshotCommand : IEntityMessage
{
    string SnapshotId { get; }
    string IEntityMessage.EntityId => SnapshotId;
}

/// <summary>
/// Snapshots sandbox <paramref name="SandboxId"/> (already checked to be the caller's, on
/// <paramref name="Host"/>) with the configuration it runs with (<paramref name="Sandbox"/>: template,
/// env, resources), which sandboxes made from the snapshot inherit.
/// </summary>
public sealed record CreateSnapshot(
    string SnapshotId,
    string OrganizationId,
    string SandboxId,
    string? Name,
    SandboxSpec Sandbox,
    string Host,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : ISnapshotCommand;

public sealed record GetSnapshot(string SnapshotId, string OrganizationId) : ISnapshotCommand;

public sealed record DeleteSnapshot(string SnapshotId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : ISnapshotCommand;

/// <summary>The host stored the content: <paramref name="SizeBytes"/> new bytes, <paramref name="TotalBytes"/> in <paramref name="Files"/> files.</summary>
public sealed record RecordSnapshotStored(string SnapshotId, long SizeBytes, long TotalBytes, int Files, DateTimeOffset At) : ISnapshotCommand;

public sealed record RecordSnapshotFailed(string SnapshotId, string Reason, DateTimeOffset At) : ISnapshotCommand;

public sealed record SnapshotRequested(
    string SnapshotId,
    string OrganizationId,
    string SandboxId,
    string? Name,
    SandboxSpec Sandbox,
    string Host,
    Attribution Attribution,
    DateTimeOffset At,
    string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "snapshot.created";
    string IAuditedEvent.ResourceId => SnapshotId;
}

public sealed record SnapshotStored(string SnapshotId, long SizeBytes, long TotalBytes, int Files, DateTimeOffset At) : IMiosaEvent;

public sealed record SnapshotFailed(string SnapshotId, string Reason, DateTimeOffset At) : IMiosaEvent;

public sealed record SnapshotDeleted(string SnapshotId, string OrganizationId, DateTimeOffset At, string? ActorKeyId = null) : IAuditedEvent
{
    string IAuditedEvent.Action => "snapshot.deleted";
    string IAuditedEvent.ResourceId => SnapshotId;
}

/// <summary>A snapshot as the API shows it.</summary>
public sealed record SnapshotView(
    string Id,
    string OrganizationId,
    string SandboxId,
    string? Name,
    SnapshotStatus Status,
    SandboxSpec Sandbox,
    string Host,
    long SizeBytes,
    long TotalBytes,
    int Files,
    string? Error,
    Attribution Attribution,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt) : IMiosaMessage;

// Host agent protocol: the content lives on the host that made it.

/// <summary>Stores sandbox <paramref name="SandboxId"/>'s workspace as snapshot <paramref name="SnapshotId"/> (idempotent).</summary>
public sealed record SnapshotSandboxOnHost(string SandboxId, string SnapshotId) : IMiosaMessage;

public sealed record SandboxSnapshotStoredOnHost(string SnapshotId, string Host, long SizeBytes, long TotalBytes, int Files) : IMiosaMessage;

public sealed record SandboxSnapshotFailedOnHost(string SnapshotId, string Host, string Reason) : IMiosaMessage;

/// <summary>Deletes the snapshot's manifest and the contents no other snapshot holds.</summary>
public sealed record DeleteSnapshotOnHost(string SnapshotId) : IMiosaMessage;

public sealed record SnapshotDeletedOnHost(string SnapshotId, long FreedBytes) : IMiosaMessage;

/// <summary>
/// Stops the sandbox, replaces its workspace with the snapshot's and starts it again (processes
/// start afresh). Answered with <c>SandboxStartedOnHost</c> or <c>SandboxStartFailedOnHost</c>.
/// </summary>
public sealed record RestoreSandboxOnHost(SandboxSpec Spec, string SnapshotId) : IMiosaMessage
{
    /// <summary>Seconds without activity after which the host asks to suspend it; 0 never.</summary>
    public int IdleTimeoutSeconds { get; init; }
}
