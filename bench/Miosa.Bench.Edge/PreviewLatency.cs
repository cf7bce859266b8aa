using System.Net;
using Miosa.Bench;

namespace Miosa.Bench.Edge;

/// <summary>
/// Measurement 1: GET / of the same app through (a) the edge, (b) the node ingress, (c) the port
/// bridge, one client at a time and with many keep-alive clients; what the edge adds.
/// </summary>
public static class PreviewLatency
{
    public const double AddedGoalMs = 0.3;
    public const double ThroughputGoal = 0.70;

    public static async Task RunAsync(EdgeRun run, CancellationToken ct)
    {
        var socket = run.AgentSocket;
        if (!File.Exists(socket))
        {
            var dir = Path.GetDirectoryName(socket)!;
            throw new FileNotFoundException($"no agent socket for the app's sandbox (the sandbox layout changed?); {dir} holds: " +
                                            (Directory.Exists(dir) ? string.Join(", ", Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName)) : "nothing, it does not exist"));
        }
        var (edge, ingress, bridge) = run.Paths();
        PreviewPath[] paths = [edge, ingress, bridge];
        try
        {
            await MeasureAsync(run, paths, ct);
        }
        finally
        {
            foreach (var path in paths) path.Dispose();
        }
    }

    private static async Task MeasureAsync(EdgeRun run, PreviewPath[] paths, CancellationToken ct)
    {
        var o = run.Options;
        var (edge, ingress, bridge) = (paths[0], paths[1], paths[2]);
        foreach (var path in paths)
        {
            var (status, body) = await path.GetAsync(ct);
            if (status != HttpStatusCode.OK || body != SandboxApp.Body)
                throw new InvalidOperationException($"{path.Name} answered {(int)status}: {body[..Math.Min(body.Length, 200)]}");
        }
        var meter = run.Meter();
        // JIT tiers, connection pools and the app's threads settle before anything is measured.
        EdgeRun.Log("warming up");
        foreach (var path in paths) await Load.RunAsync(path, o.Clients, 10 * o.Warmup, 0, null, ct);

        EdgeRun.Log($"1 client, {o.Rounds} × {o.Sequential} requests per path");
        var one = await Load.CompareAsync(paths, 1, o.Sequential, o.Rounds, Math.Min(o.Warmup, 100), meter, ct);
        Rows(run.Table, one, 1, edge.Name, ingress.Name, bridge.Name);

        EdgeRun.Log($"{o.Clients} clients, {o.Rounds} × {o.Requests} requests per path");
        var many = await Load.CompareAsync(paths, o.Clients, o.Requests, o.Rounds, o.Warmup, meter, ct);
        Rows(run.Table, many, o.Clients, edge.Name, ingress.Name, bridge.Name);
        var (a, b, c) = (many[edge.Name], many[ingress.Name], many[bridge.Name]);
        run.Table.Add($"{o.Clients} clients: edge keeps of direct throughput",
            $"{a.PerSecond / b.PerSecond:P0} of (b); {a.PerSecond / c.PerSecond:P0} of (c)",
            $"(b) {b.PerSecond:N0}/s; (c) {c.PerSecond:N0}/s", $"(a) {a.PerSecond:N0}/s",
            $"≥ 70%: {Verdict(a.PerSecond / b.PerSecond >= ThroughputGoal)} vs (b), {Verdict(a.PerSecond / c.PerSecond >= ThroughputGoal)} vs (c)");
        foreach (var result in new[] { a, b, c })
            run.Table.Add($"{o.Clients} clients: CPU per request, {result.Path}", result.CpuPerRequest);
    }

    private static void Rows(ResultTable table, Dictionary<string, LoadResult> results, int clients, string edge, string ingress, string bridge)
    {
        var (a, b, c) = (results[edge], results[ingress], results[bridge]);
        var label = clients == 1 ? "1 client (sequential)" : $"{clients} keep-alive clients";
        table.Add($"{label}: GET / p50 / p99, req/s, {a.Path} (n={a.Requests})", a.Summary);
        table.Add($"{label}: GET / p50 / p99, req/s, {b.Path}, no edge (n={b.Requests})", b.Summary);
        table.Add($"{label}: GET / p50 / p99, req/s, {c.Path}, no HTTP hop (n={c.Requests})", c.Summary);
        var (vsIngress, vsBridge) = (a.P50 - b.P50, a.P50 - c.P50);
        table.Add($"{label}: edge adds at p50", $"{Signed(vsIngress)} vs (b); {Signed(vsBridge)} vs (c)",
            $"(b) {Load.Ms(b.P50)}; (c) {Load.Ms(c.P50)}", $"(a) {Load.Ms(a.P50)}",
            $"≤ {AddedGoalMs} ms: {Verdict(vsIngress <= AddedGoalMs)} vs (b), {Verdict(vsBridge <= AddedGoalMs)} vs (c)");
    }

    public static string Signed(double ms) => $"{(ms >= 0 ? "+" : "−")}{Math.Abs(ms):F2} ms";

    public static string Verdict(bool met) => met ? "met" : "missed";
}
