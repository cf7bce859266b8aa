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
        var admin = app.MapGroup("/admin/v1").RequireAdminToken(options);

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
            var scopes = body.Strings("scopes", maxEntries: ApiKeyScopes.All.Count, maxLength: 32) ?? ApiKeyScopes.Default;
            if (body.Error is not null) return body.Error.ToResult();
            if (ApiKeyScopes.Validate(scopes) is { } invalid) return invalid.ToResult();
            var caller = http.Caller();
            var key = ApiKeySecret.Issue(caller.OrganizationId);
            var keyId = ResourceId.New(IdPrefix.ApiKey);
            return await organizations.ActorRef.AskEntity<OrganizationView>(
                new CreateApiKey(caller.OrganizationId, ApiKeyGrant.For(keyId, name, key, scopes), DateTimeOffset.UtcNow, caller.KeyId),
                org => org.ApiKeys.FirstOrDefault(k => k.Id == keyId) is { } created
                    // The only time the key itself is shown: the organization keeps its hash.
                    ? Results.Json(new { id = keyId, name, key, prefix = created.Prefix, scopes = created.Scopes, created_at = created.CreatedAt }, statusCode: 201)
                    : Problems.Of(500, "internal_error", "The key was not stored."), ct);
        });
        v1.MapGet("/api-keys", async (HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
            await organizations.ActorRef.AskEntity<OrganizationView>(new GetOrganization(http.Caller().OrganizationId),
                org => Results.Json(new { data = org.ApiKeys.Select(ApiKeyJson), next_cursor = (string?)null }), ct));
        v1.MapDelete("/api-keys/{id}", async (string id, HttpContext http, IRequiredActor<OrganizationActor> organizations, CancellationToken ct) =>
        {
            var caller = http.Caller();
            return await organizations.ActorRef.AskEntity<OrganizationView>(new RevokeApiKey(caller.OrganizationId, id, DateTimeOffset.UtcNow, caller.KeyId),
                _ => Results.NoContent(), ct);
        });
    }

    /// <summary>A key as lists show it: recognisable by its prefix, never the secret or its hash.</summary>
    private static object ApiKeyJson(ApiKeyView k) => new
    {
        id = k.Id,
        name = k.Name,
        prefix = k.Prefix,
        scopes = k.Scopes,
        created_at = k.CreatedAt,
        last_used_at = k.LastUsedAt,
    };
}
