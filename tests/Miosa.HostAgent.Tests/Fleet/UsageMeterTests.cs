using Miosa.HostAgent.Fleet;

namespace Miosa.HostAgent.Tests.Fleet;

public class UsageMeterTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 12, 0, 0, TimeSpan.Zero);
    private const long Mb = 1024 * 1024;

    private static UsageReading Reading(string id, double cpuSeconds, long memoryBytes = 100 * Mb, long? storage = null, DateTimeOffset? startedAt = null) =>
        new(id, startedAt ?? T0, TimeSpan.FromSeconds(cpuSeconds), memoryBytes, storage);

    [Fact]
    public void The_first_window_counts_from_the_sandbox_start_and_later_ones_are_deltas()
    {
        var meter = new UsageMeter();
        var first = Assert.Single(meter.Record([Reading("sbx_a", 0.5, storage: 4096)], T0.AddSeconds(10)));
        Assert.Equal(T0, first.Start);
        Assert.Equal(T0.AddSeconds(10), first.End);
        Assert.Equal(0.5, first.CpuSeconds, 6);
        Assert.Equal(100 * 10, first.MemoryMbSeconds, 6);
        Assert.Equal(4096, first.StorageBytes);

        var second = Assert.Single(meter.Record([Reading("sbx_a", 3.5, memoryBytes: 50 * Mb)], T0.AddSeconds(40)));
        Assert.Equal(T0.AddSeconds(10), second.Start);
        Assert.Equal(3.0, second.CpuSeconds, 6);
        Assert.Equal(50 * 30, second.MemoryMbSeconds, 6);
        Assert.Null(second.StorageBytes);
    }

    [Fact]
    public void An_idle_sandbox_accrues_wall_time_and_no_cpu()
    {
        var meter = new UsageMeter();
        meter.Record([Reading("sbx_idle", 0.02)], T0.AddSeconds(1));
        var windows = Enumerable.Range(2, 5).Select(i => Assert.Single(meter.Record([Reading("sbx_idle", 0.02)], T0.AddSeconds(i)))).ToList();
        Assert.All(windows, w => Assert.Equal(0, w.CpuSeconds));
        Assert.Equal(5, windows.Sum(w => (w.End - w.Start).TotalSeconds), 6);
    }

    [Fact]
    public void A_restarted_sandbox_counts_from_its_new_start_and_a_counter_never_goes_negative()
    {
        var meter = new UsageMeter();
        meter.Record([Reading("sbx_a", 5)], T0.AddSeconds(30));
        var restartedAt = T0.AddSeconds(45);
        var after = Assert.Single(meter.Record([Reading("sbx_a", 0.25, startedAt: restartedAt)], T0.AddSeconds(60)));
        Assert.Equal(restartedAt, after.Start);
        Assert.Equal(0.25, after.CpuSeconds, 6);

        // A counter that went backwards under the same start is not negative consumption.
        var odd = Assert.Single(meter.Record([Reading("sbx_a", 0.1, startedAt: restartedAt)], T0.AddSeconds(90)));
        Assert.Equal(0, odd.CpuSeconds);
    }

    [Fact]
    public void A_sandbox_that_stopped_is_forgotten_and_windows_per_sandbox_are_independent()
    {
        var meter = new UsageMeter();
        meter.Record([Reading("sbx_a", 1), Reading("sbx_b", 1)], T0.AddSeconds(10));
        var windows = meter.Record([Reading("sbx_b", 2)], T0.AddSeconds(20));
        Assert.Equal("sbx_b", Assert.Single(windows).SandboxId);
        Assert.True(meter.StorageDue("sbx_a", T0));
        Assert.False(meter.StorageDue("sbx_b", T0));
    }

    [Fact]
    public void Storage_is_measured_on_the_first_reading_then_every_nth()
    {
        var meter = new UsageMeter(storageEvery: 3);
        var due = new List<bool>();
        for (var i = 1; i <= 7; i++)
        {
            due.Add(meter.StorageDue("sbx_a", T0));
            meter.Record([Reading("sbx_a", i)], T0.AddSeconds(i));
        }
        Assert.Equal([true, false, false, true, false, false, true], due);
    }

    [Fact]
    public void A_start_in_the_future_or_unknown_gives_no_window_yet()
    {
        var meter = new UsageMeter();
        Assert.Empty(meter.Record([Reading("sbx_a", 1, startedAt: T0.AddSeconds(5))], T0));
        Assert.Empty(meter.Record([Reading("sbx_b", 1, startedAt: default(DateTimeOffset))], T0));
        // Unknown start: counting begins at the first reading, its CPU so far not attributed to a window.
        var next = Assert.Single(meter.Record([Reading("sbx_b", 1.5, startedAt: default(DateTimeOffset))], T0.AddSeconds(2)));
        Assert.Equal(0.5, next.CpuSeconds, 6);
    }
}
