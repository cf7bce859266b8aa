namespace Miosa.Bench;

/// <summary>2. Exec round trip of <c>true</c> in a running sandbox, against a bare bwrap spawn and a plain fork/exec.</summary>
public static class ExecRoundTrip
{
    private const string Goal = "p50 ≤ 10 ms";

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var n = run.Options.ExecCount;
        Latencies? fork = null;
        try
        {
            fork = await Baselines.SpawnAsync("/bin/true", [], n, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Note($"fork/exec /bin/true baseline failed: {e.Message}");
        }
        var bwrap = run.BwrapTrue;
        string Baseline(Func<Latencies, double> pick) =>
            $"bwrap true {(bwrap is null ? "error" : Latencies.Ms(pick(bwrap)))}; fork/exec /bin/true {(fork is null ? "error" : Latencies.Ms(pick(fork)))}";
        string Ratio(double miosa, Func<Latencies, double> pick) =>
            string.Join("; ", new[]
            {
                bwrap is null ? null : $"{ResultTable.Ratio(miosa, pick(bwrap))} bwrap",
                fork is null ? null : $"{ResultTable.Ratio(miosa, pick(fork))} fork/exec",
            }.OfType<string>());

        string? id = null;
        try
        {
            var api = run.RequireApi();
            id = await api.CreateAsync(ct);
            for (var i = 0; i < 5; i++) await api.ExecTrueAsync(id, ct);
            var latencies = await Latencies.MeasureAsync(n, _ => api.ExecTrueAsync(id, ct), ct);
            run.Table.Add($"exec `true` round trip p50 (n={n})", Latencies.Ms(latencies.P50), Baseline(l => l.P50), Ratio(latencies.P50, l => l.P50),
                ResultTable.Goal(Goal, latencies.P50 <= 10));
            run.Table.Add($"exec `true` round trip p99 (n={n})", Latencies.Ms(latencies.P99), Baseline(l => l.P99), Ratio(latencies.P99, l => l.P99));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed("exec `true` round trip p50", Goal, e, Baseline(l => l.P50));
        }
        finally
        {
            if (id is not null && run.Api is not null) await run.Api.DeleteAsync(id, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
    }
}
