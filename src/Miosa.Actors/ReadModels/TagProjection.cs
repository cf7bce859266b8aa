using Akka;
using Akka.Actor;
using Akka.Persistence.Query;
using Akka.Persistence.Sql.Query;
using Akka.Streams;
using Akka.Streams.Dsl;
using Miosa.Actors.Common;

namespace Miosa.Actors.ReadModels;

/// <summary>
/// Follows one event tag from the journal into a read model, storing its offset after every event
/// so it resumes where it stopped after a restart (at-least-once: handlers are idempotent upserts).
/// </summary>
public sealed class TagProjection(ReadModelDatabase database, string name, string tag, Func<ProjectedEvent, CancellationToken, Task> apply)
{
    private long _offset;

    /// <summary>A projection that needs only the entity id and the event.</summary>
    public TagProjection(ReadModelDatabase database, string name, string tag, Func<string, IMiosaEvent, CancellationToken, Task> apply)
        : this(database, name, tag, (e, ct) => apply(e.EntityId, e.Event, ct))
    {
    }

    /// <summary>The journal offset of the last event applied.</summary>
    public long Offset => Interlocked.Read(ref _offset);

    public async Task<IKillSwitch> StartAsync(ActorSystem system, CancellationToken ct)
    {
        // The journal's tag table is indexed by (ordering_id, tag) and by tag alone: without (tag, ordering_id)
        // every EventsByTag poll and every read-your-writes MAX scans all of the tag's rows (bench/Miosa.Bench.ReadModels).
        await database.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS read_offsets (projection TEXT PRIMARY KEY, offset_value BIGINT NOT NULL);
            CREATE INDEX IF NOT EXISTS tags_tag_ordering_id_idx ON tags (tag, ordering_id);
            """, ct);
        var journal = PersistenceQuery.Get(system).ReadJournalFor<SqlReadJournal>(SqlReadJournal.Identifier);

        var (killSwitch, _) = RestartSource.OnFailuresWithBackoff(
                () => Source.FromTask(LoadOffsetAsync(CancellationToken.None))
                    .ConcatMany(offset =>
                    {
                        Interlocked.Exchange(ref _offset, offset);
                        return journal.EventsByTag(tag, Akka.Persistence.Query.Offset.Sequence(offset));
                    })
                    .SelectAsync(1, async envelope =>
                    {
                        var offset = ((Sequence)envelope.Offset).Value;
                        if (envelope.Event is IMiosaEvent e)
                        {
                            await apply(new ProjectedEvent(EntityIdOf(envelope.PersistenceId), envelope.PersistenceId, envelope.SequenceNr, offset, e),
                                CancellationToken.None);
                        }
                        await SaveOffsetAsync(offset, CancellationToken.None);
                        Interlocked.Exchange(ref _offset, offset);
                        return NotUsed.Instance;
                    }),
                RestartSettings.Create(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(10), 0.2))
            .ViaMaterialized(KillSwitches.Single<NotUsed>(), Keep.Right)
            .ToMaterialized(Sink.Ignore<NotUsed>(), Keep.Both)
            .Run(system.Materializer());
        return killSwitch;
    }

    /// <summary>
    /// Returns once every event of the tag written before this call has been applied (read-your-writes),
    /// or after <paramref name="maxWait"/>: one indexed MAX query, no wait when caught up.
    /// </summary>
    public async Task CaughtUpAsync(TimeSpan maxWait, CancellationToken ct)
    {
        long written;
        await using (var connection = await database.OpenAsync(ct))
        await using (var command = ReadModelDatabase.Command(connection, "SELECT MAX(ordering_id) FROM tags WHERE tag = @tag", ("@tag", tag)))
        {
            written = await command.ExecuteScalarAsync(ct) is { } value and not DBNull ? Convert.ToInt64(value) : 0L;
        }
        var deadline = DateTime.UtcNow + maxWait;
        while (Offset < written && DateTime.UtcNow < deadline)
            await Task.Delay(5, ct);
    }

    private static string EntityIdOf(string persistenceId) => persistenceId[(persistenceId.IndexOf('-') + 1)..];

    private async Task<long> LoadOffsetAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection,
            "SELECT offset_value FROM read_offsets WHERE projection = @name", ("@name", name));
        return await command.ExecuteScalarAsync(ct) is { } value and not DBNull ? Convert.ToInt64(value) : 0L;
    }

    private Task SaveOffsetAsync(long offset, CancellationToken ct) => database.ExecuteAsync("""
        INSERT INTO read_offsets (projection, offset_value) VALUES (@name, @offset)
        ON CONFLICT (projection) DO UPDATE SET offset_value = excluded.offset_value
        """, ct, ("@name", name), ("@offset", offset));
}

/// <summary>One event as a projection sees it: its entity, its place in that entity's history and in the journal.</summary>
public sealed record ProjectedEvent(string EntityId, string PersistenceId, long SequenceNr, long Offset, IMiosaEvent Event);
