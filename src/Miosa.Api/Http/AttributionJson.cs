using Miosa.Actors.Common;

namespace Miosa.Api.Http;

/// <summary>The attribution every creatable resource returns on reads (API.md, Conventions), in one place.</summary>
public static class AttributionJson
{
    /// <summary>The resource's own fields, then its attribution, then its timestamps.</summary>
    public static Dictionary<string, object?> With(this Dictionary<string, object?> fields, Attribution a, DateTimeOffset createdAt, DateTimeOffset? updatedAt = null)
    {
        fields["workspace_id"] = a.WorkspaceId;
        fields["project_id"] = a.ProjectId;
        fields["external_workspace_id"] = a.ExternalWorkspaceId;
        fields["external_user_id"] = a.ExternalUserId;
        fields["external_project_id"] = a.ExternalProjectId;
        fields["metadata"] = a.Metadata ?? new Dictionary<string, string>();
        fields["created_at"] = createdAt;
        if (updatedAt is { } updated) fields["updated_at"] = updated;
        return fields;
    }
}
