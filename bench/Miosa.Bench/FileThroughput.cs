using System.Diagnostics;
using System.Security.Cryptography;

namespace Miosa.Bench;

/// <summary>3. File upload and download throughput (PUT/GET files) against a local cp of the same file on the same disk.</summary>
public static class FileThroughput
{
    private const double LargeGoalMbPerSecond = 200;

    public static async Task RunAsync(BenchRun run, CancellationToken ct)
    {
        var options = run.Options;
        await MeasureAsync(run, options.SmallFileBytes, options.SmallFileRepeats, goal: false, ct);
        await MeasureAsync(run, options.LargeFileBytes, options.LargeFileRepeats, goal: true, ct);
    }

    private static async Task MeasureAsync(BenchRun run, long bytes, int repeats, bool goal, CancellationToken ct)
    {
        var size = bytes >= 1_000_000 ? $"{bytes / 1_000_000} MB" : $"{bytes / 1000} kB";
        var source = Path.Combine(run.Scratch, $"source-{bytes}");
        var copy = Path.Combine(run.Scratch, $"copy-{bytes}");
        var downloaded = Path.Combine(run.Scratch, $"downloaded-{bytes}");
        var goalText = goal ? $"upload ≥ {LargeGoalMbPerSecond:F0} MB/s" : "";
        string? id = null;
        var baseline = "";
        try
        {
            await WriteRandomAsync(source, bytes, ct);
            var sourceHash = await HashAsync(source, ct);

            var cpTimes = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                File.Delete(copy);
                var started = Stopwatch.GetTimestamp();
                var exit = await Baselines.RunAsync("cp", [source, copy], ct);
                if (exit.Code != 0) throw new InvalidOperationException($"cp exited {exit.Code}: {exit.Error}");
                cpTimes.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
            }
            File.Delete(copy);
            var cpRate = Rate(bytes, Median(cpTimes));
            baseline = $"cp {cpRate:F0} MB/s";

            var api = run.RequireApi();
            id = await api.CreateAsync(ct);
            var path = $"bench/file-{bytes}.bin";
            var uploads = new List<double>();
            var downloads = new List<double>();
            for (var i = 0; i < repeats; i++)
            {
                var started = Stopwatch.GetTimestamp();
                await api.UploadAsync(id, path, source, ct);
                uploads.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);

                File.Delete(downloaded);
                started = Stopwatch.GetTimestamp();
                var length = await api.DownloadAsync(id, path, downloaded, ct);
                downloads.Add(Stopwatch.GetElapsedTime(started).TotalSeconds);
                if (length != bytes) throw new InvalidOperationException($"downloaded {length} bytes of {bytes}");
                if (i == 0 && await HashAsync(downloaded, ct) != sourceHash)
                    throw new InvalidOperationException("the downloaded file differs from the uploaded one");
            }
            var up = Rate(bytes, Median(uploads));
            var down = Rate(bytes, Median(downloads));
            run.Table.Add($"upload {size} (median of {repeats})", $"{up:F0} MB/s", baseline, $"×{up / cpRate:F2} of cp",
                goal ? ResultTable.Goal(goalText, up >= LargeGoalMbPerSecond) : "");
            run.Table.Add($"download {size} (median of {repeats})", $"{down:F0} MB/s", baseline, $"×{down / cpRate:F2} of cp");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            run.Table.Failed($"upload/download {size}", goalText, e, baseline);
        }
        finally
        {
            if (id is not null && run.Api is not null) await run.Api.DeleteAsync(id, ct).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            foreach (var file in new[] { source, copy, downloaded }) File.Delete(file);
        }
    }

    private static double Rate(long bytes, double seconds) => bytes / 1_000_000.0 / seconds;

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return (sorted[(sorted.Count - 1) / 2] + sorted[sorted.Count / 2]) / 2;
    }

    private static async Task WriteRandomAsync(string path, long bytes, CancellationToken ct)
    {
        var buffer = new byte[1 << 20];
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        for (long written = 0; written < bytes; written += buffer.Length)
        {
            RandomNumberGenerator.Fill(buffer);
            await file.WriteAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, bytes - written)), ct);
        }
    }

    private static async Task<string> HashAsync(string path, CancellationToken ct)
    {
        await using var file = File.OpenRead(path);
        return Convert.ToHexString(await SHA256.HashDataAsync(file, ct));
    }
}
