using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using Akka.Persistence.Sql;
using Akka.Persistence.Sql.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// The journal side of one engine: an ActorSystem with Akka.Persistence.Sql on the engine's database,
/// configured as a node configures it (without the cluster), and the list projections following it.
/// </summary>
public sealed class BenchJournal(Engine engine) : IAsyncDisposable
{
    private ListProjections? _projections;

    public ActorSystem System { get; } = ActorSystem.Create("miosa-bench", AkkaConfig(engine));

    /// <summary>The list projections, started on first use (after the journal has created its tables).</summary>
    public async Task<ListProjections> ProjectionsAsync(CancellationToken ct)
    {
        if (_projections is not null) return _projections;
        var projections = new ListProjections(engine.Database, new ResourceList(engine.Database));
        await projections.StartAsync(System, ct);
        return _projections = projections;
    }

    /// <summary>The journal's last offset of the sandbox tag: the query <c>ListProjections.CaughtUpAsync</c> runs.</summary>
    public async Task<long> MaxOrderingAsync(CancellationToken ct) =>
        Convert.ToInt64(await engine.ScalarAsync("SELECT MAX(ordering_id) FROM tags WHERE tag = @tag", ct, ("@tag", SandboxActor.Kind)) ?? 0L);

    /// <summary>The offset the sandbox list projection stored after its last applied event.</summary>
    public async Task<long> OffsetAsync(CancellationToken ct) =>
        Convert.ToInt64(await engine.ScalarAsync("SELECT offset_value FROM read_offsets WHERE projection = @name", ct,
            ("@name", ProjectionName)) ?? 0L);

    /// <summary>
    /// Records the sandbox list projection as having applied everything up to <paramref name="offset"/>
    /// (for rows written in bulk from the same events), before the projection starts.
    /// </summary>
    public async Task SetOffsetAsync(long offset, CancellationToken ct)
    {
        if (_projections is not null) throw new InvalidOperationException("the projections already run");
        // TagProjection's own table and upsert.
        await engine.Database.ExecuteAsync(
            "CREATE TABLE IF NOT EXISTS read_offsets (projection TEXT PRIMARY KEY, offset_value BIGINT NOT NULL);", ct);
        await engine.Database.ExecuteAsync("""
            INSERT INTO read_offsets (projection, offset_value) VALUES (@name, @offset)
            ON CONFLICT (projection) DO UPDATE SET offset_value = excluded.offset_value
            """, ct, ("@name", ProjectionName), ("@offset", offset));
    }

    /// <summary>
    /// Writes entities' events into the journal with its own protocol (<c>WriteMessages</c> of one
    /// atomic write per entity, tagged as <c>EventSourcedEntity</c> tags them), as their persistent
    /// actors would, without starting (and recovering) an actor per entity.
    /// </summary>
    public async Task<TimeSpan> WriteAsync(IEnumerable<(string PersistenceId, IReadOnlyList<IMiosaEvent> Events)> entities, CancellationToken ct)
    {
        const int EntitiesPerWrite = 500;
        const int InFlight = 4;
        var journal = Persistence.Instance.Apply(System).JournalFor(null);
        var writerGuid = Guid.NewGuid().ToString();
        var started = Stopwatch.GetTimestamp();
        var running = new List<Task>();
        foreach (var chunk in entities.Chunk(EntitiesPerWrite))
        {
            ct.ThrowIfCancellationRequested();
            var writes = chunk.Select(entity => (IPersistentEnvelope)new AtomicWrite(entity.Events
                .Select((e, i) => (IPersistentRepresentation)new Persistent(new Tagged(e, [SandboxActor.Kind]), i + 1, entity.PersistenceId,
                    string.Empty, false, ActorRefs.NoSender, writerGuid))
                .ToImmutableList())).ToList();
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var events = chunk.Sum(entity => entity.Events.Count);
            System.ActorOf(Props.Create(() => new JournalWriter(journal, writes, events, done)));
            running.Add(done.Task);
            if (running.Count >= InFlight)
            {
                var finished = await Task.WhenAny(running);
                await finished;
                running.Remove(finished);
            }
        }
        await Task.WhenAll(running);
        return Stopwatch.GetElapsedTime(started);
    }

    public async ValueTask DisposeAsync()
    {
        _projections?.Stop();
        await System.Terminate().WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
    }

    private static string ProjectionName => $"list-{SandboxActor.Kind}";

    /// <summary>
    /// The node's Akka settings without the cluster: <c>cluster.hocon</c> (serializer, journal and read
    /// journal tuning) and the SQL journal and snapshot store as <c>WithSqlPersistence</c> adds them.
    /// </summary>
    private static Config AkkaConfig(Engine engine)
    {
        var journal = new SqlJournalOptions(isDefaultPlugin: true)
        {
            ConnectionString = engine.JournalConnectionString,
            ProviderName = engine.JournalProvider,
            AutoInitialize = true,
        };
        var snapshots = new SqlSnapshotOptions(isDefaultPlugin: true)
        {
            ConnectionString = engine.JournalConnectionString,
            ProviderName = engine.JournalProvider,
            AutoInitialize = true,
        };
        var node = ConfigurationFactory.ParseString(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "cluster.hocon")));
        return ConfigurationFactory.ParseString("akka.loglevel = WARNING")
            .WithFallback(snapshots.ToConfig())
            .WithFallback(journal.ToConfig())
            .WithFallback(node)
            .WithFallback(journal.DefaultConfig)
            .WithFallback(snapshots.DefaultConfig)
            // The read journal's defaults, which a node gets when its journal starts (SqlPersistence.Get).
            .WithFallback(SqlPersistence.DefaultConfiguration);
    }

    /// <summary>Sends one WriteMessages to the journal and reports its outcome.</summary>
    private sealed class JournalWriter : ReceiveActor
    {
        private int _remaining;

        public JournalWriter(IActorRef journal, List<IPersistentEnvelope> writes, int events, TaskCompletionSource done)
        {
            _remaining = events;
            Receive<WriteMessagesSuccessful>(_ => { });
            Receive<WriteMessageSuccess>(_ =>
            {
                if (--_remaining > 0) return;
                done.TrySetResult();
                Context.Stop(Self);
            });
            Receive<WriteMessagesFailed>(f => Fail(f.Cause));
            Receive<WriteMessageRejected>(r => Fail(r.Cause));
            Receive<WriteMessageFailure>(f => Fail(f.Cause));
            journal.Tell(new WriteMessages(writes, Self, 1));

            void Fail(Exception cause)
            {
                done.TrySetException(cause);
                Context.Stop(Self);
            }
        }
    }
}
