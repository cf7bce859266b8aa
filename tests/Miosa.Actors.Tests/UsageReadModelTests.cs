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
}
