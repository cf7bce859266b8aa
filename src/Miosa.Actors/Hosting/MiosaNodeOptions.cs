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
    /// <summary>
    /// DNS server ("ip:port", port defaults to 53) used to verify tenant preview domains.
    /// Null: the system resolver (/etc/resolv.conf).
    /// </summary>
    public string? DnsResolver { get; init; }

    /// <summary>The name customers CNAME their preview domain to (<c>*.their-domain CNAME this</c>); default <c>sandbox.&lt;base domain&gt;</c>.</summary>
    public string? PreviewCnameTargetOverride { get; init; }

    public string PreviewCnameTarget => PreviewCnameTargetOverride ?? $"sandbox.{BaseDomain}";

    /// <summary>The key id new <c>mp_</c> preview tokens are signed with (keys derive from the cluster secret).</summary>
    public string PreviewTokenKeyId { get; init; } = "k1";

    /// <summary>Earlier key ids edges still accept, so rotating <see cref="PreviewTokenKeyId"/> does not break live links.</summary>
    public IReadOnlyList<string> PreviewTokenAcceptedKeyIds { get; init; } = [];

    /// <summary>How long a sandbox stays frozen (memory kept) before its processes are stopped to free memory.</summary>
    public TimeSpan HibernateAfter { get; init; } = TimeSpan.FromHours(1);

    /// <summary>
    /// The network namespace (a path such as /run/netns/NAME) that sandboxes with internet access
    /// connect out from; null: the host's. A test and operator hook.
    /// </summary>
    public string? EgressNetworkNamespace { get; init; }

    /// <summary>A JSON file of templates an operator adds to the built-in ones (the same on every node).</summary>
    public string? TemplatesFile { get; init; }

    /// <summary>
    /// Where sandbox workspaces live: <c>btrfs</c> (a loop-mounted volume in the data dir: disk_mb
    /// enforced, instant forks) or <c>none</c> (plain directories: no disk limit, forks copy).
    /// </summary>
    public string SandboxVolume { get; init; } = "btrfs";

    /// <summary>Size of a new sandbox volume image (sparse) in GiB; null: half the free space of the data dir's filesystem.</summary>
    public int? SandboxVolumeGb { get; init; }

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
            DnsResolver = Get("MIOSA_DNS_RESOLVER") is { } resolver
                ? System.Net.IPEndPoint.TryParse(resolver, out _) ? resolver
                    : throw new ArgumentException($"MIOSA_DNS_RESOLVER must be an IP address with an optional port (1.2.3.4:53, [::1]:53), got '{resolver}'.")
                : null,
            PreviewCnameTargetOverride = Get("MIOSA_PREVIEW_CNAME_TARGET"),
            TemplatesFile = Get("MIOSA_TEMPLATES_FILE"),
            HibernateAfter = Get("MIOSA_HIBERNATE_AFTER_SECONDS") is { } hibernate
                ? int.TryParse(hibernate, out var after) && after >= 1 ? TimeSpan.FromSeconds(after)
                    : throw new ArgumentException($"MIOSA_HIBERNATE_AFTER_SECONDS must be whole seconds (at least 1), got '{hibernate}'.")
                : d.HibernateAfter,
            PreviewTokenKeyId = Get("MIOSA_PREVIEW_TOKEN_KEY_ID") ?? d.PreviewTokenKeyId,
            PreviewTokenAcceptedKeyIds = List("MIOSA_PREVIEW_TOKEN_ACCEPTED_KEY_IDS") ?? d.PreviewTokenAcceptedKeyIds,
            EgressNetworkNamespace = Get("MIOSA_EGRESS_NETNS"),
            SandboxVolume = Get("MIOSA_SANDBOX_VOLUME") is { } volume
                ? volume is "btrfs" or "none" ? volume : throw new ArgumentException($"MIOSA_SANDBOX_VOLUME must be btrfs or none, got '{volume}'.")
                : d.SandboxVolume,
            SandboxVolumeGb = Get("MIOSA_SANDBOX_VOLUME_GB") is { } gb
                ? int.TryParse(gb, out var size) && size >= 1 ? size : throw new ArgumentException($"MIOSA_SANDBOX_VOLUME_GB must be whole GiB (at least 1), got '{gb}'.")
                : null,
        };
    }
}
