using System.Diagnostics;
using System.Net;
using Miosa.Bench;

namespace Miosa.Bench.Edge;

/// <summary>What one path answered under load: every request's latency, the errors, the time and the CPU it took.</summary>
public sealed record LoadResult(string Path, int Clients, IReadOnlyList<double> Ms, int Errors, TimeSpan Elapsed, CpuUse Cpu, string? FirstError)
{
    public int Requests => Ms.Count;
    public double PerSecond => Elapsed > TimeSpan.Zero ? Requests / Elapsed.TotalSeconds : 0;

    public Latencies Latency
    {
        get
        {
            var latencies = new Latencies();
            foreach (var ms in Ms) latencies.Add(TimeSpan.FromMilliseconds(ms));
            return latencies;
        }
    }

    public double P50 => Latency.P50;
    public double P99 => Latency.P99;

    /// <summary>CPU ms per request of the whole machine, and of node, sandbox and harness.</summary>
    public double MachineUsPerRequest => Requests > 0 ? 1000 * Cpu.MachineBusyMs / Requests : 0;

    public string CpuPerRequest =>
        Requests == 0 ? "" : $"{Us(Cpu.NodeMs)} node (edge + ingress + API), {Us(Cpu.SandboxMs)} sandbox (agent + app), {Us(Cpu.HarnessMs)} harness; " +
                             $"machine {Us(Cpu.MachineBusyMs)} ({Cpu.BusyPercent:F0}% of {Environment.ProcessorCount} cores busy)";

    public LoadResult Plus(LoadResult other) =>
        new(Path, Clients, [.. Ms, .. other.Ms], Errors + other.Errors, Elapsed + other.Elapsed, Cpu.Plus(other.Cpu), FirstError ?? other.FirstError);

    public string Summary => $"{Load.Ms(P50)} / {Load.Ms(P99)}, {PerSecond:N0}/s" + (Errors > 0 ? $", {Errors} errors ({FirstError})" : "");

    private string Us(double ms) => $"{1000 * ms / Requests:F0} µs";
}

/// <summary>A closed loop of keep-alive clients: each sends its next request when the last one is answered.</summary>
public static class Load
{
    /// <summary>Milliseconds with two decimals below 1 ms (the edge's overhead is a fraction of one).</summary>
    public static string Ms(double ms) => ms < 1 ? $"{ms:F2} ms" : ms < 100 ? $"{ms:F1} ms" : $"{ms:F0} ms";

    public static async Task<LoadResult> RunAsync(PreviewPath path, int clients, int requests, int warmup, CpuMeter? meter, CancellationToken ct)
    {
        if (warmup > 0) await DriveAsync(path, clients, warmup, ct);
        var before = meter?.Take();
        var started = Stopwatch.GetTimestamp();
        var (ms, errors, firstError) = await DriveAsync(path, clients, requests, ct);
        var elapsed = Stopwatch.GetElapsedTime(started);
        var cpu = before is null ? CpuUse.Zero : meter!.Take().Since(before);
        if (ms.Count == 0) throw new InvalidOperationException($"{path.Name}: every request failed: {firstError}");
        return new LoadResult(path.Name, clients, ms, errors, elapsed, cpu, firstError);
    }

    /// <summary>
    /// Runs every path <paramref name="rounds"/> times, rotating which goes first, so a drift of the
    /// machine (another process, a GC) spreads over all paths instead of hitting one.
    /// </summary>
    public static async Task<Dictionary<string, LoadResult>> CompareAsync(IReadOnlyList<PreviewPath> paths, int clients, int requestsPerRound,
        int rounds, int warmup, CpuMeter? meter, CancellationToken ct)
    {
        var results = new Dictionary<string, LoadResult>();
        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < paths.Count; k++)
            {
                var path = paths[(k + round) % paths.Count];
                var result = await RunAsync(path, clients, requestsPerRound, warmup, meter, ct);
                results[path.Name] = results.TryGetValue(path.Name, out var earlier) ? earlier.Plus(result) : result;
            }
        }
        return results;
    }

    private static async Task<(List<double> Ms, int Errors, string? FirstError)> DriveAsync(PreviewPath path, int clients, int requests, CancellationToken ct)
    {
        var next = 0;
        var errors = 0;
        string? firstError = null;
        var perClient = new List<double>[clients];
        var workers = Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var mine = perClient[c] = new List<double>(requests / clients + 1);
            while (Interlocked.Increment(ref next) <= requests)
            {
                var started = Stopwatch.GetTimestamp();
                string? error;
                try
                {
                    var status = await path.StatusAsync(ct);
                    error = status == HttpStatusCode.OK ? null : $"{(int)status} {status}";
                }
                catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !ct.IsCancellationRequested))
                {
                    error = $"{e.GetType().Name}: {e.Message}";
                }
                if (error is null)
                {
                    mine.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                }
                else
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, error, null);
                }
            }
        }, ct)).ToList();
        await Task.WhenAll(workers);
        return ([.. perClient.SelectMany(m => m)], errors, firstError);
    }
}
