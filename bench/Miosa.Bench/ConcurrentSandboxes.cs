using System.Collections.Concurrent;
using System.Diagnostics;

namespace Miosa.Bench;

/// <summary>
/// 5. Many sandboxes alive at once: how many of N creates succeed, how long they take, what an
/// exec costs while they are alive, and whether deleting them leaves nothing behind.
/// </summary>
public static class ConcurrentSandboxes
{
    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var n = run.Options.ConcurrentCount;
        var concurrency = run.Options.ConcurrentConcurrency;
        var ids = new ConcurrentBag<string>();
        try
        {
            var api = run.RequireApi();
            var node = run.RequireNode();
            var (elapsed, failures) = await BenchRun.InParallelAsync(n, concurrency, async (_, token) => ids.Add(await api.CreateAsync(token)), ct);
            run.Table.Add($"sandboxes alive at once (goal {n}, {concurrency} creates at a time)", $"{ids.Count} of {n} in {elapsed.TotalSeconds:F1} s",
                "", "", ResultTable.Goal($"{n} of {n}", ids.Count == n));
            if (!failures.IsEmpty) run.Table.Note($"{n} sandboxes: {failures.Count} creates failed: {BenchRun.Summarize(failures)}");
            if (ids.IsEmpty) return;

            var alive = ids.ToList();
            var processes = SandboxProcesses.Of(node.Pid, alive);
            var pss = processes.Sum(p => SandboxProcesses.Pss(p.Pid));
            var (charged, _) = SandboxProcesses.CgroupMemory(processes);
            run.Table.Add($"with {alive.Count} alive: per sandbox PSS / cgroup usage; node RSS",
                $"{SandboxProcesses.Mb(pss / alive.Count)} / {SandboxProcesses.Mb(charged / alive.Count)}; {SandboxProcesses.Mb(SandboxProcesses.Rss(node.Pid))}");

            var execs = Math.Min(50, run.Options.ExecCount);
            var random = new Random(7);
            var execFailures = new List<Exception>();
            var latencies = new Latencies();
            for (var i = 0; i < execs; i++)
            {
                var started = Stopwatch.GetTimestamp();
                try
                {
                    await api.ExecTrueAsync(alive[random.Next(alive.Count)], ct);
                    latencies.Add(Stopwatch.GetElapsedTime(started));
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    execFailures.Add(e);
                }
            }
            run.Table.Add($"exec `true` p50 with {alive.Count} alive (n={execs}, random sandbox)",
                latencies.Count == 0 ? "error" : $"{Latencies.Ms(latencies.P50)} (p99 {Latencies.Ms(latencies.P99)})", "", "",
                latencies.Count == 0 ? "" : ResultTable.Goal("p50 ≤ 10 ms", latencies.P50 <= 10));
            if (execFailures.Count > 0) run.Table.Note($"exec with {alive.Count} alive: {execFailures.Count} of {execs} failed: {BenchRun.Summarize(execFailures)}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed($"{n} sandboxes alive at once", $"{n} of {n}", e);
        }
        finally
        {
            if (!ids.IsEmpty) await DeleteAndVerifyAsync(run, [.. ids], concurrency, ct);
        }
    }

    private static async Task DeleteAndVerifyAsync(BenchRun run, List<string> ids, int concurrency, CancellationToken ct)
    {
        try
        {
            var api = run.RequireApi();
            var started = Stopwatch.GetTimestamp();
            var failures = await run.DeleteAllAsync(ids, concurrency, ct);
            var elapsed = Stopwatch.GetElapsedTime(started);
            if (failures.Count > 0) run.Table.Note($"{ids.Count} sandboxes: {failures.Count} deletes failed: {BenchRun.Summarize(failures)}");

            var (_, stateFailures) = await BenchRun.InParallelAsync(ids.Count, concurrency, async (i, token) =>
            {
                var state = await api.StateAsync(ids[i], token);
                if (state is not (null or "destroyed")) throw new InvalidOperationException($"still {state}");
            }, ct);

            // Processes and host traces (cgroups, directories) may be torn down just after the 204.
            var node = run.RequireNode();
            var lingering = SandboxProcesses.Of(node.Pid, ids);
            for (var wait = 0; wait < 30 && lingering.Count > 0; wait++)
            {
                await Task.Delay(1000, ct);
                lingering = SandboxProcesses.Of(node.Pid, ids);
            }
            var traces = HostTraces(node.DataDir, ids);
            var gone = stateFailures.IsEmpty && lingering.Count == 0 && traces.Count == 0;
            run.Table.Add($"delete {ids.Count} sandboxes, {concurrency} at a time; all gone?",
                $"{ids.Count - failures.Count} deleted in {elapsed.TotalSeconds:F1} s; {(gone ? "all gone" : "NOT all gone")}", "", "",
                ResultTable.Goal("all gone", gone));
            if (!stateFailures.IsEmpty) run.Table.Note($"after delete, {stateFailures.Count} sandboxes still answer GET with a live state: {BenchRun.Summarize(stateFailures)}");
            if (lingering.Count > 0)
                run.Table.Note($"after delete (+30 s), {lingering.Count} sandbox processes remain: {string.Join(", ", lingering.Take(8).Select(p => $"{p.Pid} {p.Command}"))}");
            if (traces.Count > 0) run.Table.Note($"after delete, {traces.Count} host paths still name a deleted sandbox, e.g. {string.Join(", ", traces.Take(5))}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed($"delete {ids.Count} sandboxes; all gone?", "all gone", e);
        }
    }

    /// <summary>Directories in the data dir and cgroup hierarchies whose name contains a deleted sandbox's id.</summary>
    private static List<string> HostTraces(string dataDir, IReadOnlyCollection<string> ids)
    {
        var idSet = ids.ToHashSet();
        var found = new List<string>();
        void Walk(string dir, int depth)
        {
            if (depth < 0) return;
            IEnumerable<string> children;
            try
            {
                children = Directory.EnumerateDirectories(dir).ToList();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return;
            }
            foreach (var child in children)
            {
                var info = new DirectoryInfo(child);
                if (info.LinkTarget is not null) continue;
                if (idSet.Any(id => info.Name.Contains(id, StringComparison.Ordinal))) found.Add(child);
                else Walk(child, depth - 1);
            }
        }
        Walk(dataDir, 4);
        Walk("/sys/fs/cgroup", 4);
        return found;
    }
}
