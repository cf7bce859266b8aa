using System.Diagnostics;

namespace Miosa.Bench;

/// <summary>Latencies of one kind of operation; percentiles by nearest rank.</summary>
public sealed class Latencies
{
    private readonly List<double> _ms = [];

    public int Count => _ms.Count;

    /// <summary>The samples from index `from` on, `count` of them, in the order they were taken.</summary>
    public Latencies Slice(int from, int count)
    {
        var slice = new Latencies();
        slice._ms.AddRange(_ms.Skip(from).Take(count));
        return slice;
    }

    public void Add(TimeSpan elapsed) => _ms.Add(elapsed.TotalMilliseconds);

    public double Percentile(double p)
    {
        if (_ms.Count == 0) throw new InvalidOperationException("no samples");
        var sorted = _ms.Order().ToList();
        var rank = (int)Math.Ceiling(p / 100 * sorted.Count);
        return sorted[Math.Clamp(rank - 1, 0, sorted.Count - 1)];
    }

    public double P50 => Percentile(50);
    public double P99 => Percentile(99);

    /// <summary>Runs the operation n times in sequence and times each run.</summary>
    public static async Task<Latencies> MeasureAsync(int n, Func<int, Task> operation, CancellationToken ct)
    {
        var latencies = new Latencies();
        for (var i = 0; i < n; i++)
        {
            ct.ThrowIfCancellationRequested();
            var started = Stopwatch.GetTimestamp();
            await operation(i);
            latencies.Add(Stopwatch.GetElapsedTime(started));
        }
        return latencies;
    }

    public static string Ms(double ms) => ms < 100 ? $"{ms:F1} ms" : $"{ms:F0} ms";
}
