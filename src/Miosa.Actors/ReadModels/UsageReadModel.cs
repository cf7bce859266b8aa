using Akka.Actor;
using Akka.Streams;
using Miosa.Actors.Common;

namespace Miosa.Actors.ReadModels;

/// <summary>One group of a usage rollup; <see cref="Key"/> is null for resources without that attribution.</summary>
public sealed record UsageTotal(
    string? Key, double SandboxSeconds, double CpuSeconds, double MemoryMbSeconds, long StorageBytes, long EgressBytes);

/// <summary>
/// The usage read model: one row per metered window of a resource, fed by the "usage" tag, with the
/// resource's organization and attribution on the row so a rollup is one grouped range scan.
/// Rows are keyed by (resource, window start): a replayed event upserts the same row, never adds one.
/// </summary>
public sealed class UsageReadModel(ReadModelDatabase database)
{
    /// <summary>The group_by values GET /v1/usage accepts, and the column each groups by.</summary>
    public static IReadOnlyDictionary<string, string> Groupings { get; } = new Dictionary<string, string>
    {
        ["external_user_id"] = "external_user_id",
        ["external_project_id"] = "external_project_id",
        ["external_workspace_id"] = "external_workspace_id",
        ["workspace_id"] = "workspace_id",
        ["project_id"] = "project_id",
        ["resource_type"] = "resource_type",
    };

    private IKillSwitch? _running;

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        await CreateSchemaAsync(ct);
        var projection = new TagProjection(database, "usage", EventSourcedEntity<object>.UsageTag,
            (_, e, token) => e is IUsageEvent usage ? ApplyAsync(usage, token) : Task.CompletedTask);
        _running = await projection.StartAsync(system, ct);
    }

    public void Stop() => _running?.Shutdown();

    public Task CreateSchemaAsync(CancellationToken ct) => database.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS read_usage (
                resource_type TEXT NOT NULL,
                resource_id TEXT NOT NULL,
                window_start BIGINT NOT NULL,
                window_end BIGINT NOT NULL,
                organization_id TEXT NOT NULL,
                workspace_id TEXT,
                project_id TEXT,
                external_workspace_id TEXT,
                external_user_id TEXT,
                external_project_id TEXT,
                sandbox_seconds DOUBLE PRECISION NOT NULL,
                cpu_seconds DOUBLE PRECISION NOT NULL,
                memory_mb_seconds DOUBLE PRECISION NOT NULL,
                storage_bytes BIGINT,
                egress_bytes BIGINT NOT NULL,
                PRIMARY KEY (resource_type, resource_id, window_start));
            CREATE INDEX IF NOT EXISTS read_usage_range ON read_usage (organization_id, window_start);
            """, ct);

    /// <summary>One usage window, idempotent by (resource, window start); the bench fills with it too.</summary>
    public const string UpsertSql = """
        INSERT INTO read_usage (resource_type, resource_id, window_start, window_end, organization_id, workspace_id,
            project_id, external_workspace_id, external_user_id, external_project_id, sandbox_seconds, cpu_seconds,
            memory_mb_seconds, storage_bytes, egress_bytes)
        VALUES (@type, @id, @start, @end, @org, @ws, @prj, @ews, @eu, @ep, @running, @cpu, @memory, @storage, @egress)
        ON CONFLICT (resource_type, resource_id, window_start) DO UPDATE SET window_end = excluded.window_end,
            sandbox_seconds = excluded.sandbox_seconds, cpu_seconds = excluded.cpu_seconds,
            memory_mb_seconds = excluded.memory_mb_seconds, storage_bytes = excluded.storage_bytes,
            egress_bytes = excluded.egress_bytes
        """;

    public Task ApplyAsync(IUsageEvent e, CancellationToken ct)
    {
        var a = e.Attribution;
        return database.ExecuteAsync(UpsertSql, ct,
            ("@type", e.ResourceType), ("@id", e.ResourceId), ("@start", e.WindowStart.ToUnixTimeMilliseconds()),
            ("@end", e.WindowEnd.ToUnixTimeMilliseconds()), ("@org", e.OrganizationId), ("@ws", a.WorkspaceId),
            ("@prj", a.ProjectId), ("@ews", a.ExternalWorkspaceId), ("@eu", a.ExternalUserId), ("@ep", a.ExternalProjectId),
            ("@running", e.RunningSeconds), ("@cpu", e.CpuSeconds), ("@memory", e.MemoryMbSeconds), ("@storage", e.StorageBytes),
            ("@egress", e.EgressBytes));
    }

    /// <summary>
    /// Totals per group of the windows that start in [from, to). Time figures add up; storage is a
    /// level, not a flow: each resource counts with the most it held in the range.
    /// </summary>
    public async Task<IReadOnlyList<UsageTotal>> QueryAsync(string organizationId, string groupBy, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        // The column comes from the fixed table above, never from the request text.
        var column = Groupings[groupBy];
        var sql = $"""
            SELECT usage_key, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds), SUM(storage_bytes), SUM(egress_bytes)
            FROM (SELECT {column} AS usage_key, SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds,
                    SUM(memory_mb_seconds) AS memory_mb_seconds, MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
                FROM read_usage
                WHERE organization_id = @org AND window_start >= @from AND window_start < @to
                GROUP BY {column}, resource_type, resource_id) per_resource
            GROUP BY usage_key
            """;
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql,
            ("@org", organizationId), ("@from", from.ToUnixTimeMilliseconds()), ("@to", to.ToUnixTimeMilliseconds()));
        await using var reader = await command.ExecuteReaderAsync(ct);
        var totals = new List<UsageTotal>();
        while (await reader.ReadAsync(ct))
        {
            // SUM of a BIGINT is NUMERIC on PostgreSQL: convert rather than GetInt64.
            double Real(int i) => reader.IsDBNull(i) ? 0 : Convert.ToDouble(reader.GetValue(i));
            long Whole(int i) => reader.IsDBNull(i) ? 0 : Convert.ToInt64(reader.GetValue(i));
            totals.Add(new UsageTotal(reader.IsDBNull(0) ? null : reader.GetString(0), Real(1), Real(2), Real(3), Whole(4), Whole(5)));
        }
        // Engines disagree on where NULL sorts: order here, the unattributed group last.
        return totals.OrderBy(t => t.Key is null).ThenBy(t => t.Key, StringComparer.Ordinal).ToList();
    }
}
