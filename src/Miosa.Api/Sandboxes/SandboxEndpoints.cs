using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Snapshots;
using Miosa.Api.Http;
using Miosa.Api.Snapshots;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Sandboxes;

public static class SandboxEndpoints
{
    private static readonly TimeSpan CreateTimeout = TimeSpan.FromSeconds(90);
    private static readonly string[] States = Enum.GetNames<SandboxStatus>().Select(n => n.ToLowerInvariant()).ToArray();

    public static void MapSandboxEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapGet("/templates", (SandboxTemplates templates) => Results.Json(new
        {
            data = templates.All.Select(t => new { name = t.Name, description = t.Description, env = t.Env, packages = t.Packages }),
        }));

        v1.MapPost("/sandboxes", async (HttpContext http, IRequiredActor<SandboxActor> sandboxes, IRequiredActor<SnapshotActor> snapshots, SandboxTemplates templates, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var (request, rejection) = SandboxRequest.Read(body, templates);
            if (request is null) return rejection!.ToResult();
            var id = ResourceId.New(IdPrefix.Sandbox);
            var caller = http.Caller();
            // snapshot_id: its workspace, template, env and resources (Snapshots/SandboxFromSnapshot).
            var (seeded, snapshotId, unusable) = await SandboxFromSnapshot.ApplyAsync(body, request, caller.OrganizationId, snapshots.ActorRef, ct);
            if (seeded is null) return unusable!.ToResult();
            request = seeded;
            var spec = new SandboxSpec(id, request.Template, request.Env, request.Resources, request.AllowInternet) { SnapshotId = snapshotId };
            var answer = await sandboxes.ActorRef.Ask<object>(
                new CreateSandbox(id, caller.OrganizationId, spec, request.TimeoutSeconds, request.AutoResume, request.Attribution, DateTimeOffset.UtcNow),
                CreateTimeout, ct);
            return answer switch
            {
                SandboxView view => Results.Json(SandboxJson.Of(view), statusCode: 201),
                Rejection r => r.ToResult(),
                _ => Problems.Of(500, "internal_error", "Unexpected answer."),
            };
        });

        v1.MapGet("/sandboxes/{id}", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
            await sandboxes.ActorRef.AskEntity<SandboxView>(new GetSandbox(id, http.Caller().OrganizationId), v => Results.Json(SandboxJson.Of(v)), ct));

        v1.MapGet("/sandboxes", async (HttpContext http, ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            var (query, error) = ListRequest.Read(http.Request, http.Caller().OrganizationId, States);
            if (query is null) return error!.ToResult();
            if (!await projections.CaughtUpAsync(SandboxActor.Kind, ct)) return ListRequest.Lagging(http);
            try
            {
                var page = await ListedResources.Sandboxes.QueryAsync(list, query, ct);
                return Results.Json(new { data = page.Data.Select(s => SandboxJson.Of(s.ToView())), next_cursor = page.NextCursor });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });

        v1.MapPost("/sandboxes/{id}/suspend", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
            await sandboxes.ActorRef.AskEntity<SandboxView>(new SuspendSandbox(id, http.Caller().OrganizationId, DateTimeOffset.UtcNow),
                v => Results.Json(SandboxJson.Of(v)), ct));
        v1.MapPost("/sandboxes/{id}/resume", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
            await sandboxes.ActorRef.AskEntity<SandboxView>(new ResumeSandbox(id, http.Caller().OrganizationId, DateTimeOffset.UtcNow),
                v => Results.Json(SandboxJson.Of(v)), ct));

        v1.MapDelete("/sandboxes/{id}", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
            await sandboxes.ActorRef.AskEntity<SandboxView>(new DestroySandbox(id, http.Caller().OrganizationId, DateTimeOffset.UtcNow), _ => Results.NoContent(), ct));

        // Data plane: authorise against the entity, then stream to the sandbox's host.
        foreach (var (method, pattern) in new[]
                 {
                     ("POST", "/sandboxes/{id}/exec"), ("GET", "/sandboxes/{id}/processes"), ("DELETE", "/sandboxes/{id}/processes/{pid}"),
                     ("PUT", "/sandboxes/{id}/files"), ("GET", "/sandboxes/{id}/files"), ("DELETE", "/sandboxes/{id}/files"),
                     ("GET", "/sandboxes/{id}/files/list"),
                 })
        {
            v1.MapMethods(pattern, [method], async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, SandboxDataPlane dataPlane) =>
            {
                var answer = await sandboxes.ActorRef.Ask<object>(new GetSandbox(id, http.Caller().OrganizationId), TimeSpan.FromSeconds(10), http.RequestAborted);
                if (answer is Rejection rejection) return rejection.ToResult();
                var sandbox = (SandboxView)answer;
                // A suspended sandbox is woken by its host's ingress (or refused there without auto_resume).
                if (sandbox.Status is not (SandboxStatus.Running or SandboxStatus.Suspended) || sandbox.IngressUrl is null)
                    return Problems.Of(409, "sandbox_not_running", $"Sandbox {id} is {sandbox.Status.ToString().ToLowerInvariant()}, not running.");
                await dataPlane.ForwardAsync(http, sandbox, method == "PUT" ? NodeIngress.MaxFileBytes : NodeIngress.MaxExecBodyBytes);
                return Results.Empty;
            });
        }
    }
}
