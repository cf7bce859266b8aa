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

    /// <summary>
    /// Folds a page of one kind's events (in journal order) into their resources' rows inside the
    /// projection's transaction: one read for the page and one write per resource however many of
    /// its events the page holds, sent as one batch where the engine takes batches. Idempotent for
    /// replayed events.
    /// </summary>
    public async Task ApplyAsync<TState>(
        string kind, IReadOnlyList<(string Id, IMiosaEvent Event)> events,
        Func<string, TState> empty, Func<TState, IMiosaEvent, TState> apply, Func<TState, ResourceRow?> row,
        DbTransaction transaction, CancellationToken ct)
    {
        var stored = await ReadStatesAsync<TState>(kind, events.Select(e => e.Id).Distinct().ToList(), transaction, ct);
        var folded = new Dictionary<string, (TState State, ResourceRow? First, ResourceRow? Last)>();
        foreach (var (id, @event) in events)
        {
            var (current, first, last) = folded.TryGetValue(id, out var f) ? f : (stored.TryGetValue(id, out var s) ? s : empty(id), null, null);
            var next = apply(current, @event);
            // A state without a row is never stored: the resource's next event folds into the one before it.
            folded[id] = row(next) is { } r ? (next, first ?? r, r) : (current, first, last);
        }
        var writes = new List<(string, (string, object?)[])>();
        foreach (var (id, (state, first, last)) in folded)
        {
            if (first is null || last is null) continue;
            // Organization and creation time come from the row's first state: an existing row keeps its own.
            var a = last.Attribution;
            writes.Add(("""
                INSERT INTO read_resources (kind, id, organization_id, state, created_at, workspace_id, project_id,
                    external_workspace_id, external_user_id, external_project_id, body)
                VALUES (@kind, @id, @org, @state, @created, @ws, @prj, @ews, @eu, @ep, @body)
                ON CONFLICT (kind, id) DO UPDATE SET state = excluded.state, workspace_id = excluded.workspace_id,
                    project_id = excluded.project_id, external_workspace_id = excluded.external_workspace_id,
                    external_user_id = excluded.external_user_id, external_project_id = excluded.external_project_id,
                    body = excluded.body
                """,
                [
                    ("@kind", kind), ("@id", id), ("@org", first.OrganizationId), ("@state", last.State), ("@created", Timestamp(first.CreatedAt)),
                    ("@ws", a.WorkspaceId), ("@prj", a.ProjectId), ("@ews", a.ExternalWorkspaceId), ("@eu", a.ExternalUserId),
                    ("@ep", a.ExternalProjectId), ("@body", JsonSerializer.Serialize(state, Json)),
                ]));
            writes.Add(("DELETE FROM read_resource_metadata WHERE kind = @kind AND id = @id", [("@kind", kind), ("@id", id)]));
            foreach (var (key, value) in a.Metadata ?? new Dictionary<string, string>())
            {
                writes.Add(("INSERT INTO read_resource_metadata (kind, id, meta_key, meta_value) VALUES (@kind, @id, @k, @v)",
                    [("@kind", kind), ("@id", id), ("@k", key), ("@v", value)]));
            }
        }
        await ReadModelDatabase.ExecuteAllAsync(transaction, writes, ct);
    }

    /// <summary>The stored states of those of <paramref name="ids"/> that have a row, in one query.</summary>
    private static async Task<Dictionary<string, TState>> ReadStatesAsync<TState>(
        string kind, IReadOnlyList<string> ids, DbTransaction transaction, CancellationToken ct)
    {
        var states = new Dictionary<string, TState>();
        if (ids.Count == 0) return states;
        var parameters = ids.Select((id, i) => ($"@id{i}", (object?)id)).Prepend(("@kind", kind)).ToArray();
        await using var read = ReadModelDatabase.Command(transaction,
            $"SELECT id, body FROM read_resources WHERE kind = @kind AND id IN ({string.Join(", ", ids.Select((_, i) => $"@id{i}"))})", parameters);
        await using var reader = await read.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) states[reader.GetString(0)] = JsonSerializer.Deserialize<TState>(reader.GetString(1), Json)!;
        return states;
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

    /// <summary>Every resource of a kind across organizations, in id order, a page after <paramref name="afterId"/> (the full route table).</summary>
    public async Task<IReadOnlyList<TState>> ScanAsync<TState>(string kind, string? afterId, int limit, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection,
            "SELECT body FROM read_resources WHERE kind = @kind AND id > @after ORDER BY id LIMIT @limit",
            ("@kind", kind), ("@after", afterId ?? ""), ("@limit", limit));
        var rows = new List<TState>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) rows.Add(JsonSerializer.Deserialize<TState>(reader.GetString(0), Json)!);
        return rows;
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
