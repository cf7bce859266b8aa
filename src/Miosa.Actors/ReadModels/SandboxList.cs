using System.Text.Json;
using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;

namespace Miosa.Actors.ReadModels;

public sealed record SandboxListQuery(string OrganizationId, int Limit, string? Cursor, string? State);

public sealed record SandboxPage(IReadOnlyList<SandboxView> Data, string? NextCursor);

/// <summary>
/// The sandbox list read model: one row per sandbox holding its state (folded with the same pure
/// <see cref="SandboxState.Apply"/> as the entity) plus the columns lists filter on.
/// </summary>
public sealed class SandboxList(ReadModelDatabase database)
{
    public const string Tag = SandboxActor.Kind;
    private static readonly JsonSerializerOptions Json = new() { Converters = { new System.Text.Json.Serialization.JsonStringEnumConverter() } };

    public Task CreateSchemaAsync(CancellationToken ct) => database.ExecuteAsync("""
        CREATE TABLE IF NOT EXISTS read_sandboxes (
            id TEXT PRIMARY KEY,
            organization_id TEXT NOT NULL,
            state TEXT NOT NULL,
            created_at TEXT NOT NULL,
            body TEXT NOT NULL);
        CREATE INDEX IF NOT EXISTS read_sandboxes_by_org ON read_sandboxes (organization_id, created_at, id);
        """, ct);

    public async Task ApplyAsync(string sandboxId, IMiosaEvent @event, CancellationToken ct)
    {
        await using var connection = await database.OpenAsync(ct);
        SandboxState current;
        await using (var read = ReadModelDatabase.Command(connection, "SELECT body FROM read_sandboxes WHERE id = @id", ("@id", sandboxId)))
        {
            current = await read.ExecuteScalarAsync(ct) is string body
                ? JsonSerializer.Deserialize<SandboxState>(body, Json)!
                : SandboxState.Empty(sandboxId);
        }
        var next = current.Apply(@event);
        if (!next.Exists) return;
        await using var upsert = ReadModelDatabase.Command(connection, """
            INSERT INTO read_sandboxes (id, organization_id, state, created_at, body) VALUES (@id, @org, @state, @created, @body)
            ON CONFLICT (id) DO UPDATE SET state = excluded.state, body = excluded.body
            """,
            ("@id", sandboxId), ("@org", next.OrganizationId), ("@state", next.Status.ToString()),
            ("@created", next.CreatedAt.UtcDateTime.ToString("O")), ("@body", JsonSerializer.Serialize(next, Json)));
        await upsert.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Oldest first; the cursor is the last row's (created_at, id), so pages never skip or repeat.</summary>
    public async Task<SandboxPage> QueryAsync(SandboxListQuery query, CancellationToken ct)
    {
        var (afterCreated, afterId) = DecodeCursor(query.Cursor);
        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, """
            SELECT body, created_at, id FROM read_sandboxes
            WHERE organization_id = @org
              AND (@state IS NULL OR state = @state)
              AND (created_at > @after_created OR (created_at = @after_created AND id > @after_id))
            ORDER BY created_at, id
            LIMIT @limit
            """,
            ("@org", query.OrganizationId), ("@state", query.State), ("@after_created", afterCreated),
            ("@after_id", afterId), ("@limit", query.Limit + 1));
        var rows = new List<(SandboxView View, string Created, string Id)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
            rows.Add((JsonSerializer.Deserialize<SandboxState>(reader.GetString(0), Json)!.ToView(), reader.GetString(1), reader.GetString(2)));
        var page = rows.Take(query.Limit).ToList();
        var next = rows.Count > query.Limit ? EncodeCursor(page[^1].Created, page[^1].Id) : null;
        return new SandboxPage(page.Select(r => r.View).ToList(), next);
    }

    private static string EncodeCursor(string created, string id) =>
        Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{created}|{id}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static (string Created, string Id) DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return ("", "");
        try
        {
            var b64 = cursor.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
            var parts = System.Text.Encoding.UTF8.GetString(Convert.FromBase64String(b64)).Split('|', 2);
            return parts.Length == 2 ? (parts[0], parts[1]) : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new InvalidCursorException();
        }
    }
}

public sealed class InvalidCursorException() : Exception("cursor is not one this API returned.");
