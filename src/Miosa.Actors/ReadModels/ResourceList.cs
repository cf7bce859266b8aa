using System.Data.Common;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Miosa.Actors.Common;

namespace Miosa.Actors.ReadModels;

/// <summary>The columns lists filter on, taken from a resource's state.</summary>
public sealed record ResourceRow(string OrganizationId, string State, DateTimeOffset CreatedAt, Attribution Attribution);

/// <summary>A list request: the caller's organization, paging, and filters (null: not filtered).</summary>
public sealed record ResourceQuery(
    string OrganizationId,
    int Limit = 50,
    string? Cursor = null,
    string? State = null,
    string? WorkspaceId = null,
    string? ProjectId = null,
    string? ExternalWorkspaceId = null,
    string? ExternalUserId = null,
    string? ExternalProjectId = null,
    IReadOnlyDictionary<string, string>? Metadata = null);

public sealed record ResourcePage<TState>(IReadOnlyList<TState> Data, string? NextCursor);

/// <summary>
/// The list read model of every resource kind: one row per resource holding its state (folded
/// with the entity's own pure <c>Apply</c>) and the columns lists filter on; metadata in a side
/// table so <c>metadata.key=value</c> filters use an index on any engine.
/// </summary>
public sealed class ResourceList(ReadModelDatabase database)
{
    public static readonly JsonSerializerOptions Json = new() { Converters = { new JsonStringEnumConverter() } };

    public Task CreateSchemaAsync(CancellationToken ct) => database.ExecuteAsync("""
        CREATE TABLE IF NOT EXISTS read_resources (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            organization_id TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL,
            workspace_id TEXT,
            project_id TEXT,
            external_workspace_id TEXT,
            external_user_id TEXT,
            external_project_id TEXT,
            body TEXT NOT NULL,
            PRIMARY KEY (kind, id));
        CREATE INDEX IF NOT EXISTS read_resources_list ON read_resources (organization_id, kind, created_at, id);
        CREATE INDEX IF NOT EXISTS read_resources_user ON read_resources (organization_id, kind, external_user_id, created_at, id);
        CREATE INDEX IF NOT EXISTS read_resources_project ON read_resources (organization_id, kind, project_id, created_at, id);
        CREATE INDEX IF NOT EXISTS read_resources_workspace ON read_resources (organization_id, kind, workspace_id, created_at, id);
        CREATE TABLE IF NOT EXISTS read_resource_metadata (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            meta_key TEXT NOT NULL,
            meta_value TEXT NOT NULL,
            PRIMARY KEY (kind, id, meta_key));
        CREATE INDEX IF NOT EXISTS read_resource_metadata_lookup ON read_resource_metadata (kind, meta_key, meta_value, id);
        """, ct);

    /// <summary>Folds one event into the resource's row; idempotent for a replayed event.</summary>
    public async Task ApplyAsync<TState>(
        string kind, string id, IMiosaEvent @event,
        Func<string, TState> empty, Func<TState, IMiosaEvent, TState> apply, Func<TState, ResourceRow?> row, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var transaction = await connection.BeginTransactionAsync(ct);
        TState current;
        await using (var read = Command(connection, transaction, "SELECT body FROM read_resources WHERE kind = @kind AND id = @id", ("@kind", kind), ("@id", id)))
        {
            current = await read.ExecuteScalarAsync(ct) is string body ? JsonSerializer.Deserialize<TState>(body, Json)! : empty(id);
        }
        var next = apply(current, @event);
        if (row(next) is not { } r) return;
        var a = r.Attribution;
        await using (var upsert = Command(connection, transaction, """
            INSERT INTO read_resources (kind, id, organization_id, state, created_at, workspace_id, project_id,
                external_workspace_id, external_user_id, external_project_id, body)
            VALUES (@kind, @id, @org, @state, @created, @ws, @prj, @ews, @eu, @ep, @body)
            ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, workspace_id = excluded.workspace_id,
                project_id = excluded.project_id, external_workspace_id = excluded.external_workspace_id,
                external_user_id = excluded.external_user_id, external_project_id = excluded.external_project_id,
                body = excluded.body
            """,
            ("@kind", kind), ("@id", id), ("@org", r.OrganizationId), ("@state", r.State), ("@created", Timestamp(r.CreatedAt)),
            ("@ws", a.WorkspaceId), ("@prj", a.ProjectId), ("@ews", a.ExternalWorkspaceId), ("@eu", a.ExternalUserId),
            ("@ep", a.ExternalProjectId), ("@body", JsonSerializer.Serialize(next, Json))))
        {
            await upsert.ExecuteNonQueryAsync(ct);
        }
        await using (var clear = Command(connection, transaction, "DELETE FROM read_resource_metadata WHERE kind = @kind AND id = @id", ("@kind", kind), ("@id", id)))
        {
            await clear.ExecuteNonQueryAsync(ct);
        }
        foreach (var (key, value) in a.Metadata ?? new Dictionary<string, string>())
        {
            await using var insert = Command(connection, transaction,
                "INSERT INTO read_resource_metadata (kind, id, meta_key, meta_value) VALUES (@kind, @id, @k, @v)",
                ("@kind", kind), ("@id", id), ("@k", key), ("@v", value));
            await insert.ExecuteNonQueryAsync(ct);
        }
        await transaction.CommitAsync(ct);
    }

