using System.Collections.Concurrent;
using System.Diagnostics;

namespace Miosa.Bench;

/// <summary>What every measurement of one run shares: the options, the node, its API and the table.</summary>
public sealed class BenchRun(BenchOptions options, ResultTable table, string scratch)
{
    public BenchOptions Options { get; } = options;
    public ResultTable Table { get; } = table;

    /// <summary>A temp directory on the same disk as the node's data dir, for files and copies.</summary>
    public string Scratch { get; } = scratch;

    public MiosaNode? Node { get; set; }
    public SandboxApi? Api { get; set; }

    /// <summary>The node's last output lines, kept after it is stopped for the report.</summary>
    public string? NodeOutput { get; set; }

    /// <summary>The bare bwrap spawn, measured once and shown next to both create and exec.</summary>
    public Latencies? BwrapTrue { get; set; }

    public SandboxApi RequireApi() =>
        Api ?? throw new InvalidOperationException("the node did not start (see the node start row)");

    public MiosaNode RequireNode() =>
        Node is { HasExited: false } node ? node : throw new InvalidOperationException("the node is not running");

    public static void Log(string line) => BenchMain.Log(line);

    /// <summary>
    /// Runs the operation for 0..count-1 with at most `concurrency` at once; collects failures
    /// instead of stopping, but gives up when the first 25 all fail (the node is clearly broken).
    /// </summary>
    public static async Task<(TimeSpan Elapsed, ConcurrentBag<Exception> Failures)> InParallelAsync(
        int count, int concurrency, Func<int, CancellationToken, Task> operation, CancellationToken ct)
    {
        var failures = new ConcurrentBag<Exception>();
        var successes = 0;
        using var giveUp = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var started = Stopwatch.GetTimestamp();
        try
        {
            await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = giveUp.Token },
                async (i, token) =>
                {
                    try
                    {
                        await operation(i, token);
                        Interlocked.Increment(ref successes);
                    }
                    catch (Exception e) when (e is not OperationCanceledException || !token.IsCancellationRequested)
                    {
                        failures.Add(e);
                        if (failures.Count >= 25 && Volatile.Read(ref successes) == 0) await giveUp.CancelAsync();
                    }
                });
        }
        catch (OperationCanceledException) when (giveUp.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            failures.Add(new InvalidOperationException($"gave up after {failures.Count} failures and no success"));
        }
        return (Stopwatch.GetElapsedTime(started), failures);
    }

    /// <summary>"3× 500 InternalServerError: ..." for the distinct failure messages, most frequent first.</summary>
    public static string Summarize(IEnumerable<Exception> failures) =>
        string.Join("; ", failures.GroupBy(e => Brief(e.Message)).OrderByDescending(g => g.Count()).Take(3)
            .Select(g => $"{g.Count()}× {g.Key}"));

    /// <summary>Deletes the sandboxes with the given concurrency; returns how many failed.</summary>
    public async Task<List<Exception>> DeleteAllAsync(IReadOnlyList<string> ids, int concurrency, CancellationToken ct)
    {
        var api = RequireApi();
        var (_, failures) = await InParallelAsync(ids.Count, concurrency, (i, token) => api.DeleteAsync(ids[i], token), ct);
        return [.. failures];
    }

    private static string Brief(string message)
    {
        var line = message.ReplaceLineEndings(" ");
        return line.Length <= 200 ? line : line[..200] + "…";
    }
}
