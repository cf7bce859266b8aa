using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

/// <summary>The usage table and rollup on a real SQLite file (the engine a single node uses).</summary>
public sealed class UsageReadModelTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("miosa-usage-");
    private readonly UsageReadModel _usage;
    private readonly ReadModelDatabase _database;

    public UsageReadModelTests()
    {
        _database = new ReadModelDatabase(new MiosaNodeOptions { DataDir = _dir.FullName });
        _usage = new UsageReadModel(_database);
    }

    public void Dispose() => _dir.Delete(recursive: true);

    private static SandboxUsageRecorded Window(string id, string org, string? user, int fromSecond, int toSecond, double cpu, long? storage = null) =>
        new(id, org, new Attribution(ExternalUserId: user), T0.AddSeconds(fromSecond), T0.AddSeconds(toSecond), cpu, 100.0 * (toSecond - fromSecond), storage, 0);

    private async Task<IReadOnlyList<UsageTotal>> Query(string groupBy, int fromSecond = 0, int toSecond = 3600, string org = "org_a") =>
        await _usage.QueryAsync(org, groupBy, T0.AddSeconds(fromSecond), T0.AddSeconds(toSecond), CancellationToken.None);

    private async Task SeedAsync()
    {
        await _usage.CreateSchemaAsync(CancellationToken.None);
        foreach (var e in new[]
                 {
                     Window("sbx_1", "org_a", "u1", 0, 30, 3, storage: 1000),
                     Window("sbx_1", "org_a", "u1", 30, 60, 1, storage: 4000),
                     Window("sbx_2", "org_a", "u1", 0, 30, 0.5, storage: 10),
                     Window("sbx_3", "org_a", null, 0, 30, 0.25),
                     Window("sbx_4", "org_b", "u1", 0, 30, 9),
                 })
        {
            await _usage.ApplyAsync(e, CancellationToken.None);
        }
    }

    [Fact]
    public async Task Totals_group_by_attribution_within_the_organization_and_unattributed_resources_under_null()
    {
        await SeedAsync();
        var byUser = await Query("external_user_id");
        Assert.Equal(2, byUser.Count);
        var u1 = byUser[0];
        Assert.Equal("u1", u1.Key);
        Assert.Equal(90, u1.SandboxSeconds, 6);
        Assert.Equal(4.5, u1.CpuSeconds, 6);
        Assert.Equal(9000, u1.MemoryMbSeconds, 6);
        // Storage is a level: each sandbox with the most it held in the range.
        Assert.Equal(4010, u1.StorageBytes);
        Assert.Null(byUser[1].Key);
        Assert.Equal(0.25, byUser[1].CpuSeconds, 6);

        var byType = Assert.Single(await Query("resource_type"));
        Assert.Equal("sandbox", byType.Key);
        Assert.Equal(4.75, byType.CpuSeconds, 6);

        Assert.Equal(9, Assert.Single(await Query("resource_type", org: "org_b")).CpuSeconds, 6);
        Assert.Empty(await Query("resource_type", org: "org_c"));
    }

    [Fact]
    public async Task A_replayed_event_is_counted_once_and_windows_belong_to_the_range_they_start_in()
    {
        await SeedAsync();
        await _usage.ApplyAsync(Window("sbx_1", "org_a", "u1", 0, 30, 3, storage: 1000), CancellationToken.None);
        Assert.Equal(4.5, (await Query("external_user_id"))[0].CpuSeconds, 6);

        var firstHalfMinute = await Query("external_user_id", 0, 30);
        Assert.Equal(3.5, firstHalfMinute[0].CpuSeconds, 6);
        var secondHalfMinute = Assert.Single(await Query("external_user_id", 30, 60));
        Assert.Equal(1, secondHalfMinute.CpuSeconds, 6);
        Assert.Empty(await Query("external_user_id", 60, 90));
    }

    [Fact]
    public async Task A_rollup_reads_whole_days_from_the_daily_table_and_equals_the_sum_of_its_windows_for_any_range()
    {
        await _usage.CreateSchemaAsync(CancellationToken.None);
        var windows = UsageHistory.Windows();
        foreach (var w in windows) await _usage.ApplyAsync(w, CancellationToken.None);
        Assert.True(await CountAsync("read_usage_daily") < windows.Count / 10, "whole days are summed in the daily table");
        await UsageHistory.AssertRollupsAsync(_usage, windows);
    }

    [Fact]
    public async Task Reapplied_windows_count_once_and_a_new_daily_table_is_filled_from_the_windows()
    {
        await _usage.CreateSchemaAsync(CancellationToken.None);
        var windows = UsageHistory.Windows();
        foreach (var w in windows) await _usage.ApplyAsync(w, CancellationToken.None);
        var (raw, daily, hourly) = (await CountAsync("read_usage"), await CountAsync("read_usage_daily"), await CountAsync("read_usage_hourly"));

        // A replay after a crash: every window again, in another order.
        foreach (var w in windows.AsEnumerable().Reverse()) await _usage.ApplyAsync(w, CancellationToken.None);
        await _usage.CreateSchemaAsync(CancellationToken.None);
        Assert.Equal((raw, daily, hourly), (await CountAsync("read_usage"), await CountAsync("read_usage_daily"), await CountAsync("read_usage_hourly")));
        await UsageHistory.AssertRollupsAsync(_usage, windows);

        // A node upgraded to the daily table has windows but no days yet: starting fills them in.
        await _database.ExecuteAsync("DELETE FROM read_usage_daily", CancellationToken.None);
        await _usage.CreateSchemaAsync(CancellationToken.None);
        Assert.Equal(daily, await CountAsync("read_usage_daily"));
        await UsageHistory.AssertRollupsAsync(_usage, windows);

        // The same for the hourly table.
        await _database.ExecuteAsync("DELETE FROM read_usage_hourly", CancellationToken.None);
        await _usage.CreateSchemaAsync(CancellationToken.None);
        Assert.Equal(hourly, await CountAsync("read_usage_hourly"));
        await UsageHistory.AssertRollupsAsync(_usage, windows);
    }

    [Fact]
    public void A_range_splits_into_whole_days_whole_hours_and_partial_hours_that_cover_it_exactly_once()
    {
        const long Day = UsageReadModel.DayMilliseconds, Hour = UsageReadModel.HourMilliseconds;
        var random = new Random(20261128);
        var t0 = UsageHistory.Midnight.ToUnixTimeMilliseconds();
        for (var n = 0; n < 5_000; n++)
        {
            // Edges on and just off day and hour boundaries as well as anywhere.
            long Edge() => random.Next(4) switch
            {
                0 => t0 + random.Next(-3, 6) * Day,
                1 => t0 + random.Next(-80, 140) * Hour + random.Next(-1, 2),
                _ => t0 + random.NextInt64(-3 * Day, 6 * Day),
            };
            var (from, to) = (Edge(), Edge());
            if (from > to) (from, to) = (to, from);
            var plan = UsageRangePlan.Of(from, to);
            var parts = new List<(long From, long To)> { (plan.Days.From * Day, plan.Days.To * Day) };
            parts.AddRange(plan.Hours.Select(h => (h.From * Hour, h.To * Hour)));
            parts.AddRange(plan.Windows);
            parts = parts.Where(p => p.From < p.To).OrderBy(p => p.From).ToList();
            var what = $"[{from}, {to})";
            if (from == to)
            {
                Assert.Empty(parts);
                continue;
            }
            Assert.Equal(from, parts[0].From);
            Assert.Equal(to, parts[^1].To);
            for (var i = 1; i < parts.Count; i++) Assert.True(parts[i - 1].To == parts[i].From, what);
            // The windows only ever cover less than an hour at each edge.
            Assert.True(plan.Windows.Sum(w => w.To - w.From) < 2 * Hour, what);
        }
    }

    [Fact]
    public async Task Random_windows_roll_up_exactly_as_their_sum_over_ranges_with_partial_days_and_hours_after_a_replay_and_a_backfill()
    {
        await _usage.CreateSchemaAsync(CancellationToken.None);
        var random = new Random(42);
        var t0 = UsageHistory.Midnight;
        var users = new[] { "u1", "u2", null };
        var windows = new List<SandboxUsageRecorded>();
        for (var s = 0; s < 6; s++)
        {
            var org = s == 5 ? "org_b" : UsageHistory.Org;
            // Starts anywhere, on an hour, or a millisecond before one; lengths in whole seconds; figures that add up exactly in a double.
            var start = t0.AddMilliseconds(random.Next(-3_600_000, 3_600_000));
            for (var i = 0; i < 150; i++)
            {
                var length = TimeSpan.FromSeconds(random.Next(1, 4_000));
                var a = new Attribution(WorkspaceId: $"ws_{random.Next(2)}", ExternalUserId: users[random.Next(users.Length)],
                    ExternalProjectId: random.Next(3) == 0 ? null : $"p{random.Next(2)}");
                windows.Add(new SandboxUsageRecorded($"sbx_{s}", org, a, start, start + length, CpuSeconds: random.Next(0, 800) / 8.0,
                    MemoryMbSeconds: 64.5 * length.TotalSeconds, StorageBytes: random.Next(3) == 0 ? random.Next(1, 1_000_000) : null,
                    EgressBytes: random.Next(0, 10_000)));
                start += length + TimeSpan.FromMilliseconds(random.Next(3) switch { 0 => 0, 1 => random.Next(0, 7_200_000), _ => random.Next(0, 1_000) });
                var hour = new DateTimeOffset(start.UtcTicks / TimeSpan.TicksPerHour * TimeSpan.TicksPerHour, TimeSpan.Zero).AddHours(1);
                if (random.Next(8) == 0) start = hour;
                else if (random.Next(8) == 0) start = hour.AddMilliseconds(-1);
            }
        }
        foreach (var w in windows) await _usage.ApplyAsync(w, CancellationToken.None);
        Assert.True(await CountAsync("read_usage_hourly") < windows.Count, "hours sum several windows");

        var ranges = new List<(DateTimeOffset, DateTimeOffset)>();
        for (var n = 0; n < 40; n++)
        {
            DateTimeOffset Edge() => random.Next(3) switch
            {
                0 => t0.AddHours(random.Next(-2, 150)),
                1 => t0.AddHours(random.Next(-2, 150)).AddMilliseconds(random.Next(-1, 2)),
                _ => t0.AddMilliseconds(random.NextInt64(-7_200_000, 150 * 3_600_000L)),
            };
            var (from, to) = (Edge(), Edge());
            ranges.Add(from <= to ? (from, to) : (to, from));
        }
        async Task AssertExactAsync()
        {
            foreach (var (from, to) in ranges)
            {
                foreach (var groupBy in UsageReadModel.Groupings.Keys)
                {
                    var expected = UsageHistory.Rollup(windows, UsageHistory.Org, groupBy, from, to);
                    var actual = await _usage.QueryAsync(UsageHistory.Org, groupBy, from, to, CancellationToken.None);
                    Assert.Equal(expected, actual);
                }
            }
        }
        await AssertExactAsync();

        // Every window again, in another order: nothing counts twice.
        var (daily, hourly) = (await CountAsync("read_usage_daily"), await CountAsync("read_usage_hourly"));
        foreach (var w in windows.OrderBy(_ => random.Next())) await _usage.ApplyAsync(w, CancellationToken.None);
        Assert.Equal((daily, hourly), (await CountAsync("read_usage_daily"), await CountAsync("read_usage_hourly")));
        await AssertExactAsync();

        // An upgraded node: windows and days, no hours yet; starting fills them in.
        await _database.ExecuteAsync("DELETE FROM read_usage_hourly", CancellationToken.None);
        await _usage.CreateSchemaAsync(CancellationToken.None);
        Assert.Equal(hourly, await CountAsync("read_usage_hourly"));
        await AssertExactAsync();
    }

    private async Task<long> CountAsync(string table)
    {
        await using var connection = await _database.OpenAsync(CancellationToken.None);
        await using var command = ReadModelDatabase.Command(connection, $"SELECT COUNT(*) FROM {table}");
        return Convert.ToInt64(await command.ExecuteScalarAsync());
    }
}

