namespace Miosa.Actors.Hosting;

/// <summary>How a node is run: the MIOSA_* environment of docs/operations.md, with single-node defaults.</summary>
public sealed record MiosaNodeOptions
{
    public string DataDir { get; init; } = Path.GetFullPath("data");
    public int ApiPort { get; init; } = 8080;
    public int EdgePort { get; init; } = 8081;
    /// <summary>The host agent's data-plane ingress on loopback (0: any free port).</summary>
    public int IngressPort { get; init; }
    public string BaseDomain { get; init; } = "localhost";
    public string? AdminToken { get; init; }
    public IReadOnlyList<string> Roles { get; init; } = ["api", "edge", "host"];
    public string AkkaHost { get; init; } = "127.0.0.1";
    public int AkkaPort { get; init; } = 4053;
    public IReadOnlyList<string> Seeds { get; init; } = [];
    public string Region { get; init; } = "local";
    public string NodeName { get; init; } = Environment.MachineName;
    /// <summary>Null: SQLite in the data dir. Otherwise a PostgreSQL connection string.</summary>
    public string? Database { get; init; }
    /// <summary>Shared secret the API presents to host ingresses; generated per data dir when unset.</summary>
    public string? ClusterSecret { get; init; }
    /// <summary>How often the host agent meters its sandboxes (usage window length).</summary>
    public TimeSpan UsageInterval { get; init; } = TimeSpan.FromSeconds(30);

    public bool HasRole(string role) => Roles.Contains(role);

    public string SqliteConnectionString => $"Data Source={Path.Combine(DataDir, "miosa.db")};Pooling=True";

    public bool UsesPostgres => !string.IsNullOrWhiteSpace(Database);

    public static MiosaNodeOptions FromEnvironment(Func<string, string?>? read = null)
    {
        read ??= Environment.GetEnvironmentVariable;
        var d = new MiosaNodeOptions();
        string? Get(string name) => string.IsNullOrWhiteSpace(read(name)) ? null : read(name)!.Trim();
        int Port(string name, int fallback) =>
            Get(name) is { } v ? int.TryParse(v, out var p) && p is >= 0 and <= 65535 ? p
                : throw new ArgumentException($"{name} must be a TCP port (0-65535), got '{v}'.") : fallback;
        IReadOnlyList<string>? List(string name) =>
            Get(name)?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

        return d with
        {
            DataDir = Path.GetFullPath(Get("MIOSA_DATA_DIR") ?? d.DataDir),
            ApiPort = Port("MIOSA_API_PORT", d.ApiPort),
            EdgePort = Port("MIOSA_EDGE_PORT", d.EdgePort),
            IngressPort = Port("MIOSA_INGRESS_PORT", d.IngressPort),
            BaseDomain = Get("MIOSA_BASE_DOMAIN") ?? d.BaseDomain,
            AdminToken = Get("MIOSA_ADMIN_TOKEN"),
            Roles = List("MIOSA_ROLES") ?? d.Roles,
            AkkaHost = Get("MIOSA_AKKA_HOST") ?? d.AkkaHost,
            AkkaPort = Port("MIOSA_AKKA_PORT", d.AkkaPort),
            Seeds = List("MIOSA_SEEDS") ?? d.Seeds,
            Region = Get("MIOSA_REGION") ?? d.Region,
            NodeName = Get("MIOSA_NODE_NAME") ?? d.NodeName,
            Database = Get("MIOSA_DATABASE"),
            ClusterSecret = Get("MIOSA_CLUSTER_SECRET"),
            UsageInterval = Get("MIOSA_USAGE_INTERVAL_SECONDS") is { } usage
                ? int.TryParse(usage, out var seconds) && seconds is >= 1 and <= 3600 ? TimeSpan.FromSeconds(seconds)
                    : throw new ArgumentException($"MIOSA_USAGE_INTERVAL_SECONDS must be whole seconds (1-3600), got '{usage}'.")
                : d.UsageInterval,
        };
    }
}
