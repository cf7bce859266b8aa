namespace Miosa.HostAgent.Fleet;

/// <summary>One sandbox's cumulative counters as read at one moment.</summary>
public sealed record UsageReading(string SandboxId, DateTimeOffset StartedAt, TimeSpan CpuTime, long MemoryBytes, long? StorageBytes);

/// <summary>What a sandbox consumed between two readings.</summary>
public sealed record UsageWindow(string SandboxId, DateTimeOffset Start, DateTimeOffset End, double CpuSeconds, double MemoryMbSeconds, long? StorageBytes);

/// <summary>
/// Turns the cgroup's cumulative counters into per-window deltas. Pure: the host agent feeds it
/// readings and tells the sandbox entities the windows. A sandbox seen for the first time (or
/// restarted: a new start time) counts from its start, since its cgroup's counters began there.
/// </summary>
public sealed class UsageMeter(int storageEvery = 10)
{
    private readonly Dictionary<string, Previous> _previous = [];

    /// <summary>Whether the next reading of this sandbox should measure its workspace (first one, then every Nth).</summary>
    public bool StorageDue(string sandboxId, DateTimeOffset startedAt) =>
        !_previous.TryGetValue(sandboxId, out var p) || p.StartedAt != startedAt || (p.Readings % storageEvery) == 0;

    /// <summary>The windows since the previous readings; sandboxes no longer read are forgotten.</summary>
    public IReadOnlyList<UsageWindow> Record(IReadOnlyList<UsageReading> readings, DateTimeOffset at)
    {
        var windows = new List<UsageWindow>();
        foreach (var r in readings)
        {
            var known = _previous.TryGetValue(r.SandboxId, out var p) && p.StartedAt == r.StartedAt;
            // An unknown start (a driver that does not say) gives no first window: counting from here.
            var start = known ? p!.At : r.StartedAt == default || r.StartedAt > at ? at : r.StartedAt;
            var cpu = known ? r.CpuTime - p!.CpuTime : r.StartedAt == default ? TimeSpan.Zero : r.CpuTime;
            _previous[r.SandboxId] = new Previous(r.StartedAt, at, r.CpuTime, known ? p!.Readings + 1 : 1);
            var seconds = (at - start).TotalSeconds;
            if (seconds <= 0) continue;
            windows.Add(new UsageWindow(r.SandboxId, start, at,
                Math.Max(0, cpu.TotalSeconds),
                r.MemoryBytes / (1024.0 * 1024.0) * seconds,
                r.StorageBytes));
        }
        var read = readings.Select(r => r.SandboxId).ToHashSet();
        foreach (var gone in _previous.Keys.Where(id => !read.Contains(id)).ToList()) _previous.Remove(gone);
        return windows;
    }

    private sealed record Previous(DateTimeOffset StartedAt, DateTimeOffset At, TimeSpan CpuTime, int Readings);
}
