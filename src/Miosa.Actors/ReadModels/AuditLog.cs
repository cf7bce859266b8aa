using System.Data.Common;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Miosa.Actors.Common;

namespace Miosa.Actors.ReadModels;

/// <summary>One line of an organization's audit log.</summary>
public sealed record AuditEntry(string Id, string Action, string ResourceId, DateTimeOffset At, string? ActorKeyId);

/// <summary>An audit log request: the caller's organization, paging (newest first), and filters (null: not filtered).</summary>
public sealed record AuditQuery(string OrganizationId, int Limit = 50, string? Cursor = null, string? Action = null, string? ResourceId = null);

public sealed record AuditPage(IReadOnlyList<AuditEntry> Data, string? NextCursor);

/// <summary>
/// The audit log read model: every event tagged "audit" (an <see cref="IAuditedEvent"/>) becomes one
/// row of <c>read_audit_events</c>, in journal order. Rows are insert-only and keyed by the event's
/// place in its entity's history, so a replayed event changes nothing.
/// </summary>
public sealed class AuditLog(ReadModelDatabase database)
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    private TagProjection? _projection;

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        await database.ExecuteAsync("""
            CREATE TABLE IF NOT EXISTS read_audit_events (
                id TEXT PRIMARY KEY,
                ordering BIGINT NOT NULL,
                organization_id TEXT NOT NULL,
                action TEXT NOT NULL,
                resource_id TEXT NOT NULL,
                at TEXT NOT NULL,
                actor_key_id TEXT);
            CREATE INDEX IF NOT EXISTS read_audit_events_list ON read_audit_events (organization_id, ordering);
            CREATE INDEX IF NOT EXISTS read_audit_events_resource ON read_audit_events (organization_id, resource_id, ordering);
            """, ct);
        _projection = new TagProjection(database, "audit", EventSourcedEntity<object>.AuditTag, TagProjection.EachEvent(ApplyAsync));
        await _projection.StartAsync(system, ct);
    }

    public void Stop() => _projection?.Stop();

    /// <summary>Read-your-writes: true once every audited event written before this call is in the log, false if it is still behind after 5 s.</summary>
    public Task<bool> CaughtUpAsync(CancellationToken ct) => _projection?.CaughtUpAsync(MaxWait, ct) ?? Task.FromResult(true);

    private static async Task ApplyAsync(ProjectedEvent projected, DbTransaction transaction, CancellationToken ct)
    {
        if (projected.Event is not IAuditedEvent e) return;
        await using var insert = ReadModelDatabase.Command(transaction, """
            INSERT INTO read_audit_events (id, ordering, organization_id, action, resource_id, at, actor_key_id)
            VALUES (@id, @ordering, @org, @action, @resource, @at, @actor)
            ON CONFLICT (id) DO NOTHING
            """,
            ("@id", IdOf(projected)), ("@ordering", projected.Offset), ("@org", e.OrganizationId), ("@action", e.Action),
            ("@resource", e.ResourceId), ("@at", Timestamp(e.At)), ("@actor", e.ActorKeyId));
        await insert.ExecuteNonQueryAsync(ct);
    }

    /// <summary>Newest first; the cursor is the last row's journal position, so pages never skip or repeat.</summary>
    public async Task<AuditPage> QueryAsync(AuditQuery query, CancellationToken ct)
    {
        var sql = new StringBuilder("SELECT id, ordering, action, resource_id, at, actor_key_id FROM read_audit_events WHERE organization_id = @org");
        var parameters = new List<(string, object?)> { ("@org", query.OrganizationId) };
        if (query.Action is not null)
        {
            sql.Append(" AND action = @action");
            parameters.Add(("@action", query.Action));
        }
        if (query.ResourceId is not null)
        {
            sql.Append(" AND resource_id = @resource");
            parameters.Add(("@resource", query.ResourceId));
        }
        if (DecodeCursor(query.Cursor) is { } before)
        {
            sql.Append(" AND ordering < @before");
            parameters.Add(("@before", before));
        }
        sql.Append(" ORDER BY ordering DESC LIMIT @limit");
        parameters.Add(("@limit", query.Limit + 1));

        await using var connection = await database.OpenAsync(ct);
        await using var command = ReadModelDatabase.Command(connection, sql.ToString(), parameters.ToArray());
        var rows = new List<(AuditEntry Entry, long Ordering)>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct))
        {
            var at = DateTimeOffset.Parse(reader.GetString(4), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal);
            rows.Add((new AuditEntry(reader.GetString(0), reader.GetString(2), reader.GetString(3), at,
                reader.IsDBNull(5) ? null : reader.GetString(5)), reader.GetInt64(1)));
        }
        var page = rows.Take(query.Limit).ToList();
        var next = rows.Count > query.Limit ? EncodeCursor(page[^1].Ordering) : null;
        return new AuditPage(page.Select(r => r.Entry).ToList(), next);
    }

    // Derived from the event's place in its entity's history: the same on every replay, opaque to callers.
    private static string IdOf(ProjectedEvent e) =>
        $"aud_{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{e.PersistenceId}/{e.SequenceNr}")))[..24]}";

    private static string Timestamp(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffffffZ", CultureInfo.InvariantCulture);

    private static string EncodeCursor(long ordering) =>
        Convert.ToBase64String(Encoding.UTF8.GetBytes($"a{ordering}")).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static long? DecodeCursor(string? cursor)
    {
        if (string.IsNullOrEmpty(cursor)) return null;
        try
        {
            var b64 = cursor.Replace('-', '+').Replace('_', '/');
            b64 = b64.PadRight(b64.Length + (4 - b64.Length % 4) % 4, '=');
            var text = Encoding.UTF8.GetString(Convert.FromBase64String(b64));
            return text.StartsWith('a') && long.TryParse(text.AsSpan(1), NumberStyles.None, CultureInfo.InvariantCulture, out var ordering)
                ? ordering
                : throw new FormatException();
        }
        catch (FormatException)
        {
            throw new InvalidCursorException();
        }
    }
}
