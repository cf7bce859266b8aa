using System.Diagnostics;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Bench.ReadModels;

/// <summary>
/// GET /v1/usage?group_by=external_user_id over 30 days: <c>read_usage</c> filled with one window per
/// sandbox every few minutes (or seconds), <c>read_usage_daily</c> and <c>read_usage_hourly</c> summed from them, rolled up by the real
/// <see cref="UsageReadModel.QueryAsync"/>, next to the rollup from the windows alone (as it was
/// before the daily and hourly tables), whose results it must equal.
/// </summary>
public static class UsageRollup
{
    public const double GoalMs = 100;

    private static readonly string[] InsertParameters =
        ["@type", "@id", "@start", "@end", "@org", "@ws", "@prj", "@ews", "@eu", "@ep", "@running", "@cpu", "@memory", "@storage", "@egress"];

    // The rollup before the daily table: every window of the range from read_usage.
    private const string WindowsOnlySql = """
        SELECT usage_key, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds), SUM(storage_bytes), SUM(egress_bytes)
        FROM (SELECT external_user_id AS usage_key, SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds,
                SUM(memory_mb_seconds) AS memory_mb_seconds, MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
            FROM read_usage
            WHERE organization_id = @org AND window_start >= @from AND window_start < @to
            GROUP BY external_user_id, resource_type, resource_id) per_resource
        GROUP BY usage_key
        """;

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var (engine, _, o, table) = run;
        var usage = new UsageReadModel(engine.Database);
        await usage.CreateSchemaAsync(ct);
        var org = ResourceId.New(IdPrefix.Organization);
        var window = o.UsageWindow;
        var windows = (int)(TimeSpan.FromDays(o.UsageDays) / window);
        // Not on a day boundary (as GET /v1/usage's default range, which ends now): both edges are partial days.
        var to = new DateTimeOffset(DateTimeOffset.UtcNow.UtcTicks / window.Ticks * window.Ticks, TimeSpan.Zero);
        if (to.TimeOfDay == TimeSpan.Zero) to -= window;
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
        BenchRun.Log($"{engine.Name}: writing {viaApply:N0} of {rows:N0} usage windows through UsageReadModel.ApplyAsync, {rows - viaApply:N0} in bulk");
        var started = Stopwatch.GetTimestamp();
        foreach (var e in Windows().Take(viaApply)) await usage.ApplyAsync(e, ct);
        var applied = Stopwatch.GetElapsedTime(started);
        var lastLog = Stopwatch.GetTimestamp();
        var bulk = await Bulk.WriteAsync(engine.Database, UsageReadModel.InsertWindowSql, InsertParameters, Windows().Skip(viaApply).Select(e =>
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
        // The bulk windows reach the daily table the way an upgraded node fills it: summed anew from all windows.
        var rebuilding = Stopwatch.GetTimestamp();
        await usage.RebuildDailyAsync(ct);
        var rebuilt = Stopwatch.GetElapsedTime(rebuilding);
        rebuilding = Stopwatch.GetTimestamp();
        await usage.RebuildHourlyAsync(ct);
        var rebuiltHours = Stopwatch.GetElapsedTime(rebuilding);
        var stored = Convert.ToInt64(await engine.ScalarAsync("SELECT COUNT(*) FROM read_usage WHERE organization_id = @org", ct, ("@org", org)));
        if (stored != rows) throw new InvalidOperationException($"read_usage holds {stored} rows of the organization, expected {rows}");
        var dailyRows = Convert.ToInt64(await engine.ScalarAsync("SELECT COUNT(*) FROM read_usage_daily WHERE organization_id = @org", ct, ("@org", org)));
        var hourlyRows = Convert.ToInt64(await engine.ScalarAsync("SELECT COUNT(*) FROM read_usage_hourly WHERE organization_id = @org", ct, ("@org", org)));
        if (engine.IsPostgres)
        {
            await engine.Database.ExecuteAsync("ANALYZE read_usage", ct);
            await engine.Database.ExecuteAsync("ANALYZE read_usage_daily", ct);
            await engine.Database.ExecuteAsync("ANALYZE read_usage_hourly", ct);
        }
        table.Add(run.Metric($"fill `read_usage`: {rows:N0} windows ({o.UsageSandboxes} sandboxes × one per {o.UsageWindowLabel} × {o.UsageDays} days, {o.UsageUsers} external users)"),
            $"{viaApply:N0} through `UsageReadModel.ApplyAsync` (window, its day and its hour, {Bulk.Rate(viaApply, applied)}); {rows - viaApply:N0} with its insert in bulk in {bulk.TotalSeconds:F1} s ({Bulk.Rate(rows - viaApply, bulk)})",
            $"`read_usage_daily` ({dailyRows:N0} rows) and `read_usage_hourly` ({hourlyRows:N0} rows) summed anew from all windows by `RebuildDailyAsync` in {rebuilt.TotalSeconds:F1} s and `RebuildHourlyAsync` in {rebuiltHours.TotalSeconds:F1} s");

        var groups = attributions.Select(a => a.ExternalUserId).Distinct().Count();
        async Task<IReadOnlyList<UsageTotal>> RollupAsync(DateTimeOffset since, DateTimeOffset until)
        {
            var totals = await usage.QueryAsync(org, "external_user_id", since, until, ct);
            if (totals.Count != groups) throw new InvalidOperationException($"the rollup has {totals.Count} groups, expected {groups}");
            return totals;
        }

        async Task<IReadOnlyList<UsageTotal>> WindowsOnlyAsync(DateTimeOffset since, DateTimeOffset until)
        {
            await using var connection = await engine.Database.OpenAsync(ct);
            await using var command = ReadModelDatabase.Command(connection, WindowsOnlySql,
                ("@org", org), ("@from", since.ToUnixTimeMilliseconds()), ("@to", until.ToUnixTimeMilliseconds()));
            await using var reader = await command.ExecuteReaderAsync(ct);
            var totals = new List<UsageTotal>();
            while (await reader.ReadAsync(ct))
            {
                double Real(int i) => reader.IsDBNull(i) ? 0 : Convert.ToDouble(reader.GetValue(i));
                long Whole(int i) => reader.IsDBNull(i) ? 0 : Convert.ToInt64(reader.GetValue(i));
                totals.Add(new UsageTotal(reader.IsDBNull(0) ? null : reader.GetString(0), Real(1), Real(2), Real(3), Whole(4), Whole(5)));
            }
            if (totals.Count != groups) throw new InvalidOperationException($"the windows-only rollup has {totals.Count} groups, expected {groups}");
            return totals.OrderBy(t => t.Key is null).ThenBy(t => t.Key, StringComparer.Ordinal).ToList();
        }

        // Same answers as from the windows alone: the 30 days, whole days only, whole and partial hours inside one day, the last 24 h.
        var midnight = new DateTimeOffset(from.UtcDateTime.Date.AddDays(1), TimeSpan.Zero);
        (DateTimeOffset From, DateTimeOffset To)[] ranges =
            [(from, to), (midnight, midnight.AddDays(o.UsageDays - 2)), (midnight.AddHours(3), midnight.AddHours(17)),
                (midnight.AddHours(3).AddMinutes(7), midnight.AddHours(17).AddMinutes(41)), (to.AddDays(-1), to)];
        var worst = 0.0;
        foreach (var (since, until) in ranges.Where(r => r.From < r.To && r.From >= from && r.To <= to))
        {
            var expected = await WindowsOnlyAsync(since, until);
            var actual = await RollupAsync(since, until);
            worst = Math.Max(worst, Difference(expected, actual));
        }
        if (worst > 1e-9) throw new InvalidOperationException($"the rollup differs from the windows-only rollup by {worst:E2} (relative)");

        // Warm-up, not measured.
        await RollupAsync(from, to);
        await RollupAsync(from, to);
        await WindowsOnlyAsync(from, to);
        var rollup = await Latencies.MeasureAsync(o.RollupRuns, _ => RollupAsync(from, to), ct);
        var lastDay = await Latencies.MeasureAsync(o.RollupRuns, _ => RollupAsync(to.AddDays(-1), to), ct);
        var windowsOnly = await Latencies.MeasureAsync(o.RollupRuns, _ => WindowsOnlyAsync(from, to), ct);
        table.Add(run.Metric($"usage rollup `group_by=external_user_id`, {o.UsageDays} days ({rows:N0} windows, both ends mid-day), p50 / p99 (n={rollup.Count}, `UsageReadModel.QueryAsync`)"),
            $"{Latencies.Ms(rollup.P50)} / {Latencies.Ms(rollup.P99)}",
            $"the same rollup from the windows alone (before the daily and hourly tables) {Latencies.Ms(windowsOnly.P50)} / {Latencies.Ms(windowsOnly.P99)}, " +
            $"same totals (largest relative difference {worst:E1}); the last 24 h {Latencies.Ms(lastDay.P50)} / {Latencies.Ms(lastDay.P99)}",
            goal: ResultTable.Goal($"< {GoalMs} ms", rollup.P99 < GoalMs));
    }

    /// <summary>The largest relative difference between two rollups' figures (groups must match).</summary>
    private static double Difference(IReadOnlyList<UsageTotal> expected, IReadOnlyList<UsageTotal> actual)
    {
        if (!expected.Select(t => t.Key).SequenceEqual(actual.Select(t => t.Key)))
            throw new InvalidOperationException("the rollup's groups differ from the windows-only rollup's");
        static double Relative(double a, double b) => a == b ? 0 : Math.Abs(a - b) / Math.Max(Math.Abs(a), Math.Abs(b));
        return expected.Zip(actual, (e, a) => new[]
        {
            Relative(e.SandboxSeconds, a.SandboxSeconds), Relative(e.CpuSeconds, a.CpuSeconds), Relative(e.MemoryMbSeconds, a.MemoryMbSeconds),
            Relative(e.StorageBytes, a.StorageBytes), Relative(e.EgressBytes, a.EgressBytes),
        }.Max()).DefaultIfEmpty(0).Max();
    }
}
