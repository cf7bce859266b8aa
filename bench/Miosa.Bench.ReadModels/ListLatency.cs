using System.Diagnostics;
using System.Text.Json;
using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// GET /v1/sandboxes?external_user_id=…: one organization's sandboxes spread over many external
/// users, their history in the journal and their rows in <c>read_resources</c>, listed through the
/// real <see cref="ListedResource{TState}.QueryAsync"/> (the SQL, the connection per call and the JSON
/// bodies), next to the unfiltered list and a bare count; then the API's read-your-writes wait, a cold
/// entity and a small burst on that journal.
/// </summary>
public static class ListLatency
{
    public const double GoalP99Ms = 20;
    private const int RecoveredSandboxes = 20;

    // ResourceList.ApplyAsync's upsert, run here many rows to a transaction.
    private const string Upsert = """
        INSERT INTO read_resources (kind, id, organization_id, state, created_at, workspace_id, project_id,
            external_workspace_id, external_user_id, external_project_id, body)
        VALUES (@kind, @id, @org, @state, @created, @ws, @prj, @ews, @eu, @ep, @body)
        ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, workspace_id = excluded.workspace_id,
            project_id = excluded.project_id, external_workspace_id = excluded.external_workspace_id,
            external_user_id = excluded.external_user_id, external_project_id = excluded.external_project_id,
            body = excluded.body
        """;

    private static readonly string[] UpsertParameters = ["@kind", "@id", "@org", "@state", "@created", "@ws", "@prj", "@ews", "@eu", "@ep", "@body"];

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var (engine, journal, o, table) = run;
        var list = new ResourceList(engine.Database);
        await list.CreateSchemaAsync(ct);
        var org = ResourceId.New(IdPrefix.Organization);
        var users = Enumerable.Range(0, o.Users).Select(i => $"user-{i:D5}").ToArray();
        var first = DateTimeOffset.UtcNow.AddDays(-30);
        var step = TimeSpan.FromDays(30) / o.Sandboxes;

        // Sandbox i belongs to user i mod users, so each user's sandboxes spread over the 30 days;
        // one in four is destroyed (it stays listed, as the API keeps them readable).
        IMiosaEvent[] EventsOf(int i, string id)
        {
            var at = first + step * i;
            var attribution = new Attribution(
                WorkspaceId: $"ws_bench{i % 100:D8}", ExternalWorkspaceId: $"tenant-{i % 100}", ExternalUserId: users[i % users.Length]);
            var spec = new SandboxSpec(id, "base", new Dictionary<string, string> { ["AGENT"] = "bench" }, SandboxResources.Default, AllowInternet: false);
            IMiosaEvent[] events =
            [
                new SandboxCreationRequested(id, org, spec, 300, true, attribution, at),
                new SandboxStarted(id, "bench-host", "http://127.0.0.1:9", at.AddSeconds(1)),
            ];
            return i % 4 == 3 ? [.. events, new SandboxDestroyed(id, at.AddMinutes(30))] : events;
        }

        var ids = Enumerable.Range(0, o.Sandboxes).Select(_ => ResourceId.New(IdPrefix.Sandbox)).ToArray();

        // A few sandboxes of their own first, recovered once while they are all the journal holds and
        // once more after the big fill: what a cold entity costs as the journal grows.
        var recovered = Enumerable.Range(0, RecoveredSandboxes).Select(_ => ResourceId.New(IdPrefix.Sandbox)).ToArray();
        await journal.WriteAsync(recovered.Select((id, i) => ($"{SandboxActor.Kind}-{id}", (IReadOnlyList<IMiosaEvent>)EventsOf(i, id))), ct);
        await RecoverAsync(journal, org, recovered[..1], ct); // warm-up: JIT, the journal's first reads
        var recoveredAlone = await RecoverAsync(journal, org, recovered, ct);

        // Their history goes into the journal first, as the entities would have written it: the
        // read-your-writes check of every list (a MAX over the tag's rows) runs against it.
        BenchRun.Log($"{engine.Name}: writing the {o.Sandboxes:N0} sandboxes' events into the journal");
        var journaled = await journal.WriteAsync(
            ids.Select((id, i) => ($"{SandboxActor.Kind}-{id}", (IReadOnlyList<IMiosaEvent>)EventsOf(i, id))), ct);
        var tagged = await journal.MaxOrderingAsync(ct);
        var recoveredAmongMany = await RecoverAsync(journal, org, recovered, ct);

