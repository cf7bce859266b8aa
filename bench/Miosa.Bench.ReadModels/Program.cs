using System.Diagnostics;
using System.Runtime.InteropServices;
using Miosa.Bench;
using Miosa.Bench.ReadModels;

if (args.Contains("--help") || args.Contains("-h"))
{
    Console.WriteLine(BenchOptions.Usage);
    return 0;
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException e)
{
    Console.Error.WriteLine($"bench: {e.Message}\n{BenchOptions.Usage}");
    return 2;
}

using var stop = new CancellationTokenSource();
void Interrupt(PosixSignalContext context)
{
    context.Cancel = true;
    BenchRun.Log("interrupted: cleaning up");
    stop.Cancel();
}
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Interrupt);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Interrupt);
var ct = stop.Token;

var startedAt = DateTimeOffset.UtcNow;
var runStarted = Stopwatch.GetTimestamp();
var stepBudget = TimeSpan.FromMinutes(10);
var machine = $"{Environment.ProcessorCount} cores, Linux {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, .NET {Environment.Version}";
var table = new ResultTable();
var startLoad = LoadAverage();
var places = new List<string>();
BenchRun.Log($"{machine}; load average {startLoad}");
if (options.Quick) table.Note("--quick: small counts, a smoke run rather than a measurement");

var engines = new List<(string Name, Func<CancellationToken, Task<Engine>> Open)>();
if (!options.SkipSqlite) engines.Add(("SQLite", token => Engine.SqliteAsync(options.Dir, token)));
if (options.Postgres is { } postgres) engines.Add(("PostgreSQL", token => Engine.PostgresAsync(postgres, token)));
var steps = new List<(string Name, Func<BenchRun, CancellationToken, Task> Step)>();
if (!options.SkipProjection) steps.Add(("projection lag", ProjectionLag.RunAsync));
if (!options.SkipLists) steps.Add(("filtered list latency", ListLatency.RunAsync));
if (!options.SkipUsage) steps.Add(("usage rollup", UsageRollup.RunAsync));

try
{
    foreach (var (engineName, open) in engines)
    {
        // Every measurement starts on a database of its own: one's leftovers never weigh on the next.
        foreach (var (name, step) in steps)
        {
            var metric = $"{engineName}: {name}";
            Engine engine;
            try
            {
                engine = await open(ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                table.Failed(metric, "", e);
                continue;
            }
            await using (engine)
            await using (var journal = new BenchJournal(engine))
            {
                BenchRun.Log($"{metric}: measuring on {engine.Where}");
                if (places.Count == 0 || !places[^1].StartsWith(engineName, StringComparison.Ordinal))
                    places.Add($"{engineName}: {engine.Where} (a new one for each measurement)");
                var run = new BenchRun(engine, journal, options, table);
                var started = Stopwatch.GetTimestamp();
                using var budget = CancellationTokenSource.CreateLinkedTokenSource(ct);
                budget.CancelAfter(stepBudget);
                try
                {
                    await step(run, budget.Token);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    table.Failed(metric, "", new TimeoutException($"{name} did not finish within {stepBudget.TotalMinutes} minutes"));
                }
                catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    table.Failed(metric, "", e);
                }
                BenchRun.Log($"{metric} took {Stopwatch.GetElapsedTime(started).TotalSeconds:F1} s");
            }
        }
    }
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    table.Note("interrupted before the end");
}

var markdown = Report(table, startedAt, Stopwatch.GetElapsedTime(runStarted), machine, places, args, $"{startLoad} at start, {LoadAverage()} at the end");
Console.WriteLine(markdown);
var path = options.MarkdownPath ?? DefaultReportPath(startedAt);
try
{
    Directory.CreateDirectory(Path.GetDirectoryName(path)!);
    await File.WriteAllTextAsync(path, markdown, CancellationToken.None);
    BenchRun.Log($"wrote {path}");
}
catch (Exception e) when (e is IOException or UnauthorizedAccessException)
{
    BenchRun.Log($"could not write {path}: {e.Message}");
}
return ct.IsCancellationRequested ? 130 : table.HasErrors ? 1 : 0;

static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

static string Report(ResultTable table, DateTimeOffset startedAt, TimeSpan took, string machine, List<string> places, string[] args, string load)
{
    // The connection string may carry a password: the report names the server (in "databases"), not the string.
    var shown = args.Select((a, i) => i > 0 && args[i - 1] == "--postgres" ? "\"<conn string>\"" : a).ToArray();
    var command = "dotnet run -c Release --project bench/Miosa.Bench.ReadModels" + (shown.Length > 0 ? " -- " + string.Join(' ', shown) : "");
    var databases = string.Join("; ", places);
    return $"""
        # Miosa read model benchmark, {startedAt:yyyy-MM-dd HH:mm} UTC

        - command: `{command}`
        - machine: {machine}
        - databases: {databases}
        - load average (1, 5, 15 min): {load}
        - run time: {took.TotalSeconds:F0} s
        - commit: {Commit()}

        {table.ToMarkdown()}
        """;
}

static string Commit()
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

static string DefaultReportPath(DateTimeOffset startedAt)
{
    for (var dir = new DirectoryInfo(Environment.CurrentDirectory); dir is not null; dir = dir.Parent)
    {
        if (File.Exists(Path.Combine(dir.FullName, "Miosa.sln")))
            return Path.Combine(dir.FullName, "bench", "results", $"readmodels-{startedAt:yyyyMMdd-HHmmss}.md");
    }
    return Path.Combine(Environment.CurrentDirectory, $"miosa-bench-readmodels-{startedAt:yyyyMMdd-HHmmss}.md");
}
