using Miosa.Actors.Sandboxes;
using Miosa.Api.Http;

namespace Miosa.Api.Sandboxes;

/// <summary>The public JSON shape of a sandbox (API.md).</summary>
public static class SandboxJson
{
    public static object Of(SandboxView v) => new Dictionary<string, object?>
    {
        ["id"] = v.Id,
        ["state"] = v.Status.ToString().ToLowerInvariant(),
        // Hibernated: suspended with its processes stopped; they start afresh on resume (files are kept).
        ["hibernated"] = v.Hibernated,
        ["template"] = v.Template,
        ["env"] = v.Env,
        ["resources"] = new { cpu = v.Resources.Cpu, memory_mb = v.Resources.MemoryMb, disk_mb = v.Resources.DiskMb },
        ["timeout_seconds"] = v.TimeoutSeconds,
        ["auto_resume"] = v.AutoResume,
        ["allow_internet"] = v.AllowInternet,
        ["host"] = v.Host,
        ["error"] = v.Error,
    }.With(v.Attribution, v.CreatedAt, v.UpdatedAt);
}