        // The first sandboxes go through the projection's own write path: pages of its size, a transaction each.
        BenchRun.Log($"{engine.Name}: writing {o.AppliedSandboxes:N0} sandboxes through ResourceList.ApplyAsync");
        var applyCalls = 0;
        var started = Stopwatch.GetTimestamp();
        var appliedEvents = Enumerable.Range(0, o.AppliedSandboxes).SelectMany(i => EventsOf(i, ids[i]).Select(e => (ids[i], e)));
        foreach (var page in appliedEvents.Chunk(TagProjection.PageSize))
        {
            ct.ThrowIfCancellationRequested();
            await engine.Database.InTransactionAsync(t => ListedResources.Sandboxes.ApplyAsync(list, page, t, ct), ct);
            applyCalls += page.Length;
        }
        var applied = Stopwatch.GetElapsedTime(started);

        // The rest with the same upsert, many to a transaction, rows folded with the entity's own Apply.
        var bulkCount = o.Sandboxes - o.AppliedSandboxes;
        BenchRun.Log($"{engine.Name}: writing {bulkCount:N0} sandboxes in bulk");
        IEnumerable<object?[]> BulkRows()
        {
            for (var i = o.AppliedSandboxes; i < o.Sandboxes; i++)
            {
                var id = ids[i];
                var state = EventsOf(i, id).Aggregate(SandboxState.Empty(id), (s, e) => s.Apply(e));
                var a = state.Attribution;
                yield return
                [
                    SandboxActor.Kind, id, state.OrganizationId, state.Status.ToString().ToLowerInvariant(), Timestamp(state.CreatedAt),
                    a.WorkspaceId, a.ProjectId, a.ExternalWorkspaceId, a.ExternalUserId, a.ExternalProjectId,
                    JsonSerializer.Serialize(state, ResourceList.Json),
                ];
            }
        }
        var bulk = await Bulk.WriteAsync(engine.Database, Upsert, UpsertParameters, BulkRows(), null, ct);
        var rows = Convert.ToInt64(await engine.ScalarAsync("SELECT COUNT(*) FROM read_resources WHERE organization_id = @org", ct, ("@org", org)));
        // After a load like this PostgreSQL's autovacuum would analyze the table within a minute; until then
        // its plans guess (the unfiltered list took ~45 ms on this machine before ANALYZE, 0.1 ms after).
        if (engine.IsPostgres) await engine.Database.ExecuteAsync("ANALYZE read_resources", ct);
        if (rows != o.Sandboxes) throw new InvalidOperationException($"read_resources holds {rows} rows of the organization, expected {o.Sandboxes}");
        var events = o.Sandboxes * 2 + (o.Sandboxes + 1) / 4;
        table.Add(run.Metric($"fill: {o.Sandboxes:N0} sandboxes of one organization, {o.Users:N0} external users, {events:N0} events"),
            $"`read_resources`: {o.AppliedSandboxes:N0} through `ResourceList.ApplyAsync` in pages of {TagProjection.PageSize} ({applyCalls:N0} events, {Bulk.Rate(applyCalls, applied)}), " +
            $"{bulkCount:N0} with its upsert in bulk in {bulk.TotalSeconds:F1} s ({Bulk.Rate(bulkCount, bulk)})",
            $"journal: the same {events:N0} events through the SQL journal's `WriteMessages` in {journaled.TotalSeconds:F1} s ({Bulk.Rate(events, journaled)})");

        // The projection resumes after the events whose rows were just written, as on a node that ran all along.
        await journal.SetOffsetAsync(tagged, ct);
        var projections = await journal.ProjectionsAsync(ct);

        var perUser = (int)Math.Min(50, o.Sandboxes / o.Users);
        var random = new Random(42);
        string AnyUser() => users[random.Next(users.Length)];

        async Task ByUserAsync()
        {
            var user = AnyUser();
            var page = await ListedResources.Sandboxes.QueryAsync(list, new ResourceQuery(org, Limit: 50, ExternalUserId: user), ct);
            if (page.Data.Count < perUser || page.Data.Any(s => s.Attribution.ExternalUserId != user))
                throw new InvalidOperationException($"the list of {user} came back with {page.Data.Count} sandboxes or someone else's");
        }

        async Task UnfilteredAsync()
        {
            var page = await ListedResources.Sandboxes.QueryAsync(list, new ResourceQuery(org, Limit: 50), ct);
            if (page.Data.Count != Math.Min(50, o.Sandboxes)) throw new InvalidOperationException($"the unfiltered list came back with {page.Data.Count} sandboxes");
        }

        async Task CountAsync() => await engine.ScalarAsync(
            "SELECT COUNT(*) FROM read_resources WHERE organization_id = @org AND kind = @kind AND external_user_id = @user",
            ct, ("@org", org), ("@kind", SandboxActor.Kind), ("@user", AnyUser()));

        // What GET /v1/sandboxes does: wait for the projection (read-your-writes), then query.
        async Task ApiListAsync()
        {
            await projections.CaughtUpAsync(SandboxActor.Kind, ct);
            await ByUserAsync();
        }

        async Task LatestOffsetAsync() => await journal.MaxOrderingAsync(ct);

