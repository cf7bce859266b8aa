using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Previews;
using Miosa.Actors.Sandboxes;
using Miosa.Api.Http;
using Miosa.Api.Sandboxes;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Previews;

/// <summary>Previews of sandbox ports and the <c>mp_</c> tokens that open private ones in a browser.</summary>
public static class PreviewEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    public static void MapPreviewEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/sandboxes/{id}/previews", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, PreviewUrls urls, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var port = body.Int("port", 1, 65535);
            if (port is null && body.Error is null) return Problems.Invalid("port", "port is required (1-65535).");
            var visibility = body.String("visibility") switch
            {
                null or "private" => PreviewVisibility.Private,
                "public" => PreviewVisibility.Public,
                _ => (PreviewVisibility?)null,
            };
            if (visibility is null && body.Error is null) return Problems.Invalid("visibility", "visibility must be \"private\" or \"public\".");
            var attribution = SandboxRequest.ReadAttribution(body);
            if (body.Error is { } invalid) return invalid.ToResult();
            if (!ResourceId.IsValid(id, IdPrefix.Sandbox)) return SandboxNotFound(id);
            var previewId = PreviewIds.New(id);
            var command = new OpenPreview(id, http.Caller().OrganizationId, previewId, port!.Value, visibility!.Value, attribution, DateTimeOffset.UtcNow);
            return await sandboxes.ActorRef.AskEntity<SandboxPreview>(command,
                p => Results.Json(Json(id, p, urls), statusCode: p.Id == previewId ? 201 : 200), ct);
        });

        v1.MapGet("/sandboxes/{id}/previews", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, PreviewUrls urls, CancellationToken ct) =>
            await sandboxes.ActorRef.AskEntity<PreviewList>(new ListPreviews(id, http.Caller().OrganizationId),
                list => Results.Json(new { data = list.Previews.Select(p => Json(id, p, urls)), next_cursor = (string?)null }), ct));

        v1.MapDelete("/previews/{id}", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
            PreviewIds.SandboxOf(id) is not { } sandboxId
                ? Problems.Of(404, "preview_not_found", $"Preview {id} does not exist.")
                : await sandboxes.ActorRef.AskEntity<PreviewList>(new ClosePreview(sandboxId, http.Caller().OrganizationId, id, DateTimeOffset.UtcNow),
                    _ => Results.NoContent(), ct));

        v1.MapPost("/preview-tokens", async (HttpContext http, IRequiredActor<SandboxActor> sandboxes, PreviewTokenKeys keys, PreviewUrls urls, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var sandboxId = body.String("sandbox_id", required: true);
            var port = body.Int("port", 1, 65535);
            var ttl = body.Int("ttl_seconds", 1, (int)PreviewTokenKeys.MaxLifetime.TotalSeconds);
            if (ttl is null && body.Error is null) return Problems.Invalid("ttl_seconds", "ttl_seconds is required (1-86400).");
            if (body.Error is { } invalid) return invalid.ToResult();
            var organizationId = http.Caller().OrganizationId;
            if (!ResourceId.IsValid(sandboxId, IdPrefix.Sandbox)) return SandboxNotFound(sandboxId!);
            var answer = await sandboxes.ActorRef.Ask<object>(new ListPreviews(sandboxId!, organizationId), AskTimeout, ct);
            if (answer is Rejection rejection) return rejection.ToResult();
            var previews = ((PreviewList)answer).Previews;
            var expiresAt = DateTimeOffset.UtcNow.AddSeconds(ttl!.Value);
            var token = keys.Sign(new PreviewGrant(organizationId, sandboxId!, port, expiresAt));
            // The URL opens the named port's preview, or the only one when no port is named.
            var urlPort = port ?? (previews.Count == 1 ? previews[0].Port : null);
            return Results.Json(new
            {
                token,
                expires_at = expiresAt,
                sandbox_id = sandboxId,
                port,
                url = urlPort is { } p ? $"{urls.Of(sandboxId!, p)}?token={token}" : null,
            }, statusCode: 201);
        });
    }

    public static object Json(string sandboxId, SandboxPreview p, PreviewUrls urls) => new Dictionary<string, object?>
    {
        ["id"] = p.Id,
        ["sandbox_id"] = sandboxId,
        ["port"] = p.Port,
        ["url"] = urls.Of(sandboxId, p.Port),
        ["visibility"] = p.Visibility.ToString().ToLowerInvariant(),
    }.With(p.Attribution, p.CreatedAt);

    private static IResult SandboxNotFound(string id) => Problems.Of(404, "sandbox_not_found", $"Sandbox {id} does not exist.");
}
