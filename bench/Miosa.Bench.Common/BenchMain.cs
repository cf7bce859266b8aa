using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;

namespace Miosa.Bench;

/// <summary>What every bench's Program does around its measurements: options, Ctrl+C, steps, the report.</summary>
public static class BenchMain
{
    /// <summary>Progress and errors go to stderr, the report to stdout.</summary>
    public static void Log(string line) => Console.Error.WriteLine($"bench: {line}");

    /// <summary>
    /// --help prints the usage (exit 0); options that do not parse print the error and the usage
    /// (exit 2). Otherwise the options, and true.
    /// </summary>
    public static bool TryParse<T>(string[] args, string usage, Func<string[], T> parse, [NotNullWhen(true)] out T? options, out int exitCode)
        where T : class
    {
        options = null;
        exitCode = 0;
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.WriteLine(usage);
            return false;
        }
        try
        {
            options = parse(args);
            return true;
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"bench: {e.Message}\n{usage}");
            exitCode = 2;
            return false;
        }
    }

    /// <summary>Cancelled on SIGINT or SIGTERM (instead of dying there), so a run always cleans up.</summary>
    public static Interruption OnInterrupt() => new();

    /// <summary>
    /// Runs one step within its time budget; a failure or a timeout becomes an error row named
    /// after the metric, an interruption (the outer token) goes on.
    /// </summary>
    public static async Task StepAsync(string name, string metric, ResultTable table, TimeSpan budget, Func<CancellationToken, Task> step, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(budget);
        try
        {
            await step(limit.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            table.Failed(metric, "", new TimeoutException($"{name} did not finish within {budget.TotalMinutes} minutes"));
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            table.Failed(metric, "", e);
        }
        Log($"{metric} took {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
    }

    /// <summary>The 1, 5 and 15 minute load averages.</summary>
    public static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    /// <summary>The short HEAD, "+ uncommitted changes" when the tree is dirty, or "unknown" outside git.</summary>
    public static string Commit()
    {
        static string? Git(params string[] args)
        {
            try
            {
                using var git = Process.Start(new ProcessStartInfo("git", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
                var output = git.StandardOutput.ReadToEnd().Trim();
                git.WaitForExit();
                return git.ExitCode == 0 ? output : null;
            }
            catch (System.ComponentModel.Win32Exception)
            {
                return null;
            }
        }
        var head = Git("rev-parse", "--short", "HEAD");
        if (head is null) return "unknown";
        return Git("status", "--porcelain") is { Length: > 0 } ? $"{head} + uncommitted changes" : head;
    }

    /// <summary>bench/results/&lt;prefix&gt;&lt;utc time&gt;.md of the repository around the working directory, else miosa-bench-&lt;prefix&gt;… here.</summary>
    public static string DefaultReportPath(string prefix, DateTimeOffset startedAt)
    {
        for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Miosa.sln")))
                return Path.Combine(dir.FullName, "bench", "results", $"{prefix}{startedAt:yyyyMMdd-HHmmss}.md");
        }
        return Path.Combine(Environment.CurrentDirectory, $"miosa-bench-{prefix}{startedAt:yyyyMMdd-HHmmss}.md");
    }

    /// <summary>Prints the report and writes it to the path; a path it cannot write is logged, not fatal.</summary>
    public static async Task PrintAndWriteAsync(string markdown, string path)
    {
        Console.WriteLine(markdown);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await File.WriteAllTextAsync(path, markdown, CancellationToken.None);
            Log($"wrote {path}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Log($"could not write {path}: {e.Message}");
        }
    }
}

/// <summary>A token cancelled by SIGINT or SIGTERM; see <see cref="BenchMain.OnInterrupt"/>.</summary>
public sealed class Interruption : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;

    internal Interruption()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
    }

    public CancellationToken Token => _stop.Token;

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _stop.Dispose();
    }

    private void Interrupt(PosixSignalContext context)
    {
        context.Cancel = true;
        BenchMain.Log("interrupted: cleaning up");
        _stop.Cancel();
    }
}

/// <summary>Reads a command line option by option: <c>for (var a = new ArgReader(args); a.Next();) switch (a.Current) …</c>.</summary>
public sealed class ArgReader(string[] args)
{
    private int _index = -1;

    public bool Next() => ++_index < args.Length;

    /// <summary>The option being read.</summary>
    public string Current => args[_index];

    /// <summary>The option's value: the next argument.</summary>
    public string Value() => _index + 1 < args.Length ? args[++_index] : throw new ArgumentException($"{args[_index]} needs a value");

    /// <summary>The option's value as a positive number.</summary>
    public int Count() => int.TryParse(Value(), out var n) && n > 0 ? n : throw new ArgumentException($"{args[_index]} needs a positive number");

    public ArgumentException Unknown() => new($"unknown option {Current}");
}