        // Warm-up, not measured: JIT, the connection pool, the engine's page cache.
        for (var i = 0; i < 20; i++)
        {
            await ByUserAsync();
            await UnfilteredAsync();
            await CountAsync();
            await ApiListAsync();
        }
        var byUser = await Latencies.MeasureAsync(o.Queries, _ => ByUserAsync(), ct);
        var unfiltered = await Latencies.MeasureAsync(o.Queries, _ => UnfilteredAsync(), ct);
        var count = await Latencies.MeasureAsync(o.Queries, _ => CountAsync(), ct);
        var apiList = await Latencies.MeasureAsync(o.Queries, _ => ApiListAsync(), ct);
        var latest = await Latencies.MeasureAsync(o.Queries, _ => LatestOffsetAsync(), ct);
        table.Add(run.Metric($"list filtered by one random `external_user_id`, limit 50, p50 / p99 (n={byUser.Count}, `ListedResource.QueryAsync`)"),
            $"{Latencies.Ms(byUser.P50)} / {Latencies.Ms(byUser.P99)}",
            $"unfiltered list {Latencies.Ms(unfiltered.P50)} / {Latencies.Ms(unfiltered.P99)}; " +
            $"`SELECT count(*)` of one user's {o.Sandboxes / o.Users} rows {Latencies.Ms(count.P50)} / {Latencies.Ms(count.P99)}",
            goal: ResultTable.Goal($"p99 < {GoalP99Ms} ms", byUser.P99 < GoalP99Ms));

        table.Add(run.Metric($"the same list as GET /v1/sandboxes runs it: `ListProjections.CaughtUpAsync(\"sandbox\")` (caught up), then the query, p50 / p99 (n={apiList.Count})"),
            $"{Latencies.Ms(apiList.P50)} / {Latencies.Ms(apiList.P99)}",
            $"its `SELECT MAX(ordering_id) FROM tags WHERE tag = 'sandbox'` alone, over {tagged:N0} tagged events: {Latencies.Ms(latest.P50)} / {Latencies.Ms(latest.P99)}",
            goal: ResultTable.Goal($"p99 < {GoalP99Ms} ms", apiList.P99 < GoalP99Ms));
        var latestPlan = await engine.PlanAsync("SELECT MAX(ordering_id) FROM tags WHERE tag = @tag", ct, ("@tag", SandboxActor.Kind));
        table.Note($"{engine.Name} plan of the read-your-writes check: {latestPlan}");

        table.Add(run.Metric($"cold entity: a `SandboxActor` recovers (2–3 events) and answers `GetSandbox`, p50 / p99 (n={recoveredAmongMany.Count}), with {tagged:N0} events in the journal"),
            $"{Latencies.Ms(recoveredAmongMany.P50)} / {Latencies.Ms(recoveredAmongMany.P99)}",
            $"the same sandboxes while the journal held only their own events: {Latencies.Ms(recoveredAlone.P50)} / {Latencies.Ms(recoveredAlone.P99)}");

        // The list projection on this journal: how fast does it apply a small burst?
        BenchRun.Log($"{engine.Name}: a small burst on the filled journal");
        await ProjectionLag.MeasureAsync(run, projections, ProjectionLag.WriterEvents, $"with {tagged:N0} events in the journal, small burst",
            $"{ProjectionLag.WriterEvents} events from 1 persistent actor (one `PersistAll`)",
            () => ProjectionLag.WritersAsync(journal.System, org, 1, ct), ct);

        // The SQL QueryAsync builds for this filter, so the plan can be shown next to the figure.
        var plan = await engine.PlanAsync(
            "SELECT body, created_at, id FROM read_resources r WHERE organization_id = @org AND kind = @kind AND external_user_id = @external_user_id ORDER BY created_at, id LIMIT @limit",
            ct, ("@org", org), ("@kind", SandboxActor.Kind), ("@external_user_id", users[0]), ("@limit", 51));
        table.Note($"{engine.Name} plan of the filtered list: {plan}");
    }

    /// <summary>Starts a <see cref="SandboxActor"/> for each sandbox in turn and times its first answer (recovery included).</summary>
    private static Task<Latencies> RecoverAsync(BenchJournal journal, string org, IReadOnlyList<string> ids, CancellationToken ct) =>
        Latencies.MeasureAsync(ids.Count, async i =>
        {
            var sandbox = journal.System.ActorOf(SandboxActor.PropsFor(ids[i], ActorRefs.Nobody, ActorRefs.Nobody));
            var answer = await sandbox.Ask<object>(new GetSandbox(ids[i], org), TimeSpan.FromMinutes(1), ct);
            journal.System.Stop(sandbox);
            if (answer is not SandboxView) throw new InvalidOperationException($"sandbox {ids[i]} answered {answer}");
        }, ct);

    // ResourceList's fixed-width UTC text, so text order is time order.
    private static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ");
}
