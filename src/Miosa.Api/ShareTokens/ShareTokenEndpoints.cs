using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Previews;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.ShareTokens;
using Miosa.Api.Http;
using Miosa.Api.Previews;
using Miosa.Api.Sandboxes;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.ShareTokens;

/// <summary><c>ms_</c> share links: stored, listed, revocable on every edge at once, optionally password-protected.</summary>
public static class ShareTokenEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private static readonly string[] States = ["active", "revoked"];
    private const int MaxTtlSeconds = 365 * 24 * 3600;

    public static void MapShareTokenEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/share-tokens", async (HttpContext http, IRequiredActor<SandboxActor> sandboxes, IRequiredActor<ShareTokenActor> tokens,
            PreviewUrls urls, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var sandboxId = body.String("sandbox_id", required: true);
            var port = body.Int("port", 1, 65535);
            if (port is null && body.Error is null) return Problems.Invalid("port", "port is required (1-65535).");
            var password = body.String("password", maxLength: 256);
            if (password is { Length: < 4 } && body.Error is null) return Problems.Invalid("password", "password must be at least 4 characters.");
            var ttl = body.Int("ttl_seconds", 1, MaxTtlSeconds);
            var attribution = SandboxRequest.ReadAttribution(body);
            if (body.Error is { } invalid) return invalid.ToResult();
            var caller = http.Caller();
            if (!ResourceId.IsValid(sandboxId, IdPrefix.Sandbox))
                return Problems.Of(404, "sandbox_not_found", $"Sandbox {sandboxId} does not exist.");
            var answer = await sandboxes.ActorRef.Ask<object>(new ListPreviews(sandboxId!, caller.OrganizationId), AskTimeout, ct);
            if (answer is Rejection rejection) return rejection.ToResult();
            if (((PreviewList)answer).Previews.All(p => p.Port != port))
                return new Rejection("preview_not_found", $"Sandbox {sandboxId} has no preview on port {port}; open one first.", 422, "port").ToResult();

            var id = ResourceId.New(IdPrefix.ShareToken);
            var secret = ShareTokenSecret.Issue(id);
            var now = DateTimeOffset.UtcNow;
            var command = new CreateShareToken(id, caller.OrganizationId, sandboxId!, port!.Value, ShareTokenSecret.Hash(secret),
                password is null ? null : SharePassword.Hash(password), ttl is { } t ? now.AddSeconds(t) : null, attribution, now, caller.KeyId);
            return await tokens.ActorRef.AskEntity<ShareTokenView>(command, view =>
                Results.Json(Json(view, urls, secret), statusCode: 201), ct);
        });

        v1.MapGet("/share-tokens/{id}", async (string id, HttpContext http, IRequiredActor<ShareTokenActor> tokens, PreviewUrls urls, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.ShareToken)
                ? NotFound(id)
                : await tokens.ActorRef.AskEntity<ShareTokenView>(new GetShareToken(id, http.Caller().OrganizationId), v => Results.Json(Json(v, urls, null)), ct));

        v1.MapGet("/share-tokens", async (HttpContext http, ResourceList list, ListProjections projections, PreviewUrls urls, CancellationToken ct) =>
        {
            var (query, error) = ListRequest.Read(http.Request, http.Caller().OrganizationId, States);
            if (query is null) return error!.ToResult();
            if (!await projections.CaughtUpAsync(ShareTokenActor.Kind, ct)) return ListRequest.Lagging(http);
            try
            {
                // Revoked links are gone unless asked for by state.
                var page = await ListedResources.ShareTokens.QueryAsync(list, query with { State = query.State ?? "active" }, ct);
                return Results.Json(new { data = page.Data.Select(s => Json(s.ToView(), urls, null)), next_cursor = page.NextCursor });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });

        v1.MapDelete("/share-tokens/{id}", async (string id, HttpContext http, IRequiredActor<ShareTokenActor> tokens, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.ShareToken)
                ? NotFound(id)
                : await tokens.ActorRef.AskEntity<ShareTokenView>(
                    new RevokeShareToken(id, http.Caller().OrganizationId, DateTimeOffset.UtcNow, http.Caller().KeyId), _ => Results.NoContent(), ct));
    }

    private static object Json(ShareTokenView v, PreviewUrls urls, string? secret) => new Dictionary<string, object?>
    {
        ["id"] = v.Id,
        ["token"] = secret,
        ["url"] = secret is null ? null : $"{urls.Of(v.SandboxId, v.Port)}?token={secret}",
        ["sandbox_id"] = v.SandboxId,
        ["port"] = v.Port,
        ["expires_at"] = v.ExpiresAt,
        ["password_protected"] = v.PasswordProtected,
        ["state"] = v.Revoked ? "revoked" : "active",
    }.With(v.Attribution, v.CreatedAt);

    private static IResult NotFound(string id) => Problems.Of(404, "share_token_not_found", $"Share token {id} does not exist.");
}
