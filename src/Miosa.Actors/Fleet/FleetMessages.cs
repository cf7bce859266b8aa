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
public sealed record StartSandboxOnHost(SandboxSpec Spec) : IMiosaMessage;

public sealed record SandboxStartedOnHost(string SandboxId, string Host, string IngressUrl) : IMiosaMessage;

public sealed record SandboxStartFailedOnHost(string SandboxId, string Host, string Reason) : IMiosaMessage;

public sealed record DestroySandboxOnHost(string SandboxId) : IMiosaMessage;

public sealed record SandboxDestroyedOnHost(string SandboxId) : IMiosaMessage;
