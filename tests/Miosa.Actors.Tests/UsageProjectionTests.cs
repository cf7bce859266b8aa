using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.Tests;

/// <summary>The usage read model fed by its projection from the real SQL journal, across restarts and a replay from the start.</summary>
public sealed class UsageProjectionTests : SqlJournalTestKit
{
    private async Task CaughtUpAsync()
    {
        var written = await ScalarAsync("SELECT MAX(ordering_id) FROM tags WHERE tag = @tag", ("@tag", EventSourcedEntity<object>.UsageTag));
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (await ScalarAsync("SELECT offset_value FROM read_offsets WHERE projection = 'usage'") < written)
        {
            Assert.True(DateTime.UtcNow < deadline, "the usage projection did not catch up within 30 s");
            await Task.Delay(20);
        }
    }

    // Each sandbox's windows in one write; the journal interleaves the sandboxes.
    private Task WriteAsync(IEnumerable<SandboxUsageRecorded> windows) => Task.WhenAll(windows.GroupBy(w => w.SandboxId)
        .Select(g => WriteAsync($"sandbox-{g.Key}", g.ToList<IMiosaEvent>(), EventSourcedEntity<object>.UsageTag)));

    [Fact]
    public async Task Restarts_resume_and_a_replay_from_the_start_counts_nothing_twice()
    {
        var windows = UsageHistory.Windows();
        var firstHalf = windows.Where((_, i) => i % 2 == 0).ToList();
        // The journal creates its tables on its first write: projections start after it.
        await WriteAsync(firstHalf);
        var usage = new UsageReadModel(Database);
        await usage.StartAsync(Sys, CancellationToken.None);
        await CaughtUpAsync();
        await UsageHistory.AssertRollupsAsync(usage, firstHalf);
        usage.Stop();

        // A restart after more windows were recorded: only those are added.
        await WriteAsync(windows.Where((_, i) => i % 2 == 1));
        usage = new UsageReadModel(Database);
        await usage.StartAsync(Sys, CancellationToken.None);
        await CaughtUpAsync();
        await UsageHistory.AssertRollupsAsync(usage, windows);
        usage.Stop();

        // The projection forgets its offset: every window is applied again, and nothing changes.
        await Database.ExecuteAsync("DELETE FROM read_offsets WHERE projection = 'usage'", CancellationToken.None);
        usage = new UsageReadModel(Database);
        await usage.StartAsync(Sys, CancellationToken.None);
        await CaughtUpAsync();
        await UsageHistory.AssertRollupsAsync(usage, windows);
        usage.Stop();
    }
}
