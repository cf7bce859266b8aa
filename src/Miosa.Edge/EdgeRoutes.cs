using Miosa.Actors.Routing;

namespace Miosa.Edge;

/// <summary>
/// The edge's current <see cref="RouteTable"/>. Requests read it without locks; the subscriber
/// swaps in the next table atomically on every change, so a request never sees half a change.
/// </summary>
public sealed class EdgeRoutes
{
    private readonly TaskCompletionSource _loaded = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RouteTable _table = RouteTable.Empty;

    public RouteTable Current => Volatile.Read(ref _table);

    /// <summary>Completes once a full table has been merged (an edge is ready only then).</summary>
    public Task Loaded => _loaded.Task;

    // Only the subscriber actor writes, one message at a time: no compare-and-swap needed.
    public void Apply(IRoute route) => Volatile.Write(ref _table, Current.Apply(route));

    public void Apply(RouteTablePage page) => Volatile.Write(ref _table, Current.Apply(page));

    public void MarkLoaded() => _loaded.TrySetResult();
}
