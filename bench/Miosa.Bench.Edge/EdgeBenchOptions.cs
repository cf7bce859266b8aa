namespace Miosa.Bench.Edge;

/// <summary>What one run measures and how much of it; read from the command line.</summary>
public sealed record EdgeBenchOptions
{
    public int Clients { get; init; } = 16;
    public int Requests { get; init; } = 2000;
    public int Rounds { get; init; } = 3;
    public int Warmup { get; init; } = 300;
    public int Sequential { get; init; } = 1000;
    public int Previews { get; init; } = 50;
    public int EdgeRounds { get; init; } = 20;
    public int Routes { get; init; } = 10_000;
    public int FillSandboxes { get; init; } = 100;
    public string App { get; init; } = "python";
    public bool SkipRoutes { get; init; }
    public bool SkipInProcess { get; init; }
    public bool Quick { get; init; }
    public string? ApiDll { get; init; }
    public string? MarkdownPath { get; init; }

    public const string Usage = """
        usage: dotnet run -c Release --project bench/Miosa.Bench.Edge -- [options]

          --quick              small counts (a smoke run, not a measurement)
          --clients N          concurrent keep-alive clients for the throughput runs (16)
          --requests N         measured requests per path per round (2000)
          --rounds N           rounds, rotating the order of the paths (3)
          --warmup N           unmeasured requests before each run (300)
          --sequential N       requests per path per round with one client (1000)
          --app python|node    the app in the sandbox: python3 http.server or node's http module (python)
          --previews N         previews timed from create to the first 200 (50)
          --edge-rounds N      share-link revocations and branding changes timed on both edges (20)
          --routes N           preview routes in the table for the large-table run (10000)
          --fill-sandboxes N   sandboxes that hold those previews (20)
          --skip-routes        skip the large route table (real previews and the in-process edge)
          --skip-in-process    skip only the in-process edge with synthetic sandbox routes
          --api-dll PATH       the Miosa.Api.dll to start (default: the one built next to the harness)
          --markdown PATH      where to write the table (default: bench/results/edge-<utc time>.md)
        """;

    public static EdgeBenchOptions Parse(string[] args)
    {
        var options = args.Contains("--quick")
            ? new EdgeBenchOptions
            {
                Quick = true,
                Requests = 300,
                Rounds = 1,
                Warmup = 50,
                Sequential = 100,
                Previews = 10,
                EdgeRounds = 5,
                Routes = 1000,
                FillSandboxes = 10,
            }
            : new EdgeBenchOptions();
        for (var a = new ArgReader(args); a.Next();)
        {
            options = a.Current switch
            {
                "--quick" => options,
                "--clients" => options with { Clients = a.Count() },
                "--requests" => options with { Requests = a.Count() },
                "--rounds" => options with { Rounds = a.Count() },
                "--warmup" => options with { Warmup = int.TryParse(a.Value(), out var w) && w >= 0 ? w : throw new ArgumentException("--warmup needs a number") },
                "--sequential" => options with { Sequential = a.Count() },
                "--app" => options with { App = a.Value() is "python" or "node" ? a.Current : throw new ArgumentException("--app is python or node") },
                "--previews" => options with { Previews = a.Count() },
                "--edge-rounds" => options with { EdgeRounds = a.Count() },
                "--routes" => options with { Routes = a.Count() },
                "--fill-sandboxes" => options with { FillSandboxes = a.Count() },
                "--skip-routes" => options with { SkipRoutes = true },
                "--skip-in-process" => options with { SkipInProcess = true },
                "--api-dll" => options with { ApiDll = Path.GetFullPath(a.Value()) },
                "--markdown" => options with { MarkdownPath = Path.GetFullPath(a.Value()) },
                _ => throw a.Unknown(),
            };
        }
        return options;
    }
}
