namespace Miosa.Bench;

/// <summary>What one run measures and how much of it; read from the command line.</summary>
public sealed record BenchOptions
{
    public int CreateCount { get; init; } = 50;
    public int ExecCount { get; init; } = 200;
    public int IdleCount { get; init; } = 200;
    public int IdleConcurrency { get; init; } = 8;
    public int ConcurrentCount { get; init; } = 500;
    public int ConcurrentConcurrency { get; init; } = 16;
    public int SmallFileBytes { get; init; } = 1_000_000;
    public int SmallFileRepeats { get; init; } = 20;
    public long LargeFileBytes { get; init; } = 200_000_000;
    public int LargeFileRepeats { get; init; } = 3;
    public int SuspendRounds { get; init; } = 50;
    public int SuspendedCount { get; init; } = 100;
    public int CpuSeconds { get; init; } = 10;
    public string Suite { get; init; } = "node";
    public bool SkipConcurrent { get; init; }
    public bool SkipIdle { get; init; }
    public bool SkipFiles { get; init; }
    public bool Quick { get; init; }
    public int? MemoryMb { get; init; }
    public string? ApiDll { get; init; }
    public string? DockerImage { get; init; }
    public string? MarkdownPath { get; init; }

    public const string Usage = """
        usage: dotnet run -c Release --project bench/Miosa.Bench -- [options]

          --quick              small counts and a 20 MB large file (a smoke run, not a measurement)
          --suite NAME         node (default: create, exec, files, idle memory, 500 alive) or
                               suspend (suspend/resume latency, resume on traffic, CPU and memory of suspended sandboxes)
          --skip-500           skip the 500 concurrent sandboxes
          --skip-idle          skip the memory of 200 idle sandboxes
          --skip-files         skip file upload/download throughput
          --create-n N         sequential creates for create latency (50)
          --exec-n N           sequential exec round trips (200)
          --idle-n N           idle sandboxes for the memory figure (200)
          --concurrent-n N     sandboxes alive at once (500)
          --large-mb N         size of the large file in MB (200)
          --suspend-n N        suspend/resume rounds, and exec rounds on a suspended sandbox (50; suite suspend)
          --suspended-n N      sandboxes suspended at once for their CPU and memory (100; suite suspend)
          --cpu-seconds N      how long their CPU is read, suspended and running idle (10; suite suspend)
          --memory-mb N        ask for resources.memory_mb N on every create (default: the API's default)
          --api-dll PATH       the Miosa.Api.dll to start (default: the one built next to the harness)
          --docker-image NAME  image for the docker run baseline (default: the first local image)
          --markdown PATH      also write the table as Markdown (default: bench/results/<utc time>.md)
        """;

    public static BenchOptions Parse(string[] args)
    {
        var options = args.Contains("--quick")
            ? new BenchOptions
            {
                Quick = true,
                CreateCount = 10,
                ExecCount = 30,
                IdleCount = 20,
                ConcurrentCount = 40,
                SmallFileRepeats = 5,
                LargeFileBytes = 20_000_000,
                LargeFileRepeats = 2,
                SuspendRounds = 10,
                SuspendedCount = 10,
                CpuSeconds = 3,
            }
            : new BenchOptions();
        for (var a = new ArgReader(args); a.Next();)
        {
            options = a.Current switch
            {
                "--quick" => options,
                "--suite" => options with { Suite = a.Value() switch { "node" => "node", "suspend" => "suspend", _ => throw new ArgumentException("--suite is node or suspend") } },
                "--suspend-n" => options with { SuspendRounds = a.Count() },
                "--suspended-n" => options with { SuspendedCount = a.Count() },
                "--cpu-seconds" => options with { CpuSeconds = a.Count() },
                "--skip-500" => options with { SkipConcurrent = true },
                "--skip-idle" => options with { SkipIdle = true },
                "--skip-files" => options with { SkipFiles = true },
                "--create-n" => options with { CreateCount = a.Count() },
                "--exec-n" => options with { ExecCount = a.Count() },
                "--idle-n" => options with { IdleCount = a.Count() },
                "--concurrent-n" => options with { ConcurrentCount = a.Count() },
                "--large-mb" => options with { LargeFileBytes = a.Count() * 1_000_000L },
                "--memory-mb" => options with { MemoryMb = a.Count() },
                "--api-dll" => options with { ApiDll = Path.GetFullPath(a.Value()) },
                "--docker-image" => options with { DockerImage = a.Value() },
                "--markdown" => options with { MarkdownPath = Path.GetFullPath(a.Value()) },
                _ => throw a.Unknown(),
            };
        }
        return options;
    }
}
