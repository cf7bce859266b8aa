using Miosa.Actors.Deployments;
using Miosa.Api.Http;

namespace Miosa.Api.Deployments;

/// <summary>The public JSON shapes of deployments, versions and releases.</summary>
public static class DeploymentJson
{
    public static object Of(DeploymentView v, string url) => new Dictionary<string, object?>
    {
        ["id"] = v.Id,
        ["name"] = v.Name,
        ["slug"] = v.Slug,
        ["url"] = url,
        ["active_version_id"] = v.ActiveVersionId,
        ["spa_fallback"] = v.SpaFallback,
        ["versions_count"] = v.Versions.Count,
    }.With(v.Attribution, v.CreatedAt, v.UpdatedAt);

    public static object Of(string deploymentId, DeploymentVersion v, bool active) => new Dictionary<string, object?>
    {
        ["id"] = v.Id,
        ["deployment_id"] = deploymentId,
        ["build_id"] = v.BuildId,
        ["number"] = v.Number,
        ["state"] = v.State.ToString().ToLowerInvariant(),
        ["active"] = active,
        ["sandbox_id"] = v.SandboxId,
        ["mode"] = v.Mode,
        ["output_dir"] = v.OutputDir,
        ["release"] = v.Release is { } r ? Release(r) : null,
        ["source_commit"] = v.SourceCommit,
        ["error"] = v.Error is null ? null : new { code = v.ErrorCode, message = v.Error },
        ["created_at"] = v.CreatedAt,
        ["updated_at"] = v.UpdatedAt,
    };

    public static object Release(ReleaseRef r) => new { sha256 = r.Sha256, kind = r.Kind, size_bytes = r.SizeBytes };
}
