using System.Collections.Concurrent;
using Miosa.Actors.Common;

namespace Miosa.HostAgent.Sandboxes;

/// <summary>
/// What this host's sandboxes are doing, as their data plane sees it: every exec, file call,
/// preview request and terminal passes the node ingress, which marks the sandbox in use for as long
/// as the request lasts (an open WebSocket keeps it awake). The host agent asks to suspend those
/// idle for longer than their timeout; a request to a suspended sandbox wakes it first.
/// </summary>
public sealed class SandboxActivity(TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Entry> _sandboxes = new();

    /// <summary>
    /// Resumes a suspended (or stopped) sandbox on traffic through its entity; a rejection (e.g.
    /// <c>sandbox_suspended</c> without auto_resume) is what the request answers. Set once the node
    /// joined the cluster; until then (and in host-only tests) requests are not woken.
    /// </summary>
    public Func<string, CancellationToken, Task<Rejection?>>? Wake { get; set; }

    /// <summary>A sandbox started here: idle from now, suspended after <paramref name="idleTimeoutSeconds"/> (0 never).</summary>
    public void Started(string sandboxId, int idleTimeoutSeconds) =>
        _sandboxes[sandboxId] = new Entry(idleTimeoutSeconds) { LastUsed = clock.GetUtcNow() };

    public void Forget(string sandboxId) => _sandboxes.TryRemove(sandboxId, out _);

    /// <summary>Bytes a sandbox's app sent out through its previews (metered as egress).</summary>
    public void AddEgress(string sandboxId, long bytes)
    {
        if (bytes > 0 && _sandboxes.TryGetValue(sandboxId, out var entry)) Interlocked.Add(ref entry.EgressBytes, bytes);
    }

    /// <summary>The egress counted since the last call (each byte is metered once).</summary>
    public long TakeEgress(string sandboxId) =>
        _sandboxes.TryGetValue(sandboxId, out var entry) ? Interlocked.Exchange(ref entry.EgressBytes, 0) : 0;

    /// <summary>Marks the sandbox in use until the returned handle is disposed.</summary>
    public IDisposable Use(string sandboxId)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var entry)) return Nothing.Instance;
        Interlocked.Increment(ref entry.InFlight);
        entry.LastUsed = clock.GetUtcNow();
        return new InUse(entry, clock);
    }

    /// <summary>Resumed: idle from now, and may be suspended again.</summary>
    public void Resumed(string sandboxId)
    {
        if (!_sandboxes.TryGetValue(sandboxId, out var entry)) return;
        entry.LastUsed = clock.GetUtcNow();
        entry.SuspendAsked = false;
    }

    /// <summary>
    /// Sandboxes idle past their timeout and not yet asked about; each is returned once until it
    /// is resumed (the entity decides, the host only reports).
    /// </summary>
    public IReadOnlyList<string> TakeIdle()
    {
        var now = clock.GetUtcNow();
        var idle = new List<string>();
        foreach (var (id, entry) in _sandboxes)
        {
            if (entry.IdleTimeoutSeconds <= 0 || entry.SuspendAsked || Volatile.Read(ref entry.InFlight) > 0) continue;
            if (now - entry.LastUsed < TimeSpan.FromSeconds(entry.IdleTimeoutSeconds)) continue;
            entry.SuspendAsked = true;
            idle.Add(id);
        }
        return idle;
    }

    private sealed class Entry(int idleTimeoutSeconds)
    {
        public int InFlight;
        public long EgressBytes;

        public int IdleTimeoutSeconds { get; } = idleTimeoutSeconds;

        public DateTimeOffset LastUsed { get; set; }

        public bool SuspendAsked { get; set; }
    }

    private sealed class InUse(Entry entry, TimeProvider clock) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
            entry.LastUsed = clock.GetUtcNow();
            Interlocked.Decrement(ref entry.InFlight);
        }
    }

    private sealed class Nothing : IDisposable
    {
        public static readonly Nothing Instance = new();

        public void Dispose() { }
    }
}
