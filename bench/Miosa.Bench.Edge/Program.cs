using System.Diagnostics;
using System.Net;
using System.Security.Cryptography;
using Miosa.Bench;
using Miosa.Bench.Edge;

if (!BenchMain.TryParse(args, EdgeBenchOptions.Usage, EdgeBenchOptions.Parse, out var options, out var exitCode)) return exitCode;
using var interruption = BenchMain.OnInterrupt();
var ct = interruption.Token;

var startedAt = DateTimeOffset.UtcNow;
var stepBudget = TimeSpan.FromMinutes(10);
var machine = $"{Environment.ProcessorCount} cores ({CpuModel()}), Linux {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, " +
              $"{MemAvailableGb():F1} GB available, .NET {Environment.Version}";
var table = new ResultTable();
var run = new EdgeRun(options, table);
var startLoad = BenchMain.LoadAverage();
EdgeRun.Log($"{machine}; load average {startLoad}");
table.Note($"app in the sandbox: {SandboxApp.Describe(options.App)}; sandbox at API defaults (1 CPU, 512 MB)");
if (options.Quick) table.Note("--quick: small counts, a smoke run rather than a measurement");
if (Environment.UserName != "root") table.Note($"running as {Environment.UserName}, not root: the agent socket (path c) may be out of reach");

HttpClient? http = null;
try
{
    var secret = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
    try
    {
        var dll = MiosaNode.LocateDll(options.ApiDll);
        EdgeRun.Log($"starting {dll} (api, edge, host)");
        run.Node = new MiosaNode(dll, "bench-edge-node", secret, dataDirPrefix: EdgeRun.DataDirPrefix);
        await run.Node.StartAsync(ct);
        EdgeRun.Log($"starting an edge-only node joined to it");
        run.EdgeNode = new MiosaNode(dll, "bench-edge-only", secret, new()
        {
            ["MIOSA_ROLES"] = "edge",
            ["MIOSA_SEEDS"] = $"akka.tcp://miosa@127.0.0.1:{run.Node.AkkaPort}",
        }, EdgeRun.DataDirPrefix);
        await run.EdgeNode.StartAsync(ct);
        http = run.Node.Client();
        run.Api = new EdgeApi(http);
        table.Add("nodes start to `miosa: ready` (fresh data dirs)",
            $"node (api, edge, host) {run.Node.StartTime.TotalSeconds:F1} s; edge-only node {run.EdgeNode.StartTime.TotalSeconds:F1} s",
            $"RSS {EdgeRun.RssBytes(run.Node.Pid) / 1_048_576} MB and {EdgeRun.RssBytes(run.EdgeNode.Pid) / 1_048_576} MB");

        var sandbox = await run.Api.CreateSandboxAsync(ct);
        var lastPropagationPort = EdgeRun.FirstPropagationPort + options.Previews - 1;
        await SandboxApp.StartAsync(run.Api, sandbox, options.App, [$"{EdgeRun.AppPort}", $"{EdgeRun.FirstPropagationPort}-{lastPropagationPort}"], ct);
        run.AppSandbox = sandbox;
        run.AppPreview = await run.Api.OpenPreviewAsync(sandbox, EdgeRun.AppPort, "public", ct);
        run.PreviewCount++;
        using var local = new EdgeVisitor("edge in the node", run.Node.EdgePort);
        using var remote = new EdgeVisitor("edge-only node", run.EdgeNode.EdgePort);
        await EdgeRun.WaitForAsync(local, run.AppPreview.Url, HttpStatusCode.OK, ct);
        await EdgeRun.WaitForAsync(remote, run.AppPreview.Url, HttpStatusCode.OK, ct);
        table.Note($"the app's public preview: {run.AppPreview.Url} (sandbox {sandbox}); the node's ingress {run.Node.Ingress}; " +
                   $"the agent socket {run.AgentSocket}");
    }
    catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
    {
        table.Failed("set-up (nodes, sandbox, app, preview)", "", e);
    }

    var steps = new List<(string Name, Func<EdgeRun, CancellationToken, Task> Step)>
    {
        ("preview latency: edge vs ingress vs port bridge", PreviewLatency.RunAsync),
        ("route propagation", RoutePropagation.RunAsync),
        ("revocation and branding on both edges", EdgeFanout.RunAsync),
    };
    if (!options.SkipRoutes)
    {
        steps.Add(("latency with a large route table", LargeRouteTable.RunAsync));
        table.Note($"large table: real previews opened through the API until the table holds {options.Routes:N0} preview routes, spread over " +
                   $"the app's sandbox and {options.FillSandboxes} more (a sandbox route carries all its previews); " +
                   (options.SkipInProcess ? "" : $"then an in-process EdgeServer holding {options.Routes:N0} synthetic sandbox routes next to one holding only the real route"));
    }
    if (run.AppPreview is not null)
    {
        foreach (var (name, step) in steps)
        {
            EdgeRun.Log($"measuring {name}");
            await BenchMain.StepAsync(name, name, table, stepBudget, token => step(run, token), ct);
            if (run.Node is { HasExited: true } || run.EdgeNode is { HasExited: true })
            {
                table.Note($"a node exited during {name}");
                break;
            }
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
await BenchMain.PrintAndWriteAsync(markdown, options.MarkdownPath ?? BenchMain.DefaultReportPath("edge-", startedAt));
return ct.IsCancellationRequested ? 130 : 0;

static async Task CleanUpAsync(EdgeRun run, HttpClient? http)
{
    using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(3));
    if (run.Api is { Alive.IsEmpty: false } api && run.Node is { HasExited: false })
    {
        var left = api.Alive.Keys.ToList();
        EdgeRun.Log($"cleaning up {left.Count} sandboxes");
        try
        {
            await EdgeRun.InParallelAsync(left.Count, 8, (i, t) => api.DeleteSandboxAsync(left[i], t), limit.Token);
        }
        catch (Exception e)
        {
            run.Table.Note($"clean-up: deleting the sandboxes failed: {e.Message}");
        }
    }
    http?.Dispose();
    if (run.EdgeNode is not null)
    {
        run.EdgeNodeOutput = run.EdgeNode.OutputTail(30);
        await run.EdgeNode.DisposeAsync();
    }
    if (run.Node is not null)
    {
        run.NodeOutput = run.Node.OutputTail(60);
        await run.Node.DisposeAsync();
    }
}

static string CpuModel() =>
    File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim() ?? "unknown CPU";

static double MemAvailableGb()
{
    var kb = File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemAvailable:", StringComparison.Ordinal))
        .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
    return long.Parse(kb, System.Globalization.CultureInfo.InvariantCulture) / 1_000_000.0;
}

static string Report(EdgeRun run, DateTimeOffset startedAt, string machine, string[] args, string load)
{
    var command = "dotnet run -c Release --project bench/Miosa.Bench.Edge" + (args.Length > 0 ? " -- " + string.Join(' ', args) : "");
    var text = $"""
        # Miosa edge benchmark, {startedAt:yyyy-MM-dd HH:mm} UTC

        - command: `{command}`
        - machine: {machine}
        - load average (1, 5, 15 min): {load}
        - commit: {BenchMain.Commit()}

        {run.Table.ToMarkdown()}
        """;
    if (run.Table.HasErrors && run.NodeOutput is { Length: > 0 } output)
        text += $"\nLast lines of the node's output:\n\n```\n{output}\n```\n";
    if (run.Table.HasErrors && run.EdgeNodeOutput is { Length: > 0 } edgeOutput)
        text += $"\nLast lines of the edge-only node's output:\n\n```\n{edgeOutput}\n```\n";
    return text;
}
