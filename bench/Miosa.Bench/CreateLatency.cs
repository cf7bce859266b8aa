namespace Miosa.Bench;

/// <summary>1. Sandbox create latency: POST /v1/sandboxes to 201, sequentially, against bare bwrap and docker run.</summary>
public static class CreateLatency
{
    private const string Goal = "p50 ≤ 25 ms";

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var n = run.Options.CreateCount;
        var docker = await DockerAsync(run, Math.Min(n, 20), ct);
        var bwrap = run.BwrapTrue;
        string Baseline(Func<Latencies, double> pick) =>
            $"bwrap true {(bwrap is null ? "error" : Latencies.Ms(pick(bwrap)))}; {(docker.Latencies is null ? docker.Why : $"{docker.Why} {Latencies.Ms(pick(docker.Latencies))}")}";
        string Ratio(double miosa, Func<Latencies, double> pick) =>
            string.Join("; ", new[]
            {
                bwrap is null ? null : $"{ResultTable.Ratio(miosa, pick(bwrap))} bwrap",
                docker.Latencies is null ? null : $"{ResultTable.Ratio(miosa, pick(docker.Latencies))} docker",
            }.OfType<string>());

        var created = new List<string>();
        try
        {
            var api = run.RequireApi();
            var latencies = await Latencies.MeasureAsync(n, async _ => created.Add(await api.CreateAsync(ct)), ct);
            run.Table.Add($"sandbox create p50 (n={n}, sequential)", Latencies.Ms(latencies.P50), Baseline(l => l.P50), Ratio(latencies.P50, l => l.P50),
                ResultTable.Goal(Goal, latencies.P50 <= 25));
            run.Table.Add($"sandbox create p99 (n={n}, sequential)", Latencies.Ms(latencies.P99), Baseline(l => l.P99), Ratio(latencies.P99, l => l.P99));
            if (n >= 20)
            {
                // Each created sandbox stays alive until the end: does create slow down as more are alive?
                var fifth = n / 5;
                run.Table.Add($"sandbox create p50, first {fifth} vs last {fifth} of {n}",
                    $"{Latencies.Ms(latencies.Slice(0, fifth).P50)} vs {Latencies.Ms(latencies.Slice(n - fifth, fifth).P50)}");
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed("sandbox create p50", Goal, e, Baseline(l => l.P50));
            if (created.Count > 0) run.Table.Note($"sandbox create: {created.Count} of {n} succeeded before the failure");
        }

        if (created.Count == 0) return;
        try
        {
            var api = run.RequireApi();
            var deletes = await Latencies.MeasureAsync(created.Count, i => api.DeleteAsync(created[i], ct), ct);
            run.Table.Add($"sandbox delete p50 (n={created.Count}, sequential)", Latencies.Ms(deletes.P50));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed("sandbox delete p50", "", e);
        }
    }

    private static async Task<(Latencies? Latencies, string Why)> DockerAsync(BenchRun run, int n, CancellationToken ct)
    {
        try
        {
            return await Baselines.DockerRunAsync(run.Options.DockerImage, n, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Note($"docker run baseline failed: {e.Message}");
            return (null, "docker run error");
        }
    }
}
