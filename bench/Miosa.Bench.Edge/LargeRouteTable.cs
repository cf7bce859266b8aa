using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.Previews;
using Miosa.Actors.Routing;
using Miosa.Actors.ShareTokens;
using Miosa.Bench;
using Miosa.Edge;

namespace Miosa.Bench.Edge;

/// <summary>
/// Measurement 4: the edge's latency with a large route table. Real: previews opened through the
/// API until the table holds <see cref="EdgeBenchOptions.Routes"/> preview routes (spread over a
/// modest number of sandboxes), the edge measured before and after. In process: an
/// <see cref="EdgeServer"/> holding that many synthetic sandbox routes next to one holding only the
/// real route, both forwarding to the real node's ingress.
/// </summary>
public static class LargeRouteTable
{
    public static async Task RunAsync(EdgeRun run, CancellationToken ct)
    {
        var (edge, ingress, bridge) = run.Paths();
        bridge.Dispose();
        try
        {
            await MeasureAsync(run, edge, ingress, ct);
        }
        finally
        {
            edge.Dispose();
            ingress.Dispose();
        }
    }

    private static async Task MeasureAsync(EdgeRun run, PreviewPath edge, PreviewPath ingress, CancellationToken ct)
    {
        var o = run.Options;
        var api = run.RequireApi();
        var node = run.RequireNode();
        var edgeNode = run.RequireEdgeNode();
        var app = run.RequireAppSandbox();
        var meter = run.Meter();
        var routesBefore = run.PreviewCount;

        EdgeRun.Log($"before: {routesBefore} preview routes");
        var before = await MeasurePairAsync(o, edge, ingress, meter, ct);
        var rssBefore = (Node: EdgeRun.RssBytes(node.Pid), Edge: EdgeRun.RssBytes(edgeNode.Pid));

        var fill = new string[o.FillSandboxes];
        var created = await EdgeRun.InParallelAsync(fill.Length, 8, async (i, t) => fill[i] = await api.CreateSandboxAsync(t), ct);
        string[] holders = [app, .. fill];
        var needed = Math.Max(0, o.Routes - run.PreviewCount);
        EdgeRun.Log($"opening {needed} previews on {holders.Length} sandboxes");
        var last = new Preview?[holders.Length];
        var opened = await EdgeRun.InParallelAsync(needed, 16, async (j, t) =>
        {
            var preview = await api.OpenPreviewAsync(holders[j % holders.Length], EdgeRun.FirstFillPort + j / holders.Length, "public", t);
            if (j >= needed - holders.Length) last[j % holders.Length] = preview;
        }, ct);
        var filled = Stopwatch.GetTimestamp();
        run.PreviewCount += needed;
        run.Table.Add($"large table: {needed:N0} more previews opened on {holders.Length} sandboxes (16 POSTs at a time)",
            $"{opened.TotalSeconds:F1} s ({needed / opened.TotalSeconds:N0}/s)", $"{fill.Length} sandboxes created in {created.TotalSeconds:F1} s");

        // Every sandbox's last preview carries its whole list (a sandbox's route is one message), so
        // when those answer on both edges (502: the route is there, nothing listens) all routes arrived.
        using var local = new EdgeVisitor("edge in the node", node.EdgePort);
        using var remote = new EdgeVisitor("edge-only node", edgeNode.EdgePort);
        foreach (var preview in last.OfType<Preview>())
        {
            foreach (var visitor in new[] { local, remote })
                await visitor.UntilAsync(preview.Url, (s, _) => s != HttpStatusCode.NotFound, filled, TimeSpan.FromMilliseconds(5), TimeSpan.FromSeconds(60), ct);
        }
        var settled = Stopwatch.GetElapsedTime(filled);
        run.Table.Add($"large table: {run.PreviewCount:N0} preview routes in {holders.Length} sandbox routes on both edges",
            $"all there {settled.TotalMilliseconds:N0} ms after the last POST returned",
            "checked: each sandbox's last preview answers (502 app not listening, not 404) on both edges");

        // The measured preview goes to the end of its sandbox's list: the slowest lookup in it.
        await api.ClosePreviewAsync(run.RequireAppPreview().Id, ct);
        run.AppPreview = await api.OpenPreviewAsync(app, EdgeRun.AppPort, "public", ct);
        await EdgeRun.WaitForAsync(local, run.AppPreview.Url, HttpStatusCode.OK, ct);
        // The app's sandbox holds every preview opened before the fill and its share of the fill.
        var inApp = (needed + holders.Length - 1) / holders.Length + routesBefore;

        // The node digests the fill (list projection, audit) for a while: measure once it is quiet again.
        var quiet = await QuietAsync(node.Pid, TimeSpan.FromSeconds(60), ct);
        run.Table.Add("large table: the node busy after the last POST (list projection and audit applying the events)",
            quiet is { } q ? $"{q.TotalSeconds:F1} s until it used < 10% of a core for a second" : "still busy after 60 s; measured anyway");

        EdgeRun.Log($"after: {run.PreviewCount} preview routes");
        var after = await MeasurePairAsync(o, edge, ingress, meter, ct);
        var rssAfter = (Node: EdgeRun.RssBytes(node.Pid), Edge: EdgeRun.RssBytes(edgeNode.Pid));
        foreach (var (label, b, a) in new[] { ("1 client", before.One, after.One), ($"{o.Clients} clients", before.Many, after.Many) })
        {
            var (a0, b0, a1, b1) = (b[edge.Name], b[ingress.Name], a[edge.Name], a[ingress.Name]);
            run.Table.Add($"{label}: (a) edge with {run.PreviewCount:N0} preview routes (the measured one last of {inApp} in its sandbox)",
                a1.Summary, $"with {routesBefore} routes: {a0.Summary}", $"p50 ×{a1.P50 / a0.P50:F2}, req/s ×{a1.PerSecond / a0.PerSecond:F2}",
                $"unchanged (p50 within 10% or 0.05 ms): {PreviewLatency.Verdict(Unchanged(a0.P50, a1.P50))}");
            run.Table.Add($"{label}: (b) node ingress at the same moments (drift check)", b1.Summary, $"before: {b0.Summary}",
                $"p50 ×{b1.P50 / b0.P50:F2}, req/s ×{b1.PerSecond / b0.PerSecond:F2}");
            run.Table.Add($"{label}: edge adds at p50 vs (b), {run.PreviewCount:N0} routes", PreviewLatency.Signed(a1.P50 - b1.P50),
                $"with {routesBefore} routes: {PreviewLatency.Signed(a0.P50 - b0.P50)}");
        }
        run.Table.Add($"RSS growth for {run.PreviewCount - routesBefore:N0} more preview routes",
            $"edge-only node {Mb(rssAfter.Edge - rssBefore.Edge)} ({Mb(rssBefore.Edge)} → {Mb(rssAfter.Edge)})",
            $"API + edge + host node {Mb(rssAfter.Node - rssBefore.Node)} ({Mb(rssBefore.Node)} → {Mb(rssAfter.Node)}), read models and journal included");

        await MessageSizesAsync(run, holders, inApp, ct);
        await LateEdgeAsync(run, last.OfType<Preview>().ToList(), ct);
        if (!o.SkipInProcess) await InProcessAsync(run, meter, ct);
    }

