using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Fleet;

/// <summary>
/// What a host has and holds, as its agent reports it (after every start and destroy, and every few
/// seconds so a new scheduler learns it). Committed memory is the sum of its sandboxes' limits.
/// </summary>
public sealed record HostCapacity(double Cpu, long MemoryMb, int RunningSandboxes, long CommittedMemoryMb, int MaxSandboxes);

public sealed record RegisterHost(
    string Host,
    string Region,
    string IngressUrl,
    IReadOnlyList<string> Drivers,
    HostCapacity Capacity,
    IActorRef Agent) : IMiosaMessage;

public sealed record PlaceSandbox(string SandboxId, SandboxResources Resources) : IMiosaMessage;

public sealed record SandboxPlacement(string SandboxId, string Host, string IngressUrl, IActorRef Agent) : IMiosaMessage;

public sealed record FindHost(string Host) : IMiosaMessage;

public sealed record HostFound(string Host, string IngressUrl, IActorRef? Agent) : IMiosaMessage;

// Host agent protocol.
public sealed record StartSandboxOnHost(SandboxSpec Spec) : IMiosaMessage
{
    /// <summary>Seconds without activity after which the host asks to suspend it; 0 never.</summary>
    public int IdleTimeoutSeconds { get; init; }
}

public sealed record SandboxStartedOnHost(string SandboxId, string Host, string IngressUrl) : IMiosaMessage;

public sealed record SandboxStartFailedOnHost(string SandboxId, string Host, string Reason) : IMiosaMessage;

public sealed record DestroySandboxOnHost(string SandboxId) : IMiosaMessage;

public sealed record SandboxDestroyedOnHost(string SandboxId) : IMiosaMessage;

/// <summary>Freezes every process of a sandbox (cgroup freezer): no CPU, memory kept.</summary>
public sealed record SuspendSandboxOnHost(string SandboxId) : IMiosaMessage;

/// <summary>Thaws a frozen sandbox.</summary>
public sealed record ResumeSandboxOnHost(string SandboxId) : IMiosaMessage;

/// <summary>Stops a sandbox's processes and frees their memory; its workspace stays (hibernation).</summary>
public sealed record StopSandboxOnHost(string SandboxId) : IMiosaMessage;

/// <summary>
/// A host's answer to suspend, resume or stop. <see cref="Done"/> is false when the sandbox's
/// processes are not on this host (e.g. gone with a node restart): then only a start brings it back.
/// </summary>
public sealed record SandboxHostActionDone(string SandboxId, bool Done) : IMiosaMessage;

