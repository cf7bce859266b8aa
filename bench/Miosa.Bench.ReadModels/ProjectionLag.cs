using System.Diagnostics;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// How far the list read model falls behind a burst of sandbox events on a fresh journal: real
/// <see cref="SandboxActor"/>s (and then bare persistent actors, as fast as the journal takes them)
/// persist through Akka.Persistence.Sql into the engine, configured as a node configures it, while
/// <see cref="ListProjections"/> follows the "sandbox" tag into <c>read_resources</c>.
/// </summary>
public static class ProjectionLag
{
    public const double GoalLagMs = 1000;
    public const int WriterEvents = 100;
    private const int EventsPerSandbox = 4;
    private const int WarmUpSandboxes = 50;
    private const string Ingress = "http://127.0.0.1:9";
    private static readonly TimeSpan AskTimeout = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan CatchUpLimit = TimeSpan.FromMinutes(3);

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var (engine, journal, o, _) = run;
        var system = journal.System;
        var agent = system.ActorOf(Props.Create(() => new BenchHostAgent()), "host-agent");
        var fleet = system.ActorOf(Props.Create(() => new BenchFleet(agent)), "fleet-scheduler");
        var org = ResourceId.New(IdPrefix.Organization);

        // Warm-up, not measured: the journal creates its tables on the first write (as on a node,
        // where NodeStartup touches an entity before it starts the projections), and JIT.
        BenchRun.Log($"{engine.Name}: warm-up, {WarmUpSandboxes} sandboxes");
        await LifecyclesAsync(system, fleet, org, WarmUpSandboxes, ct);
        var projections = await journal.ProjectionsAsync(ct);
        if (await WaitForOffsetAsync(journal, await journal.MaxOrderingAsync(ct), CatchUpLimit, ct) is null)
            throw new TimeoutException($"the projection did not apply the warm-up events within {CatchUpLimit.TotalMinutes} minutes");

        var events = o.BurstSandboxes * EventsPerSandbox;
        BenchRun.Log($"{engine.Name}: entity burst of {events:N0} events ({o.BurstSandboxes:N0} sandboxes × {EventsPerSandbox})");
        await MeasureAsync(run, projections, events, "entity burst",
            $"{events:N0} events from {o.BurstSandboxes:N0} `SandboxActor`s at once (create → requested + started, host move → started, destroy)",
            () => LifecyclesAsync(system, fleet, org, o.BurstSandboxes, ct), ct);

