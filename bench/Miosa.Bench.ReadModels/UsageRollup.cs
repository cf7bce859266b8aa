using System.Diagnostics;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// GET /v1/usage?group_by=external_user_id over 30 days: <c>read_usage</c> filled with one window per
/// sandbox every few minutes, rolled up by the real <see cref="UsageReadModel.QueryAsync"/>.
/// </summary>
public static class UsageRollup
{
    public const double GoalMs = 100;

    // UsageReadModel's own upsert, run here many rows to a transaction.
    private const string Upsert = UsageReadModel.UpsertSql;


    private static readonly string[] UpsertParameters =
        ["@type", "@id", "@start", "@end", "@org", "@ws", "@prj", "@ews", "@eu", "@ep", "@running", "@cpu", "@memory", "@storage", "@egress"];

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var (engine, _, o, table) = run;
        var usage = new UsageReadModel(engine.Database);
        await usage.CreateSchemaAsync(ct);
        var org = ResourceId.New(IdPrefix.Organization);
        var window = TimeSpan.FromMinutes(o.UsageWindowMinutes);
        var windows = (int)(TimeSpan.FromDays(o.UsageDays) / window);
        var to = new DateTimeOffset(DateTimeOffset.UtcNow.UtcTicks / window.Ticks * window.Ticks, TimeSpan.Zero);
        var from = to - window * windows;
        var ids = Enumerable.Range(0, o.UsageSandboxes).Select(_ => ResourceId.New(IdPrefix.Sandbox)).ToArray();
        // Every 10th sandbox has no external user: it rolls up under key null, as the API shows it.
        var attributions = Enumerable.Range(0, o.UsageSandboxes).Select(s => new Attribution(
            WorkspaceId: $"ws_bench{s % 10:D8}", ExternalWorkspaceId: $"tenant-{s % 10}",
            ExternalUserId: s % 10 == 9 ? null : $"user-{s % o.UsageUsers:D5}")).ToArray();

        // In the order a host meters them: every sandbox's window, window after window. Storage is
        // measured every 10th window, as the host agent does.
        IEnumerable<SandboxUsageRecorded> Windows()
        {
            for (var w = 0; w < windows; w++)
            {
                var start = from + window * w;
                for (var s = 0; s < ids.Length; s++)
                {
                    yield return new SandboxUsageRecorded(ids[s], org, attributions[s], start, start + window,
                        CpuSeconds: window.TotalSeconds * (s % 7) / 10, MemoryMbSeconds: window.TotalSeconds * (64 + s % 200),
                        StorageBytes: w % 10 == 0 ? 1_000_000L * (s + w % 50) : null, EgressBytes: 0);
                }
            }
        }

        var rows = (long)windows * ids.Length;
        var viaApply = (int)Math.Min(o.UsageApplied, rows);
        BenchRun.Log($"{engine.Name}: writing {viaApply:N0} usage windows through UsageReadModel.ApplyAsync, {rows - viaApply:N0} in bulk");
        var started = Stopwatch.GetTimestamp();
        foreach (var e in Windows().Take(viaApply)) await usage.ApplyAsync(e, ct);
        var applied = Stopwatch.GetElapsedTime(started);
        var lastLog = Stopwatch.GetTimestamp();
        var bulk = await Bulk.WriteAsync(engine.Database, Upsert, UpsertParameters, Windows().Skip(viaApply).Select(e =>
            {
                var a = e.Attribution;
                return new object?[]
                {
                    e.ResourceType, e.ResourceId, e.WindowStart.ToUnixTimeMilliseconds(), e.WindowEnd.ToUnixTimeMilliseconds(), e.OrganizationId,
                    a.WorkspaceId, a.ProjectId, a.ExternalWorkspaceId, a.ExternalUserId, a.ExternalProjectId,
                    e.RunningSeconds, e.CpuSeconds, e.MemoryMbSeconds, e.StorageBytes, e.EgressBytes,
                };
            }),
            written =>
            {
                if (Stopwatch.GetElapsedTime(lastLog).TotalSeconds < 10) return;
                lastLog = Stopwatch.GetTimestamp();
                BenchRun.Log($"{engine.Name}: {written:N0} of {rows - viaApply:N0} usage rows written");
            }, ct);
        var stored = Convert.ToInt64(await engine.ScalarAsync("SELECT COUNT(*) FROM read_usage WHERE organization_id = @org", ct, ("@org", org)));
        if (stored != rows) throw new InvalidOperationException($"read_usage holds {stored} rows of the organization, expected {rows}");
        if (engine.IsPostgres) await engine.Database.ExecuteAsync("ANALYZE read_usage", ct);
        table.Add(run.Metric($"fill `read_usage`: {rows:N0} windows ({o.UsageSandboxes} sandboxes × one per {o.UsageWindowMinutes} min × {o.UsageDays} days, {o.UsageUsers} external users)"),
            $"{viaApply:N0} through `UsageReadModel.ApplyAsync` ({Bulk.Rate(viaApply, applied)}); {rows - viaApply:N0} with its upsert in bulk in {bulk.TotalSeconds:F1} s ({Bulk.Rate(rows - viaApply, bulk)})");

