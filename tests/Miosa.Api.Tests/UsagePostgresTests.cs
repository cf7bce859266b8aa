using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Api.Tests;

/// <summary>The usage table's SQL on a real PostgreSQL (Miosa.Actors.Tests runs the same on SQLite).</summary>
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
}