/// <summary>
/// Four days of usage windows of several resources (regular and irregular windows, windows on and
/// just before midnight, an attribution that changes, another organization), and the rollup
/// computed from them in memory: what the SQL must answer for any range.
/// </summary>
public static class UsageHistory
{
    public const string Org = "org_a";
    public static readonly DateTimeOffset Midnight = new(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);

    public static List<SandboxUsageRecorded> Windows()
    {
        var windows = new List<SandboxUsageRecorded>();
        void Add(string id, string org, Attribution a, DateTimeOffset start, TimeSpan length, int i) =>
            windows.Add(new SandboxUsageRecorded(id, org, a, start, start + length, CpuSeconds: 0.1 * (i % 13) + 0.01,
                MemoryMbSeconds: 64.5 * length.TotalSeconds, StorageBytes: i % 3 == 0 ? 1_000L * (i % 17) : null, EgressBytes: i % 5));

        var u1 = new Attribution(WorkspaceId: "ws_1", ExternalUserId: "u1", ExternalProjectId: "p1");
        var start = Midnight.AddHours(-5).AddMinutes(17);
        for (var i = 0; start < Midnight.AddDays(4); i++, start += TimeSpan.FromMinutes(53))
            Add("sbx_1", Org, u1, start, TimeSpan.FromMinutes(53), i);
        start = Midnight.AddMinutes(-31);
        for (var i = 0; start < Midnight.AddDays(4); i++)
        {
            var length = TimeSpan.FromMinutes(10 + i * 37 % 80);
            Add("sbx_2", Org, new Attribution(ExternalUserId: "u2", ExternalWorkspaceId: "tenant"), start, length, i);
            start += length;
        }
        for (var i = 0; i < 60; i++) Add("sbx_3", Org, Attribution.None, Midnight.AddHours(i * 1.5), TimeSpan.FromMinutes(30), i);
        // Re-attributed on the second day: its windows group under both users, as they did before the daily table.
        for (var i = 0; i < 80; i++)
            Add("sbx_4", Org, i < 40 ? u1 : new Attribution(ExternalUserId: "u3", ExternalProjectId: "p1"), Midnight.AddHours(i), TimeSpan.FromMinutes(45), i);
        // On midnight and one millisecond before it.
        for (var d = 1; d < 4; d++)
        {
            Add("sbx_5", Org, u1, Midnight.AddDays(d).AddMilliseconds(-1), TimeSpan.FromMilliseconds(1), d);
            Add("sbx_5", Org, u1, Midnight.AddDays(d), TimeSpan.FromMinutes(5), d + 1);
        }
        for (var i = 0; i < 50; i++) Add("sbx_6", "org_b", u1, Midnight.AddHours(i), TimeSpan.FromMinutes(20), i);
        return windows;
    }

