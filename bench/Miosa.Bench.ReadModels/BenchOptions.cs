namespace Miosa.Bench.ReadModels;

/// <summary>What one run measures and how much of it; read from the command line.</summary>
public sealed record BenchOptions
{
    public int Sandboxes { get; init; } = 100_000;
    public int Users { get; init; } = 1_000;
    public int AppliedSandboxes { get; init; } = 10_000;
    public int Queries { get; init; } = 500;
    public int BurstSandboxes { get; init; } = 2_500;
    public int UsageSandboxes { get; init; } = 200;
    public int UsageUsers { get; init; } = 50;
    public int UsageDays { get; init; } = 30;
    public int UsageWindowMinutes { get; init; } = 5;
    public int? UsageWindowSeconds { get; init; }
    public int UsageApplied { get; init; } = 2_000;
    public int RollupRuns { get; init; } = 20;
    public bool SkipLists { get; init; }
    public bool SkipProjection { get; init; }
    public bool SkipUsage { get; init; }
    public bool SkipSqlite { get; init; }
    public bool Quick { get; init; }
    public string? Postgres { get; init; }
    public string? Dir { get; init; }
    public string? MarkdownPath { get; init; }

    /// <summary>One usage window: --usage-window-seconds if given, else --usage-window-min.</summary>
    public TimeSpan UsageWindow => UsageWindowSeconds is { } seconds ? TimeSpan.FromSeconds(seconds) : TimeSpan.FromMinutes(UsageWindowMinutes);

    /// <summary>The window as the results table names it: "5 min", "30 s".</summary>
    public string UsageWindowLabel => UsageWindowSeconds is { } seconds ? $"{seconds} s" : $"{UsageWindowMinutes} min";

    public const string Usage = """
        usage: dotnet run -c Release --project bench/Miosa.Bench.ReadModels -- [options]

          --postgres CONN        also run on PostgreSQL (a fresh schema in that database, dropped at the end)
          --postgres-only        with --postgres: skip SQLite
          --dir PATH             where the SQLite temp dir is made (default: the system temp dir)
          --quick                small counts (a smoke run, not a measurement)
          --skip-lists           skip the filtered list latency
          --skip-projection      skip the projection lag under a burst
          --skip-usage           skip the usage rollup
          --sandboxes N          rows in read_resources (100000)
          --users N              external users they are spread over (1000)
          --applied N            of those, sandboxes written through ResourceList.ApplyAsync (10000); the rest in bulk
          --queries N            list queries per figure (500)
          --burst-sandboxes N    sandbox entities in the burst, 4 events each (2500)
          --usage-sandboxes N    sandboxes with usage windows (200)
          --usage-days N         days of usage windows (30)
          --usage-window-min N   window length in minutes (5)
          --usage-window-seconds N  window length in seconds, instead of --usage-window-min (the node meters every 30)
          --rollup-runs N        rollup queries per figure (20)
          --markdown PATH        also write the table as Markdown (default: bench/results/readmodels-<utc time>.md)
        """;

    public static BenchOptions Parse(string[] args)
    {
        var options = args.Contains("--quick")
            ? new BenchOptions
            {
                Quick = true,
                Sandboxes = 5_000,
                Users = 100,
                AppliedSandboxes = 200,
                Queries = 50,
                BurstSandboxes = 200,
                UsageSandboxes = 20,
                UsageUsers = 5,
                UsageDays = 3,
                UsageApplied = 200,
                RollupRuns = 5,
            }
            : new BenchOptions();
        for (var a = new ArgReader(args); a.Next();)
        {
            options = a.Current switch
            {
                "--quick" => options,
                "--postgres" => options with { Postgres = a.Value() },
                "--postgres-only" => options with { SkipSqlite = true },
                "--dir" => options with { Dir = Path.GetFullPath(a.Value()) },
                "--skip-lists" => options with { SkipLists = true },
                "--skip-projection" => options with { SkipProjection = true },
                "--skip-usage" => options with { SkipUsage = true },
                "--sandboxes" => options with { Sandboxes = a.Count() },
                "--users" => options with { Users = a.Count() },
                "--applied" => options with { AppliedSandboxes = a.Count() },
                "--queries" => options with { Queries = a.Count() },
                "--burst-sandboxes" => options with { BurstSandboxes = a.Count() },
                "--usage-sandboxes" => options with { UsageSandboxes = a.Count() },
                "--usage-days" => options with { UsageDays = a.Count() },
                "--usage-window-min" => options with { UsageWindowMinutes = a.Count() },
                "--usage-window-seconds" => options with { UsageWindowSeconds = a.Count() },
                "--rollup-runs" => options with { RollupRuns = a.Count() },
                "--markdown" => options with { MarkdownPath = Path.GetFullPath(a.Value()) },
                _ => throw a.Unknown(),
            };
        }
        if (options.SkipSqlite && options.Postgres is null) throw new ArgumentException("--postgres-only needs --postgres");
        if (options.AppliedSandboxes > options.Sandboxes) options = options with { AppliedSandboxes = options.Sandboxes };
        if (options.UsageWindow > TimeSpan.FromDays(options.UsageDays)) throw new ArgumentException("the usage window is longer than --usage-days");
        return options;
    }
}
