using System.Data.Common;
using System.Diagnostics;
using System.Runtime.Serialization;
using Akka.Actor;
using Akka.Event;
using Miosa.Actors.Common;

namespace Miosa.Actors.ReadModels;

/// <summary>
/// Follows one event tag from the journal into a read model. It reads the journal's own tables
/// (<c>tags</c> joined to <c>journal</c>, by the <c>(tag, ordering_id)</c> index) in pages, and
/// applies each page and its new offset in one transaction: after a crash it resumes from the stored
/// offset with nothing applied twice (handlers stay idempotent all the same). Akka's
/// <c>EventsByTag</c> is not used: Akka.Persistence.Sql 1.5.73 scans the whole tags table per
/// returned event (docs/benchmarks.md, "Read models").
/// </summary>
public sealed class TagProjection
{
    public const int PageSize = 500;

    /// <summary>How often an idle projection looks for new events; a reader waiting in <see cref="CaughtUpAsync"/> cuts it short.</summary>
    public static readonly TimeSpan IdleDelay = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// How long an ordering the journal handed out may stay missing before it counts as never coming
    /// (a rolled-back write: PostgreSQL's identity does not give numbers back). Until then the
    /// projection stops before it, because a write still in flight would commit it later.
    /// </summary>
    public static readonly TimeSpan DefaultGapTimeout = TimeSpan.FromSeconds(10);

    // At most this many journal orderings are checked for gaps per poll.
    private const int GapCheckWindow = 20_000;

    private readonly ReadModelDatabase _database;
    private readonly string _name;
    private readonly string _tag;
    private readonly Func<IReadOnlyList<ProjectedEvent>, DbTransaction, CancellationToken, Task> _apply;
    private readonly TimeSpan _gapTimeout;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly Dictionary<long, long> _gapsSeenAt = [];
    private TaskCompletionSource _progressed = NewSignal();
    private CancellationTokenSource? _running;
    private Akka.Serialization.Serialization? _serialization;
    private ILoggingAdapter? _log;
    private long _offset;
    // Every journal ordering up to here is committed (or given up as a gap): pages never read past it.
    private long _committedUpTo;

    /// <param name="apply">Folds one page of events, in journal order, into the read model inside <c>transaction</c>.</param>
    public TagProjection(ReadModelDatabase database, string name, string tag,
        Func<IReadOnlyList<ProjectedEvent>, DbTransaction, CancellationToken, Task> apply, TimeSpan? gapTimeout = null)
    {
        _database = database;
        _name = name;
        _tag = tag;
        _apply = apply;
        _gapTimeout = gapTimeout ?? DefaultGapTimeout;
    }

    /// <summary>A page handler that applies the page's events one by one.</summary>
    public static Func<IReadOnlyList<ProjectedEvent>, DbTransaction, CancellationToken, Task> EachEvent(
        Func<ProjectedEvent, DbTransaction, CancellationToken, Task> apply) =>
        async (page, transaction, ct) =>
        {
            foreach (var e in page) await apply(e, transaction, ct);
        };

