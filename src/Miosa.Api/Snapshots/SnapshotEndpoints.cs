using Akka.Actor;
using Akka.Hosting;
using Miosa.Actors.Common;
using Miosa.Actors.Fleet;
using Miosa.Actors.ReadModels;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Snapshots;
using Miosa.Api.Http;
using Miosa.Api.Sandboxes;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Snapshots;

/// <summary>
/// Snapshots (<c>/v1/snapshots</c>, <c>/v1/sandboxes/{id}/snapshots</c>), restore and fork. A
/// snapshot is the sandbox's files and configuration, never its processes: a restored or forked
/// sandbox, or one made from a snapshot, starts its processes afresh.
/// </summary>
public static class SnapshotEndpoints
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StoreTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly string[] States = Enum.GetNames<SnapshotStatus>().Select(n => n.ToLowerInvariant()).Where(n => n != "deleted").ToArray();
    public const int MaxForks = 100;

    public static void MapSnapshotEndpoints(this RouteGroupBuilder v1)
    {
        v1.MapPost("/sandboxes/{id}/snapshots", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes,
            IRequiredActor<SnapshotActor> snapshots, CancellationToken ct) =>
        {
            var (body, error) = await ReadOptionalBodyAsync(http, ct);
            if (body is null) return error!.ToResult();
            var name = body.String("name", maxLength: 128);
            var attribution = SandboxRequest.ReadAttribution(body);
            if (body.Error is { } invalid) return invalid.ToResult();
            var caller = http.Caller();
            var (sandbox, rejection) = await SandboxWithFilesAsync(id, caller.OrganizationId, sandboxes.ActorRef, ct);
            if (sandbox is null) return rejection!.ToResult();

            var snapshotId = ResourceId.New(IdPrefix.Snapshot);
            var command = new CreateSnapshot(snapshotId, caller.OrganizationId, sandbox.Id, name, SpecOf(sandbox), sandbox.Host!,
                Inherit(attribution, sandbox.Attribution), DateTimeOffset.UtcNow, caller.KeyId);
            var answer = await snapshots.ActorRef.Ask<object>(command, StoreTimeout, ct);
            return answer switch
            {
                SnapshotView view => Results.Json(SnapshotJson.Of(view), statusCode: 201),
                Rejection r => r.ToResult(),
                _ => Problems.Of(500, "internal_error", "Unexpected answer."),
            };
        });

        v1.MapGet("/sandboxes/{id}/snapshots", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes,
            ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            var caller = http.Caller();
            var answer = await sandboxes.ActorRef.Ask<object>(new GetSandbox(id, caller.OrganizationId), AskTimeout, ct);
            if (answer is Rejection rejection) return rejection.ToResult();
            if (!await projections.CaughtUpAsync(SnapshotActor.Kind, ct)) return ListRequest.Lagging(http);
            // The list model has no sandbox column: the organization's snapshots, filtered here.
            var found = new List<object>();
            string? cursor = null;
            do
            {
                var page = await ListedResources.Snapshots.QueryAsync(list, new ResourceQuery(caller.OrganizationId, ListRequest.MaxLimit, cursor), ct);
                found.AddRange(page.Data.Where(s => s.SandboxId == id && s.Status != SnapshotStatus.Deleted).Select(s => SnapshotJson.Of(s.ToView())));
                cursor = page.NextCursor;
            }
            while (cursor is not null);
            return Results.Json(new { data = found, next_cursor = (string?)null });
        });

        v1.MapGet("/snapshots", async (HttpContext http, ResourceList list, ListProjections projections, CancellationToken ct) =>
        {
            var (query, error) = ListRequest.Read(http.Request, http.Caller().OrganizationId, States);
            if (query is null) return error!.ToResult();
            if (!await projections.CaughtUpAsync(SnapshotActor.Kind, ct)) return ListRequest.Lagging(http);
            try
            {
                var page = await ListedResources.Snapshots.QueryAsync(list, query, ct);
                // Deleted snapshots are gone (their rows stay for the audit trail).
                return Results.Json(new
                {
                    data = page.Data.Where(s => s.Status != SnapshotStatus.Deleted).Select(s => SnapshotJson.Of(s.ToView())),
                    next_cursor = page.NextCursor,
                });
            }
            catch (InvalidCursorException e)
            {
                return Problems.Invalid("cursor", e.Message);
            }
        });

        v1.MapGet("/snapshots/{id}", async (string id, HttpContext http, IRequiredActor<SnapshotActor> snapshots, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.Snapshot)
                ? NotFound(id)
                : await snapshots.ActorRef.AskEntity<SnapshotView>(new GetSnapshot(id, http.Caller().OrganizationId), v => Results.Json(SnapshotJson.Of(v)), ct));

        v1.MapDelete("/snapshots/{id}", async (string id, HttpContext http, IRequiredActor<SnapshotActor> snapshots, CancellationToken ct) =>
            !ResourceId.IsValid(id, IdPrefix.Snapshot)
                ? NotFound(id)
                : await snapshots.ActorRef.AskEntity<SnapshotView>(
                    new DeleteSnapshot(id, http.Caller().OrganizationId, DateTimeOffset.UtcNow, http.Caller().KeyId), _ => Results.NoContent(), ct));

        v1.MapPost("/sandboxes/{id}/restore", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes,
            IRequiredActor<SnapshotActor> snapshots, IRequiredActor<FleetScheduler> fleet, CancellationToken ct) =>
        {
            // Another organization's sandbox is absent whatever the body says.
            var caller = http.Caller();
            var answer = await sandboxes.ActorRef.Ask<object>(new GetSandbox(id, caller.OrganizationId), AskTimeout, ct);
            if (answer is Rejection notFound) return notFound.ToResult();
            var sandbox = (SandboxView)answer;
            var (body, error) = await JsonRequest.ReadAsync(http.Request, ct);
            if (body is null) return error!.ToResult();
            var snapshotId = body.String("snapshot_id", required: true);
            if (body.Error is { } invalid) return invalid.ToResult();
            var (snapshot, rejection) = await SandboxFromSnapshot.ReadyAsync(snapshotId!, caller.OrganizationId, snapshots.ActorRef, ct);
            if (snapshot is null) return rejection!.ToResult();
            if (sandbox.Status != SandboxStatus.Running || sandbox.Host is null)
                return Problems.Of(409, "sandbox_not_running", $"Sandbox {id} is {sandbox.Status.ToString().ToLowerInvariant()}; restore needs it running (resume it first).");
            if (snapshot.Host != sandbox.Host)
                return Problems.Of(409, "snapshot_on_other_host", $"Snapshot {snapshotId} is stored on host {snapshot.Host}, sandbox {id} runs on {sandbox.Host}.");
            if (snapshot.TotalBytes > (long)sandbox.Resources.DiskMb * 1024 * 1024)
                return new Rejection("disk_too_small", $"Snapshot {snapshotId} holds {snapshot.TotalBytes} bytes, more than the sandbox's disk_mb {sandbox.Resources.DiskMb}.", 422, "snapshot_id").ToResult();

            var found = await fleet.ActorRef.Ask<HostFound>(new FindHost(sandbox.Host), AskTimeout, ct);
            if (found.Agent is null) return Problems.Of(503, "host_unavailable", $"Host {sandbox.Host} of sandbox {id} is not in the fleet.");
            var restored = await found.Agent.Ask<object>(new RestoreSandboxOnHost(SpecOf(sandbox), snapshotId!) { IdleTimeoutSeconds = sandbox.TimeoutSeconds }, StartTimeout, ct);
            if (restored is not SandboxStartedOnHost started)
                return Problems.Of(503, "restore_failed", $"Sandbox {id} could not be restored: {(restored as SandboxStartFailedOnHost)?.Reason ?? "no answer"}");
            return await sandboxes.ActorRef.AskEntity<SandboxView>(new RecordSandboxStarted(id, started.Host, started.IngressUrl, DateTimeOffset.UtcNow),
                v => Results.Json(SandboxJson.Of(v)), ct);
        });

        v1.MapPost("/sandboxes/{id}/fork", async (string id, HttpContext http, IRequiredActor<SandboxActor> sandboxes, CancellationToken ct) =>
        {
            var (body, error) = await ReadOptionalBodyAsync(http, ct);
            if (body is null) return error!.ToResult();
            var count = body.Int("count", 1, MaxForks) ?? 1;
            if (body.Error is { } invalid) return invalid.ToResult();
            var caller = http.Caller();
            var (source, rejection) = await SandboxWithFilesAsync(id, caller.OrganizationId, sandboxes.ActorRef, ct);
            if (source is null) return rejection!.ToResult();

            var now = DateTimeOffset.UtcNow;
            var forks = Enumerable.Range(0, count).Select(async _ =>
            {
                var forkId = ResourceId.New(IdPrefix.Sandbox);
                var spec = SpecOf(source) with { SandboxId = forkId, ForkOf = source.Id };
                return await sandboxes.ActorRef.Ask<object>(
                    new CreateSandbox(forkId, caller.OrganizationId, spec, source.TimeoutSeconds, source.AutoResume, source.Attribution, now), StartTimeout, ct);
            }).ToList();
            var answers = await Task.WhenAll(forks);
            if (answers.FirstOrDefault(a => a is not SandboxView) is { } failure)
            {
                // Nothing half-done: the forks that did start go again.
                foreach (var made in answers.OfType<SandboxView>())
                    sandboxes.ActorRef.Tell(new DestroySandbox(made.Id, caller.OrganizationId, DateTimeOffset.UtcNow));
                return failure is Rejection r ? r.ToResult() : Problems.Of(500, "internal_error", "Unexpected answer.");
            }
            return Results.Json(new { data = answers.Cast<SandboxView>().Select(SandboxJson.Of) }, statusCode: 201);
        });
    }

    /// <summary>The caller's sandbox if it has a workspace to copy (running, suspended or stopped on a host); else why not.</summary>
    private static async Task<(SandboxView? Sandbox, Rejection? Error)> SandboxWithFilesAsync(string id, string organizationId, IActorRef sandboxes, CancellationToken ct)
    {
        var answer = await sandboxes.Ask<object>(new GetSandbox(id, organizationId), AskTimeout, ct);
        return answer switch
        {
            Rejection rejection => (null, rejection),
            SandboxView { Status: SandboxStatus.Running or SandboxStatus.Suspended or SandboxStatus.Stopped, Host: not null } view => (view, null),
            SandboxView view => (null, Rejection.Conflict("sandbox_not_running", $"Sandbox {id} is {view.Status.ToString().ToLowerInvariant()}; it has no workspace to copy.")),
            _ => (null, new Rejection("internal_error", "Unexpected answer.", 500)),
        };
    }

    /// <summary>What the sandbox runs with, as a spec for its copies.</summary>
    private static SandboxSpec SpecOf(SandboxView sandbox) => new(sandbox.Id, sandbox.Template, sandbox.Env, sandbox.Resources, sandbox.AllowInternet);

    /// <summary>Attribution given on the request, field by field, else the sandbox's.</summary>
    private static Attribution Inherit(Attribution given, Attribution sandbox) => new(
        given.WorkspaceId ?? sandbox.WorkspaceId,
        given.ProjectId ?? sandbox.ProjectId,
        given.ExternalWorkspaceId ?? sandbox.ExternalWorkspaceId,
        given.ExternalUserId ?? sandbox.ExternalUserId,
        given.ExternalProjectId ?? sandbox.ExternalProjectId,
        given.Metadata ?? sandbox.Metadata);

    /// <summary>A JSON object body, or none at all (then every field takes its default).</summary>
    private static async Task<(JsonRequest? Body, Rejection? Error)> ReadOptionalBodyAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Request.ContentLength is 0 || (http.Request.ContentLength is null && !http.Request.Headers.ContainsKey("Transfer-Encoding")))
            return (JsonRequest.Empty(), null);
        return await JsonRequest.ReadAsync(http.Request, ct);
    }

    private static IResult NotFound(string id) => Problems.Of(404, "snapshot_not_found", $"Snapshot {id} does not exist.");
}
