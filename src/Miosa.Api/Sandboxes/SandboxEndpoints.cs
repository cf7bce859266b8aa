using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;
using Miosa.Api.Http;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Sandboxes;

public static class SandboxEndpoints
{
    private static readonly TimeSpan CreateTimeout = TimeSpan.FromSeconds(90);
    private static readonly string[] States = Enum.GetNames<SandboxStatus>().Select(n => n.ToLowerInvariant()).ToArray();

    public static void MapSandboxEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapGet("/templates", () => Results.Json(new
        {
            data = SandboxTemplates.All.Select(t => new { name = t.Name, description = t.Description, env = t.Env }),
        }));

        v1.MapPost("/sandboxes", async (HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
        {
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var (request, rejection) = SandboxRequest.Read(body);
            if (request is null) return rejection!.ToResult();
            var id = ResourceId.New(IdPrefix.Sandbox);
            var caller = http.Caller();
            var spec = new SandboxSpec(id, request.Template, request.Env, request.Resources, request.AllowInternet);
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
            await projections.CaughtUpAsync(SandboxActor.Kind, ct);
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
                if (sandbox.Status != SandboxStatus.Running || sandbox.IngressUrl is null)
                    return Problems.Of(409, "sandbox_not_running", $"Sandbox {id} is {sandbox.Status.ToString().ToLowerInvariant()}, not running.");
                await dataPlane.ForwardAsync(http, sandbox, method == "PUT" ? NodeIngress.MaxFileBytes : NodeIngress.MaxExecBodyBytes);
                return Results.Empty;
            });
        }
    }
}
