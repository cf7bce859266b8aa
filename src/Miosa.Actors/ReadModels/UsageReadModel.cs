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
/// the sum of its windows per UTC day in <c>read_usage_daily</c> and per UTC hour in
/// <c>read_usage_hourly</c>, written in the same transaction. A window counts in the day and hour
/// its start falls in. A rollup reads whole days from the daily table, whole hours of the partial
/// days at the range's edges from the hourly table, and only the partial hours at its edges from
/// the windows. A window is keyed by (resource, window start); a replayed event inserts nothing,
/// and only an inserted window is added to its day and hour, so nothing counts twice.
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
    public const long HourMilliseconds = 3_600_000;

    private TagProjection? _projection;

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        await CreateSchemaAsync(ct);
        _projection = new TagProjection(database, "usage", EventSourcedEntity<object>.UsageTag, TagProjection.EachEvent(
            (projected, transaction, token) => projected.Event is IUsageEvent usage ? ApplyAsync(usage, transaction, token) : Task.CompletedTask));
        await _projection.StartAsync(system, ct);
    }

    public void Stop() => _projection?.Stop();

    /// <summary>Creates the tables; fills the daily or hourly table from the windows if it is new and they are not (a node upgraded to it).</summary>
    public async Task CreateSchemaAsync(CancellationToken ct)
    {
        await database.ExecuteAsync($"""
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
            {SummaryTableSql(Daily)}
            {SummaryTableSql(Hourly)}
            """, ct);
        await using var connection = await database.OpenAsync(ct);
        async Task<bool> AnyAsync(string table)
        {
            await using var command = ReadModelDatabase.Command(connection, $"SELECT 1 FROM {table} LIMIT 1");
            return await command.ExecuteScalarAsync(ct) is not null and not DBNull;
        }
        if (!await AnyAsync("read_usage")) return;
        if (!await AnyAsync("read_usage_daily")) await RebuildDailyAsync(ct);
        if (!await AnyAsync("read_usage_hourly")) await RebuildHourlyAsync(ct);
    }

    /// <summary>One usage window, inserted once by (resource, window start); the bench fills with it too.</summary>
    public const string InsertWindowSql = """
        INSERT INTO read_usage (resource_type, resource_id, window_start, window_end, organization_id, workspace_id,
            project_id, external_workspace_id, external_user_id, external_project_id, sandbox_seconds, cpu_seconds,
            memory_mb_seconds, storage_bytes, egress_bytes)
        VALUES (@type, @id, @start, @end, @org, @ws, @prj, @ews, @eu, @ep, @running, @cpu, @memory, @storage, @egress)
        ON CONFLICT (resource_type, resource_id, window_start) DO NOTHING
        """;

    // The two summary levels: table, bucket column, bucket length. A window belongs to the bucket its start falls in.
    private static readonly (string Table, string Column, long Milliseconds) Daily = ("read_usage_daily", "day", DayMilliseconds);
    private static readonly (string Table, string Column, long Milliseconds) Hourly = ("read_usage_hourly", "hour", HourMilliseconds);

    // A summary level's table: one row per resource, bucket and attribution, the same columns at every level.
    private static string SummaryTableSql((string Table, string Column, long Milliseconds) level) => $"""
        CREATE TABLE IF NOT EXISTS {level.Table} (
            resource_type TEXT NOT NULL,
            resource_id TEXT NOT NULL,
            {level.Column} BIGINT NOT NULL,
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
            PRIMARY KEY (resource_type, resource_id, {level.Column}, attribution_key));
        CREATE INDEX IF NOT EXISTS {level.Table}_range ON {level.Table} (organization_id, {level.Column});
        """;

    // Adds a window (or a bucket of them) to its resource's day or hour (@bucket); storage is the most held.
    private static string AddToBucketSql((string Table, string Column, long Milliseconds) level) => $"""
        INSERT INTO {level.Table} (resource_type, resource_id, {level.Column}, attribution_key, organization_id, workspace_id,
            project_id, external_workspace_id, external_user_id, external_project_id, sandbox_seconds, cpu_seconds,
            memory_mb_seconds, storage_bytes, egress_bytes)
        VALUES (@type, @id, @bucket, @key, @org, @ws, @prj, @ews, @eu, @ep, @running, @cpu, @memory, @storage, @egress)
        ON CONFLICT (resource_type, resource_id, {level.Column}, attribution_key) DO UPDATE SET
            sandbox_seconds = {level.Table}.sandbox_seconds + excluded.sandbox_seconds,
            cpu_seconds = {level.Table}.cpu_seconds + excluded.cpu_seconds,
            memory_mb_seconds = {level.Table}.memory_mb_seconds + excluded.memory_mb_seconds,
            storage_bytes = CASE WHEN {level.Table}.storage_bytes IS NULL OR excluded.storage_bytes > {level.Table}.storage_bytes
                THEN excluded.storage_bytes ELSE {level.Table}.storage_bytes END,
            egress_bytes = {level.Table}.egress_bytes + excluded.egress_bytes
        """;

    private static readonly string AddToDaySql = AddToBucketSql(Daily);
    private static readonly string AddToHourSql = AddToBucketSql(Hourly);

    /// <summary>Records one window in its own transaction (tests, the bench).</summary>
    public Task ApplyAsync(IUsageEvent e, CancellationToken ct) => database.InTransactionAsync(t => ApplyAsync(e, t, ct), ct);

    /// <summary>Records one window inside the projection's transaction; its day and hour grow only if the window is new.</summary>
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
        var key = AttributionKey(e.OrganizationId, a.WorkspaceId, a.ProjectId, a.ExternalWorkspaceId, a.ExternalUserId, a.ExternalProjectId);
        await using (var addToDay = ReadModelDatabase.Command(transaction, AddToDaySql, [.. figures, ("@bucket", DayOf(start)), ("@key", key)]))
        {
            await addToDay.ExecuteNonQueryAsync(ct);
        }
        await using var addToHour = ReadModelDatabase.Command(transaction, AddToHourSql, [.. figures, ("@bucket", HourOf(start)), ("@key", key)]);
        await addToHour.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Sums every window into <c>read_usage_daily</c> anew, in one transaction.</summary>
    public Task RebuildDailyAsync(CancellationToken ct) => RebuildAsync(Daily, ct);

    /// <summary>Sums every window into <c>read_usage_hourly</c> anew, in one transaction.</summary>
    public Task RebuildHourlyAsync(CancellationToken ct) => RebuildAsync(Hourly, ct);

    private async Task RebuildAsync((string Table, string Column, long Milliseconds) level, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        await using (var clear = ReadModelDatabase.Command(transaction, $"DELETE FROM {level.Table}"))
        {
            await clear.ExecuteNonQueryAsync(ct);
        }
        // Floor division, as DayOf and HourOf: the engines' "/" truncates toward zero.
        var ms = level.Milliseconds;
        var bucket = $"((window_start - ((window_start % {ms}) + {ms}) % {ms}) / {ms})";
        var addSql = AddToBucketSql(level);
        var buckets = new List<(string, object?)[]>();
        await using (var sum = ReadModelDatabase.Command(transaction, $"""
            SELECT resource_type, resource_id, {bucket}, organization_id, workspace_id, project_id, external_workspace_id,
                external_user_id, external_project_id, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds),
                MAX(storage_bytes), SUM(egress_bytes)
            FROM read_usage
            GROUP BY resource_type, resource_id, {bucket}, organization_id, workspace_id, project_id, external_workspace_id,
                external_user_id, external_project_id
            """))
        await using (var reader = await sum.ExecuteReaderAsync(ct))
        {
            while (await reader.ReadAsync(ct))
            {
                string? Text(int i) => reader.IsDBNull(i) ? null : reader.GetString(i);
                var (org, ws, prj, ews, eu, ep) = (reader.GetString(3), Text(4), Text(5), Text(6), Text(7), Text(8));
                buckets.Add(
                [
                    ("@type", reader.GetString(0)), ("@id", reader.GetString(1)), ("@bucket", Convert.ToInt64(reader.GetValue(2))),
                    ("@key", AttributionKey(org, ws, prj, ews, eu, ep)), ("@org", org), ("@ws", ws), ("@prj", prj), ("@ews", ews),
                    ("@eu", eu), ("@ep", ep), ("@running", Convert.ToDouble(reader.GetValue(9))), ("@cpu", Convert.ToDouble(reader.GetValue(10))),
                    ("@memory", Convert.ToDouble(reader.GetValue(11))), ("@storage", reader.IsDBNull(12) ? null : Convert.ToInt64(reader.GetValue(12))),
                    ("@egress", Convert.ToInt64(reader.GetValue(13))),
                ]);
            }
        }
        foreach (var parameters in buckets)
        {
            await using var add = ReadModelDatabase.Command(transaction, addSql, parameters);
            await add.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
    }

    /// <summary>The UTC day a time (Unix milliseconds) falls in, counted from 1970-01-01.</summary>
    public static long DayOf(long unixMilliseconds) => FloorDiv(unixMilliseconds, DayMilliseconds);

    /// <summary>The UTC hour a time (Unix milliseconds) falls in, counted from 1970-01-01 00:00.</summary>
    public static long HourOf(long unixMilliseconds) => FloorDiv(unixMilliseconds, HourMilliseconds);

    internal static long FloorDiv(long value, long unit) => value / unit - (value % unit < 0 ? 1 : 0);

    // One daily row per distinct organization and attribution of a resource, so a day groups exactly as its windows
    // do. A JSON array tells null from "" and never mixes values up, whatever they hold.
    private static string AttributionKey(string organizationId, string? ws, string? prj, string? ews, string? eu, string? ep) =>
        JsonSerializer.Serialize(new[] { organizationId, ws, prj, ews, eu, ep });

    /// <summary>
    /// Totals per group of the windows that start in [from, to). Time figures add up; storage is a
    /// level, not a flow: each resource counts with the most it held in the range. Whole UTC days in
    /// the range are read from the daily table, whole hours of the partial days at its edges from the
    /// hourly table, and only the partial hours at its edges from the windows.
    /// </summary>
    public async Task<IReadOnlyList<UsageTotal>> QueryAsync(string organizationId, string groupBy, DateTimeOffset from, DateTimeOffset to, CancellationToken ct)
    {
        // The column comes from the fixed table above, never from the request text.
        var column = Groupings[groupBy];
        var (fromMs, toMs) = (from.ToUnixTimeMilliseconds(), to.ToUnixTimeMilliseconds());
        var plan = UsageRangePlan.Of(fromMs, toMs);
        const string Figures = "sandbox_seconds, cpu_seconds, memory_mb_seconds, storage_bytes, egress_bytes";
        string Windows(int i) => $"""
            SELECT {column}, resource_type, resource_id, {Figures} FROM read_usage
                WHERE organization_id = @org AND window_start >= @raw_from{i} AND window_start < @raw_to{i}
            """;
        string Hours(int i) => $"""
            SELECT {column}, resource_type, resource_id, {Figures} FROM read_usage_hourly
                WHERE organization_id = @org AND hour >= @hour_from{i} AND hour < @hour_to{i}
            """;
        var sql = $"""
            SELECT usage_key, SUM(sandbox_seconds), SUM(cpu_seconds), SUM(memory_mb_seconds), SUM(storage_bytes), SUM(egress_bytes)
            FROM (SELECT usage_key, SUM(sandbox_seconds) AS sandbox_seconds, SUM(cpu_seconds) AS cpu_seconds,
                    SUM(memory_mb_seconds) AS memory_mb_seconds, MAX(storage_bytes) AS storage_bytes, SUM(egress_bytes) AS egress_bytes
                FROM (SELECT {column} AS usage_key, resource_type AS type, resource_id AS id, {Figures} FROM read_usage_daily
                        WHERE organization_id = @org AND day >= @day_from AND day < @day_to
                    UNION ALL
                    {Hours(0)}
                    UNION ALL
                    {Hours(1)}
                    UNION ALL
                    {Windows(0)}
                    UNION ALL
                    {Windows(1)}
                    UNION ALL
                    {Windows(2)}
                    UNION ALL
                    {Windows(3)}) parts
                GROUP BY usage_key, type, id) per_resource
            GROUP BY usage_key
            """;
        var parameters = new List<(string, object?)> { ("@org", organizationId), ("@day_from", plan.Days.From), ("@day_to", plan.Days.To) };
        for (var i = 0; i < 2; i++) parameters.AddRange([($"@hour_from{i}", plan.Hours[i].From), ($"@hour_to{i}", plan.Hours[i].To)]);
        for (var i = 0; i < 4; i++) parameters.AddRange([($"@raw_from{i}", plan.Windows[i].From), ($"@raw_to{i}", plan.Windows[i].To)]);
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql, [.. parameters]);
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

/// <summary>
/// How a rollup over [from, to) (Unix milliseconds) splits into disjoint parts that together cover
/// exactly the windows starting in it: whole days [Days.From, Days.To) (day numbers), then in each
/// partial day at an edge its whole hours (hour numbers), then the partial hours left at the edges
/// as window-start ranges in milliseconds. An unused part is the empty range (0, 0).
/// </summary>
public sealed record UsageRangePlan((long From, long To) Days, (long From, long To)[] Hours, (long From, long To)[] Windows)
{
    public static UsageRangePlan Of(long fromMs, long toMs)
    {
        var hours = new List<(long, long)>();
        var windows = new List<(long, long)>();
        // The whole units [first, end) of [from, to), or none; what is left at each edge goes to the next finer level.
        static (long First, long End) Whole(long from, long to, long unit)
        {
            var first = UsageReadModel.FloorDiv(from + unit - 1, unit);
            var end = UsageReadModel.FloorDiv(to, unit);
            return first < end ? (first, end) : (0, 0);
        }
        void Edge(long from, long to)
        {
            if (from >= to) return;
            var (first, end) = Whole(from, to, UsageReadModel.HourMilliseconds);
            if (first == end)
            {
                windows.Add((from, to));
                return;
            }
            hours.Add((first, end));
            if (from < first * UsageReadModel.HourMilliseconds) windows.Add((from, first * UsageReadModel.HourMilliseconds));
            if (end * UsageReadModel.HourMilliseconds < to) windows.Add((end * UsageReadModel.HourMilliseconds, to));
        }
        var days = Whole(fromMs, toMs, UsageReadModel.DayMilliseconds);
        if (days.First == days.End) Edge(fromMs, toMs);
        else
        {
            Edge(fromMs, days.First * UsageReadModel.DayMilliseconds);
            Edge(days.End * UsageReadModel.DayMilliseconds, toMs);
        }
        while (hours.Count < 2) hours.Add((0, 0));
        while (windows.Count < 4) windows.Add((0, 0));
        return new UsageRangePlan(days, [.. hours], [.. windows]);
    }
}
