using Akka.Actor;
using Akka.Streams;

namespace Miosa.Actors.ReadModels;

/// <summary>
/// Runs one tag projection per listed resource kind and gives lists read-your-writes: a list first
/// waits until its projection has applied every event of its kind the journal held when the list
/// was asked for (one indexed MAX query; no wait at all when the projection is caught up).
/// </summary>
public sealed class ListProjections(ReadModelDatabase database, ResourceList list)
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(5);
    private readonly Dictionary<string, TagProjection> _projections = [];
    private readonly List<IKillSwitch> _running = [];

    public async Task StartAsync(ActorSystem system, CancellationToken ct)
    {
        await list.CreateSchemaAsync(ct);
        foreach (var resource in ListedResources.All)
        {
            var projection = new TagProjection(database, $"list-{resource.Kind}", resource.Kind,
                (id, e, token) => resource.ApplyAsync(list, id, e, token));
            _projections[resource.Kind] = projection;
            _running.Add(await projection.StartAsync(system, ct));
        }
    }

    /// <summary>Returns once every event of <paramref name="kind"/> written before this call is in the list.</summary>
    public Task CaughtUpAsync(string kind, CancellationToken ct) => _projections[kind].CaughtUpAsync(MaxWait, ct);

    public void Stop()
    {
        foreach (var killSwitch in _running) killSwitch.Shutdown();
    }
}
