using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Miosa.Bench;

/// <summary>
/// Suspend and resume (issue 5), the <c>--suite suspend</c> steps: the latency of the explicit
/// calls, the cost of a resume on traffic (exec on a suspended sandbox with auto_resume), and the
/// CPU and memory of many suspended sandboxes, each frozen with a busy loop in it, next to the same
/// sandboxes running idle. CPU and memory are read from the sandboxes' own cgroups.
/// </summary>
public static class SuspendResume
{
    private const string ResumeGoal = "≤ 10 ms";
    private const string CpuGoal = "0% CPU";

    /// <summary>No auto-suspend during the run: only the bench suspends.</summary>
    private const string NoTimeout = "\"timeout_seconds\":0";

    /// <summary>(a) POST suspend and POST resume, one after the other, on one running sandbox.</summary>
    public static Task CallsAsync(BenchRun run, CancellationToken ct) =>
        WithSandboxAsync(run, "POST resume p50 / p99", async (api, id) =>
        {
            var n = run.Options.SuspendRounds;
            await api.StartBackgroundAsync(id, "while true; do sleep 1; done", ct);
            for (var i = 0; i < 3; i++)
            {
                await api.SuspendAsync(id, ct);
                await api.ResumeAsync(id, ct);
            }
            var suspend = new Latencies();
            var resume = new Latencies();
            var frozen = 0;
            for (var i = 0; i < n; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await api.SuspendAsync(id, ct);
                suspend.Add(Stopwatch.GetElapsedTime(started));
                if (Cgroup.Frozen(id) == true) frozen++;
                started = Stopwatch.GetTimestamp();
                await api.ResumeAsync(id, ct);
                resume.Add(Stopwatch.GetElapsedTime(started));
            }
            run.Table.Add($"POST suspend p50 / p99 (n={n})", $"{Latencies.Ms(suspend.P50)} / {Latencies.Ms(suspend.P99)}");
            run.Table.Add($"POST resume p50 / p99 (n={n})", $"{Latencies.Ms(resume.P50)} / {Latencies.Ms(resume.P99)}", "", "",
                ResultTable.Goal($"p50 {ResumeGoal}", resume.P50 <= 10) + "; " + ResultTable.Goal($"p99 {ResumeGoal}", resume.P99 <= 10));
            run.Table.Add("freezer state when POST suspend answered", $"FROZEN {frozen} of {n}",
                Cgroup.Frozen(id) is null ? "no freezer cgroup found" : "");
        }, ct);

    /// <summary>(b) exec <c>true</c> on a suspended sandbox (auto_resume) against the same exec on a running one.</summary>
    public static Task OnTrafficAsync(BenchRun run, CancellationToken ct) =>
        WithSandboxAsync(run, "resume on traffic", async (api, id) =>
        {
            var n = run.Options.SuspendRounds;
            for (var i = 0; i < 5; i++) await api.ExecTrueAsync(id, ct);
            var running = await Latencies.MeasureAsync(n, _ => api.ExecTrueAsync(id, ct), ct);
            var suspended = new Latencies();
            for (var i = 0; i < n; i++)
            {
                await api.SuspendAsync(id, ct);
                var started = Stopwatch.GetTimestamp();
                await api.ExecTrueAsync(id, ct);
                suspended.Add(Stopwatch.GetElapsedTime(started));
            }
            var state = await api.StateAsync(id, ct);
            var baseline = $"running: {Latencies.Ms(running.P50)} / {Latencies.Ms(running.P99)}";
            run.Table.Add($"exec `true` on a running sandbox p50 / p99 (n={n})", $"{Latencies.Ms(running.P50)} / {Latencies.Ms(running.P99)}");
            run.Table.Add($"exec `true` on a suspended sandbox (auto_resume) p50 / p99 (n={n})", $"{Latencies.Ms(suspended.P50)} / {Latencies.Ms(suspended.P99)}",
                baseline, ResultTable.Ratio(suspended.P50, running.P50));
            var cost = suspended.P50 - running.P50;
            run.Table.Add("resume on traffic: extra latency of that exec (p50 difference)", Latencies.Ms(cost), $"state after the last exec: {state}", "",
                ResultTable.Goal(ResumeGoal, cost <= 10));
        }, ct);

