using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Http;

/// <summary>The query string every list accepts (API.md Conventions), validated field by field.</summary>
public static class ListRequest
{
    public const int MaxLimit = 200;
    private const string MetadataPrefix = "metadata.";

    /// <summary>
    /// 503 for a list (or count) whose read model did not catch up with the writes made before the request
    /// (ListProjections.MaxWait): a stale list is never answered as if it were current.
    /// </summary>
    public static IResult Lagging(HttpContext http)
    {
        http.Response.Headers.RetryAfter = "1";
        return Problems.Of(503, "read_model_lagging", "The read model behind this request has not caught up with recent writes yet; retry shortly.");
    }

    public static (ResourceQuery? Query, Rejection? Error) Read(HttpRequest request, string organizationId, IReadOnlyCollection<string> states)
    {
        var q = request.Query;
        var limit = 50;
        if (q.TryGetValue("limit", out var limitText) && (!int.TryParse(limitText, out limit) || limit is < 1 or > MaxLimit))
            return (null, Rejection.Invalid("limit", $"limit must be an integer between 1 and {MaxLimit}."));
        string? state = q["state"];
        if (state is not null && !states.Contains(state))
            return (null, Rejection.Invalid("state", $"state must be one of {string.Join(", ", states)}."));
        var metadata = new Dictionary<string, string>();
        foreach (var (key, value) in q.Where(p => p.Key.StartsWith(MetadataPrefix, StringComparison.Ordinal)))
        {
            if (key.Length == MetadataPrefix.Length) return (null, Rejection.Invalid("metadata", "Filter metadata as metadata.<key>=<value>."));
            metadata[key[MetadataPrefix.Length..]] = value.ToString();
        }
        string? Text(string name) => q.TryGetValue(name, out var v) ? v.ToString() : null;
        return (new ResourceQuery(organizationId, limit, Text("cursor"), state, Text("workspace_id"), Text("project_id"),
            Text("external_workspace_id"), Text("external_user_id"), Text("external_project_id"), metadata), null);
    }
}