    public static IEnumerable<(DateTimeOffset From, DateTimeOffset To)> Ranges()
    {
        var d1 = Midnight.AddDays(1);
        yield return (Midnight.AddDays(-10), Midnight.AddDays(10));
        yield return (Midnight, Midnight.AddDays(3));
        yield return (Midnight.AddHours(5).AddMinutes(3), Midnight.AddDays(2).AddHours(7).AddSeconds(9));
        yield return (d1.AddHours(2), d1.AddHours(20));
        yield return (d1.AddHours(-1), d1.AddHours(1));
        yield return (d1.AddMilliseconds(-1), d1.AddMilliseconds(1));
        yield return (d1.AddMilliseconds(-1), d1.AddDays(1));
        yield return (d1, d1.AddDays(1).AddMilliseconds(-1));
        yield return (d1, d1);
        yield return (Midnight.AddDays(20), Midnight.AddDays(21));
    }

    /// <summary>Every grouping over every range, for the organization and for one with no usage.</summary>
    public static async Task AssertRollupsAsync(UsageReadModel usage, IReadOnlyList<SandboxUsageRecorded> windows)
    {
        foreach (var (from, to) in Ranges())
        {
            foreach (var groupBy in UsageReadModel.Groupings.Keys)
            {
                var expected = Rollup(windows, Org, groupBy, from, to);
                var actual = await usage.QueryAsync(Org, groupBy, from, to, CancellationToken.None);
                var what = $"group_by={groupBy} from {from:O} to {to:O}";
                Assert.True(expected.Select(t => t.Key).SequenceEqual(actual.Select(t => t.Key)),
                    $"{what}: groups {string.Join(",", actual.Select(t => t.Key))}, expected {string.Join(",", expected.Select(t => t.Key))}");
                foreach (var (e, a) in expected.Zip(actual))
                {
                    Close(e.SandboxSeconds, a.SandboxSeconds, what);
                    Close(e.CpuSeconds, a.CpuSeconds, what);
                    Close(e.MemoryMbSeconds, a.MemoryMbSeconds, what);
                    Assert.Equal(e.StorageBytes, a.StorageBytes);
                    Assert.Equal(e.EgressBytes, a.EgressBytes);
                }
            }
            Assert.Empty(await usage.QueryAsync("org_c", "resource_type", from, to, CancellationToken.None));
        }
    }