        var groups = attributions.Select(a => a.ExternalUserId).Distinct().Count();
        async Task RollupAsync(DateTimeOffset since)
        {
            var totals = await usage.QueryAsync(org, "external_user_id", since, to, ct);
            if (totals.Count != groups) throw new InvalidOperationException($"the rollup has {totals.Count} groups, expected {groups}");
        }

        // Warm-up, not measured.
        await RollupAsync(from);
        await RollupAsync(from);
        var rollup = await Latencies.MeasureAsync(o.RollupRuns, _ => RollupAsync(from), ct);
        var lastDay = await Latencies.MeasureAsync(o.RollupRuns, _ => RollupAsync(to.AddDays(-1)), ct);
        var scan = await Latencies.MeasureAsync(o.RollupRuns, _ => engine.ScalarAsync(
            "SELECT COUNT(*) FROM read_usage WHERE organization_id = @org AND window_start >= @from AND window_start < @to", ct,
            ("@org", org), ("@from", from.ToUnixTimeMilliseconds()), ("@to", to.ToUnixTimeMilliseconds())), ct);
        table.Add(run.Metric($"usage rollup `group_by=external_user_id`, {o.UsageDays} days ({rows:N0} windows), p50 / p99 (n={rollup.Count}, `UsageReadModel.QueryAsync`)"),
            $"{Latencies.Ms(rollup.P50)} / {Latencies.Ms(rollup.P99)}",
            $"same rollup over the last 24 h {Latencies.Ms(lastDay.P50)} / {Latencies.Ms(lastDay.P99)}; " +
            $"`SELECT count(*)` of the {o.UsageDays}-day range {Latencies.Ms(scan.P50)} / {Latencies.Ms(scan.P99)}",
            ResultTable.Goal($"< {GoalMs} ms", rollup.P99 < GoalMs));
        var plan = await engine.PlanAsync(
            "SELECT external_user_id, resource_type, resource_id, SUM(cpu_seconds) FROM read_usage WHERE organization_id = @org AND window_start >= @from AND window_start < @to GROUP BY external_user_id, resource_type, resource_id",
            ct, ("@org", org), ("@from", from.ToUnixTimeMilliseconds()), ("@to", to.ToUnixTimeMilliseconds()));
        table.Note($"{engine.Name} plan of the rollup's inner query: {plan}");

