using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Projects;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Slugs;
using Miosa.Actors.Workspaces;
using Miosa.Api.Http;
using Miosa.Api.Workspaces;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Projects;

public static class ProjectEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    // Deleted projects are absent everywhere, lists included.
    private static readonly string[] States = ["active"];

    public static void MapProjectEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/projects", async (HttpContext http, IRequiredActor<ProjectActor> projects, IRequiredActor<WorkspaceActor> workspaces,
            IRequiredActor<SlugRegistryActor> slugs, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var workspaceId = body.String("workspace_id", required: true, maxLength: 64);
            var (name, requestedSlug, metadata) = ResourceSlugs.ReadCommon(body);
            var attribution = new Attribution(ExternalProjectId: body.String("external_project_id"), Metadata: metadata);
            if (body.Error is not null) return body.Error.ToResult();
            if (requestedSlug is not null && !SlugRegistryState.IsValidSlug(requestedSlug)) return ResourceSlugs.Invalid.ToResult();

            var caller = http.Caller();
            var organizationId = caller.OrganizationId;
            // Another organization's workspace is as absent as a missing one.
            var workspaceMissing = new Rejection("workspace_not_found", $"Workspace {workspaceId} does not exist.", 404, "workspace_id");
            if (!ResourceId.IsValid(workspaceId, IdPrefix.Workspace)
                || await workspaces.ActorRef.Ask<object>(new GetWorkspace(workspaceId!, organizationId), AskTimeout, ct) is not WorkspaceView)
                return workspaceMissing.ToResult();

            var id = ResourceId.New(IdPrefix.Project);
            var scope = ProjectActor.SlugScope(organizationId);
            var (slug, rejection) = await ResourceSlugs.ClaimAsync(slugs.ActorRef, scope, requestedSlug, name!, "project", id, ct);
            if (slug is null) return rejection!.ToResult();
            var answer = await projects.ActorRef.Ask<object>(
                new CreateProject(id, organizationId, workspaceId!, slug, name!, attribution, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            if (answer is ProjectView view) return Results.Json(ProjectJson.Of(view), statusCode: 201);
            await ResourceSlugs.ReleaseAsync(slugs.ActorRef, scope, slug, id, ct);
            return answer is Rejection r ? r.ToResult() : Problems.Of(500, "internal_error", "Unexpected answer.");
        });

        v1.MapGet("/projects/{id}", async (string id, HttpContext http, IRequiredActor<ProjectActor> projects, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.Project)
                ? NotFound(id).ToResult()
                : await projects.ActorRef.AskEntity<ProjectView>(new GetProject(id, http.Caller().OrganizationId), v => Results.Json(ProjectJson.Of(v)), ct));

        v1.MapGet("/projects", async (HttpContext http, ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            var (query, error) = ListRequest.Read(http.Request, http.Caller().OrganizationId, States);
            if (query is null) return error!.ToResult();
            if (!await projections.CaughtUpAsync(ProjectActor.Kind, ct)) return ListRequest.Lagging(http);
            try
            {
                var page = await ListedResources.Projects.QueryAsync(list, query with { State = "active" }, ct);
                return Results.Json(new { data = page.Data.Select(p => ProjectJson.Of(p.ToView())), next_cursor = page.NextCursor });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });

        v1.MapPatch("/projects/{id}", async (string id, HttpContext http, IRequiredActor<ProjectActor> projects, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Project)) return NotFound(id).ToResult();
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var name = body.String("name", required: true, maxLength: 200);
            if (body.Error is not null) return body.Error.ToResult();
            var caller = http.Caller();
            return await projects.ActorRef.AskEntity<ProjectView>(
                new RenameProject(id, caller.OrganizationId, name!, DateTimeOffset.UtcNow, caller.KeyId), v => Results.Json(ProjectJson.Of(v)), ct);
        });

        v1.MapDelete("/projects/{id}", async (string id, HttpContext http, IRequiredActor<ProjectActor> projects, IRequiredActor<SlugRegistryActor> slugs,
            ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Project)) return NotFound(id).ToResult();
            var caller = http.Caller();
            var organizationId = caller.OrganizationId;
            // Counted before the entity decides; the entity answers 404 first for an id that is not the caller's.
            var holdings = await Contents.CountAsync(list, projections, organizationId, "project_id", id, ct);
            if (holdings is null) return ListRequest.Lagging(http);
            var answer = await projects.ActorRef.Ask<object>(new DeleteProject(id, organizationId, holdings, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            switch (answer)
            {
                case ProjectView deleted:
                    // Also on a repeated delete: a release lost to a crash after the delete is made good by the retry.
                    await ResourceSlugs.ReleaseAsync(slugs.ActorRef, ProjectActor.SlugScope(organizationId), deleted.Slug, id, ct);
                    return Results.NoContent();
                case Rejection { Code: "project_not_empty" } notEmpty:
                    return Contents.NotEmpty(notEmpty, holdings);
                case Rejection rejection:
                    return rejection.ToResult();
                default:
                    return Problems.Of(500, "internal_error", "Unexpected answer.");
            }
        });
    }

    private static Rejection NotFound(string id) => Rejection.NotFound("project_not_found", $"Project {id} does not exist.");
}

/// <summary>The public JSON shape of a project (API.md).</summary>
public static class ProjectJson
{
    public static object Of(ProjectView v) => new
    {
        id = v.Id,
        workspace_id = v.WorkspaceId,
        slug = v.Slug,
        name = v.Name,
        external_project_id = v.Attribution.ExternalProjectId,
        metadata = v.Attribution.Metadata ?? new Dictionary<string, string>(),
        created_at = v.CreatedAt,
        updated_at = v.UpdatedAt,
    };
}
