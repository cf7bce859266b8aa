using System.Security.Cryptography;
using System.Text;
using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Hosting;
using Miosa.Actors.Organizations;
using Miosa.Actors.Slugs;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Organizations;

public static class OrganizationEndpoints
{
    public static void MapOrganizationEndpoints(this IEndpointRouteBuilder app, RouteGroupBuilder v1, MiosaNodeOptions options)
    {
        var admin = app.MapGroup("/admin/v1").AddEndpointFilter(async (ctx, next) =>
        {
            if (options.AdminToken is null)
                return Problems.Of(403, "admin_disabled", "Set MIOSA_ADMIN_TOKEN to use the operator API.");
            var header = ctx.HttpContext.Request.Headers.Authorization.ToString();
            var presented = Encoding.UTF8.GetBytes(header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? header[7..].Trim() : "");
            return CryptographicOperations.FixedTimeEquals(presented, Encoding.UTF8.GetBytes(options.AdminToken))
                ? await next(ctx)
                : Problems.Of(401, "unauthorized", "Send the operator token: Authorization: Bearer <MIOSA_ADMIN_TOKEN>.");
        });

        admin.MapPost("/organizations", async (HttpContext http, OrganizationRegistry registry, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var slug = body.String("slug", required: true, maxLength: 63);
            var name = body.String("name", maxLength: 200) ?? slug;
            if (body.Error is not null) return body.Error.ToResult();
            if (!SlugRegistryState.IsValidSlug(slug))
                return new Rejection("invalid_slug", "slug must be a DNS label: lowercase letters, digits and '-'.", 422, "slug").ToResult();
            var (created, rejection) = await registry.CreateAsync(slug!, name!, ct);
            return created is null
                ? rejection!.ToResult()
                : Results.Json(new { id = created.Value.Organization.Id, slug = created.Value.Organization.Slug, name = created.Value.Organization.Name, api_key = created.Value.Key }, statusCode: 201);
        });

        v1.MapPost("/api-keys", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var name = body.String("name", maxLength: 200) ?? "unnamed";
            if (body.Error is not null) return body.Error.ToResult();
            var caller = http.Caller();
            var key = ApiKeySecret.Issue(caller.OrganizationId);
            var keyId = ResourceId.New(IdPrefix.ApiKey);
            return await organizations.ActorRef.AskEntity<OrganizationView>(
                new CreateApiKey(caller.OrganizationId, new ApiKeyGrant(keyId, name, ApiKeySecret.Hash(key)), DateTimeOffset.UtcNow),
                _ => Results.Json(new { id = keyId, name, key }, statusCode: 201), ct);
        });
        v1.MapGet("/api-keys", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
            await organizations.ActorRef.AskEntity<OrganizationView>(new GetOrganization(http.Caller().OrganizationId),
                org => Results.Json(new { data = org.ApiKeys.Select(k => new { id = k.Id, name = k.Name, created_at = k.CreatedAt }), next_cursor = (string?)null }), ct));
        v1.MapDelete("/api-keys/{id}", async (string id, HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
            await organizations.ActorRef.AskEntity<OrganizationView>(new RevokeApiKey(http.Caller().OrganizationId, id, DateTimeOffset.UtcNow),
                _ => Results.NoContent(), ct));
    }
}
