using Miosa.Actors.Snapshots;
using Miosa.Api.Http;

namespace Miosa.Api.Snapshots;

/// <summary>The public JSON shape of a snapshot.</summary>
public static class SnapshotJson
{
    public static object Of(SnapshotView v) => new Dictionary<string, object?>
    {
        ["id"] = v.Id,
        ["sandbox_id"] = v.SandboxId,
        ["name"] = v.Name,
        ["state"] = v.Status.ToString().ToLowerInvariant(),
        // Bytes this snapshot added to its host's store: contents no earlier snapshot or fork already held.
        ["size_bytes"] = v.SizeBytes,
        // Bytes of the workspace's files as snapshotted.
        ["total_bytes"] = v.TotalBytes,
        ["files"] = v.Files,
        // What a sandbox created from it inherits; processes are not part of a snapshot.
        ["template"] = v.Sandbox.Template,
        ["env"] = v.Sandbox.Env,
        ["resources"] = new { cpu = v.Sandbox.Resources.Cpu, memory_mb = v.Sandbox.Resources.MemoryMb, disk_mb = v.Sandbox.Resources.DiskMb },
        ["allow_internet"] = v.Sandbox.AllowInternet,
        ["host"] = v.Host,
        ["error"] = v.Error,
    }.With(v.Attribution, v.CreatedAt, v.UpdatedAt);
}