    /// <summary>
    /// (c) N sandboxes: CPU over a few seconds and memory running idle; then a busy loop started in
    /// each, seen burning CPU, and the sandbox suspended; then CPU over the same time and memory
    /// suspended; last, two are resumed to show their loops are still there.
    /// </summary>
    public static async Task DensityAsync(BenchRun run, CancellationToken ct)
    {
        var n = run.Options.SuspendedCount;
        var window = TimeSpan.FromSeconds(run.Options.CpuSeconds);
        var ids = new ConcurrentBag<string>();
        try
        {
            var api = run.RequireApi();
            var node = run.RequireNode();
            var (elapsed, failures) = await BenchRun.InParallelAsync(n, 8, async (_, token) => ids.Add(await api.CreateAsync(NoTimeout, token)), ct);
            if (!failures.IsEmpty) run.Table.Note($"suspended sandboxes: {failures.Count} of {n} creates failed: {BenchRun.Summarize(failures)}");
            if (ids.IsEmpty) throw new InvalidOperationException("no sandbox was created");
            var all = ids.ToList();
            BenchRun.Log($"created {all.Count} sandboxes in {elapsed.TotalSeconds:F1} s");
            await Task.Delay(TimeSpan.FromSeconds(3), ct);

            var idle = await CpuOverAsync(all, node.Pid, window, ct);
            var idleMemory = Memory(all, node.Pid);

            // One at a time, so each loop has a core while it is watched: start it, see it burn, suspend.
            var busy = new List<double>();
            foreach (var id in all)
            {
                await api.StartBackgroundAsync(id, "while :; do :; done", ct);
                await Task.Delay(TimeSpan.FromMilliseconds(150), ct);
                var before = Cgroup.CpuNs(id);
                var started = Stopwatch.GetTimestamp();
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
                busy.Add((Cgroup.CpuNs(id) - before) / (Stopwatch.GetElapsedTime(started).TotalMilliseconds * 1e6));
                await api.SuspendAsync(id, ct);
            }
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            var frozen = all.Count(id => Cgroup.Frozen(id) == true);
            var suspended = await CpuOverAsync(all, node.Pid, window, ct);
            var suspendedMemory = Memory(all, node.Pid);

            var count = all.Count;
            var seconds = window.TotalSeconds;
            busy.Sort();
            run.Table.Add($"busy loop in each sandbox before its suspend, CPU (median / min of {count}, 200 ms each)",
                $"{busy[busy.Count / 2] * 100:F0}% / {busy[0] * 100:F0}% of a core");
            run.Table.Add($"{count} running idle sandboxes: CPU over {seconds:F0} s (cpuacct.usage)",
                $"{Percent(idle.SandboxNs, window)} of a core in all ({idle.SandboxNs / 1e6:F1} ms)", $"node process {Percent(idle.NodeNs, window)}");
            run.Table.Add($"{count} suspended sandboxes, a busy loop in each: CPU over {seconds:F0} s (cpuacct.usage)",
                $"{Percent(suspended.SandboxNs, window)} of a core in all ({suspended.SandboxNs / 1e6:F3} ms; {suspended.Busy} sandboxes above 0)",
                $"running idle {Percent(idle.SandboxNs, window)}; node process {Percent(suspended.NodeNs, window)}", "",
                ResultTable.Goal(CpuGoal, suspended.SandboxNs == 0));
            run.Table.Add("freezer state of the suspended sandboxes", $"FROZEN {frozen} of {count}");
            run.Table.Add("memory cgroup usage per sandbox (memory.usage_in_bytes), suspended",
                SandboxProcesses.Mb(suspendedMemory.Cgroup / count), $"running idle {SandboxProcesses.Mb(idleMemory.Cgroup / count)}");
            run.Table.Add("sandbox processes' PSS per sandbox, suspended",
                SandboxProcesses.Mb(suspendedMemory.Pss / count), $"running idle {SandboxProcesses.Mb(idleMemory.Pss / count)} ({idleMemory.Processes} → {suspendedMemory.Processes} processes)");

            // The loops were frozen, not killed: resumed, they burn CPU again.
            var sample = all.Take(2).ToList();
            foreach (var id in sample) await api.ResumeAsync(id, ct);
            var resumed = await CpuOverAsync(sample, node.Pid, TimeSpan.FromSeconds(1), ct);
            run.Table.Add($"the busy loops after an explicit resume of {sample.Count}: CPU over 1 s",
                $"{Percent(resumed.SandboxNs, TimeSpan.FromSeconds(1))} of a core in all");
            foreach (var id in sample) await api.SuspendAsync(id, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed($"{n} suspended sandboxes: CPU", CpuGoal, e);
        }
        finally
        {
            if (run.Api is not null && !ids.IsEmpty)
            {
                var alive = ids.ToList();
                var (elapsed, failures) = await BenchRun.InParallelAsync(alive.Count, 8, (i, token) => run.Api.DeleteAsync(alive[i], token), ct);
                BenchRun.Log($"deleted {alive.Count - failures.Count} of {alive.Count} suspended sandboxes in {elapsed.TotalSeconds:F1} s");
                if (!failures.IsEmpty) run.Table.Note($"suspended sandboxes: {failures.Count} deletes failed: {BenchRun.Summarize(failures)}");
            }
        }
    }

    /// <summary>Runs the measurement on a new sandbox (no auto-suspend) and deletes it after; a failure becomes an error row.</summary>
    private static async Task WithSandboxAsync(BenchRun run, string metric, Func<SandboxApi, string, Task> measure, CancellationToken ct)
    {
        string? id = null;
        try
        {
            var api = run.RequireApi();
            id = await api.CreateAsync(NoTimeout, ct);
            await measure(api, id);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed(metric, ResumeGoal, e);
        }
        finally
        {
            if (id is not null && run.Api is not null) await run.Api.DeleteAsync(id, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }

    private static string Percent(long ns, TimeSpan window) => (ns / (window.TotalMilliseconds * 1e6)).ToString("0.000%", CultureInfo.InvariantCulture);

    private static async Task<(long SandboxNs, long NodeNs, int Busy)> CpuOverAsync(List<string> ids, int nodePid, TimeSpan window, CancellationToken ct)
    {
        var before = ids.ToDictionary(id => id, Cgroup.CpuNs);
        var nodeBefore = ProcessCpuNs(nodePid);
        await Task.Delay(window, ct);
        var deltas = ids.Select(id => Cgroup.CpuNs(id) - before[id]).ToList();
        return (deltas.Sum(), ProcessCpuNs(nodePid) - nodeBefore, deltas.Count(d => d > 0));
    }

    private static (long Cgroup, long Pss, int Processes) Memory(List<string> ids, int nodePid)
    {
        var processes = SandboxProcesses.Of(nodePid, ids);
        return (ids.Sum(Cgroup.MemoryBytes), processes.Sum(p => SandboxProcesses.Pss(p.Pid)), processes.Count);
    }

    /// <summary>utime + stime of a process, in ns (clock ticks of 10 ms).</summary>
    private static long ProcessCpuNs(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) * 10_000_000;
    }

    /// <summary>A sandbox's cgroup as the node makes it: <c>miosa/&lt;id&gt;</c> in each v1 hierarchy, or in the v2 tree.</summary>
    private static class Cgroup
    {
        private const string Root = "/sys/fs/cgroup";
        private static readonly bool V1 = Directory.Exists(Path.Combine(Root, "cpuacct"));

        public static long CpuNs(string id) => V1
            ? ReadLong(Path.Combine(Root, "cpuacct", "miosa", id, "cpuacct.usage"))
            : ReadKey(Path.Combine(Root, "miosa", id, "cpu.stat"), "usage_usec") * 1000;

        public static long MemoryBytes(string id) => V1
            ? ReadLong(Path.Combine(Root, "memory", "miosa", id, "memory.usage_in_bytes"))
            : ReadLong(Path.Combine(Root, "miosa", id, "memory.current"));

        /// <summary>Whether its freezer reads frozen; null without a freezer.</summary>
        public static bool? Frozen(string id)
        {
            var path = V1 ? Path.Combine(Root, "freezer", "miosa", id, "freezer.state") : Path.Combine(Root, "miosa", id, "cgroup.freeze");
            if (!File.Exists(path)) return null;
            var state = File.ReadAllText(path).Trim();
            return state is "FROZEN" or "1";
        }

        private static long ReadLong(string path) => long.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);

        private static long ReadKey(string path, string key) =>
            File.ReadLines(path).Select(l => l.Split(' ')).Where(f => f.Length == 2 && f[0] == key)
                .Select(f => long.Parse(f[1], CultureInfo.InvariantCulture)).First();
    }
}
