using Akka.Actor;

namespace Miosa.Actors.ReadModels;

/// <summary>
/// Runs one tag projection per listed resource kind and gives lists read-your-writes: a list first
/// waits until its projection has applied every event of its kind the journal held when the list
/// was asked for (one indexed MAX query; no wait at all when the projection is caught up), and
/// says so when it could not within <see cref="MaxWait"/>.
/// </summary>
public sealed class ListProjections(ReadModelDatabase database, ResourceList list)
{
    public static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    private readonly Dictionary<string, TagProjection> _projections = [];

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        await list.CreateSchemaAsync(ct);
        foreach (var resource in ListedResources.All)
        {
            var projection = new TagProjection(database, $"list-{resource.Kind}", resource.Kind,
                (page, transaction, token) => resource.ApplyAsync(list, page.Select(e => (e.EntityId, e.Event)).ToList(), transaction, token));
            _projections[resource.Kind] = projection;
            await projection.StartAsync(system, ct);
        }
    }

    /// <summary>True once every event of <paramref name="kind"/> written before this call is in the list; false if the list is still behind after <see cref="MaxWait"/>.</summary>
    public Task<bool> CaughtUpAsync(string kind, CancellationToken ct) => _projections[kind].CaughtUpAsync(MaxWait, ct);

    public void Stop()
    {
        foreach (var projection in _projections.Values) projection.Stop();
    }
}
