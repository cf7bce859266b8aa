using Akka.Actor;
using Miosa.Actors.Common;
using Miosa.Actors.Sandboxes;
using Miosa.Actors.Snapshots;
using Miosa.Api.Http;
using Miosa.Api.Sandboxes;

namespace Miosa.Api.Snapshots;

/// <summary>
/// <c>snapshot_id</c> on <c>POST /v1/sandboxes</c>: the new sandbox gets the snapshot's workspace
/// and its template, env (the request's env added over it) and resources, unless the request names them.
/// </summary>
public static class SandboxFromSnapshot
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The request unchanged when the body has no <c>snapshot_id</c>; else with the snapshot's defaults, or the reason it cannot be used.</summary>
    public static async Task<(SandboxRequest? Request, string? SnapshotId, Rejection? Error)> ApplyAsync(
        JsonRequest body, SandboxRequest request, string organizationId, IActorRef snapshots, CancellationToken ct)
    {
        var snapshotId = body.String("snapshot_id");
        if (body.Error is { } invalid) return (null, null, invalid);
        if (snapshotId is null) return (request, null, null);
        var (snapshot, rejection) = await ReadyAsync(snapshotId, organizationId, snapshots, ct);
        if (snapshot is null) return (null, null, rejection);

        var given = body.Object("resources");
        var from = snapshot.Sandbox.Resources;
        var resources = new SandboxResources(
            given?.Number("cpu", 0, double.MaxValue) is null ? from.Cpu : request.Resources.Cpu,
            given?.Int("memory_mb", 0, int.MaxValue) is null ? from.MemoryMb : request.Resources.MemoryMb,
            given?.Int("disk_mb", 0, int.MaxValue) is null ? from.DiskMb : request.Resources.DiskMb,
            request.Resources.Pids);
        if (snapshot.TotalBytes > (long)resources.DiskMb * 1024 * 1024)
            return (null, null, new Rejection("disk_too_small",
                $"Snapshot {snapshotId} holds {snapshot.TotalBytes} bytes, more than disk_mb {resources.DiskMb} allows.", 422, "resources.disk_mb"));
        var env = new Dictionary<string, string>(snapshot.Sandbox.Env);
        foreach (var (key, value) in request.Env) env[key] = value;
        return (request with
        {
            Template = body.String("template") is null ? snapshot.Sandbox.Template : request.Template,
            Env = env,
            Resources = resources,
        }, snapshotId, null);
    }

    /// <summary>The caller's snapshot if it is ready: 404 <c>snapshot_not_found</c> for unknown, malformed, deleted or another organization's ids.</summary>
    public static async Task<(SnapshotView? Snapshot, Rejection? Error)> ReadyAsync(string snapshotId, string organizationId, IActorRef snapshots, CancellationToken ct)
    {
        if (!ResourceId.IsValid(snapshotId, IdPrefix.Snapshot))
            return (null, Rejection.NotFound("snapshot_not_found", $"Snapshot {snapshotId} does not exist."));
        var answer = await snapshots.Ask<object>(new GetSnapshot(snapshotId, organizationId), AskTimeout, ct);
        return answer switch
        {
            SnapshotView { Status: SnapshotStatus.Ready } ready => (ready, null),
            SnapshotView other => (null, Rejection.Conflict("snapshot_not_ready", $"Snapshot {snapshotId} is {other.Status.ToString().ToLowerInvariant()}, not ready.")),
            Rejection rejection => (null, rejection),
            _ => (null, new Rejection("internal_error", "Unexpected answer.", 500)),
        };
    }
}
