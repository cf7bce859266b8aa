using System.Diagnostics;
using System.Net;
using Miosa.Bench;

namespace Miosa.Bench.Edge;

/// <summary>
/// Measurement 2: a public preview is created (POST returns) → the first 200 from the app through
/// the edge, on the node's own edge and on the edge-only node, polled every millisecond.
/// </summary>
public static class RoutePropagation
{
    public const double GoalMs = 50;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(1);

    public static async Task RunAsync(EdgeRun run, CancellationToken ct)
    {
        var api = run.RequireApi();
        var sandbox = run.RequireAppSandbox();
        using var local = new EdgeVisitor("edge in the node", run.RequireNode().EdgePort);
        using var remote = new EdgeVisitor("edge-only node", run.RequireEdgeNode().EdgePort);
        var post = new Latencies();
        var (localDone, localSeen, remoteDone, remoteSeen) = (new Latencies(), new Latencies(), new Latencies(), new Latencies());
        var polls = 0;
        for (var i = 0; i < run.Options.Previews; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var preview = await api.OpenPreviewAsync(sandbox, EdgeRun.FirstPropagationPort + i, "public", ct);
            var created = Stopwatch.GetTimestamp();
            post.Add(Stopwatch.GetElapsedTime(started, created));
            run.PreviewCount++;
            static bool Served(HttpStatusCode status, string body) => status == HttpStatusCode.OK && body == SandboxApp.Body;
            var results = await Task.WhenAll(
                local.UntilAsync(preview.Url, Served, created, Interval, TimeSpan.FromSeconds(10), ct),
                remote.UntilAsync(preview.Url, Served, created, Interval, TimeSpan.FromSeconds(10), ct));
            localDone.Add(TimeSpan.FromMilliseconds(results[0].DoneMs));
            localSeen.Add(TimeSpan.FromMilliseconds(results[0].SeenMs ?? results[0].DoneMs));
            remoteDone.Add(TimeSpan.FromMilliseconds(results[1].DoneMs));
            remoteSeen.Add(TimeSpan.FromMilliseconds(results[1].SeenMs ?? results[1].DoneMs));
            polls += results[0].Polls + results[1].Polls;
        }
        var n = run.Options.Previews;
        Row(run.Table, $"route propagation: preview POST returned → first 200 through the edge in the API node (n={n})", localDone, localSeen);
        Row(run.Table, $"route propagation: preview POST returned → first 200 through the edge-only node (n={n})", remoteDone, remoteSeen);
        run.Table.Add($"POST /v1/sandboxes/{{id}}/previews p50 / p99 (n={n})", $"{Load.Ms(post.P50)} / {Load.Ms(post.P99)}",
            $"{polls} polls in all, one every {Interval.TotalMilliseconds:F0} ms per edge");
    }

    private static void Row(ResultTable table, string metric, Latencies done, Latencies seen) =>
        table.Add(metric, $"p50 {Load.Ms(done.P50)}, p99 {Load.Ms(done.P99)}, max {Load.Ms(done.Percentile(100))}",
            $"first answer other than 404: p50 {Load.Ms(seen.P50)}, p99 {Load.Ms(seen.P99)}", "",
            $"p50 ≤ {GoalMs:F0} ms: {PreviewLatency.Verdict(done.P50 <= GoalMs)}");
}
