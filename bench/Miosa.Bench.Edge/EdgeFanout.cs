using System.Diagnostics;
using System.Net;
using Miosa.Bench;

namespace Miosa.Bench.Edge;

/// <summary>
/// Measurement 3: a change reaches every edge. A share link is revoked (DELETE sent → 401 on both
/// edges), and the branding changes (PUT sent → the new accent colour on both edges' 401 page of a
/// private preview). Both edges are polled every millisecond while the call is in flight.
/// </summary>
public static class EdgeFanout
{
    public const double GoalMs = 1000;
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    public static async Task RunAsync(EdgeRun run, CancellationToken ct)
    {
        var api = run.RequireApi();
        var sandbox = run.RequireAppSandbox();
        using var local = new EdgeVisitor("edge in the node", run.RequireNode().EdgePort);
        using var remote = new EdgeVisitor("edge-only node", run.RequireEdgeNode().EdgePort);
        var priv = await api.OpenPreviewAsync(sandbox, EdgeRun.PrivatePort, "private", ct);
        run.PreviewCount++;
        await EdgeRun.WaitForAsync(local, priv.Url, HttpStatusCode.Unauthorized, ct);
        await EdgeRun.WaitForAsync(remote, priv.Url, HttpStatusCode.Unauthorized, ct);
        var n = run.Options.EdgeRounds;

        var revoke = new Timings();
        for (var i = 0; i < n; i++)
        {
            var link = await api.CreateShareLinkAsync(sandbox, EdgeRun.PrivatePort, ct);
            // The link works on both edges first (its route arrived), so the revocation is what changes.
            await EdgeRun.WaitForAsync(local, link.Url, HttpStatusCode.Found, ct);
            await EdgeRun.WaitForAsync(remote, link.Url, HttpStatusCode.Found, ct);
            await revoke.TimeAsync(() => api.RevokeShareLinkAsync(link.Id, ct), local, remote, link.Url,
                (status, _) => status == HttpStatusCode.Unauthorized, ct);
        }
        revoke.Rows(run.Table, $"share link revoked: DELETE sent → 401 on both edges (n={n})", "DELETE /v1/share-tokens/{id}");

        var branding = new Timings();
        var colours = new HashSet<string>();
        for (var i = 0; i < n; i++)
        {
            string colour;
            do colour = $"#{Random.Shared.Next(0x1000000):x6}";
            while (!colours.Add(colour));
            await branding.TimeAsync(() => api.SetBrandingAsync(colour, ct), local, remote, priv.Url,
                (status, body) => status == HttpStatusCode.Unauthorized && body.Contains(colour, StringComparison.Ordinal), ct);
        }
        branding.Rows(run.Table, $"branding changed: PUT sent → new accent colour on both edges' 401 page (n={n})", "PUT /v1/tenant/branding");
    }

    private sealed class Timings
    {
        private readonly Latencies _call = new();
        private readonly Latencies _local = new();
        private readonly Latencies _remote = new();
        private readonly Latencies _both = new();

        public async Task TimeAsync(Func<Task> change, EdgeVisitor local, EdgeVisitor remote, Uri url, Func<HttpStatusCode, string, bool> done,
            CancellationToken ct)
        {
            var started = Stopwatch.GetTimestamp();
            var call = change();
            var edges = Task.WhenAll(
                local.UntilAsync(url, done, started, Interval, Timeout, ct),
                remote.UntilAsync(url, done, started, Interval, Timeout, ct));
            await call;
            _call.Add(Stopwatch.GetElapsedTime(started));
            var results = await edges;
            _local.Add(TimeSpan.FromMilliseconds(results[0].DoneMs));
            _remote.Add(TimeSpan.FromMilliseconds(results[1].DoneMs));
            _both.Add(TimeSpan.FromMilliseconds(Math.Max(results[0].DoneMs, results[1].DoneMs)));
        }

        public void Rows(ResultTable table, string metric, string call) =>
            table.Add(metric, $"p50 {Load.Ms(_both.P50)}, max {Load.Ms(_both.Percentile(100))}",
                $"edge in the node p50 {Load.Ms(_local.P50)}, edge-only node p50 {Load.Ms(_remote.P50)}; {call} itself p50 {Load.Ms(_call.P50)}",
                "", $"max < {GoalMs:F0} ms: {PreviewLatency.Verdict(_both.Percentile(100) < GoalMs)}");
    }
}
