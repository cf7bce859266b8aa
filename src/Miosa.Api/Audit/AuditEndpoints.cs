using Miosa.Actors.ReadModels;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Audit;

public static class AuditEndpoints
{
    public static void MapAuditEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapGet("/audit-events", async (HttpContext http, AuditLog audit, CancellationToken ct) =>
        {
            var q = http.Request.Query;
            var limit = 50;
            if (q.TryGetValue("limit", out var limitText) && (!int.TryParse(limitText, out limit) || limit is < 1 or > ListRequest.MaxLimit))
                return Problems.Invalid("limit", $"limit must be an integer between 1 and {ListRequest.MaxLimit}.");
            string? Text(string name) => q.TryGetValue(name, out var v) ? v.ToString() : null;
            var query = new AuditQuery(http.Caller().OrganizationId, limit, Text("cursor"), Text("action"), Text("resource_id"));
            if (!await audit.CaughtUpAsync(ct)) return ListRequest.Lagging(http);
            try
            {
                var page = await audit.QueryAsync(query, ct);
                return Results.Json(new
                {
                    data = page.Data.Select(e => new { id = e.Id, action = e.Action, resource_id = e.ResourceId, at = e.At, actor_key_id = e.ActorKeyId }),
                    next_cursor = page.NextCursor,
                });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });
    }
}
