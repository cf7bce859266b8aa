using System.Collections.Concurrent;
using System.Data.Common;
using System.Diagnostics;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

/// <summary>The tag projection on the real SQL journal (SQLite): order, pages, offsets, failures and gaps.</summary>
public sealed class TagProjectionTests : SqlJournalTestKit
{
    private const string Tag = "t";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private static readonly DateTimeOffset At = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    /// <summary>Every application of an event, in the order the handler saw them (failed pages included).</summary>
    private readonly ConcurrentQueue<long> _handled = new();

    private static IMiosaEvent[] Events(string sandboxId, int count) =>
        Enumerable.Range(0, count).Select(i => (IMiosaEvent)new SandboxStarted(sandboxId, $"host-{i}", "http://127.0.0.1:9", At.AddSeconds(i))).ToArray();

    private TagProjection Projection(string name = "test", TimeSpan? gapTimeout = null, Func<ProjectedEvent, Task>? before = null) =>
        new(Database, name, Tag, TagProjection.EachEvent(async (e, transaction, ct) =>
        {
            if (before is not null) await before(e);
            _handled.Enqueue(e.Offset);
            // The primary key makes a second application of the same event fail loudly.
            await using var insert = ReadModelDatabase.Command(transaction,
                "INSERT INTO test_applied (ordering, persistence_id, sequence_nr) VALUES (@o, @pid, @seq)",
                ("@o", e.Offset), ("@pid", e.PersistenceId), ("@seq", e.SequenceNr));
            await insert.ExecuteNonQueryAsync(ct);
        }), gapTimeout);

    private async Task<List<long>> AppliedAsync()
    {
        await using var connection = await Database.OpenAsync(CancellationToken.None);
        await using var command = ReadModelDatabase.Command(connection, "SELECT ordering FROM test_applied ORDER BY ordering");
        await using var reader = await command.ExecuteReaderAsync();
        var applied = new List<long>();
        while (await reader.ReadAsync()) applied.Add(reader.GetInt64(0));
        return applied;
    }

    private async Task<List<long>> TaggedAsync()
    {
        await using var connection = await Database.OpenAsync(CancellationToken.None);
        await using var command = ReadModelDatabase.Command(connection, "SELECT ordering_id FROM tags WHERE tag = @tag ORDER BY ordering_id", ("@tag", Tag));
        await using var reader = await command.ExecuteReaderAsync();
        var tagged = new List<long>();
        while (await reader.ReadAsync()) tagged.Add(reader.GetInt64(0));
        return tagged;
    }

    private Task CreateTableAsync() => Database.ExecuteAsync(
        "CREATE TABLE test_applied (ordering BIGINT PRIMARY KEY, persistence_id TEXT NOT NULL, sequence_nr BIGINT NOT NULL)", CancellationToken.None);

    [Fact]
    public async Task Applies_each_event_of_its_tag_once_in_journal_order_page_by_page_and_resumes_from_its_offset()
    {
        await CreateTableAsync();
        await WriteAsync("sandbox-sbx_a", Events("sbx_a", 600), Tag);
        await WriteAsync("sandbox-sbx_b", Events("sbx_b", 300), "other");
        await WriteAsync("sandbox-sbx_c", Events("sbx_c", 634), Tag, "also");

        var first = Projection();
        await first.StartAsync(Sys, CancellationToken.None);
        Assert.True(await first.CaughtUpAsync(Patience, CancellationToken.None));
        var tagged = await TaggedAsync();
        Assert.Equal(1234, tagged.Count);
        Assert.Equal(tagged, await AppliedAsync());
        Assert.Equal(tagged, _handled.ToList());
        Assert.Equal(tagged[^1], first.Offset);
        Assert.Equal(tagged[^1], await ScalarAsync("SELECT offset_value FROM read_offsets WHERE projection = 'test'"));
        // Sequence numbers come from the journal row: sbx_c's run 1..634 in order.
        Assert.Equal(Enumerable.Range(1, 634).Select(i => (long)i).ToList(), await SequenceNumbersAsync("sandbox-sbx_c"));
        first.Stop();

        // A new projection of the same name (a restart) starts after the stored offset.
        await WriteAsync("sandbox-sbx_a", Events("sbx_a", 10), Tag);
        _handled.Clear();
        var second = Projection();
        await second.StartAsync(Sys, CancellationToken.None);
        Assert.True(await second.CaughtUpAsync(Patience, CancellationToken.None));
        second.Stop();
        var now = await TaggedAsync();
        Assert.Equal(now, await AppliedAsync());
        Assert.Equal(now.Skip(1234), _handled);
    }

    [Fact]
    public async Task A_failed_page_rolls_back_with_its_offset_and_is_applied_again_from_the_same_place()
    {
        await CreateTableAsync();
        await WriteAsync("sandbox-sbx_a", Events("sbx_a", 20), Tag);
        var failures = 0;
        var projection = Projection(before: e => e.SequenceNr == 15 && Interlocked.Increment(ref failures) == 1
            ? throw new InvalidOperationException("the read model's database went away")
            : Task.CompletedTask);
        await projection.StartAsync(Sys, CancellationToken.None);
        Assert.True(await projection.CaughtUpAsync(Patience, CancellationToken.None));
        projection.Stop();

        var tagged = await TaggedAsync();
        Assert.Equal(tagged, await AppliedAsync());
        // The first 14 were applied twice: once in the transaction that rolled back, once in the one that committed.
        Assert.Equal(tagged.Take(14).Concat(tagged), _handled);
    }

