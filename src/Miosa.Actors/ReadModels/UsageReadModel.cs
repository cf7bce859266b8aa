using System.Data.Common;
using System.Text.Json;
using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.ReadModels;

/// <summary>One group of a usage rollup; <see cref="Key"/> is null for resources without that attribution.</summary>
public sealed record UsageTotal(
    string? Key, double SandboxSeconds, double CpuSeconds, double MemoryMbSeconds, long StorageBytes, long EgressBytes);

/// <summary>
/// The usage read model, fed by the "usage" tag: one row per metered window of a resource in
/// <c>read_usage</c>, with the resource's organization and attribution on the row, and per resource
/// and UTC day the sum of its windows in <c>read_usage_daily</c>, written in the same transaction. A
/// rollup reads whole days from the daily table and only the partial days at the range's edges
/// from the windows. A window is keyed by (resource, window start); a replayed event inserts
/// nothing, and only an inserted window is added to its day, so nothing counts twice.
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

    public const long DayMilliseconds = 86_400_000;

    private TagProjection? _projection;

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        await CreateSchemaAsync(ct);
        _projection = new TagProjection(database, "usage", EventSourcedEntity<object>.UsageTag, TagProjection.EachEvent(
            (projected, transaction, token) => projected.Event is IUsageEvent usage ? ApplyAsync(usage, transaction, token) : Task.CompletedTask));
        await _projection.StartAsync(system, ct);
    }

    public void Stop() => _projection?.Stop();

    /// <summary>Creates the tables; fills the daily table from the windows if it is new and they are not (a node upgraded to it).</summary>
    public async Task CreateSchemaAsync(CancellationToken ct)
    {
        await database.ExecuteAsync("""
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
            CREATE TABLE IF NOT EXISTS read_usage_daily (
                resource_type TEXT NOT NULL,
                resource_id TEXT NOT NULL,
                day BIGINT NOT NULL,
                attribution_key TEXT NOT NULL,
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
                PRIMARY KEY (resource_type, resource_id, day, attribution_key));
            CREATE INDEX IF NOT EXISTS read_usage_daily_range ON read_usage_daily (organization_id, day);
            """, ct);
        await using var connection = await database.OpenAsync(ct);
        async Task<bool> AnyAsync(string table)
        {
            await using var command = ReadModelDatabase.Command(connection, $"SELECT 1 FROM {table} LIMIT 1");
            return await command.ExecuteScalarAsync(ct) is not null and not DBNull;
        }
        if (!await AnyAsync("read_usage_daily") && await AnyAsync("read_usage")) await RebuildDailyAsync(ct);
    }

    /// <summary>One usage window, inserted once by (resource, window start); the bench fills with it too.</summary>
    public const string InsertWindowSql = """
        INSERT INTO read_usage (resource_type, resource_id, window_start, window_end, organization_id, workspace_id,
            project_id, external_workspace_id, external_user_id, external_project_id, sandbox_seconds, cpu_seconds,
            memory_mb_seconds, storage_bytes, egress_bytes)
        VALUES (@type, @id, @start, @end, @org, @ws, @prj, @ews, @eu, @ep, @running, @cpu, @memory, @storage, @egress)
        ON CONFLICT (resource_type, resource_id, window_start) DO NOTHING
        """;

    // Adds a window (or a day of them) to its resource's day; storage is the most held.
    private const string AddToDaySql = """
        INSERT INTO read_usage_daily (resource_type, resource_id, day, attribution_key, organization_id, workspace_id,
            project_id, external_workspace_id, external_user_id, external_project_id, sandbox_seconds, cpu_seconds,
            memory_mb_seconds, storage_bytes, egress_bytes)
        VALUES (@type, @id, @day, @key, @org, @ws, @prj, @ews, @eu, @ep, @running, @cpu, @memory, @storage, @egress)
        ON CONFLICT (resource_type, resource_id, day, attribution_key) DO UPDATE SET
            sandbox_seconds = read_usage_daily.sandbox_seconds + excluded.sandbox_seconds,
            cpu_seconds = read_usage_daily.cpu_seconds + excluded.cpu_seconds,
            memory_mb_seconds = read_usage_daily.memory_mb_seconds + excluded.memory_mb_seconds,
            storage_bytes = CASE WHEN read_usage_daily.storage_bytes IS NULL OR excluded.storage_bytes > read_usage_daily.storage_bytes
                THEN excluded.storage_bytes ELSE read_usage_daily.storage_bytes END,
            egress_bytes = read_usage_daily.egress_bytes + excluded.egress_bytes
        """;

    /// <summary>Records one window in its own transaction (tests, the bench).</summary>
    public Task ApplyAsync(IUsageEvent e, CancellationToken ct) => database.InTransactionAsync(t => ApplyAsync(e, t, ct), ct);

    /// <summary>Records one window inside the projection's transaction; its day grows only if the window is new.</summary>
    public static async Task ApplyAsync(IUsageEvent e, DbTransaction transaction, CancellationToken ct)
    {
        var a = e.Attribution;
        var start = e.WindowStart.ToUnixTimeMilliseconds();
        (string, object?)[] figures =
        [
            ("@type", e.ResourceType), ("@id", e.ResourceId), ("@org", e.OrganizationId), ("@ws", a.WorkspaceId),
            ("@prj", a.ProjectId), ("@ews", a.ExternalWorkspaceId), ("@eu", a.ExternalUserId), ("@ep", a.ExternalProjectId),
            ("@running", e.RunningSeconds), ("@cpu", e.CpuSeconds), ("@memory", e.MemoryMbSeconds), ("@storage", e.StorageBytes),
            ("@egress", e.EgressBytes),
        ];
        int inserted;
        await using (var insert = ReadModelDatabase.Command(transaction, InsertWindowSql,
                         [.. figures, ("@start", start), ("@end", e.WindowEnd.ToUnixTimeMilliseconds())]))
        {
            inserted = await insert.ExecuteNonQueryAsync(ct);
        }
        if (inserted == 0) return;
        await using var add = ReadModelDatabase.Command(transaction, AddToDaySql,
            [.. figures, ("@day", DayOf(start)), ("@key", AttributionKey(e.OrganizationId, a.WorkspaceId, a.ProjectId, a.ExternalWorkspaceId, a.ExternalUserId, a.ExternalProjectId))]);
        await add.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Sums every window into <c>read_usage_daily</c> anew, in one transaction.</summary>
    public async Task RebuildDailyAsync(CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var clear = ReadModelDatabase.Command(transaction, "DELETE FROM read_usage_daily"))
        {
            await clear.ExecuteNonQueryAsync(ct);
        }
        // Floor division, as DayOf: the engines' "/" truncates toward zero.
        var day = $"((window_start - ((window_start % {DayMilliseconds}) + {DayMilliseconds}) % {DayMilliseconds}) / {DayMilliseconds})";
        var days = new List<(string, object?)[]>();
        await using (var sum = ReadModelDatabase.Command(transaction, $"""
            SELECT resource_type, resource_id, {day}, organization_id, workspace_id, project_id, external_workspace_id,
                external_user_id, external_project_id, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds),
                MAX(storage_bytes), SUM(egress_bytes)
            FROM read_usage
            GROUP BY resource_type, resource_id, {day}, organization_id, workspace_id, project_id, external_workspace_id,
                external_user_id, external_project_id
            """))
        await using (var reader = await sum.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                var (org, ws, prj, ews, eu, ep) = (reader.GetString(3), Text(4), Text(5), Text(6), Text(7), Text(8));
                days.Add(
                [
                    ("@type", reader.GetString(0)), ("@id", reader.GetString(1)), ("@day", Convert.ToInt64(reader.GetValue(2))),
                    ("@key", AttributionKey(org, ws, prj, ews, eu, ep)), ("@org", org), ("@ws", ws), ("@prj", prj), ("@ews", ews),
                    ("@eu", eu), ("@ep", ep), ("@running", Convert.ToDouble(reader.GetValue(9))), ("@cpu", Convert.ToDouble(reader.GetValue(10))),
                    ("@memory", Convert.ToDouble(reader.GetValue(11))), ("@storage", reader.IsDBNull(12) ? null : Convert.ToInt64(reader.GetValue(12))),
                    ("@egress", Convert.ToInt64(reader.GetValue(13))),
                ]);
            }
        }
        foreach (var parameters in days)
        {
            await using var add = ReadModelDatabase.Command(transaction, AddToDaySql, parameters);
            await add.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
    }

    /// <summary>The UTC day a time (Unix milliseconds) falls in, counted from 1970-01-01.</summary>
    public static long DayOf(long unixMilliseconds) =>
        (unixMilliseconds - ((unixMilliseconds % DayMilliseconds) + DayMilliseconds) % DayMilliseconds) / DayMilliseconds;

    // One daily row per distinct organization and attribution of a resource, so a day groups exactly as its windows
    // do. A JSON array tells null from "" and never mixes values up, whatever they hold.
    private static string AttributionKey(string organizationId, string? ws, string? prj, string? ews, string? eu, string? ep) =>
        JsonSerializer.Serialize(new[] { organizationId, ws, prj, ews, eu, ep });

    /// <summary>
    /// Totals per group of the windows that start in [from, to). Time figures add up; storage is a
    /// level, not a flow: each resource counts with the most it held in the range. Whole UTC days in
    /// the range are read from the daily table, the partial days at its edges from the windows.
    /// </summary>
    public async Task<IReadOnlyList<UsageTotal>> QueryAsync(string organizationId, string groupBy, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        // The column comes from the fixed table above, never from the request text.
        var column = Groupings[groupBy];
        var (fromMs, toMs) = (from.ToUnixTimeMilliseconds(), to.ToUnixTimeMilliseconds());
        // Days [firstDay, endDay) lie wholly in the range; without one, the windows cover all of it.
        var firstDay = DayOf(fromMs + DayMilliseconds - 1);
        var endDay = DayOf(toMs);
        if (firstDay >= endDay) (firstDay, endDay) = (0, 0);
        var headEnd = firstDay < endDay ? firstDay * DayMilliseconds : toMs;
        var tailStart = firstDay < endDay ? endDay * DayMilliseconds : toMs;
        const string Figures = "sandbox_seconds, cpu_seconds, memory_mb_seconds, storage_bytes, egress_bytes";
        var sql = $"""
            SELECT usage_key, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds), SUM(storage_bytes), SUM(egress_bytes)
            FROM (SELECT usage_key, SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds,
                    SUM(memory_mb_seconds) AS memory_mb_seconds, MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
                FROM (SELECT {column} AS usage_key, resource_type AS type, resource_id AS id, {Figures} FROM read_usage_daily
                        WHERE organization_id = @org AND day >= @first_day AND day < @end_day
                    UNION ALL
                    SELECT {column}, resource_type, resource_id, {Figures} FROM read_usage
                        WHERE organization_id = @org AND window_start >= @from AND window_start < @head_end
                    UNION ALL
                    SELECT {column}, resource_type, resource_id, {Figures} FROM read_usage
                        WHERE organization_id = @org AND window_start >= @tail_start AND window_start < @to) parts
                GROUP BY usage_key, type, id) per_resource
            GROUP BY usage_key
            """;
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql,
            ("@org", organizationId), ("@first_day", firstDay), ("@end_day", endDay), ("@from", fromMs), ("@head_end", headEnd),
            ("@tail_start", tailStart), ("@to", toMs));
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