    /// <summary>Oldest first; the cursor is the last row's (created_at, id), so pages never skip or repeat.</summary>
    public async Task<ResourcePage<TState>> QueryAsync<TState>(string kind, ResourceQuery query, CancellationToken ct)
    {
        var (afterCreated, afterId) = DecodeCursor(query.Cursor);
        var sql = new StringBuilder("SELECT body, created_at, id FROM read_resources r WHERE organization_id = @org AND kind = @kind");
        var parameters = new List<(string, object?)> { ("@org", query.OrganizationId), ("@kind", kind) };
        void Filter(string column, string? value)
        {
            if (value is null) return;
            sql.Append($" AND {column} = @{column}");
            parameters.Add(($"@{column}", value));
        }
        Filter("state", query.State);
        Filter("workspace_id", query.WorkspaceId);
        Filter("project_id", query.ProjectId);
        Filter("external_workspace_id", query.ExternalWorkspaceId);
        Filter("external_user_id", query.ExternalUserId);
        Filter("external_project_id", query.ExternalProjectId);
        var m = 0;
        foreach (var (key, value) in query.Metadata ?? new Dictionary<string, string>())
        {
            sql.Append($" AND EXISTS (SELECT 1 FROM read_resource_metadata m WHERE m.kind = r.kind AND m.id = r.id AND m.meta_key = @mk{m} AND m.meta_value = @mv{m})");
            parameters.Add(($"@mk{m}", key));
            parameters.Add(($"@mv{m}", value));
            m++;
        }
        if (afterId is not null)
        {
            sql.Append(" AND (created_at > @after_created OR (created_at = @after_created AND id > @after_id))");
            parameters.Add(("@after_created", afterCreated));
            parameters.Add(("@after_id", afterId));
        }
        sql.Append(" ORDER BY created_at, id LIMIT @limit");
        parameters.Add(("@limit", query.Limit + 1));

        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql.ToString(), parameters.ToArray());
        var rows = new List<(TState State, string Created, string Id)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add((JsonSerializer.Deserialize<TState>(reader.GetString(0), Json)!, reader.GetString(1), reader.GetString(2)));
        var page = rows.Take(query.Limit).ToList();
        var next = rows.Count > query.Limit ? EncodeCursor(page[^1].Created, page[^1].Id) : null;
        return new ResourcePage<TState>(page.Select(r => r.State).ToList(), next);
    }

    /// <summary>Columns a resource can be counted by: the containers resources belong to.</summary>
    public static readonly IReadOnlySet<string> CountableColumns = new HashSet<string> { "workspace_id", "project_id" };

    /// <summary>
    /// How many resources of each kind in the organization have <paramref name="column"/> =
    /// <paramref name="value"/>, leaving out those in <paramref name="excludeStates"/> (ended ones).
    /// Kinds with none are absent.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, long>> CountAsync(
        string organizationId, string column, string value, IReadOnlyCollection<string> excludeStates, CancellationToken ct)
    {
        // The column is part of the SQL text: only known names get there.
        if (!CountableColumns.Contains(column)) throw new ArgumentException($"Resources are not counted by '{column}'.", nameof(column));
        var parameters = new List<(string, object?)> { ("@org", organizationId), ("@value", value) };
        var sql = new StringBuilder($"SELECT kind, COUNT(*) FROM read_resources WHERE organization_id = @org AND {column} = @value");
        var i = 0;
        foreach (var state in excludeStates)
        {
            sql.Append($" AND state <> @x{i}");
            parameters.Add(($"@x{i++}", state));
        }
        sql.Append(" GROUP BY kind");
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql.ToString(), parameters.ToArray());
        await using var reader = await command.ExecuteReaderAsync(ct);
        var counts = new Dictionary<string, long>();
        while (await reader.ReadAsync(ct)) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }

    private static DbCommand Command(DbConnection connection, DbTransaction transaction, string sql, params (string, object?)[] parameters)
    {
        var command = ReadModelDatabase.Command(connection, sql, parameters);
        command.Transaction = transaction;
        return command;
    }

    // Fixed-width UTC so text order is time order on every engine.
    private static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ");

    private static string EncodeCursor(string created, string id) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"{created}|{id}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static (string? Created, string? Id) DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return (null, null);
        try
        {
            var b64 = cursor.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
            var parts = Encoding.UTF8.GetString(Convert.FromBase64String(b64)).Split('|', 2);
            return parts.Length == 2 ? (parts[0], parts[1]) : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new InvalidCursorException();
        }
    }
}

public sealed class InvalidCursorException() : Exception("cursor is not one this API returned.");
