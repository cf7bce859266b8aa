using System.Diagnostics;
using Miosa.Bench;
using Miosa.Bench.ReadModels;

if (!BenchMain.TryParse(args, BenchOptions.Usage, BenchOptions.Parse, out var options, out var exitCode)) return exitCode;
using var interruption = BenchMain.OnInterrupt();
var ct = interruption.Token;

var startedAt = DateTimeOffset.UtcNow;
var runStarted = Stopwatch.GetTimestamp();
var stepBudget = TimeSpan.FromMinutes(10);
var machine = $"{Environment.ProcessorCount} cores, Linux {File.ReadAllText("/proc/sys/kernel/osrelease").Trim()}, .NET {Environment.Version}";
var table = new ResultTable("measured", ratioColumn: false, verbose: true);
var startLoad = BenchMain.LoadAverage();
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
                await BenchMain.StepAsync(name, metric, table, stepBudget, token => step(run, token), ct);
            }
        }
    }
}
catch (OperationCanceledException) when (ct.IsCancellationRequested)
{
    table.Note("interrupted before the end");
}

var markdown = Report(table, startedAt, Stopwatch.GetElapsedTime(runStarted), machine, places, args, $"{startLoad} at start, {BenchMain.LoadAverage()} at the end");
await BenchMain.PrintAndWriteAsync(markdown, options.MarkdownPath ?? BenchMain.DefaultReportPath("readmodels-", startedAt));
return ct.IsCancellationRequested ? 130 : table.HasErrors ? 1 : 0;

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
        - commit: {BenchMain.Commit()}

        {table.ToMarkdown()}
        """;
}
