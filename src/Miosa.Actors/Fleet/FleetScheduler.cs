using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;

namespace Miosa.Actors.Fleet;

/// <summary>Placements made since a host's last report, not yet in its figures.</summary>
public sealed record PendingPlacements(int Count, long MemoryMb)
{
    public static PendingPlacements None { get; } = new(0, 0);
}

/// <summary>
/// The hosts the scheduler knows and what it placed on each since their last report. Pure placement
/// logic. Memory limits are ceilings, not reservations (an idle sandbox uses well under 1 MB,
/// docs/benchmarks.md), so a host takes limits up to <see cref="MemoryOvercommit"/> times its
/// memory: 500+ default sandboxes on a 24 GB node, with the host's sandbox cap as the other bound.
/// </summary>
public sealed record FleetState(ImmutableDictionary<string, RegisterHost> Hosts, ImmutableDictionary<string, PendingPlacements> Pending)
{
    public const int MemoryOvercommit = 16;

    public static FleetState Empty { get; } = new(ImmutableDictionary<string, RegisterHost>.Empty, ImmutableDictionary<string, PendingPlacements>.Empty);

    /// <summary>A report supersedes what was pending: the host's own figures now include it.</summary>
    public FleetState Register(RegisterHost host) => this with
    {
        Hosts = Hosts.SetItem(host.Host, host),
        Pending = Pending.SetItem(host.Host, PendingPlacements.None),
    };

    public FleetState Remove(IActorRef agent) =>
        Hosts.Values.FirstOrDefault(h => h.Agent.Equals(agent)) is { } host
            ? this with { Hosts = Hosts.Remove(host.Host), Pending = Pending.Remove(host.Host) }
            : this;

    /// <summary>The host with the most memory left under its overcommitted ceiling, and room for one more sandbox.</summary>
    public (FleetState State, RegisterHost? Host) Place(PlaceSandbox request)
    {
        var best = Hosts.Values
            .Select(h => (Host: h, Pending: Pending.GetValueOrDefault(h.Host, PendingPlacements.None)))
            .Where(x => x.Host.Capacity.RunningSandboxes + x.Pending.Count < x.Host.Capacity.MaxSandboxes)
            .Select(x => (x.Host, x.Pending, Free: x.Host.Capacity.MemoryMb * MemoryOvercommit - x.Host.Capacity.CommittedMemoryMb - x.Pending.MemoryMb))
            .Where(x => x.Free >= request.Resources.MemoryMb)
            .OrderByDescending(x => x.Free)
            .ThenBy(x => x.Host.Host, StringComparer.Ordinal)
            .FirstOrDefault();
        return best.Host is null
            ? (this, null)
            : (this with { Pending = Pending.SetItem(best.Host.Host, new PendingPlacements(best.Pending.Count + 1, best.Pending.MemoryMb + request.Resources.MemoryMb)) }, best.Host);
    }
}

/// <summary>Cluster singleton: places sandboxes on registered hosts, forgets hosts that die.</summary>
public sealed class FleetScheduler : ReceiveActor
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private FleetState _state = FleetState.Empty;

    public FleetScheduler()
    {
        Receive<RegisterHost>(r =>
        {
            if (!_state.Hosts.ContainsKey(r.Host)) _log.Info("Host {0} joined the fleet at {1}", r.Host, r.IngressUrl);
            Context.Watch(r.Agent);
            _state = _state.Register(r);
        });
        Receive<PlaceSandbox>(p =>
        {
            (_state, var host) = _state.Place(p);
            Sender.Tell(host is null
                ? new Rejection("no_capacity", "No host has room for this sandbox right now.", 503)
                : new SandboxPlacement(p.SandboxId, host.Host, host.IngressUrl, host.Agent));
        });
        Receive<FindHost>(f => Sender.Tell(_state.Hosts.TryGetValue(f.Host, out var h)
            ? new HostFound(h.Host, h.IngressUrl, h.Agent)
            : new HostFound(f.Host, "", null)));
        Receive<Terminated>(t =>
        {
            _log.Warning("Host agent {0} left the fleet", t.ActorRef.Path);
            _state = _state.Remove(t.ActorRef);
        });
    }
}
