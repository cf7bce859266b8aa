using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Api.Tests;

/// <summary>The usage tables' SQL on a real PostgreSQL (Miosa.Actors.Tests runs the same and more on SQLite).</summary>
public class UsagePostgresTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);

    private static SandboxUsageRecorded Window(string id, string org, string? user, int fromSecond, int toSecond, double cpu, long? storage = null) =>
        new(id, org, new Attribution(ExternalUserId: user), T0.AddSeconds(fromSecond), T0.AddSeconds(toSecond), cpu, 100.0 * (toSecond - fromSecond), storage, 0);

    [Fact]
    public async Task Upserts_and_the_rollup_work_on_postgresql()
    {
        await using var postgres = await PostgresServer.StartAsync();
        await postgres.CreateDatabaseAsync("usage");
        var usage = new UsageReadModel(new ReadModelDatabase(new MiosaNodeOptions { Database = postgres.ConnectionString("usage") }));
        await usage.CreateSchemaAsync(CancellationToken.None);
        await usage.CreateSchemaAsync(CancellationToken.None);
        foreach (var e in new[]
                 {
                     Window("sbx_1", "org_a", "u1", 0, 30, 3, storage: 1000),
                     Window("sbx_1", "org_a", "u1", 30, 60, 1, storage: 4000),
                     Window("sbx_1", "org_a", "u1", 30, 60, 1, storage: 4000),
                     Window("sbx_2", "org_a", "u1", 0, 30, 0.5, storage: 10),
                     Window("sbx_3", "org_a", null, 0, 30, 0.25),
                     Window("sbx_4", "org_b", "u1", 0, 30, 9),
                 })
        {
            await usage.ApplyAsync(e, CancellationToken.None);
        }

        var byUser = await usage.QueryAsync("org_a", "external_user_id", T0, T0.AddHours(1), CancellationToken.None);
        Assert.Equal(2, byUser.Count);
        Assert.Equal("u1", byUser[0].Key);
        Assert.Equal(90, byUser[0].SandboxSeconds, 6);
        Assert.Equal(4.5, byUser[0].CpuSeconds, 6);
        Assert.Equal(9000, byUser[0].MemoryMbSeconds, 6);
        Assert.Equal(4010, byUser[0].StorageBytes);
        Assert.Null(byUser[1].Key);
        Assert.Equal(0.25, byUser[1].CpuSeconds, 6);
        Assert.Equal(1, Assert.Single(await usage.QueryAsync("org_a", "resource_type", T0.AddSeconds(30), T0.AddSeconds(60), CancellationToken.None)).CpuSeconds, 6);
        Assert.Empty(await usage.QueryAsync("org_c", "resource_type", T0, T0.AddHours(1), CancellationToken.None));
    }

    [Fact]
    public async Task Whole_days_from_the_daily_table_and_partial_days_from_windows_add_up_to_the_windows_alone_on_postgresql()
    {
        await using var postgres = await PostgresServer.StartAsync();
        await postgres.CreateDatabaseAsync("usage");
        var database = new ReadModelDatabase(new MiosaNodeOptions { Database = postgres.ConnectionString("usage") });
        var usage = new UsageReadModel(database);
        await usage.CreateSchemaAsync(CancellationToken.None);
        var midnight = new DateTimeOffset(2026, 11, 26, 0, 0, 0, TimeSpan.Zero);
        var windows = new List<SandboxUsageRecorded>();
        for (var s = 0; s < 3; s++)
        {
            // Windows of 41 minutes from 7 pm the day before, for three days; the last sandbox has no user.
            for (var (i, start) = (0, midnight.AddHours(-5)); start < midnight.AddDays(3); i++, start = start.AddMinutes(41))
            {
                windows.Add(new SandboxUsageRecorded($"sbx_{s}", "org_a", new Attribution(ExternalUserId: s == 2 ? null : $"u{s}"),
                    start, start.AddMinutes(41), 0.1 * (i % 7), 100.5 * i, i % 4 == 0 ? 1000L * (i % 9) : null, i % 3));
            }
        }
        foreach (var e in windows) await usage.ApplyAsync(e, CancellationToken.None);
        foreach (var e in windows.Take(50)) await usage.ApplyAsync(e, CancellationToken.None);

        (DateTimeOffset, DateTimeOffset)[] ranges =
        [
            (midnight.AddDays(-1), midnight.AddDays(4)), (midnight, midnight.AddDays(2)), (midnight.AddHours(3.5), midnight.AddDays(2).AddHours(9)),
            (midnight.AddHours(23), midnight.AddHours(25)), (midnight.AddHours(2), midnight.AddHours(20)),
        ];
        async Task AssertSameAsWindowsAsync()
        {
            foreach (var (from, to) in ranges)
            {
                var expected = await WindowsOnlyAsync(database, from, to);
                var actual = await usage.QueryAsync("org_a", "external_user_id", from, to, CancellationToken.None);
                Assert.Equal(expected.Select(t => t.Key), actual.Select(t => t.Key));
                foreach (var (e, a) in expected.Zip(actual))
                {
                    Assert.Equal(e.SandboxSeconds, a.SandboxSeconds, 1e-6);
                    Assert.Equal(e.CpuSeconds, a.CpuSeconds, 1e-6);
                    Assert.Equal(e.MemoryMbSeconds, a.MemoryMbSeconds, 1e-6);
                    Assert.Equal(e.StorageBytes, a.StorageBytes);
                    Assert.Equal(e.EgressBytes, a.EgressBytes);
                }
            }
        }
        await AssertSameAsWindowsAsync();
        // A node upgraded to the daily table fills it from the windows when it starts.
        await database.ExecuteAsync("DELETE FROM read_usage_daily", CancellationToken.None);
        await usage.CreateSchemaAsync(CancellationToken.None);
        await AssertSameAsWindowsAsync();
    }

    // The rollup as it was before the daily table: every window of the range.
    private static async Task<List<UsageTotal>> WindowsOnlyAsync(ReadModelDatabase database, DateTimeOffset from, DateTimeOffset to)
    {
        await using var connection = await database.OpenAsync(CancellationToken.None);
        await using var command = ReadModelDatabase.Command(connection, """
            SELECT usage_key, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds), SUM(storage_bytes), SUM(egress_bytes)
            FROM (SELECT external_user_id AS usage_key, SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds,
                    SUM(memory_mb_seconds) AS memory_mb_seconds, MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
                FROM read_usage WHERE organization_id = 'org_a' AND window_start >= @from AND window_start < @to
                GROUP BY external_user_id, resource_type, resource_id) per_resource
            GROUP BY usage_key
            """, ("@from", from.ToUnixTimeMilliseconds()), ("@to", to.ToUnixTimeMilliseconds()));
        await using var reader = await command.ExecuteReaderAsync();
        var totals = new List<UsageTotal>();
        while (await reader.ReadAsync())
        {
            totals.Add(new UsageTotal(reader.IsDBNull(0) ? null : reader.GetString(0), Convert.ToDouble(reader.GetValue(1)), Convert.ToDouble(reader.GetValue(2)),
                Convert.ToDouble(reader.GetValue(3)), reader.IsDBNull(4) ? 0 : Convert.ToInt64(reader.GetValue(4)), Convert.ToInt64(reader.GetValue(5))));
        }
        return totals.OrderBy(t => t.Key is null).ThenBy(t => t.Key, StringComparer.Ordinal).ToList();
    }
}
