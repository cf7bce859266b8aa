using Akka.Actor;
using Akka.Cluster.Tools.PublishSubscribe;
using Akka.Event;
using Miosa.Actors.Routing;

namespace Miosa.Edge;

/// <summary>
/// Keeps an edge's routes current: applies every change published on <see cref="RouteTopic"/>, and
/// walks the full table from an API node when it joins and every <see cref="ResyncEvery"/> (pub/sub
/// delivers at most once; the walk heals what a lost message or a partition missed). When no API
/// node answers, the edge keeps serving the routes it has.
/// </summary>
public sealed class RouteSubscriber : ReceiveActor, IWithTimers
{
    public static readonly TimeSpan ResyncEvery = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan RetryEvery = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan PageTimeout = TimeSpan.FromSeconds(5);
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _mediator = DistributedPubSub.Get(Context.System).Mediator;
    private readonly EdgeRoutes _routes;

    public RouteSubscriber(EdgeRoutes routes)
    {
        _routes = routes;
        Receive<SubscribeAck>(_ => Self.Tell(Resync.Instance));
        Receive<IRoute>(route => _routes.Apply(route));
        Receive<Resync>(_ =>
        {
            Timers.Cancel(Resync.Instance);
            Walk(RouteTableSource.Kinds[0], after: null);
        });
        Receive<RouteTablePage>(page =>
        {
            _routes.Apply(page);
            var kind = RouteTableSource.Kinds.ToList().IndexOf(page.Kind);
            if (page.Next is not null) Walk(page.Kind, page.Next);
            else if (kind + 1 < RouteTableSource.Kinds.Count) Walk(RouteTableSource.Kinds[kind + 1], after: null);
            else
            {
                _routes.MarkLoaded();
                Timers.StartSingleTimer(Resync.Instance, Resync.Instance, ResyncEvery);
            }
        });
        Receive<Status.Failure>(f =>
        {
            _log.Warning("Route table walk failed ({0}); retrying in {1}", f.Cause.Message, RetryEvery);
            Timers.StartSingleTimer(Resync.Instance, Resync.Instance, RetryEvery);
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart() => _mediator.Tell(new Subscribe(RouteTopic.Name, Self));

    private void Walk(string kind, string? after) =>
        _mediator.Ask<RouteTablePage>(new Send(RouteTableSource.Path, new GetRouteTable(kind, after), localAffinity: true), PageTimeout)
            .PipeTo(Self, failure: e => new Status.Failure(e));

    private sealed class Resync
    {
        public static readonly Resync Instance = new();
    }

    public static Props PropsFor(EdgeRoutes routes) => Props.Create(() => new RouteSubscriber(routes));
}
