using System.Globalization;
using System.Text.RegularExpressions;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Usage;

public static partial class UsageEndpoints
{
    private const string DefaultGrouping = "resource_type";
    private static readonly TimeSpan DefaultRange = TimeSpan.FromDays(30);

    // ISO-8601 date or date-time (with optional fraction) and an explicit offset; a bare date is midnight UTC.
    private static readonly string[] Formats =
    [
        "yyyy-MM-dd", "yyyy-MM-ddTHH:mmK", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-ddTHH:mm:ss.FFFFFFFK",
    ];

    public static void MapUsageEndpoints(this RouteGroupBuilder v1)
    {
        // Usage lags consumption by a metering interval plus the projection's poll: no read-your-writes wait.
        v1.MapGet("/usage", async (HttpContext http, UsageReadModel usage, CancellationToken ct) =>
        {
            var (query, error) = Read(http.Request.Query, DateTimeOffset.UtcNow);
            if (query is null) return error!.ToResult();
            var totals = await usage.QueryAsync(http.Caller().OrganizationId, query.GroupBy, query.From, query.To, ct);
            return Results.Json(new
            {
                data = totals.Select(t => new
                {
                    key = t.Key,
                    sandbox_seconds = t.SandboxSeconds,
                    cpu_seconds = t.CpuSeconds,
                    memory_mb_seconds = t.MemoryMbSeconds,
                    storage_bytes = t.StorageBytes,
                    egress_bytes = t.EgressBytes,
                }),
            });
        });
    }

    public sealed record UsageQuery(string GroupBy, DateTimeOffset From, DateTimeOffset To);

    /// <summary>Validates the query string; the first bad field is named in the rejection.</summary>
    public static (UsageQuery? Query, Rejection? Error) Read(IQueryCollection q, DateTimeOffset now)
    {
        var groupBy = q.TryGetValue("group_by", out var g) ? g.ToString() : DefaultGrouping;
        if (!UsageReadModel.Groupings.ContainsKey(groupBy))
            return (null, Rejection.Invalid("group_by", $"group_by must be one of {string.Join(", ", UsageReadModel.Groupings.Keys)}."));
        var to = now;
        if (q.TryGetValue("to", out var toText) && !TryParseTime(toText.ToString(), out to))
            return (null, Rejection.Invalid("to", "to must be an ISO-8601 date or date-time with offset, e.g. 2026-01-31T00:00:00Z."));
        var from = to - DefaultRange;
        if (q.TryGetValue("from", out var fromText) && !TryParseTime(fromText.ToString(), out from))
            return (null, Rejection.Invalid("from", "from must be an ISO-8601 date or date-time with offset, e.g. 2026-01-01T00:00:00Z."));
        if (from > to) return (null, Rejection.Invalid("from", "from must not be after to."));
        return (new UsageQuery(groupBy, from, to), null);
    }

    private static bool TryParseTime(string text, out DateTimeOffset value)
    {
        // An unencoded "+01:00" arrives as " 01:00": take it back rather than reject a common slip.
        text = UnencodedPlus().Replace(text, "+$1");
        return DateTimeOffset.TryParseExact(text, Formats, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }

    [GeneratedRegex(@" (\d\d:?\d\d)$")]
    private static partial Regex UnencodedPlus();
}