    /// <summary>
    /// How big the route messages are as the cluster sends them (<c>MiosaJsonSerializer</c> writes
    /// System.Text.Json with these options): one sandbox's route with all its previews (every preview
    /// change sends it whole), and the full-table page an edge asks for when it joins and every 30 s
    /// (<see cref="RouteTableSource.PageSize"/> sandboxes a page). Akka remoting drops a message
    /// bigger than its maximum frame (128,000 bytes unless configured).
    /// </summary>
    private static Task MessageSizesAsync(EdgeRun run, string[] holders, int previewsPerSandbox, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var ingress = run.RequireNode().Ingress.ToString();
        var json = new System.Text.Json.JsonSerializerOptions
        {
            DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
            Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() },
        };
        SandboxRoute Route(string id, int previews) => new(id, "org_" + new string('x', 16), ingress, true,
            [.. Enumerable.Range(0, previews).Select(p => new PreviewRoute(PreviewIds.New(id), EdgeRun.FirstFillPort + p, PreviewVisibility.Public))], previews);
        int Size(object message) => System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(message, message.GetType(), json).Length;
        var one = Size(Route(holders[0], previewsPerSandbox));
        var page = Size(new RouteTablePage("sandbox", [.. holders.Select(h => Route(h, previewsPerSandbox))], [], [], null));
        var perPreview = (Size(Route(holders[0], 101)) - Size(Route(holders[0], 1))) / 100.0;
        var bare = Size(Route(holders[0], 0));
        var tokenId = ResourceId.New(IdPrefix.ShareToken);
        var token = new ShareTokenRoute(tokenId, "org_" + new string('x', 16), holders[0], EdgeRun.AppPort, ShareTokenSecret.Hash(ShareTokenSecret.Issue(tokenId)),
            null, null, false, 1);
        var (plainToken, fullToken) = (Size(token), Size(token with { PasswordHash = SharePassword.Hash("bench password"), ExpiresAt = DateTimeOffset.UtcNow }));
        run.Table.Add($"route message sizes (JSON as MiosaJsonSerializer writes it), {holders.Length} sandboxes of {previewsPerSandbox} previews",
            $"one sandbox's route {one / 1024.0:F0} KB; the full-table page with all {holders.Length} {page / 1024.0:F0} KB",
            $"{bare} B a sandbox route + {perPreview:F0} B a preview; Akka remoting's default maximum frame 128,000 B: " +
            $"one sandbox's route reaches it at ~{(128_000 - bare) / perPreview:N0} previews, a page of {RouteTableSource.PageSize} sandboxes at " +
            $"~{(128_000.0 / RouteTableSource.PageSize - bare) / perPreview:F1} previews a sandbox; a share-link route {plainToken} B " +
            $"({fullToken} B with password and expiry): a page of {RouteTableSource.PageSize} is {RouteTableSource.PageSize * plainToken / 1024.0:F0}–" +
            $"{RouteTableSource.PageSize * fullToken / 1024.0:F0} KB");
        return Task.CompletedTask;
    }

    /// <summary>An edge-only node that joins after the fill must load the full table (page by page, over remoting) before it says ready.</summary>
    private static async Task LateEdgeAsync(EdgeRun run, IReadOnlyList<Preview> lastPreviews, CancellationToken ct)
    {
        var node = run.RequireNode();
        var timeout = TimeSpan.FromSeconds(30);
        var late = new MiosaNode(node.Dll, "bench-edge-late", node.ClusterSecret, new()
        {
            ["MIOSA_ROLES"] = "edge",
            ["MIOSA_SEEDS"] = $"akka.tcp://miosa@127.0.0.1:{node.AkkaPort}",
        }, EdgeRun.DataDirPrefix);
        var oversizedBefore = node.OutputLines("oversized").Count;
        try
        {
            EdgeRun.Log($"starting an edge-only node after the fill (waits {timeout.TotalSeconds:F0} s at most)");
            await late.StartAsync(ct, timeout);
            using var visitor = new EdgeVisitor("late edge", late.EdgePort);
            var missing = 0;
            foreach (var preview in lastPreviews)
                if ((await visitor.GetAsync(preview.Url, ct)).Status == HttpStatusCode.NotFound) missing++;
            run.Table.Add($"an edge-only node started after the fill: ready with the full table ({run.PreviewCount:N0} preview routes)",
                $"ready in {late.StartTime.TotalSeconds:F1} s", $"{lastPreviews.Count - missing} of {lastPreviews.Count} sandboxes' last previews answer on it",
                goal: $"all: {PreviewLatency.Verdict(missing == 0)}");
        }
        catch (InvalidOperationException) when (!ct.IsCancellationRequested)
        {
            var oversized = node.OutputLines("oversized").Skip(oversizedBefore).ToList();
            run.Table.Add($"an edge-only node started after the fill: ready with the full table ({run.PreviewCount:N0} preview routes)",
                $"not ready after {timeout.TotalSeconds:F0} s",
                oversized.Count > 0
                    ? $"the node logged {oversized.Count}× e.g. \"{Shorten(oversized[0])}\""
                    : $"its last lines: {Shorten(late.OutputTail(3))}",
                goal: "ready: missed");
        }
        finally
        {
            await late.DisposeAsync();
        }
    }

    private static string Shorten(string text) => text.Length <= 300 ? text : text[..300] + "…";

    /// <summary>
    /// Two in-process edges (this process), one holding just the real route, one holding
    /// <see cref="EdgeBenchOptions.Routes"/> synthetic sandbox routes besides it; both forward to the
    /// real node ingress. Compared under the same load, rounds alternating.
    /// </summary>
    private static async Task InProcessAsync(EdgeRun run, CpuMeter meter, CancellationToken ct)
    {
        var o = run.Options;
        var node = run.RequireNode();
        var app = run.RequireAppSandbox();
        var settings = new EdgeSettings("localhost", node.ClusterSecret, new PreviewTokenKeys(node.ClusterSecret), ActorRefs.Nobody);
        var real = new SandboxRoute(app, "org_bench", node.Ingress.ToString(), true, [new PreviewRoute("prv_bench", EdgeRun.AppPort, PreviewVisibility.Public)], 1);
        var one = new EdgeRoutes();
        one.Apply(real);
        var many = new EdgeRoutes();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        AddSynthetic(many, o.Routes, node.Ingress.ToString(), real);
        var tableBytes = GC.GetTotalMemory(forceFullCollection: true) - heapBefore;
        run.Table.Add($"route table memory: {many.Current.Sandboxes.Count:N0} sandbox routes of 1 preview each (managed heap after a full GC)",
            $"{tableBytes / 1_048_576.0:F1} MB", $"{tableBytes / (double)many.Current.Sandboxes.Count:N0} B a route");
        await using var small = await EdgeServer.StartAsync("127.0.0.1", FreePort(), one, settings);
        await using var large = await EdgeServer.StartAsync("127.0.0.1", FreePort(), many, settings);
        var host = PreviewAddress.Host(app, EdgeRun.AppPort, "localhost");
        using var smallPath = PreviewPath.ThroughEdge("in-process edge, 1 route", new Uri(small.Url).Port, $"{host}:{new Uri(small.Url).Port}");
        using var largePath = PreviewPath.ThroughEdge($"in-process edge, {many.Current.Sandboxes.Count:N0} routes", new Uri(large.Url).Port,
            $"{host}:{new Uri(large.Url).Port}");
        foreach (var path in new[] { smallPath, largePath })
        {
            var (status, body) = await path.GetAsync(ct);
            if (status != HttpStatusCode.OK || body != SandboxApp.Body) throw new InvalidOperationException($"{path.Name} answered {(int)status}");
        }
        EdgeRun.Log($"in-process edges: 1 vs {many.Current.Sandboxes.Count} sandbox routes");
        var label = $"in-process edge (in the harness) holding {many.Current.Sandboxes.Count:N0} synthetic sandbox routes";
        foreach (var clients in new[] { 1, o.Clients })
        {
            var results = clients == 1
                ? await Load.CompareAsync([smallPath, largePath], 1, o.Sequential, o.Rounds, Math.Min(o.Warmup, 100), meter, ct)
                : await Load.CompareAsync([smallPath, largePath], clients, o.Requests, o.Rounds, o.Warmup, meter, ct);
            var (s, l) = (results[smallPath.Name], results[largePath.Name]);
            run.Table.Add($"{(clients == 1 ? "1 client" : $"{clients} clients")}: {label}",
                l.Summary, $"same edge code with 1 route: {s.Summary}", $"p50 ×{l.P50 / s.P50:F2}, req/s ×{l.PerSecond / s.PerSecond:F2}",
                $"unchanged (p50 within 10% or 0.05 ms): {PreviewLatency.Verdict(Unchanged(s.P50, l.P50))}");
        }

        // The lookup itself, without HTTP: what a request pays to find its route.
        var target = PreviewAddress.Host(app, EdgeRun.AppPort, "localhost");
        var crowded = RouteTable.Empty.Apply(real with
        {
            Previews = [.. Enumerable.Range(1, o.Routes - 1).Select(p => new PreviewRoute($"prv_p{p}", EdgeRun.FirstFillPort + p, PreviewVisibility.Public)),
                    .. real.Previews],
            Version = 2,
        });
        // Best of three, the tables taking turns: the machine's other work only ever adds time.
        RouteTable[] tables = [many.Current, one.Current, crowded];
        var ns = tables.Select(_ => double.MaxValue).ToArray();
        for (var rep = 0; rep < 3; rep++)
        {
            for (var t = 0; t < tables.Length; t++) ns[t] = Math.Min(ns[t], LookupNs(tables[t], target));
        }
        run.Table.Add("route lookup per request (host → sandbox route → preview), no HTTP, best of 3",
            $"{ns[0]:N0} ns with {many.Current.Sandboxes.Count:N0} sandbox routes",
            $"{ns[1]:N0} ns with 1 route; {ns[2]:N0} ns with 1 sandbox holding {o.Routes:N0} previews, the one asked for last");
    }

    /// <summary>Fills the routes with synthetic sandboxes (one public preview each) and the real one; the page is garbage afterwards.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void AddSynthetic(EdgeRoutes routes, int count, string ingress, SandboxRoute real)
    {
        var synthetic = Enumerable.Range(0, count)
            .Select(i => new SandboxRoute(ResourceId.New(IdPrefix.Sandbox), $"org_bench{i % 100}", new string(ingress.AsSpan()), true,
                [new PreviewRoute(ResourceId.New(IdPrefix.Preview), EdgeRun.AppPort, PreviewVisibility.Public)], 1))
            .Append(real).ToList();
        routes.Apply(new RouteTablePage("sandbox", synthetic, [], [], null));
    }

    /// <summary>What <see cref="PreviewProxy"/> does per request to find the preview: parse the host, find the sandbox, find the port.</summary>
    private static double LookupNs(RouteTable table, string host)
    {
        // Warm up (JIT tiers) for 100 ms, then as many batches as fit in 300 ms.
        for (var warm = Stopwatch.GetTimestamp(); Stopwatch.GetElapsedTime(warm) < TimeSpan.FromMilliseconds(100);) Lookup(table, host);
        var (count, started) = (0L, Stopwatch.GetTimestamp());
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromMilliseconds(300))
        {
            for (var i = 0; i < 1000; i++) Lookup(table, host);
            count += 1000;
        }
        return Stopwatch.GetElapsedTime(started).TotalNanoseconds / count;
    }

    private static void Lookup(RouteTable table, string host)
    {
        var address = PreviewAddress.Parse(host, "localhost", table) ?? throw new InvalidOperationException($"{host} names no preview");
        if (table.Sandbox(address.SandboxId)?.PreviewOn(address.Port) is null) throw new InvalidOperationException($"{host} has no route");
    }

    private static async Task<(Dictionary<string, LoadResult> One, Dictionary<string, LoadResult> Many)> MeasurePairAsync(
        EdgeBenchOptions o, PreviewPath edge, PreviewPath ingress, CpuMeter meter, CancellationToken ct)
    {
        var one = await Load.CompareAsync([edge, ingress], 1, o.Sequential, o.Rounds, Math.Min(o.Warmup, 100), meter, ct);
        var many = await Load.CompareAsync([edge, ingress], o.Clients, o.Requests, o.Rounds, o.Warmup, meter, ct);
        return (one, many);
    }

    /// <summary>Waits until the process uses under 10% of a core over one second; returns how long that took, null after the limit.</summary>
    private static async Task<TimeSpan?> QuietAsync(int pid, TimeSpan limit, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(started) < limit)
        {
            var before = CpuMeter.ProcessMs(pid);
            await Task.Delay(TimeSpan.FromSeconds(1), ct);
            if (CpuMeter.ProcessMs(pid) - before < 100) return Stopwatch.GetElapsedTime(started);
        }
        return null;
    }

    private static bool Unchanged(double beforeMs, double afterMs) => afterMs <= beforeMs * 1.10 || afterMs - beforeMs <= 0.05;

    private static string Mb(long bytes) => $"{bytes / 1_048_576.0:F0} MB";

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