        // Would an index do? One that holds every column the rollup reads, in range order.
        var indexing = Stopwatch.GetTimestamp();
        await engine.Database.ExecuteAsync("""
            CREATE INDEX bench_usage_covering ON read_usage (organization_id, window_start, external_user_id, resource_type, resource_id,
                sandbox_seconds, cpu_seconds, memory_mb_seconds, storage_bytes, egress_bytes)
            """, ct);
        var indexed = Stopwatch.GetElapsedTime(indexing);
        if (engine.IsPostgres) await engine.Database.ExecuteAsync("ANALYZE read_usage", ct);
        await RollupAsync(from);
        var covered = await Latencies.MeasureAsync(o.RollupRuns, _ => RollupAsync(from), ct);
        await engine.Database.ExecuteAsync("DROP INDEX bench_usage_covering", ct);
        table.Add(run.Metric($"experiment, not in src: the same {o.UsageDays}-day rollup with a covering index on `read_usage` (range order, every column it reads)"),
            $"{Latencies.Ms(covered.P50)} / {Latencies.Ms(covered.P99)}", $"index built in {indexed.TotalSeconds:F1} s",
            ResultTable.Goal($"< {GoalMs} ms", covered.P99 < GoalMs));

        await SummaryExperimentAsync(run, org, from, to, rows, groups, ct);
    }

    /// <summary>
    /// What a summary table would give (an experiment in the bench's database, not in src): the same
    /// two-level rollup over one row per resource and day instead of one per window.
    /// </summary>
    private static async Task SummaryExperimentAsync(BenchRun run, string org, DateTimeOffset from, DateTimeOffset to, long rows, int groups, CancellationToken ct)
    {
        var (engine, _, o, table) = run;
        const long Day = 86_400_000;
        var started = Stopwatch.GetTimestamp();
        await engine.Database.ExecuteAsync($"""
            CREATE TABLE bench_usage_daily AS
            SELECT organization_id, resource_type, resource_id, external_user_id, window_start / {Day} AS day,
                SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds, SUM(memory_mb_seconds) AS memory_mb_seconds,
                MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
            FROM read_usage GROUP BY organization_id, resource_type, resource_id, external_user_id, window_start / {Day};
            CREATE INDEX bench_usage_daily_range ON bench_usage_daily (organization_id, day);
            """, ct);
        var built = Stopwatch.GetElapsedTime(started);
        var summaryRows = Convert.ToInt64(await engine.ScalarAsync("SELECT COUNT(*) FROM bench_usage_daily", ct));
        if (engine.IsPostgres) await engine.Database.ExecuteAsync("ANALYZE bench_usage_daily", ct);
        const string Sql = """
            SELECT usage_key, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds), SUM(storage_bytes), SUM(egress_bytes)
            FROM (SELECT external_user_id AS usage_key, SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds,
                    SUM(memory_mb_seconds) AS memory_mb_seconds, MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
                FROM bench_usage_daily
                WHERE organization_id = @org AND day >= @from AND day < @to
                GROUP BY external_user_id, resource_type, resource_id) per_resource
            GROUP BY usage_key
            """;
        async Task QueryAsync()
        {
            await using var connection = await engine.Database.OpenAsync(ct);
            await using var command = ReadModelDatabase.Command(connection, Sql,
                ("@org", org), ("@from", from.ToUnixTimeMilliseconds() / Day), ("@to", (to.ToUnixTimeMilliseconds() + Day - 1) / Day));
            await using var reader = await command.ExecuteReaderAsync(ct);
            var n = 0;
            while (await reader.ReadAsync(ct)) n++;
            if (n != groups) throw new InvalidOperationException($"the summary rollup has {n} groups, expected {groups}");
        }
        await QueryAsync();
        var summary = await Latencies.MeasureAsync(o.RollupRuns, _ => QueryAsync(), ct);
        table.Add(run.Metric($"experiment, not in src: the same rollup from a per-resource-per-day summary table ({summaryRows:N0} rows instead of {rows:N0})"),
            $"{Latencies.Ms(summary.P50)} / {Latencies.Ms(summary.P99)}",
            $"summary built from `read_usage` in {built.TotalSeconds:F1} s",
            ResultTable.Goal($"< {GoalMs} ms", summary.P99 < GoalMs));
    }
}
