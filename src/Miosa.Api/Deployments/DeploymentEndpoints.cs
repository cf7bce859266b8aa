using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Deployments;
using Miosa.Actors.Organizations;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Releases;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Slugs;
using Miosa.Actors.Workspaces;
using Miosa.Api.Http;
using Miosa.Api.Previews;
using Miosa.Api.Sandboxes;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Deployments;

/// <summary>
/// Deployments, their versions, builds and releases (<c>/v1/deployments</c>, <c>/v1/versions</c>,
/// <c>/v1/builds</c>, <c>/v1/releases</c>). A publish answers 202 at once; the deployment entity
/// runs the build and, with <c>promote</c>, makes the version live when it is ready.
/// </summary>
public static class DeploymentEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private static readonly string[] States = ["active"];
    private static readonly string[] Modes = ["auto", "static", "dockerfile"];
    private const int Attempts = 5;

    public static void MapDeploymentEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/deployments", async (HttpContext http, IRequiredActor<DeploymentActor> deployments, IRequiredActor<SlugRegistryActor> slugs,
            IRequiredActor<WorkspaceActor> workspaces, IRequiredActor<OrganizationActor> organizations, PreviewUrls urls, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var name = body.String("name", required: true, maxLength: 200);
            var requested = body.String("slug", maxLength: 63);
            var spaFallback = body.Bool("spa_fallback") ?? false;
            var attribution = SandboxRequest.ReadAttribution(body);
            if (body.Error is { } invalid) return invalid.ToResult();
            if (requested is not null && !SlugRegistryState.IsValidSlug(requested))
                return new Rejection("invalid_slug", "slug must be a DNS label: 1-63 lowercase letters, digits or '-', not starting or ending with '-'.", 422, "slug").ToResult();

            // The host's parent label: the workspace's slug, or the organization's without a workspace.
            var caller = http.Caller();
            string parent;
            if (attribution.WorkspaceId is { } workspaceId)
            {
                var answer = ResourceId.IsValid(workspaceId, IdPrefix.Workspace)
                    ? await workspaces.ActorRef.Ask<object>(new GetWorkspace(workspaceId, caller.OrganizationId), AskTimeout, ct)
                    : null;
                if (answer is not WorkspaceView workspace)
                    return new Rejection("workspace_not_found", $"Workspace {workspaceId} does not exist.", 422, "workspace_id").ToResult();
                parent = workspace.Slug;
            }
            else
            {
                var organization = await organizations.ActorRef.Ask<object>(new GetOrganization(caller.OrganizationId), AskTimeout, ct);
                if (organization is not OrganizationView view) return Problems.Of(500, "internal_error", "The organization did not answer.");
                parent = view.Slug;
            }

            var id = ResourceId.New(IdPrefix.Deployment);
            var (slug, host, rejection) = await ClaimHostAsync(slugs.ActorRef, requested, name!, parent, id, ct);
            if (host is null) return rejection!.ToResult();
            var created = await deployments.ActorRef.Ask<object>(
                new CreateDeployment(id, caller.OrganizationId, name!, slug!, host, spaFallback, attribution, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            if (created is DeploymentView view2) return Results.Json(DeploymentJson.Of(view2, urls.OfDeployment(view2.HostLabel)), statusCode: 201);
            await slugs.ActorRef.Ask<object>(new ReleaseSlug(SlugRegistryActor.DeploymentHostScope, host, id), AskTimeout, ct);
            return created is Rejection r ? r.ToResult() : Problems.Of(500, "internal_error", "Unexpected answer.");
        });

        v1.MapGet("/deployments/{id}", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments, PreviewUrls urls, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.Deployment)
                ? NotFound(id)
                : await deployments.ActorRef.AskEntity<DeploymentView>(new GetDeployment(id, http.Caller().OrganizationId),
                    v => Results.Json(DeploymentJson.Of(v, urls.OfDeployment(v.HostLabel))), ct));

        v1.MapGet("/deployments", async (HttpContext http, ResourceList list, ListProjections projections, PreviewUrls urls, CancellationToken ct) =>
        {
            var (query, error) = ListRequest.Read(http.Request, http.Caller().OrganizationId, States);
            if (query is null) return error!.ToResult();
            if (!await projections.CaughtUpAsync(DeploymentActor.Kind, ct)) return ListRequest.Lagging(http);
            try
            {
                var page = await ListedResources.Deployments.QueryAsync(list, query with { State = "active" }, ct);
                return Results.Json(new { data = page.Data.Select(d => DeploymentJson.Of(d.ToView(), urls.OfDeployment(d.HostLabel))), next_cursor = page.NextCursor });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });

        v1.MapDelete("/deployments/{id}", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments,
            IRequiredActor<SlugRegistryActor> slugs, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Deployment)) return NotFound(id);
            var caller = http.Caller();
            var answer = await deployments.ActorRef.Ask<object>(new DeleteDeployment(id, caller.OrganizationId, DateTimeOffset.UtcNow, caller.KeyId), AskTimeout, ct);
            if (answer is Rejection r) return r.ToResult();
            // The host name is free again (a repeated delete frees it again, healing a release lost to a crash).
            await slugs.ActorRef.Ask<object>(new ReleaseSlug(SlugRegistryActor.DeploymentHostScope, ((DeploymentView)answer).HostLabel, id), AskTimeout, ct);
            return Results.NoContent();
        });

        v1.MapPost("/deployments/{id}/publish", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments,
            IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Deployment)) return NotFound(id);
            var caller = http.Caller();
            // The deployment first: another organization's is absent whatever the body says.
            if (await deployments.ActorRef.Ask<object>(new GetDeployment(id, caller.OrganizationId), AskTimeout, ct) is Rejection missing)
                return missing.ToResult();
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var sandboxId = body.String("sandbox_id", required: true);
            var mode = body.String("mode") ?? "auto";
            var outputDir = body.String("output_dir", maxLength: 512)?.Trim('/');
            var promote = body.Bool("promote") ?? true;
            body.String("build_command", maxLength: 4096);
            body.String("start_command", maxLength: 4096);
            if (body.Error is { } invalid) return invalid.ToResult();
            if (!Modes.Contains(mode)) return Problems.Invalid("mode", "mode must be \"auto\", \"static\" or \"dockerfile\".");
            if (outputDir is not null && (outputDir.Length == 0 || outputDir.Split('/').Any(s => s is "" or "." or "..")))
                return Problems.Invalid("output_dir", "output_dir must be a folder inside /workspace, relative, without '..'.");

            var sandbox = await sandboxes.ActorRef.Ask<object>(new GetSandbox(sandboxId!, caller.OrganizationId), AskTimeout, ct);
            if (sandbox is Rejection notFound) return notFound.ToResult();
            if (sandbox is not SandboxView { Status: SandboxStatus.Running or SandboxStatus.Suspended or SandboxStatus.Stopped, Host: { } host })
                return Problems.Of(409, "sandbox_not_running", $"Sandbox {sandboxId} has no workspace to publish.");

            var command = new PublishVersion(id, caller.OrganizationId, DeploymentIds.NewVersionId(id), DeploymentIds.NewBuildId(id), sandboxId!, host,
                mode, outputDir, promote, DateTimeOffset.UtcNow);
            return await deployments.ActorRef.AskEntity<VersionView>(command,
                v => Results.Json(new { version_id = v.Version.Id, build_id = v.Version.BuildId, number = v.Version.Number, state = "queued" }, statusCode: 202), ct);
        });

        v1.MapGet("/deployments/{id}/versions", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.Deployment)
                ? NotFound(id)
                : await deployments.ActorRef.AskEntity<DeploymentView>(new GetDeployment(id, http.Caller().OrganizationId), v => Results.Json(new
                {
                    data = v.Versions.OrderByDescending(x => x.Number).Select(x => DeploymentJson.Of(v.Id, x, x.Id == v.ActiveVersionId)),
                    next_cursor = (string?)null,
                }), ct));

        v1.MapGet("/versions/{id}", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments, CancellationToken ct) =>
            DeploymentIds.DeploymentOf(id, IdPrefix.Version) is not { } deploymentId
                ? Problems.Of(404, "version_not_found", $"Version {id} does not exist.")
                : await deployments.ActorRef.AskEntity<VersionView>(new GetVersion(deploymentId, http.Caller().OrganizationId, id),
                    v => Results.Json(DeploymentJson.Of(v.DeploymentId, v.Version, v.Active)), ct));

        v1.MapGet("/builds/{id}/logs", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments, CancellationToken ct) =>
            DeploymentIds.DeploymentOf(id, IdPrefix.Build) is not { } deploymentId
                ? Problems.Of(404, "build_not_found", $"Build {id} does not exist.")
                : await deployments.ActorRef.AskEntity<BuildLogView>(new GetBuildLog(deploymentId, http.Caller().OrganizationId, id),
                    log => Results.Text(log.Log, "text/plain; charset=utf-8"), ct));

        v1.MapPost("/deployments/{id}/promote", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Deployment)) return NotFound(id);
            // Another organization's deployment is absent whatever the body says.
            if (await deployments.ActorRef.Ask<object>(new GetDeployment(id, http.Caller().OrganizationId), AskTimeout, ct) is Rejection absent)
                return absent.ToResult();
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var versionId = body.String("version_id", required: true);
            if (body.Error is { } invalid) return invalid.ToResult();
            return await deployments.ActorRef.AskEntity<ActiveVersionView>(new PromoteVersion(id, http.Caller().OrganizationId, versionId!, DateTimeOffset.UtcNow),
                a => Results.Json(new { active_version_id = a.ActiveVersionId }), ct);
        });

        v1.MapPost("/deployments/{id}/rollback", async (string id, HttpContext http, IRequiredActor<DeploymentActor> deployments, CancellationToken ct) =>
        {
            if (!ResourceId.IsValid(id, IdPrefix.Deployment)) return NotFound(id);
            var body = JsonRequest.Empty();
            if (http.Request.ContentLength is not 0 && (http.Request.ContentLength is not null || http.Request.Headers.ContainsKey("Transfer-Encoding")))
            {
                var (read, error) = await JsonRequest.ReadAsync(http.Request, ct);
                if (read is null) return error!.ToResult();
                body = read;
            }
            var versionId = body.String("version_id");
            if (body.Error is { } invalid) return invalid.ToResult();
            return await deployments.ActorRef.AskEntity<ActiveVersionView>(new RollbackDeployment(id, http.Caller().OrganizationId, versionId, DateTimeOffset.UtcNow),
                a => Results.Json(new { active_version_id = a.ActiveVersionId }), ct);
        });

        v1.MapGet("/releases/{sha256}", async (string sha256, HttpContext http, ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            var missing = Problems.Of(404, "release_not_found", $"Release {sha256} does not exist.");
            if (!LocalReleaseStore.IsSha256(sha256)) return missing;
            if (!await projections.CaughtUpAsync(DeploymentActor.Kind, ct)) return ListRequest.Lagging(http);
            // A release is the caller's when one of its versions uses it: releases are shared by content, never by organization.
            var versions = new List<string>();
            ReleaseRef? release = null;
            string? cursor = null;
            do
            {
                var page = await ListedResources.Deployments.QueryAsync(list, new ResourceQuery(http.Caller().OrganizationId, ListRequest.MaxLimit, cursor), ct);
                foreach (var version in page.Data.Where(d => !d.Deleted).SelectMany(d => d.Versions).Where(v => v.Release?.Sha256 == sha256))
                {
                    release = version.Release;
                    versions.Add(version.Id);
                }
                cursor = page.NextCursor;
            }
            while (cursor is not null);
            return release is null ? missing : Results.Json(new { sha256, kind = release.Kind, size_bytes = release.SizeBytes, version_ids = versions });
        });
    }

    /// <summary>Claims <c>&lt;slug&gt;.&lt;parent&gt;</c> across all organizations; without a slug one is made from the name (with a suffix when taken).</summary>
    private static async Task<(string? Slug, string? Host, Rejection? Rejection)> ClaimHostAsync(
        IActorRef slugs, string? requested, string name, string parent, string ownerId, CancellationToken ct)
    {
        var plain = requested ?? SlugRegistryState.FromName(name, "app");
        var candidate = plain;
        for (var attempt = 1; ; attempt++)
        {
            var host = $"{candidate}.{parent}";
            var answer = await slugs.Ask<object>(new ClaimSlug(SlugRegistryActor.DeploymentHostScope, host, ownerId), AskTimeout, ct);
            if (answer is not Rejection r) return (candidate, host, null);
            if (requested is not null || r.Code != "slug_taken" || attempt == Attempts)
                return (null, null, r.Code == "slug_taken" ? r with { Detail = $"The slug '{candidate}' is taken under '{parent}'." } : r);
            candidate = SlugRegistryState.WithSuffix(plain);
        }
    }

    private static IResult NotFound(string id) => Problems.Of(404, "deployment_not_found", $"Deployment {id} does not exist.");
}
