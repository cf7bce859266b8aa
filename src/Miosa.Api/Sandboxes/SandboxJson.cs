using Miosa.Actors.Sandboxes;

namespace Miosa.Api.Sandboxes;

/// <summary>The public JSON shape of a sandbox (API.md).</summary>
public static class SandboxJson
{
    public static object Of(SandboxView v) => new
    {
        id = v.Id,
        state = v.Status.ToString().ToLowerInvariant(),
        template = v.Template,
        env = v.Env,
        resources = new { cpu = v.Resources.Cpu, memory_mb = v.Resources.MemoryMb, disk_mb = v.Resources.DiskMb },
        timeout_seconds = v.TimeoutSeconds,
        auto_resume = v.AutoResume,
        allow_internet = v.AllowInternet,
        host = v.Host,
        error = v.Error,
        workspace_id = v.Attribution.WorkspaceId,
        project_id = v.Attribution.ProjectId,
        external_workspace_id = v.Attribution.ExternalWorkspaceId,
        external_user_id = v.Attribution.ExternalUserId,
        external_project_id = v.Attribution.ExternalProjectId,
        metadata = v.Attribution.Metadata ?? new Dictionary<string, string>(),
        created_at = v.CreatedAt,
        updated_at = v.UpdatedAt,
    };
}
