using System.Diagnostics;
using Miosa.Bench;

if (!BenchMain.TryParse(args, BenchOptions.Usage, BenchOptions.Parse, out var options, out var exitCode)) return exitCode;
using var interruption = BenchMain.OnInterrupt();
var ct = interruption.Token;

var startedAt = DateTimeOffset.UtcNow;
var stepBudget = TimeSpan.FromMinutes(20);
var machine = $"{Environment.ProcessorCount} cores, Linux {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, " +
              $"{SandboxProcesses.HostAvailable() / 1_000_000_000.0:F1} GB available, .NET {Environment.Version}";
var table = new ResultTable();
var scratch = Directory.CreateTempSubdirectory("miosa-bench-files-").FullName;
var run = new BenchRun(options, table, scratch);
var startLoad = BenchMain.LoadAverage();
BenchRun.Log($"{machine}; load average {startLoad}");
if (options.MemoryMb is { } memoryMb) table.Note($"every sandbox is created with resources.memory_mb = {memoryMb}");
if (options.Quick) table.Note("--quick: small counts, a smoke run rather than a measurement");
if (Environment.UserName != "root") table.Note($"running as {Environment.UserName}, not root: sandboxes and /proc of other users may be out of reach");

HttpClient? http = null;
try
{
    if (options.Suite == "node")
    {
        try
        {
            run.BwrapTrue = await Baselines.SpawnAsync("bwrap", Baselines.BwrapTrue, Math.Max(options.CreateCount, 50), ct);
            table.Add($"bare `bwrap … true` spawn p50 / p99 (n={run.BwrapTrue.Count})", $"{Latencies.Ms(run.BwrapTrue.P50)} / {Latencies.Ms(run.BwrapTrue.P99)}");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            table.Failed("bare `bwrap … true` spawn", "", e);
        }
    }

    try
    {
        var dll = MiosaNode.LocateDll(options.ApiDll);
        BenchRun.Log($"starting {dll}");
        run.Node = new MiosaNode(dll);
        await run.Node.StartAsync(ct);
        http = run.Node.Client();
        run.Api = new SandboxApi(http, options.MemoryMb);
        table.Add("node start to `miosa: ready` (fresh data dir)", $"{run.Node.StartTime.TotalSeconds:F1} s",
            $"node RSS {SandboxProcesses.Mb(SandboxProcesses.Rss(run.Node.Pid))}");
    }
    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
    {
        table.Failed("node start", "", e);
    }

    if (run.Api is not null)
    {
        try
        {
            // Warm-up, not measured: the first sandboxes and execs pay for JIT and cold caches.
            for (var i = 0; i < 5; i++)
            {
                var id = await run.Api.CreateAsync(ct);
                await run.Api.ExecTrueAsync(id, ct);
                await run.Api.DeleteAsync(id, ct);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            table.Note($"warm-up (5× create, exec true, delete) failed: {e.Message}");
        }
    }

    var steps = new List<(string Name, Func<BenchRun, CancellationToken, Task> Step)>();
    if (options.Suite == "suspend")
    {
        steps.Add(("suspend and resume calls", SuspendResume.CallsAsync));
        steps.Add(("resume on traffic", SuspendResume.OnTrafficAsync));
        steps.Add(($"{options.SuspendedCount} suspended sandboxes", SuspendResume.DensityAsync));
    }
    else
    {
        steps.Add(("sandbox create latency", CreateLatency.RunAsync));
        steps.Add(("exec round trip", ExecRoundTrip.RunAsync));
        if (!options.SkipFiles) steps.Add(("file throughput", FileThroughput.RunAsync));
        if (!options.SkipIdle) steps.Add(("idle sandbox memory", IdleMemory.RunAsync));
        if (!options.SkipConcurrent) steps.Add(("sandboxes alive at once", ConcurrentSandboxes.RunAsync));
    }
    foreach (var (name, step) in steps)
    {
        BenchRun.Log($"measuring {name}");
        await BenchMain.StepAsync(name, name, table, stepBudget, token => step(run, token), ct);
        if (run.Api is not null && run.Node is { HasExited: true })
        {
            table.Note($"the node exited during {name}");
            break;
        }
    }
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    table.Note("interrupted before the end");
}
finally
{
    await CleanUpAsync(run, http);
}

var markdown = Report(run, startedAt, machine, args, $"{startLoad} at start, {BenchMain.LoadAverage()} at the end");
await BenchMain.PrintAndWriteAsync(markdown, options.MarkdownPath ?? BenchMain.DefaultReportPath("", startedAt));
return ct.IsCancellationRequested ? 130 : 0;

static async Task CleanUpAsync(BenchRun run, HttpClient? http)
{
    using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
    if (run.Api is { Alive.IsEmpty: false } api && run.Node is { HasExited: false })
    {
        var left = api.Alive.Keys.ToList();
        BenchRun.Log($"cleaning up {left.Count} sandboxes");
        try
        {
            var failures = await run.DeleteAllAsync(left, 16, limit.Token);
            if (failures.Count > 0) run.Table.Note($"clean-up: {failures.Count} deletes failed: {BenchRun.Summarize(failures)}");
        }
        catch (OperationCanceledException)
        {
            run.Table.Note("clean-up: deleting the remaining sandboxes timed out");
        }
    }
    http?.Dispose();
    if (run.Node is not null)
    {
        run.NodeOutput = run.Node.OutputTail(60);
        await run.Node.DisposeAsync();
    }
    try
    {
        Directory.Delete(run.Scratch, recursive: true);
    }
    catch (Exception e) when (e is IOException or UnauthorizedAccessException)
    {
        BenchRun.Log($"could not remove {run.Scratch}: {e.Message}");
    }
}

static string Report(BenchRun run, DateTimeOffset startedAt, string machine, string[] args, string load)
{
    var command = "dotnet run -c Release --project bench/Miosa.Bench" + (args.Length > 0 ? " -- " + string.Join(' ', args) : "");
    var text = $"""
        # Miosa benchmark, {startedAt:yyyy-MM-dd HH:mm} UTC

        - command: `{command}`
        - machine: {machine}
        - load average (1, 5, 15 min): {load}
        - commit: {BenchMain.Commit()}

        {run.Table.ToMarkdown()}
        """;
    if (run.Table.HasErrors && run.NodeOutput is { Length: > 0 } output)
        text += $"\nLast lines of the node's output:\n\n```\n{output}\n```\n";
    return text;
}