    /// <summary>The journal offset of the last event applied.</summary>
    public long Offset => Interlocked.Read(ref _offset);

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        // The journal's tag table is indexed by (ordering_id, tag) and by tag alone: without (tag, ordering_id)
        // every page and every read-your-writes MAX scans all of the tag's rows (bench/Miosa.Bench.ReadModels).
        await _database.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS read_offsets (projection TEXT PRIMARY KEY, offset_value BIGINT NOT NULL);
            CREATE INDEX IF NOT EXISTS tags_tag_ordering_id_idx ON tags (tag, ordering_id);
            """, ct);
        _serialization = system.Serialization;
        _log = Logging.GetLogger(system, $"read-model-{_name}");
        var offset = await LoadOffsetAsync(ct);
        Interlocked.Exchange(ref _offset, offset);
        _committedUpTo = offset;
        _running = new CancellationTokenSource();
        var stopping = _running.Token;
        _ = Task.Run(() => RunAsync(stopping), CancellationToken.None);
    }

    public void Stop() => _running?.Cancel();

    /// <summary>
    /// Read-your-writes: true once every event of the tag written before this call has been applied
    /// (one indexed MAX query, no wait when caught up); false if that did not happen within
    /// <paramref name="maxWait"/>, so the caller can say the read model is behind instead of answering stale data.
    /// </summary>
    public async Task<bool> CaughtUpAsync(TimeSpan maxWait, CancellationToken ct)
    {
        long written;
        await using (var connection = await _database.OpenAsync(ct))
        await using (var command = ReadModelDatabase.Command(connection, "SELECT MAX(ordering_id) FROM tags WHERE tag = @tag", ("@tag", _tag)))
        {
            written = await command.ExecuteScalarAsync(ct) is { } value and not DBNull ? Convert.ToInt64(value) : 0L;
        }
        if (Offset >= written) return true;
        Wake();
        var deadline = Stopwatch.GetTimestamp() + (long)(maxWait.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            var progressed = Volatile.Read(ref _progressed).Task;
            if (Offset >= written) return true;
            var left = deadline - Stopwatch.GetTimestamp();
            if (left <= 0) return false;
            try
            {
                await progressed.WaitAsync(TimeSpan.FromSeconds((double)left / Stopwatch.Frequency), ct);
            }
            catch (TimeoutException)
            {
                return Offset >= written;
            }
        }
    }

    /// <summary>Applies the next page of events, if there is one; the number of journal rows it held.</summary>
    private async Task<int> ApplyNextPageAsync(CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        var offset = Offset;
        var upTo = await CommittedUpToAsync(connection, offset, ct);
        if (upTo <= offset) return 0;

        var (page, rows, last) = await ReadPageAsync(connection, offset, upTo, ct);
        if (rows == 0) return 0;
        await using (var transaction = await connection.BeginTransactionAsync(ct))
        {
            if (page.Count > 0) await _apply(page, transaction, ct);
            await using (var save = ReadModelDatabase.Command(transaction, """
                INSERT INTO read_offsets (projection, offset_value) VALUES (@name, @offset)
                ON CONFLICT (projection) DO UPDATE SET offset_value = excluded.offset_value
                """, ("@name", _name), ("@offset", last)))
            {
                await save.ExecuteNonQueryAsync(ct);
            }
            await transaction.CommitAsync(ct);
        }
        Interlocked.Exchange(ref _offset, last);
        Interlocked.Exchange(ref _progressed, NewSignal()).TrySetResult();
        return rows;
    }

    private async Task RunAsync(CancellationToken ct)
    {
        var failures = 0;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var applied = await ApplyNextPageAsync(ct);
                failures = 0;
                if (applied == 0) await _wake.WaitAsync(IdleDelay, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // The page's transaction rolled back: the same page is tried again from the same offset.
                var backoff = TimeSpan.FromMilliseconds(Math.Min(200 * Math.Pow(2, failures++), 10_000));
                _log?.Warning(e, "Read model {0} could not apply events after offset {1}; retrying in {2} ms", _name, Offset, backoff.TotalMilliseconds);
                try
                {
                    await Task.Delay(backoff, ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0) _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // Someone else woke it first.
        }
    }

    /// <summary>
    /// The journal ordering up to which every row is committed, at least <paramref name="offset"/>.
    /// A later ordering can be visible while an earlier one is still in flight (concurrent writers on
    /// PostgreSQL): reading past the missing one would skip its event for good.
    /// </summary>
    private async Task<long> CommittedUpToAsync(DbConnection connection, long offset, CancellationToken ct)
    {
        var from = Math.Max(_committedUpTo, offset);
        long max;
        await using (var command = ReadModelDatabase.Command(connection, "SELECT MAX(ordering) FROM journal"))
        {
            max = await command.ExecuteScalarAsync(ct) is { } value and not DBNull ? Convert.ToInt64(value) : 0L;
        }
        if (max <= from) return from;
        var to = Math.Min(max, from + GapCheckWindow);
        long present;
        await using (var command = ReadModelDatabase.Command(connection,
                         "SELECT COUNT(*) FROM journal WHERE ordering > @from AND ordering <= @to", ("@from", from), ("@to", to)))
        {
            present = Convert.ToInt64(await command.ExecuteScalarAsync(ct));
        }
        if (present < to - from) to = await BeforeFirstOpenGapAsync(connection, from, to, ct);
        _committedUpTo = to;
        foreach (var passed in _gapsSeenAt.Keys.Where(o => o <= to).ToList()) _gapsSeenAt.Remove(passed);
        return to;
    }

    /// <summary>The last ordering before the first missing one in (<paramref name="from"/>, <paramref name="to"/>] that may still come.</summary>
    private async Task<long> BeforeFirstOpenGapAsync(DbConnection connection, long from, long to, CancellationToken ct)
    {
        var orderings = new List<long>();
        await using (var command = ReadModelDatabase.Command(connection,
                         "SELECT ordering FROM journal WHERE ordering > @from AND ordering <= @to ORDER BY ordering", ("@from", from), ("@to", to)))
        await using (var reader = await command.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct)) orderings.Add(reader.GetInt64(0));
        }
        // Every missing ordering of the window starts its clock now, so a rolled-back batch expires at once.
        var now = Stopwatch.GetTimestamp();
        var missing = new List<long>();
        var expected = from + 1;
        foreach (var ordering in orderings.Append(to + 1))
        {
            for (; expected < ordering; expected++) missing.Add(expected);
            expected = ordering + 1;
        }
        long? open = null;
        foreach (var gap in missing)
        {
            var seenAt = _gapsSeenAt.TryGetValue(gap, out var at) ? at : _gapsSeenAt[gap] = now;
            if (open is null && Stopwatch.GetElapsedTime(seenAt, now) < _gapTimeout) open = gap;
        }
        if (open is { } first) return first - 1;
        _log?.Warning("Read model {0} skips journal orderings {1} missing for {2} s (rolled-back writes)",
            _name, string.Join(", ", missing.Take(10)) + (missing.Count > 10 ? ", …" : ""), _gapTimeout.TotalSeconds);
        return to;
    }

    /// <summary>The tag's next events after <paramref name="after"/>, the journal rows read, and the last one's ordering.</summary>
    private async Task<(List<ProjectedEvent> Events, int Rows, long Last)> ReadPageAsync(DbConnection connection, long after, long upTo, CancellationToken ct)
    {
        var page = new List<ProjectedEvent>();
        var (rows, last) = (0, after);
        await using var command = ReadModelDatabase.Command(connection, """
            SELECT t.ordering_id, j.persistence_id, j.sequence_number, j.identifier, j.manifest, j.message
            FROM tags t JOIN journal j ON j.ordering = t.ordering_id
            WHERE t.tag = @tag AND t.ordering_id > @after AND t.ordering_id <= @up_to AND NOT j.deleted
            ORDER BY t.ordering_id
            LIMIT @limit
            """, ("@tag", _tag), ("@after", after), ("@up_to", upTo), ("@limit", PageSize));
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var ordering = reader.GetInt64(0);
            (rows, last) = (rows + 1, ordering);
            var persistenceId = reader.GetString(1);
            // The journal stores what Akka's serialization made of the event: deserialize it the same way.
            var serializer = reader.IsDBNull(3)
                ? throw new SerializationException($"Journal row {ordering} has no serializer id.")
                : Convert.ToInt32(reader.GetValue(3));
            var manifest = reader.IsDBNull(4) ? string.Empty : reader.GetString(4);
            var payload = _serialization!.Deserialize((byte[])reader.GetValue(5), serializer, manifest);
            // Anything but a Miosa event (none is written today) is passed over, and still moves the offset.
            if (payload is IMiosaEvent e) page.Add(new ProjectedEvent(EntityIdOf(persistenceId), persistenceId, reader.GetInt64(2), ordering, e));
        }
        return (page, rows, last);
    }

    // Persistence ids are "{kind}-{entity id}" and a list's tag is its kind, which may hold a dash itself ("share-token").
    private string EntityIdOf(string persistenceId) => persistenceId.StartsWith(_tag + "-", StringComparison.Ordinal)
        ? persistenceId[(_tag.Length + 1)..]
        : persistenceId[(persistenceId.IndexOf('-') + 1)..];

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private async Task<long> LoadOffsetAsync(CancellationToken ct)
    {
        await using var connection = await _database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection,
            "SELECT offset_value FROM read_offsets WHERE projection = @name", ("@name", _name));
        return await command.ExecuteScalarAsync(ct) is { } value and not DBNull ? Convert.ToInt64(value) : 0L;
    }
}

/// <summary>One event as a projection sees it: its entity, its place in that entity's history and in the journal.</summary>
public sealed record ProjectedEvent(string EntityId, string PersistenceId, long SequenceNr, long Offset, IMiosaEvent Event);
