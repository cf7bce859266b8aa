using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Miosa.Bench;

namespace Miosa.Bench.Edge;

/// <summary>
/// What every measurement of one run shares: the options, the table, the node (all roles), the
/// edge-only node, the API, the sandbox with the app and its public preview on <see cref="AppPort"/>.
/// </summary>
public sealed class EdgeRun(EdgeBenchOptions options, ResultTable table)
{
    public const int AppPort = 3000;
    public const int PrivatePort = 3001;
    public const int FirstPropagationPort = 4000;
    public const int FirstFillPort = 10_000;

    public EdgeBenchOptions Options { get; } = options;
    public ResultTable Table { get; } = table;
    public MiosaNode? Node { get; set; }
    public MiosaNode? EdgeNode { get; set; }
    public EdgeApi? Api { get; set; }
    public string? AppSandbox { get; set; }
    public Preview? AppPreview { get; set; }

    /// <summary>How many previews the app's sandbox and the fill sandboxes hold (the route table's preview routes).</summary>
    public int PreviewCount { get; set; }

    public string? NodeOutput { get; set; }
    public string? EdgeNodeOutput { get; set; }

    public MiosaNode RequireNode() => Node is { HasExited: false } node ? node : throw new InvalidOperationException("the node is not running");

    public MiosaNode RequireEdgeNode() =>
        EdgeNode is { HasExited: false } node ? node : throw new InvalidOperationException("the edge-only node is not running");

    public EdgeApi RequireApi() => Api ?? throw new InvalidOperationException("the node did not start");

    public string RequireAppSandbox() => AppSandbox ?? throw new InvalidOperationException("the app sandbox did not start");

    public Preview RequireAppPreview() => AppPreview ?? throw new InvalidOperationException("the app's preview was not opened");

    /// <summary>
    /// The agent socket of the app's sandbox: JailSandboxDriver keeps it at
    /// <c>&lt;sandboxes dir&gt;/&lt;id&gt;/run/agent.sock</c>, the sandboxes dir being the btrfs volume's
    /// (<c>&lt;data dir&gt;/volume/sandboxes</c>) or plain <c>&lt;data dir&gt;/sandboxes</c>.
    /// </summary>
    public string AgentSocket
    {
        get
        {
            var (data, id) = (RequireNode().DataDir, RequireAppSandbox());
            string[] candidates = [Path.Combine(data, "volume", "sandboxes", id, "run", "agent.sock"), Path.Combine(data, "sandboxes", id, "run", "agent.sock")];
            return candidates.FirstOrDefault(File.Exists)
                   ?? Directory.EnumerateFiles(data, "agent.sock", new EnumerationOptions { RecurseSubdirectories = true, MaxRecursionDepth = 5, IgnoreInaccessible = true })
                       .FirstOrDefault(path => path.Contains($"/{id}/", StringComparison.Ordinal))
                   ?? candidates[0];
        }
    }

    public CpuMeter Meter() => new(RequireNode().Pid, RequireAppSandbox());

    /// <summary>The three paths to the app's port: (a) edge, (b) node ingress, (c) port bridge.</summary>
    public (PreviewPath Edge, PreviewPath Ingress, PreviewPath Bridge) Paths()
    {
        var node = RequireNode();
        var preview = RequireAppPreview();
        return (PreviewPath.ThroughEdge("(a) edge", node.EdgePort, preview.Url.Authority),
            PreviewPath.ThroughIngress("(b) node ingress", node.Ingress, node.ClusterSecret, preview.SandboxId, AppPort),
            PreviewPath.ThroughBridge("(c) port bridge", AgentSocket, AppPort));
    }

    public static void Log(string line) => BenchMain.Log(line);

    /// <summary>The edge nodes' temp data dirs start with this.</summary>
    public const string DataDirPrefix = "miosa-bench-edge-";

    /// <summary>Runs the operation for 0..count-1 with at most `concurrency` at once; throws the first failure after all ran.</summary>
    public static async Task<TimeSpan> InParallelAsync(int count, int concurrency, Func<int, CancellationToken, Task> operation, CancellationToken ct)
    {
        var failures = new ConcurrentQueue<Exception>();
        var started = Stopwatch.GetTimestamp();
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct },
            async (i, token) =>
            {
                try
                {
                    await operation(i, token);
                }
                catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                {
                    failures.Enqueue(e);
                }
            });
        if (!failures.IsEmpty)
            throw new InvalidOperationException($"{failures.Count} of {count} failed; first: {failures.First().Message}", failures.First());
        return Stopwatch.GetElapsedTime(started);
    }

    /// <summary>Waits until the URL answers <paramref name="status"/> on the edge (routes arrive asynchronously).</summary>
    public static async Task WaitForAsync(EdgeVisitor visitor, Uri url, HttpStatusCode status, CancellationToken ct) =>
        await visitor.UntilAsync(url, (s, _) => s == status, Stopwatch.GetTimestamp(), TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(15), ct);

    /// <summary>The same preview URL on another edge's port.</summary>
    public static Uri OnEdge(Uri url, int edgePort) => new UriBuilder(url) { Port = edgePort }.Uri;

    public static long RssBytes(int pid)
    {
        var kb = File.ReadLines($"/proc/{pid}/status").FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal))?
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        return kb is null ? 0 : long.Parse(kb, System.Globalization.CultureInfo.InvariantCulture) * 1024;
    }
}