    /// <summary>The rollup by definition: windows starting in [from, to); per resource time adds up and storage is its most; then per group.</summary>
    public static List<UsageTotal> Rollup(IEnumerable<SandboxUsageRecorded> windows, string org, string groupBy, DateTimeOffset from, DateTimeOffset to)
    {
        string? KeyOf(SandboxUsageRecorded w) => groupBy switch
        {
            "external_user_id" => w.Attribution.ExternalUserId,
            "external_project_id" => w.Attribution.ExternalProjectId,
            "external_workspace_id" => w.Attribution.ExternalWorkspaceId,
            "workspace_id" => w.Attribution.WorkspaceId,
            "project_id" => w.Attribution.ProjectId,
            _ => w.ResourceType,
        };
        return windows
            .Where(w => w.OrganizationId == org && w.WindowStart >= from && w.WindowStart < to)
            .GroupBy(w => (Key: KeyOf(w), w.ResourceType, w.ResourceId))
            .Select(r => (r.Key.Key, Running: r.Sum(w => w.RunningSeconds), Cpu: r.Sum(w => w.CpuSeconds), Memory: r.Sum(w => w.MemoryMbSeconds),
                Storage: r.Max(w => w.StorageBytes), Egress: r.Sum(w => w.EgressBytes)))
            .GroupBy(r => r.Key)
            .Select(g => new UsageTotal(g.Key, g.Sum(r => r.Running), g.Sum(r => r.Cpu), g.Sum(r => r.Memory), g.Sum(r => r.Storage ?? 0), g.Sum(r => r.Egress)))
            .OrderBy(t => t.Key is null).ThenBy(t => t.Key, StringComparer.Ordinal)
            .ToList();
    }

    // Sums in another order differ in the last bits of a double, nothing more.
    private static void Close(double expected, double actual, string what) =>
        Assert.True(Math.Abs(expected - actual) <= 1e-9 * Math.Max(1, Math.Abs(expected)), $"{what}: {actual}, expected {expected}");
}
