using Miosa.Actors.Common;
using Miosa.Actors.ReadModels;
using Miosa.HostAgent.Ingress;

namespace Miosa.Api.Workspaces;

/// <summary>What a workspace or project still holds, counted in the list read model (never by asking entities).</summary>
public static class Contents
{
    /// <summary>States of resources that are gone and hold nothing any more.</summary>
    private static readonly string[] EndedStates = ["destroyed", "deleted"];

    /// <summary>
    /// Live resources by kind whose <paramref name="column"/> (workspace_id or project_id) is <paramref name="id"/>;
    /// null if a list did not catch up in time (a count could miss a resource just created).
    /// </summary>
    public static async Task<IReadOnlyDictionary<string, long>?> CountAsync(
        ResourceList list, ListProjections projections, string organizationId, string column, string id, CancellationToken ct)
    {
        // Any kind may name the container, so every list must have seen the writes made before this call.
        foreach (var resource in ListedResources.All)
        {
            if (!await projections.CaughtUpAsync(resource.Kind, ct)) return null;
        }
        return await list.CountAsync(organizationId, column, id, EndedStates, ct);
    }

    /// <summary>The 409 for a container that is not empty, with <c>holds</c> by collection name.</summary>
    public static IResult NotEmpty(Rejection rejection, IReadOnlyDictionary<string, long> holdings) =>
        rejection.ToResult(new Dictionary<string, object?> { ["holds"] = Holdings.ByCollection(holdings) });
}
