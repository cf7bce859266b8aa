using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Slugs;
using Miosa.Actors.Workspaces;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Workspaces;

public static class WorkspaceEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    // Deleted workspaces are absent everywhere, lists included.
    private static readonly string[] States = ["active"];

    public static void MapWorkspaceEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/workspaces", async (HttpContext http, IRequiredActor<WorkspaceActor> workspaces, IRequiredActor<SlugRegistryActor> slugs, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var (name, requestedSlug, metadata) = ResourceSlugs.ReadCommon(body);
            var attribution = new Attribution(ExternalWorkspaceId: body.String("external_workspace_id"), Metadata: metadata);
            if (body.Error is not null) return body.Error.ToResult();
            if (requestedSlug is not null && !SlugRegistryState.IsValidSlug(requestedSlug)) return ResourceSlugs.Invalid.ToResult();

            var caller = http.Caller();
            var organizationId = caller.OrganizationId;
            var id = ResourceId.New(IdPrefix.Workspace);
            var scope = WorkspaceActor.SlugScope(organizationId);
            var (slug, rejection) = await ResourceSlugs.ClaimAsync(slugs.ActorRef, scope, requestedSlug, name!, "workspace", id, ct);
            if (slug is null) return rejection!.ToResult();
            var answer = await workspaces.ActorRef.Ask<object>(
                new CreateWorkspace(id, organizationId, slug, name!, attribution, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            if (answer is WorkspaceView view) return Results.Json(WorkspaceJson.Of(view), statusCode: 201);
            await ResourceSlugs.ReleaseAsync(slugs.ActorRef, scope, slug, id, ct);
            return answer is Rejection r ? r.ToResult() : Problems.Of(500, "internal_error", "Unexpected answer.");
        });

        v1.MapGet("/workspaces/{id}", async (string id, HttpContext http, IRequiredActor<WorkspaceActor> workspaces, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.Workspace)
                ? NotFound(id).ToResult()
                : await workspaces.ActorRef.AskEntity<WorkspaceView>(new GetWorkspace(id, http.Caller().OrganizationId), v => Results.Json(WorkspaceJson.Of(v)), ct));

        v1.MapGet("/workspaces", async (HttpContext http, ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            var (query, error) = ListRequest.Read(http.Request, http.Caller().OrganizationId, States);
            if (query is null) return error!.ToResult();
            if (!await projections.CaughtUpAsync(WorkspaceActor.Kind, ct)) return ListRequest.Lagging(http);
            try
            {
                var page = await ListedResources.Workspaces.QueryAsync(list, query with { State = "active" }, ct);
                return Results.Json(new { data = page.Data.Select(w => WorkspaceJson.Of(w.ToView())), next_cursor = page.NextCursor });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });

        v1.MapPatch("/workspaces/{id}", async (string id, HttpContext http, IRequiredActor<WorkspaceActor> workspaces, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Workspace)) return NotFound(id).ToResult();
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var name = body.String("name", required: true, maxLength: 200);
            if (body.Error is not null) return body.Error.ToResult();
            var caller = http.Caller();
            return await workspaces.ActorRef.AskEntity<WorkspaceView>(
                new RenameWorkspace(id, caller.OrganizationId, name!, DateTimeOffset.UtcNow, caller.KeyId), v => Results.Json(WorkspaceJson.Of(v)), ct);
        });

        v1.MapDelete("/workspaces/{id}", async (string id, HttpContext http, IRequiredActor<WorkspaceActor> workspaces, IRequiredActor<SlugRegistryActor> slugs,
            ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Workspace)) return NotFound(id).ToResult();
            var caller = http.Caller();
            var organizationId = caller.OrganizationId;
            // Counted before the entity decides; the entity answers 404 first for an id that is not the caller's.
            var holdings = await Contents.CountAsync(list, projections, organizationId, "workspace_id", id, ct);
            if (holdings is null) return ListRequest.Lagging(http);
            var answer = await workspaces.ActorRef.Ask<object>(new DeleteWorkspace(id, organizationId, holdings, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            switch (answer)
            {
                case WorkspaceView deleted:
                    // Also on a repeated delete: a release lost to a crash after the delete is made good by the retry.
                    await ResourceSlugs.ReleaseAsync(slugs.ActorRef, WorkspaceActor.SlugScope(organizationId), deleted.Slug, id, ct);
                    return Results.NoContent();
                case Rejection { Code: "workspace_not_empty" } notEmpty:
                    return Contents.NotEmpty(notEmpty, holdings);
                case Rejection rejection:
                    return rejection.ToResult();
                default:
                    return Problems.Of(500, "internal_error", "Unexpected answer.");
            }
        });
    }

    private static Rejection NotFound(string id) => Rejection.NotFound("workspace_not_found", $"Workspace {id} does not exist.");
}

/// <summary>The public JSON shape of a workspace (API.md).</summary>
public static class WorkspaceJson
{
    public static object Of(WorkspaceView v) => new
    {
        id = v.Id,
        slug = v.Slug,
        name = v.Name,
        external_workspace_id = v.Attribution.ExternalWorkspaceId,
        metadata = v.Attribution.Metadata ?? new Dictionary<string, string>(),
        created_at = v.CreatedAt,
        updated_at = v.UpdatedAt,
    };
}
