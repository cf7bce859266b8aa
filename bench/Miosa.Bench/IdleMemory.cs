using System.Collections.Concurrent;

namespace Miosa.Bench;

/// <summary>
/// 4. Host memory per idle sandbox: with N sandboxes alive and idle, the summed PSS of every host
/// process of those sandboxes divided by N, plus what the node itself grew by.
/// </summary>
public static class IdleMemory
{
    private const string Goal = "≤ 2 MB per idle sandbox";

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var n = run.Options.IdleCount;
        var concurrency = run.Options.IdleConcurrency;
        var ids = new ConcurrentBag<string>();
        try
        {
            var api = run.RequireApi();
            var node = run.RequireNode();
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
            var nodeBefore = SandboxProcesses.Rss(node.Pid);
            var hostBefore = SandboxProcesses.HostAvailable();
            var kernelBefore = SandboxProcesses.HostKernel();
            var sandboxProcessesBefore = SandboxProcesses.Of(node.Pid, []).Count;

            var (elapsed, failures) = await BenchRun.InParallelAsync(n, concurrency, async (_, token) => ids.Add(await api.CreateAsync(token)), ct);
            run.Table.Add($"create {n} sandboxes, {concurrency} at a time", $"{ids.Count} ok in {elapsed.TotalSeconds:F1} s ({ids.Count / elapsed.TotalSeconds:F1}/s)");
            if (!failures.IsEmpty) run.Table.Note($"idle sandboxes: {failures.Count} of {n} creates failed: {BenchRun.Summarize(failures)}");
            if (ids.IsEmpty) throw new InvalidOperationException("no sandbox was created");

            // Let start-up work (JIT, GC, page faults of the agents) settle before reading memory.
            await Task.Delay(TimeSpan.FromSeconds(5), ct);
            var processes = SandboxProcesses.Of(node.Pid, [.. ids]);
            var pss = processes.Sum(p => SandboxProcesses.Pss(p.Pid));
            var nodeAfter = SandboxProcesses.Rss(node.Pid);
            var hostAfter = SandboxProcesses.HostAvailable();
            var kernelAfter = SandboxProcesses.HostKernel();
            var perSandbox = pss / ids.Count;
            var commands = string.Join(", ", processes.GroupBy(p => p.Command).OrderByDescending(g => g.Count()).Select(g => $"{g.Key} ×{g.Count()}"));
            if (processes.Count == 0)
                throw new InvalidOperationException($"found no sandbox processes under the node (pid {node.Pid}); processes under it before: {sandboxProcessesBefore}");

            run.Table.Add($"sandbox processes' PSS per idle sandbox ({ids.Count} alive)", SandboxProcesses.Mb(perSandbox), "", "",
                ResultTable.Goal(Goal, perSandbox <= 2_000_000));
            var (charged, cgroups) = SandboxProcesses.CgroupMemory(processes);
            run.Table.Add("sandbox memory cgroups' usage per idle sandbox (pages + page cache + kernel memory)",
                cgroups == 0 ? "n/a (no memory cgroup found)" : SandboxProcesses.Mb(charged / ids.Count), $"{cgroups} cgroups");
            run.Table.Add("host processes per idle sandbox", $"{processes.Count / (double)ids.Count:F1} ({commands})");
            run.Table.Add($"node RSS growth per sandbox ({ids.Count} alive)", SandboxProcesses.Mb((nodeAfter - nodeBefore) / ids.Count),
                $"node RSS {SandboxProcesses.Mb(nodeBefore)} → {SandboxProcesses.Mb(nodeAfter)}");
            run.Table.Add("host kernel memory growth per sandbox (Slab + KernelStack + PageTables, host-wide)", SandboxProcesses.Mb((kernelAfter - kernelBefore) / ids.Count));
            run.Table.Add("host MemAvailable drop per sandbox (host-wide, noisy)", SandboxProcesses.Mb((hostBefore - hostAfter) / ids.Count));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed("sandbox processes' PSS per idle sandbox", Goal, e);
        }
        finally
        {
            if (run.Api is not null && !ids.IsEmpty)
            {
                var alive = ids.ToList();
                var (elapsed, failures) = await BenchRun.InParallelAsync(alive.Count, concurrency, (i, token) => run.Api.DeleteAsync(alive[i], token), ct);
                BenchRun.Log($"deleted {alive.Count - failures.Count} of {alive.Count} idle sandboxes in {elapsed.TotalSeconds:F1} s");
                if (!failures.IsEmpty) run.Table.Note($"idle sandboxes: {failures.Count} deletes failed: {BenchRun.Summarize(failures)}");
            }
        }
    }
}