        // The same number of events as fast as the journal takes them: what the projection keeps up with.
        var writers = Math.Max(1, events / WriterEvents);
        BenchRun.Log($"{engine.Name}: journal-speed burst of {writers * WriterEvents:N0} events ({writers} writers × {WriterEvents})");
        await MeasureAsync(run, projections, writers * WriterEvents, "journal-speed burst",
            $"{writers * WriterEvents:N0} events from {writers} persistent actors at once (`sandbox-<id>`, tag `sandbox`, one `PersistAll` of {WriterEvents} sandbox events each)",
            () => WritersAsync(system, org, writers, ct), ct);
    }

    /// <summary>
    /// Runs one burst and measures the list projection behind it: the time from the last persist
    /// acknowledgment until the projection's stored offset reaches the journal's max for the tag.
    /// </summary>
    public static async Task MeasureAsync(
        BenchRun run, ListProjections projections, int events, string name, string description, Func<Task<long>> burst, CancellationToken ct)
    {
        var (_, journal, _, table) = run;
        var started = Stopwatch.GetTimestamp();
        var lastAck = await burst();
        var written = Stopwatch.GetElapsedTime(started, lastAck);

        // All acknowledged, so all in the journal: how far is the list behind, and when does it catch up?
        var max = await journal.MaxOrderingAsync(ct);
        var atAck = await journal.OffsetAsync(ct);
        var caughtUpStarted = Stopwatch.GetTimestamp();
        var caughtUp = await projections.CaughtUpAsync(SandboxActor.Kind, ct);
        var caughtUpReturned = Stopwatch.GetElapsedTime(caughtUpStarted);
        var reached = await WaitForOffsetAsync(journal, max, CatchUpLimit, ct);
        TimeSpan? lag = reached is { } at ? Stopwatch.GetElapsedTime(lastAck, at) : null;
        TimeSpan? total = reached is { } end ? Stopwatch.GetElapsedTime(started, end) : null;
        var backlog = max - atAck;

        table.Add(run.Metric($"{name}: {description}, persisted in"),
            $"{written.TotalSeconds:F1} s ({Bulk.Rate(events, written)} events)",
            (total is { } t ? $"projection applied {Bulk.Rate(events, t)} over the burst" : "projection did not catch up") +
            (lag is { } d && backlog > 100 ? $", drained its backlog at {Bulk.Rate(backlog, d)} after the last ack" : ""));
        table.Add(run.Metric($"{name}: list projection lag, last persist ack → projection offset at the journal's max"),
            lag is { } l ? $"{Ms(l)} ({backlog:N0} events still to apply at the last ack)" : $"not caught up within {CatchUpLimit.TotalMinutes} min ({backlog:N0} behind at the last ack)",
            $"`ListProjections.CaughtUpAsync(\"sandbox\")` returned {(caughtUp ? "true" : "false")} after {Ms(caughtUpReturned)}" +
            (caughtUp ? "" : $" (it waits {ListProjections.MaxWait.TotalSeconds:0} s at most; the API answers 503)"),
            goal: ResultTable.Goal($"< {GoalLagMs / 1000:0} s", lag is { } g && g.TotalMilliseconds < GoalLagMs));
    }

    /// <summary>
    /// Runs create (→ requested, started), a host move (→ started) and destroy on <paramref name="count"/>
    /// new sandboxes at once; returns the timestamp of the last acknowledgment.
    /// </summary>
    private static async Task<long> LifecyclesAsync(ActorSystem system, IActorRef fleet, string org, int count, CancellationToken ct)
    {
        async Task<long> OneAsync()
        {
            var id = ResourceId.New(IdPrefix.Sandbox);
            var sandbox = system.ActorOf(SandboxActor.PropsFor(id, fleet, ActorRefs.Nobody), id);
            var spec = new SandboxSpec(id, "base", new Dictionary<string, string>(), SandboxResources.Default, AllowInternet: false);
            var attribution = new Attribution(ExternalUserId: $"user-{Random.Shared.Next(1000):D5}");
            Expect(await sandbox.Ask<object>(new CreateSandbox(id, org, spec, 300, true, attribution, DateTimeOffset.UtcNow), AskTimeout, ct), SandboxStatus.Running);
            Expect(await sandbox.Ask<object>(new RecordSandboxStarted(id, "bench-host-2", Ingress, DateTimeOffset.UtcNow), AskTimeout, ct), SandboxStatus.Running);
            Expect(await sandbox.Ask<object>(new DestroySandbox(id, org, DateTimeOffset.UtcNow), AskTimeout, ct), SandboxStatus.Destroyed);
            var acknowledged = Stopwatch.GetTimestamp();
            sandbox.Tell(PoisonPill.Instance);
            return acknowledged;
        }

        var acks = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Task.Run(OneAsync, ct)));
        return acks.Max();
    }

    /// <summary>
    /// <paramref name="count"/> persistent actors that each persist one sandbox's 100 events (requested,
    /// 98 host moves, destroyed) in one <c>PersistAll</c>, tagged as the entity tags them; returns the
    /// timestamp of the last acknowledgment.
    /// </summary>
    public static async Task<long> WritersAsync(ActorSystem system, string org, int count, CancellationToken ct)
    {
        async Task<long> OneAsync()
        {
            var id = ResourceId.New(IdPrefix.Sandbox);
            var spec = new SandboxSpec(id, "base", new Dictionary<string, string>(), SandboxResources.Default, AllowInternet: false);
            var at = DateTimeOffset.UtcNow;
            var events = new List<IMiosaEvent> { new SandboxCreationRequested(id, org, spec, 300, true, new Attribution(ExternalUserId: "user-00000"), at) };
            for (var i = 1; i < WriterEvents - 1; i++) events.Add(new SandboxStarted(id, $"bench-host-{i % 2}", Ingress, at.AddMilliseconds(i)));
            events.Add(new SandboxDestroyed(id, at.AddSeconds(1)));
            var writer = system.ActorOf(Props.Create(() => new BurstWriter(id)), $"writer-{id}");
            var done = await writer.Ask<object>(new BurstWriter.Write(events), AskTimeout, ct);
            if (done is not BurstWriter.Written) throw new InvalidOperationException($"writer {id} answered {done}");
            var acknowledged = Stopwatch.GetTimestamp();
            writer.Tell(PoisonPill.Instance);
            return acknowledged;
        }

        var acks = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => Task.Run(OneAsync, ct)));
        return acks.Max();
    }

    private static void Expect(object answer, SandboxStatus status)
    {
        if (answer is not SandboxView view || view.Status != status)
            throw new InvalidOperationException($"expected a {status} sandbox, got {answer}");
    }

    /// <summary>Polls the stored offset every 5 ms; the timestamp it first reached <paramref name="target"/>, or null.</summary>
    public static async Task<long?> WaitForOffsetAsync(BenchJournal journal, long target, TimeSpan limit, CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < deadline)
        {
            if (await journal.OffsetAsync(ct) >= target) return Stopwatch.GetTimestamp();
            await Task.Delay(5, ct);
        }
        return null;
    }

    private static string Ms(TimeSpan t) => t.TotalMilliseconds < 10_000 ? $"{t.TotalMilliseconds:N0} ms" : $"{t.TotalSeconds:F1} s";

    /// <summary>Persists what it is given as one atomic write, each event tagged with the sandbox kind as the entity does.</summary>
    private sealed class BurstWriter : ReceivePersistentActor
    {
        public sealed record Write(IReadOnlyList<IMiosaEvent> Events);

        public sealed record Written;

        public BurstWriter(string sandboxId)
        {
            PersistenceId = $"{SandboxActor.Kind}-{sandboxId}";
            Command<Write>(w =>
            {
                var sender = Sender;
                var remaining = w.Events.Count;
                PersistAll(w.Events.Select(e => new Tagged(e, [SandboxActor.Kind])), _ =>
                {
                    if (--remaining == 0) sender.Tell(new Written());
                });
            });
        }

        public override string PersistenceId { get; }
    }

    /// <summary>The scheduler's side of placement: every sandbox goes to the one bench host.</summary>
    private sealed class BenchFleet : ReceiveActor
    {
        public BenchFleet(IActorRef agent)
        {
            Receive<PlaceSandbox>(p => Sender.Tell(new SandboxPlacement(p.SandboxId, "bench-host", Ingress, agent)));
            // After a destroy the entity looks its host up to tell it; nothing runs, so no agent.
            Receive<FindHost>(f => Sender.Tell(new HostFound(f.Host, Ingress, null)));
        }
    }

    /// <summary>A host agent that starts every sandbox at once, without running anything.</summary>
    private sealed class BenchHostAgent : ReceiveActor
    {
        public BenchHostAgent() =>
            Receive<StartSandboxOnHost>(s => Sender.Tell(new SandboxStartedOnHost(s.Spec.SandboxId, "bench-host", Ingress)));
    }
}
