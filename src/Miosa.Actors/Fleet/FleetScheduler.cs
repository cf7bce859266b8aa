using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;

namespace Miosa.Actors.Fleet;

/// <summary>The hosts the scheduler knows and how loaded it believes each is. Pure placement logic.</summary>
public sealed record FleetState(ImmutableDictionary<string, RegisterHost> Hosts, ImmutableDictionary<string, int> Placed)
{
    public static FleetState Empty { get; } = new(ImmutableDictionary<string, RegisterHost>.Empty, ImmutableDictionary<string, int>.Empty);

    public FleetState Register(RegisterHost host) => this with
    {
        Hosts = Hosts.SetItem(host.Host, host),
        Placed = Placed.SetItem(host.Host, host.Capacity.RunningSandboxes),
    };

    public FleetState Remove(IActorRef agent) =>
        Hosts.Values.FirstOrDefault(h => h.Agent.Equals(agent)) is { } host
            ? this with { Hosts = Hosts.Remove(host.Host), Placed = Placed.Remove(host.Host) }
            : this;

    /// <summary>The host with the most memory left per its reports and our placements since.</summary>
    public (FleetState State, RegisterHost? Host) Place(PlaceSandbox request)
    {
        var best = Hosts.Values
            .Select(h => (Host: h, Free: h.Capacity.MemoryMb - (long)Placed.GetValueOrDefault(h.Host) * request.Resources.MemoryMb))
            .Where(x => x.Free >= request.Resources.MemoryMb)
            .OrderByDescending(x => x.Free)
            .ThenBy(x => x.Host.Host, StringComparer.Ordinal)
            .Select(x => x.Host)
            .FirstOrDefault();
        return best is null
            ? (this, null)
            : (this with { Placed = Placed.SetItem(best.Host, Placed.GetValueOrDefault(best.Host) + 1) }, best);
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