    [Fact]
    public async Task Stops_before_an_ordering_still_in_flight_and_passes_one_that_never_comes_after_the_gap_timeout()
    {
        await CreateTableAsync();
        await WriteAsync("sandbox-sbx_a", Events("sbx_a", 3), Tag);
        var max = await JournalMaxAsync();
        var gapTimeout = TimeSpan.FromSeconds(2);
        var projection = Projection(gapTimeout: gapTimeout);
        await projection.StartAsync(Sys, CancellationToken.None);
        Assert.True(await projection.CaughtUpAsync(Patience, CancellationToken.None));

        // max + 1 and max + 2 are handed out, but max + 3 commits first.
        await InsertJournalRowAsync(max + 3, "sandbox-sbx_b", 1, Events("sbx_b", 1)[0], Tag);
        Assert.False(await projection.CaughtUpAsync(TimeSpan.FromMilliseconds(500), CancellationToken.None));
        Assert.Equal(max, projection.Offset);
        await InsertJournalRowAsync(max + 1, "sandbox-sbx_c", 1, Events("sbx_c", 1)[0], Tag);
        await InsertJournalRowAsync(max + 2, "sandbox-sbx_d", 1, Events("sbx_d", 1)[0], "other");
        Assert.True(await projection.CaughtUpAsync(Patience, CancellationToken.None));
        Assert.Equal(await TaggedAsync(), await AppliedAsync());
        Assert.Equal([max + 1, max + 3], _handled.Skip(3));

        // max + 4 is never written (a rolled-back write): the projection waits the gap timeout, then goes on.
        var waiting = Stopwatch.StartNew();
        await InsertJournalRowAsync(max + 5, "sandbox-sbx_e", 1, Events("sbx_e", 1)[0], Tag);
        Assert.False(await projection.CaughtUpAsync(TimeSpan.FromMilliseconds(300), CancellationToken.None));
        Assert.True(await projection.CaughtUpAsync(Patience, CancellationToken.None));
        Assert.True(waiting.Elapsed >= gapTimeout - TimeSpan.FromMilliseconds(100), $"passed the gap after {waiting.Elapsed}");
        projection.Stop();
        Assert.Equal(await TaggedAsync(), await AppliedAsync());
    }

    [Fact]
    public async Task The_entity_id_is_what_follows_the_kind_even_when_the_kind_has_a_dash()
    {
        await WriteAsync("share-token-tok_a", Events("tok_a", 2), "share-token");
        var ids = new ConcurrentQueue<string>();
        var projection = new TagProjection(Database, "dashes", "share-token",
            TagProjection.EachEvent((e, _, _) =>
            {
                ids.Enqueue(e.EntityId);
                return Task.CompletedTask;
            }));
        await projection.StartAsync(Sys, CancellationToken.None);
        Assert.True(await projection.CaughtUpAsync(Patience, CancellationToken.None));
        projection.Stop();
        Assert.Equal(["tok_a", "tok_a"], ids);
    }

    [Fact]
    public async Task A_page_of_list_events_folds_each_resource_once_as_event_by_event_would()
    {
        var list = new ResourceList(Database);
        await list.CreateSchemaAsync(CancellationToken.None);
        var org = "org_testtesttesttest";
        var spec = new SandboxSpec("sbx_x", "base", new Dictionary<string, string>(), SandboxResources.Default, false);
        (string, IMiosaEvent)[] history =
        [
            ("sbx_x", new SandboxCreationRequested("sbx_x", org, spec, 300, true, new Attribution(ExternalUserId: "u1", Metadata: new Dictionary<string, string> { ["k"] = "v" }), At)),
            ("sbx_y", new SandboxCreationRequested("sbx_y", org, spec with { SandboxId = "sbx_y" }, 300, true, Attribution.None, At.AddSeconds(1))),
            ("sbx_x", new SandboxStarted("sbx_x", "host-1", "http://127.0.0.1:9", At.AddSeconds(2))),
            ("sbx_x", new SandboxDestroyed("sbx_x", At.AddSeconds(3))),
        ];
        await Database.InTransactionAsync(t => ListedResources.Sandboxes.ApplyAsync(list, history[..2], t, CancellationToken.None), CancellationToken.None);
        await Database.InTransactionAsync(t => ListedResources.Sandboxes.ApplyAsync(list, history[2..], t, CancellationToken.None), CancellationToken.None);
        // Replayed: the same rows.
        await Database.InTransactionAsync(t => ListedResources.Sandboxes.ApplyAsync(list, history, t, CancellationToken.None), CancellationToken.None);

        var page = await ListedResources.Sandboxes.QueryAsync(list, new ResourceQuery(org), CancellationToken.None);
        Assert.Equal(["sbx_x", "sbx_y"], page.Data.Select(s => s.Id));
        Assert.Equal(SandboxStatus.Destroyed, page.Data[0].Status);
        Assert.Equal(At, page.Data[0].CreatedAt);
        Assert.Equal(SandboxStatus.Creating, page.Data[1].Status);
        var byMetadata = await ListedResources.Sandboxes.QueryAsync(list,
            new ResourceQuery(org, Metadata: new Dictionary<string, string> { ["k"] = "v" }), CancellationToken.None);
        Assert.Equal("sbx_x", Assert.Single(byMetadata.Data).Id);
    }

    private async Task<List<long>> SequenceNumbersAsync(string persistenceId)
    {
        await using var connection = await Database.OpenAsync(CancellationToken.None);
        await using DbCommand command = ReadModelDatabase.Command(connection,
            "SELECT sequence_nr FROM test_applied WHERE persistence_id = @pid ORDER BY ordering", ("@pid", persistenceId));
        await using var reader = await command.ExecuteReaderAsync();
        var numbers = new List<long>();
        while (await reader.ReadAsync()) numbers.Add(reader.GetInt64(0));
        return numbers;
    }
}
